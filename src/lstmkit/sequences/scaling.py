"""Per-channel scaling of numeric sequences.

Channels of a sensor or feature sequence often differ in scale by orders of magnitude
(JapaneseVowels' first cepstrum coefficient is about 1.5, its last about 0.1); an LSTM's
saturating gates train badly on such inputs. :class:`ChannelScaler` standardises each
channel with the mean and standard deviation of all time steps of all training
sequences (padding never counts), and keeps them as JSON-able state so that a saved
model scales new data exactly as its training data was scaled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstmkit.errors import InputError

SCALINGS = ("channel", "none")


@dataclass
class ChannelScaler:
    """``x' = (x - mean_c) / std_c`` per channel c; ``mode="none"`` leaves data as it is.

    A channel that never varies in the training data gets std 1 (it is only centred),
    rather than a division by zero.

    Args:
        mode: ``"channel"`` (default) or ``"none"``.
        mean: (C,) channel means, set by :meth:`fit`.
        std: (C,) channel standard deviations, set by :meth:`fit`.

    Raises:
        InputError: an unknown ``mode``.

    Example:
        >>> import numpy as np
        >>> scaler = ChannelScaler().fit([np.array([[1.0, 10.0], [3.0, 30.0]])])
        >>> scaler.mean, scaler.std
        (array([ 2., 20.]), array([ 1., 10.]))
        >>> scaler.transform([np.array([[2.0, 40.0]], dtype=np.float32)])[0]
        array([[0., 2.]], dtype=float32)
    """

    mode: str = "channel"
    mean: np.ndarray | None = None  # (C,)
    std: np.ndarray | None = None  # (C,)

    def __post_init__(self) -> None:
        if self.mode not in SCALINGS:
            raise InputError(f"scaling must be one of {', '.join(SCALINGS)}, got {self.mode!r}")

    def fit(self, seqs: list[np.ndarray]) -> ChannelScaler:
        """Learn each channel's mean and std from a list of (T_i, C) arrays."""
        allsteps = np.concatenate(seqs, axis=0).astype(np.float64)  # (sum T_i, C)
        self.mean = allsteps.mean(axis=0)
        std = allsteps.std(axis=0)
        self.std = np.where(std > 1e-12 * np.maximum(1.0, np.abs(self.mean)), std, 1.0)
        return self

    def transform(self, seqs: list[np.ndarray]) -> list[np.ndarray]:
        """The scaled copies of (T_i, C) arrays: float32 for float32 input (the classifier's
        :func:`~lstmkit.sequences.inputs.as_sequences` gives float32), float64 otherwise; InputError when the scaler is not fitted."""
        if self.mode == "none":
            return [np.asarray(s, dtype=np.float32) for s in seqs]
        if self.mean is None:
            raise InputError("this ChannelScaler is not fitted: call fit(sequences) first")
        mean, std = self.mean.astype(np.float32), self.std.astype(np.float32)
        return [(s - mean) / std for s in seqs]

    def to_state(self) -> dict:
        """JSON-able state (for :func:`lstmkit.spine.io.save_model`)."""
        return {
            "mode": self.mode,
            "mean": None if self.mean is None else self.mean.tolist(),
            "std": None if self.std is None else self.std.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict) -> ChannelScaler:
        """The scaler saved by :meth:`to_state`."""
        arr = lambda v: None if v is None else np.asarray(v, dtype=np.float64)
        return cls(state["mode"], arr(state.get("mean")), arr(state.get("std")))
