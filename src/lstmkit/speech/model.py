"""The acoustic model: log-mel frames -> per-step character log-probabilities for CTC.

    features (B, F, M) -> stack ``stack`` consecutive frames, keep every ``stack``-th
    (B, S, stack*M), S = ceil(F / stack) -> bidirectional lstmkit LSTM layers over each
    utterance's true length -> linear -> log-softmax (B, S, V)

Shapes: B utterances, F frames (10 ms), M mel bands, S model steps, H hidden size,
V = 1 + alphabet size (index 0 is the CTC blank).

Stacking frames (a lower frame rate, as in Sak et al. 2015, "Fast and accurate recurrent
neural network acoustic models") makes the recurrence 4x shorter, which is 4x less time
in the sequential part; a spoken digit (about 300 ms) still spans some 7 steps of 40 ms,
enough for CTC.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from lstmkit.errors import InputError
from lstmkit.spine.nets import make_rnn


@dataclass
class AcousticModelConfig:
    """Hyperparameters of :class:`AcousticModel`.

    Attributes:
        n_mels: M, mel bands per frame (default 40).
        vocab_size: V, the blank plus the alphabet (default 11: blank + 10 digits).
        stack: frames stacked per LSTM step (default 4).
        hidden_size: units per direction (default 96).
        num_layers: bidirectional LSTM layers (default 2).
        dropout: in [0, 1) (default 0.2).
        layer_options: lstmkit keywords for the LSTM (``backend``, variants).

    Raises:
        InputError: a field out of range.
    """

    n_mels: int = 40
    vocab_size: int = 11  # blank + 10 digits
    stack: int = 4
    hidden_size: int = 96
    num_layers: int = 2
    dropout: float = 0.2
    layer_options: dict = field(default_factory=lambda: {"backend": "auto"})

    def __post_init__(self) -> None:
        for name in ("n_mels", "stack", "hidden_size", "num_layers"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(self.vocab_size, int) or self.vocab_size < 2:
            raise InputError(f"vocab_size must be at least 2 (blank + one symbol), got {self.vocab_size!r}")
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise InputError(f"dropout must be a number in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict:
        """The config as a JSON-able dict."""
        return asdict(self)


def stack_frames(x: Tensor, lengths: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """(B, F, M) -> (B, ceil(F/k), k*M): each step holds k consecutive frames (zeros past
    each utterance's end), and the lengths (B,) become ceil(length / k).

    Written without a Python branch on the sizes (always k - 1 frames of padding, then
    the whole steps), so an ONNX export keeps the batch and the time axis dynamic.

    Args:
        x: (B, F, M) features.
        lengths: (B,) frames per utterance.
        k: frames per step.

    Returns:
        ``(stacked, steps)``: (B, ceil(F/k), k*M) and (B,).

    Example:
        >>> import torch
        >>> x, steps = stack_frames(torch.randn(2, 10, 3), torch.tensor([10, 5]), 4)
        >>> x.shape, steps.tolist()
        (torch.Size([2, 3, 12]), [3, 2])
    """
    B, F, M = x.shape
    # zero the frames past each length: the last step of a short utterance would
    # otherwise take in padding (whatever the batch holds there)
    x = x * (torch.arange(F, device=x.device) < lengths.to(x.device).unsqueeze(1)).unsqueeze(-1).to(x.dtype)
    S = (F + k - 1) // k  # steps
    x = nn.functional.pad(x, (0, 0, 0, k - 1))[:, : S * k]  # (B, S*k, M)
    return x.reshape(B, S, k * M), torch.div(lengths + k - 1, k, rounding_mode="floor")


class AcousticModel(nn.Module):
    """A bidirectional LSTM over stacked log-mel frames with a linear CTC head:
    ``forward(features (B, F, M), lengths (B,)) -> (log_probs (B, S, V), out_lengths (B,))``
    with S = ceil(F / stack).

    Args:
        config: the hyperparameters.

    Example:
        >>> m = AcousticModel(AcousticModelConfig())
        >>> lp, n = m(torch.randn(2, 100, 40), torch.tensor([100, 61]))
        >>> lp.shape, n.tolist()
        (torch.Size([2, 25, 11]), [25, 16])
    """

    def __init__(self, config: AcousticModelConfig):
        super().__init__()
        c = config
        self.config = c
        self.rnn = make_rnn(
            "lstm", c.stack * c.n_mels, c.hidden_size, num_layers=c.num_layers, batch_first=True,
            bidirectional=True, dropout=c.dropout if c.num_layers > 1 else 0.0, **c.layer_options,
        )
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(2 * c.hidden_size, c.vocab_size)

    def forward(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """features (B, F, M), lengths (B,) -> log_probs (B, S, V), out_lengths (B,) with
        S = ceil(F / stack)."""
        x, steps = stack_frames(features, lengths, self.config.stack)  # (B, S, k*M), (B,)
        out, _ = self.rnn(x, lengths=steps)  # (B, S, 2H), zero past each length
        return torch.log_softmax(self.head(self.drop(out)), dim=-1), steps  # (B, S, V)
