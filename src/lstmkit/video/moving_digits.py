"""Moving digits: the 8x8 handwritten digits of the UCI set moving inside larger frames,
a small offline stand-in for Moving MNIST (Srivastava et al. 2015).

Two kinds of clips:

- :func:`bouncing_clips` for next-frame prediction: each digit starts at a random place
  with a random velocity (each component an integer in [-max_speed, max_speed], not both
  zero) and bounces off the frame's edges;
- :func:`direction_clips` for action recognition: one digit crosses the frame in one of
  8 compass directions at 1 or 2 pixels per frame, without touching an edge; the label is
  the direction.

Training clips use digits 0..1499 of the bundled set, test clips digits 1500..1796, so a
test clip never shows a digit image seen in training. Frames are float32 in [0, 1]
(pixel value / 16); clips are (B, T, 1, S, S).
"""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from importlib import resources

import numpy as np
import torch
from torch import Tensor

from lstmkit.errors import InputError

DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
#: compass directions with their (dx, dy) steps; y grows downwards, so N is dy = -1
DIRECTIONS = {
    "E": (1, 0), "NE": (1, -1), "N": (0, -1), "NW": (-1, -1),
    "W": (-1, 0), "SW": (-1, 1), "S": (0, 1), "SE": (1, 1),
}
TRAIN_DIGITS = slice(0, 1500)
TEST_DIGITS = slice(1500, 1797)
DIGIT = 8  # side of a digit image in pixels


@lru_cache(maxsize=1)
def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 bundled digits: images (1797, 8, 8) float32 in [0, 1] and labels (1797,).
    See ``data/PROVENANCE.md``."""
    raw = resources.files("lstmkit.video").joinpath("data/digits.csv.gz").read_bytes()
    if hashlib.sha256(raw).hexdigest() != DIGITS_SHA256:
        raise InputError("the bundled digits.csv.gz is corrupted: its SHA-256 differs from PROVENANCE.md")
    table = np.loadtxt(gzip.decompress(raw).decode().splitlines(), delimiter=",", dtype=np.float32)
    return (table[:, :64] / 16.0).reshape(-1, DIGIT, DIGIT), table[:, 64].astype(np.int64)


def _digits(split: str) -> np.ndarray:
    if split not in ("train", "test"):
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    images, _ = load_digits()
    return images[TRAIN_DIGITS if split == "train" else TEST_DIGITS]


def _check(frames: int, size: int) -> None:
    if not isinstance(frames, int) or frames < 2:
        raise InputError(f"clips need at least 2 frames, got {frames!r}")
    if not isinstance(size, int) or size < DIGIT + 2:
        raise InputError(f"frame size must be an integer of at least {DIGIT + 2} pixels, got {size!r}")


def _render(positions: np.ndarray, which: np.ndarray, pool: np.ndarray, size: int) -> Tensor:
    """positions (B, T, D, 2) top-left (x, y) of each of D digits per frame; which (B, D)
    digit indices into pool -> clips (B, T, 1, size, size); overlapping digits take the max."""
    B, T, D, _ = positions.shape
    out = np.zeros((B, T, size, size), dtype=np.float32)
    for b in range(B):
        for d in range(D):
            img = pool[which[b, d]]
            for t in range(T):
                x, y = positions[b, t, d]
                view = out[b, t, y : y + DIGIT, x : x + DIGIT]
                np.maximum(view, img, out=view)
    return torch.from_numpy(out).unsqueeze(2)


def bouncing_clips(n: int, frames: int = 10, size: int = 32, n_digits: int = 1,
                   max_speed: int = 2, split: str = "train",
                   rng: np.random.Generator | None = None) -> Tensor:
    """Clips of digits bouncing in the frame.

    Args:
        n: clips.
        frames: T, frames per clip (default 10).
        size: S, pixels per side (default 32).
        n_digits: digits per clip (default 1).
        max_speed: largest step per frame in pixels, per axis (default 2).
        split: ``"train"`` or ``"test"`` digits (the test digits are never trained on).
        rng: the generator (None: a fresh, unseeded one).

    Returns:
        (n, T, 1, S, S) float32 intensities in [0, 1].

    Raises:
        InputError: an unknown split, fewer than 2 frames, a frame too small for a
            digit, or a speed below 1.

    Example:
        >>> import numpy as np
        >>> bouncing_clips(2, frames=5, size=16, rng=np.random.default_rng(0)).shape
        torch.Size([2, 5, 1, 16, 16])
    """
    _check(frames, size)
    if not isinstance(max_speed, int) or max_speed < 1:
        raise InputError(f"max_speed must be a positive integer, got {max_speed!r}")
    rng = rng or np.random.default_rng()
    pool = _digits(split)
    span = size - DIGIT  # top-left coordinates lie in [0, span]
    pos = rng.integers(0, span + 1, size=(n, n_digits, 2))
    vel = rng.integers(-max_speed, max_speed + 1, size=(n, n_digits, 2))
    still = (vel == 0).all(-1)
    vel[still, 0] = rng.choice([-1, 1], size=int(still.sum()))  # every digit moves
    track = np.empty((n, frames, n_digits, 2), dtype=np.int64)
    for t in range(frames):
        track[:, t] = pos
        pos = pos + vel
        # reflect off the edges: a coordinate past an edge comes back by as much
        low, high = pos < 0, pos > span
        pos = np.where(low, -pos, np.where(high, 2 * span - pos, pos))
        vel = np.where(low | high, -vel, vel)
    which = rng.integers(0, len(pool), size=(n, n_digits))
    return _render(track, which, pool, size)


def direction_clips(n: int, frames: int = 8, size: int = 32, split: str = "train",
                    rng: np.random.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Clips of one digit moving in a straight line, and their directions. Speeds are 1
    or 2 pixels per frame (when the frame is large enough), so the speed alone tells
    nothing.

    Args:
        n: clips.
        frames: T, frames per clip (default 8).
        size: S, pixels per side (default 32).
        split: ``"train"`` or ``"test"`` digits.
        rng: the generator (None: a fresh, unseeded one).

    Returns:
        ``(clips, labels)``: (n, T, 1, S, S) float32 in [0, 1], and (n,) int64 indexing
        :data:`DIRECTIONS`.

    Raises:
        InputError: an unknown split, or frames that do not fit a straight crossing.
    """
    _check(frames, size)
    rng = rng or np.random.default_rng()
    pool = _digits(split)
    span = size - DIGIT
    max_speed = 2 if 2 * (frames - 1) <= span else 1
    if frames - 1 > span:
        raise InputError(f"{frames} frames do not fit a straight crossing of a {size}-pixel frame")
    steps = np.array(list(DIRECTIONS.values()))  # (8, 2)
    labels = rng.integers(0, len(steps), size=n)
    speed = rng.integers(1, max_speed + 1, size=n)
    vel = steps[labels] * speed[:, None]  # (n, 2)
    travel = vel * (frames - 1)
    lo = np.maximum(0, -travel)  # start so that the whole path stays inside
    hi = np.minimum(span, span - travel)
    start = lo + (rng.random((n, 2)) * (hi - lo + 1)).astype(np.int64)
    track = start[:, None, :] + vel[:, None, :] * np.arange(frames)[None, :, None]  # (n, T, 2)
    which = rng.integers(0, len(pool), size=(n, 1))
    return _render(track[:, :, None, :], which, pool, size), torch.from_numpy(labels)
