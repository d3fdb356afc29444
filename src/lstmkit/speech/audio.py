"""WAV files in and out (the standard library's ``wave``), and added noise.

Waveforms are 1-D float32 arrays in [-1, 1] with their sample rate beside them.
"""

from __future__ import annotations

import io
import os
import wave
from pathlib import Path

import numpy as np

from lstmkit.errors import InputError


def _pcm_to_float(raw: bytes, width: int, channels: int) -> np.ndarray:
    if width == 1:  # 8-bit WAV is unsigned
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v)).astype(np.float32) / float(1 << 23)
    elif width == 4:
        x = np.frombuffer(raw, dtype="<i4").astype(np.float32) / float(1 << 31)
    else:
        raise InputError(f"expected 8, 16, 24 or 32-bit PCM samples, found {8 * width}-bit")
    if channels > 1:  # mix down to mono
        x = x[: len(x) // channels * channels].reshape(-1, channels).mean(axis=1)
    return x


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a PCM WAV file; several channels are averaged to one.

    Args:
        path: the WAV file (8, 16, 24 or 32-bit PCM).

    Returns:
        ``(samples, sample_rate)``: (N,) float32 in [-1, 1] and the rate in Hz.

    Raises:
        FileNotFoundError: no such file.
        InputError: a directory, or a file that is not a readable PCM WAV file.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"expected a WAV file, found a directory: {path}")
    if not path.is_file():
        raise FileNotFoundError(f"no such WAV file: {path}")
    try:
        with wave.open(str(path), "rb") as w:
            rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        why = str(exc) or "the file ends inside its header"  # EOFError says nothing
        raise InputError(f"{path} is not a PCM WAV file ({why})") from None
    x = _pcm_to_float(raw, width, channels)
    if x.size == 0:
        raise InputError(f"{path} holds no audio samples")
    return x, rate


def wav_bytes_to_array(data: bytes) -> tuple[np.ndarray, int]:
    """Decode WAV bytes as written to a pipe (whose header sizes may be placeholders:
    espeak-ng --stdout writes 0x7ffff000), reading the samples up to the end.

    Args:
        data: the WAV bytes.

    Returns:
        ``(samples, sample_rate)``: (N,) float32 in [-1, 1] and the rate in Hz.

    Raises:
        InputError: bytes without a RIFF/WAVE header.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise InputError("expected WAV data (a RIFF/WAVE header), found something else")
    with wave.open(io.BytesIO(data[:44]), "rb") as w:  # the header alone: format fields
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
    start = data.find(b"data", 12) + 8
    raw = data[start:]
    raw = raw[: len(raw) // (width * channels) * (width * channels)]
    return _pcm_to_float(raw, width, channels), rate


def write_wav(path: str | os.PathLike, samples: np.ndarray, sample_rate: int) -> Path:
    """Write mono float samples as a 16-bit PCM WAV file (atomically).

    Args:
        path: the file to write.
        samples: (N,) floats in [-1, 1] (clipped there).
        sample_rate: in Hz.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Example:
        >>> import os, tempfile
        >>> import numpy as np
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = write_wav(os.path.join(d, "a.wav"), np.zeros(1600, dtype=np.float32), 16000)
        ...     samples, rate = read_wav(path)
        ...     samples.shape, rate
        ((1600,), 16000)
    """
    from lstmkit.spine.io import atomic_write

    pcm = np.round(np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767.0).astype("<i2")

    def write(tmp):
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(int(sample_rate))
            w.writeframes(pcm.tobytes())

    return atomic_write(path, write)


def add_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise at a signal-to-noise ratio.

    Args:
        samples: (N,) float samples.
        snr_db: signal power over noise power, in dB, the signal's power taken over its
            non-silent samples so pauses don't lower it.
        rng: the noise's generator.

    Returns:
        (N,) float32, the noisy samples.
    """
    x = np.asarray(samples, dtype=np.float32)
    voiced = x[np.abs(x) > 0.01 * (np.abs(x).max() + 1e-12)]
    power = float(np.mean(voiced.astype(np.float64) ** 2)) if voiced.size else 1e-8
    noise = rng.standard_normal(x.shape).astype(np.float32) * np.sqrt(power / 10 ** (snr_db / 10))
    return x + noise
