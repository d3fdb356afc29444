"""Speech synthesis with espeak-ng (the Debian package ``espeak-ng``; lstmkit runs the
program, it links nothing).

A voice is espeak-ng's ``language+variant``: the language gives the accent
(``en-us``, ``en-gb-scotland``...), the variant the speaker's timbre (``m3``, ``f2``,
``klatt``...). Speed is in words per minute, pitch 0 to 99, the word gap in units of
10 ms.
"""

from __future__ import annotations

import functools
import shutil
import subprocess

import numpy as np

from lstmkit.errors import InputError
from lstmkit.speech.audio import wav_bytes_to_array

# English accents of espeak-ng's own voices (mbrola voices need another package)
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd", "en-029", "en-us-nyc")

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def espeak_path() -> str | None:
    """The espeak-ng program, or None when it is not installed."""
    return shutil.which("espeak-ng")


@functools.lru_cache(maxsize=1)
def espeak_version() -> str:
    """espeak-ng's version line ("" when it is missing); part of the data cache key."""
    exe = espeak_path()
    if exe is None:
        return ""
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""


def require_espeak() -> str:
    """The path of the espeak-ng executable; InputError saying how to install it when
    it is missing."""
    exe = espeak_path()
    if exe is None:
        raise InputError("espeak-ng is not installed; run scripts/install_speech_deps.sh "
                         "(or `apt-get install espeak-ng`) for the speech task")
    return exe


def spoken_digits(digits: str) -> str:
    """The text espeak-ng reads for a digit string: "407" -> "four zero seven" (words,
    so no voice reads it as a number, "four hundred and seven").

    Example:
        >>> spoken_digits("407")
        'four zero seven'
    """
    if not digits.isdigit():
        raise InputError(f"expected a string of digits 0-9, found {digits!r}")
    return " ".join(NUMBER_WORDS[int(d)] for d in digits)


def synthesize(text: str, voice: str = "en-us", speed: int = 160, pitch: int = 50,
               word_gap: int = 0) -> tuple[np.ndarray, int]:
    """Speak ``text`` with espeak-ng.

    Args:
        text: what to say.
        voice: an espeak-ng voice (default ``"en-us"``; variants as ``"en-gb+f2"``).
        speed: words per minute (default 160).
        pitch: 0 to 99 (default 50).
        word_gap: extra pause between words, units of 10 ms (default 0).

    Returns:
        ``(samples, sample_rate)``: (N,) float32 in [-1, 1] at espeak-ng's rate, 22050 Hz.

    Raises:
        InputError: espeak-ng is not installed or fails.
    """
    exe = require_espeak()
    if not 80 <= speed <= 450 or not 0 <= pitch <= 99 or word_gap < 0:
        raise InputError(f"expected speed 80..450 wpm, pitch 0..99, word_gap >= 0; "
                         f"got {speed}, {pitch}, {word_gap}")
    cmd = [exe, "-v", voice, "-s", str(int(speed)), "-p", str(int(pitch)), "-g", str(int(word_gap)),
           "--stdout", text]
    out = subprocess.run(cmd, capture_output=True, check=False)
    if out.returncode != 0 or len(out.stdout) <= 44:
        msg = out.stderr.decode(errors="replace").strip()
        raise InputError(f"espeak-ng could not speak with voice {voice!r}: {msg or 'no audio'}")
    return wav_bytes_to_array(out.stdout)
