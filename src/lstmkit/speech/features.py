"""Log-mel features with torch's STFT and a documented mel filterbank.

For each 25 ms Hann window, every 10 ms (the usual speech front end; e.g. Graves,
Mohamed & Hinton 2013 used 40 filterbank channels):

1. power spectrum ``|STFT|^2`` with ``n_fft`` the next power of two above the window;
2. ``n_mels`` triangular filters equally spaced on the mel scale between ``fmin`` and
   ``fmax``, with the HTK formula ``mel(f) = 2595 log10(1 + f / 700)`` (Young et al.,
   *The HTK Book*, section 5.4; O'Shaughnessy 1987), each filter rising from the centre
   of its left neighbour to its own centre and falling to its right neighbour's centre,
   peak 1 (HTK's convention; no area normalisation, since step 4 removes any per-band
   gain anyway);
3. ``log(mel energy + 1e-6)``;
4. per-utterance mean and variance normalisation of each band (CMVN), which removes the
   recording's gain and a fixed channel colouring.

Because the filters are defined in Hz, any sample rate works; ``fmax`` is capped at the
Nyquist frequency, so audio sampled below ``2 * fmax`` (16 kHz for the default 7600 Hz)
has empty top bands. Shapes: N samples, F frames, M mel bands.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from lstmkit.errors import InputError


@dataclass(frozen=True)
class FeatureConfig:
    """Front-end settings: window and hop in milliseconds, mel bands and their range.

    Attributes:
        n_mels: M, mel bands (default 40).
        win_ms: analysis window in ms (default 25).
        hop_ms: step between frames in ms, at most ``win_ms`` (default 10).
        fmin: lowest mel band edge in Hz (default 20).
        fmax: highest in Hz, cut at the Nyquist frequency (default 7600).
        cmvn: normalise each band to mean 0 and variance 1 per utterance (default True).

    Raises:
        InputError: a field out of range.
    """

    n_mels: int = 40
    win_ms: float = 25.0
    hop_ms: float = 10.0
    fmin: float = 20.0
    fmax: float = 7600.0
    cmvn: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.n_mels, int) or isinstance(self.n_mels, bool) or self.n_mels < 1:
            raise InputError(f"n_mels must be a positive integer, got {self.n_mels!r}")
        if not 0 < self.hop_ms <= self.win_ms:
            raise InputError(f"expected 0 < hop_ms <= win_ms, got hop {self.hop_ms}, window {self.win_ms}")
        if not 0 <= self.fmin < self.fmax:
            raise InputError(f"expected 0 <= fmin < fmax, got {self.fmin}, {self.fmax}")

    def to_dict(self) -> dict:
        """The settings as a JSON-able dict (``FeatureConfig(**d)`` reads it back)."""
        return asdict(self)


def hz_to_mel(f):
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    """The inverse of :func:`hz_to_mel`: 700 (10^(m / 2595) - 1), any array shape."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> torch.Tensor:
    """Triangular filters, peak 1, on the HTK mel scale.

    Args:
        sample_rate: in Hz.
        n_fft: FFT size.
        n_mels: M, filters.
        fmin: lowest edge in Hz.
        fmax: highest edge in Hz (cut at the Nyquist frequency).

    Returns:
        (M, n_fft // 2 + 1) float32.

    Raises:
        InputError: a sample rate too low for ``fmin``.
    """
    fmax = min(fmax, sample_rate / 2)
    if fmin >= fmax:
        raise InputError(f"sample rate {sample_rate} Hz is too low for mel bands from {fmin} Hz")
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)  # bin centres (K,)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))  # (M+2,)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # (M, 1) each
    rising = (freqs - lo) / (mid - lo)
    falling = (hi - freqs) / (hi - mid)
    fb = np.maximum(0.0, np.minimum(rising, falling))  # (M, K)
    return torch.from_numpy(fb.astype(np.float32))


def frame_params(sample_rate: int, config: FeatureConfig) -> tuple[int, int, int]:
    """The frame sizes in samples for a rate.

    Args:
        sample_rate: in Hz.
        config: the window and hop in ms.

    Returns:
        ``(win_length, hop_length, n_fft)``; n_fft is the power of two at or above the
        window.
    """
    win = max(1, round(sample_rate * config.win_ms / 1000))
    hop = max(1, round(sample_rate * config.hop_ms / 1000))
    return win, hop, 1 << math.ceil(math.log2(win))


def log_mel(samples, sample_rate: int, config: FeatureConfig = FeatureConfig()) -> torch.Tensor:
    """Log-mel features of a mono waveform.

    Args:
        samples: (N,) mono samples, floats in [-1, 1].
        sample_rate: in Hz.
        config: the front end (default ``FeatureConfig()``: 40 bands, 25 ms windows,
            10 ms hop, per-utterance normalisation).

    Returns:
        (F, M) float32, F = 1 + N // hop frames (centred on multiples of the hop), M mel
        bands.

    Raises:
        InputError: not a 1-D waveform, audio shorter than one window, or a sample rate
            too low for the bands.

    Example:
        Half a second at 16 kHz: 8000 samples, a hop of 160:

        >>> import numpy as np
        >>> log_mel(np.zeros(8000, dtype=np.float32), 16000).shape
        torch.Size([51, 40])
    """
    x = torch.as_tensor(np.asarray(samples, dtype=np.float32))  # (N,)
    if x.dim() != 1:
        raise InputError(f"expected a mono waveform (N,), got shape {tuple(x.shape)}")
    win, hop, n_fft = frame_params(sample_rate, config)
    if x.numel() < win:
        raise InputError(f"audio too short: {x.numel()} samples, expected at least one "
                         f"{config.win_ms:g} ms window ({win} samples)")
    spec = torch.stft(x, n_fft, hop_length=hop, win_length=win, window=torch.hann_window(win),
                      center=True, pad_mode="reflect", return_complex=True)  # (K, F)
    power = spec.real.square() + spec.imag.square()  # (K, F)
    fb = mel_filterbank(sample_rate, n_fft, config.n_mels, config.fmin, config.fmax)  # (M, K)
    feats = torch.log(fb @ power + 1e-6).T.contiguous()  # (F, M)
    if config.cmvn:
        feats = (feats - feats.mean(dim=0)) / (feats.std(dim=0, unbiased=False) + 1e-5)
    return feats
