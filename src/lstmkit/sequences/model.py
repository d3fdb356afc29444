"""The network of :class:`~lstmkit.sequences.SequenceClassifier`: (bidirectional)
recurrent layers over each sequence's true length -> pooling over time -> linear head.

Shapes: B sequences, T steps (the longest in the batch; shorter ones are padded),
C input channels, H hidden size, D directions, K classes.

Padding never reaches the result: the lstmkit layer gets ``lengths=`` (outputs past a
sequence's end are zero, final states are taken at the true end, and the backward
direction starts there), and pooling masks the padded steps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch  # noqa: F401  (the docstring examples)
from torch import Tensor, nn

from lstmkit.errors import InputError
from lstmkit.spine.nets import make_rnn
from lstmkit.spine.pooling import POOLINGS, check_pooled_config, masked_pool, pool  # noqa: F401


@dataclass
class SequenceNetConfig:
    """Hyperparameters of :class:`SequenceClassifierNet`.

    ``pooling``: ``max`` or ``mean`` over the valid steps, ``max_mean`` (both,
    concatenated) or ``last`` (each direction's final state, at the true end).
    ``layer_options``: lstmkit keywords for the recurrent layer (``backend``, LSTM
    variants such as ``layer_norm=True``)."""

    n_channels: int
    num_classes: int
    hidden_size: int = 64
    num_layers: int = 1
    cell: str = "lstm"
    bidirectional: bool = True
    pooling: str = "max_mean"
    dropout: float = 0.2
    layer_options: dict = field(default_factory=lambda: {"backend": "auto"})

    def __post_init__(self) -> None:
        check_pooled_config(self, ("n_channels", "hidden_size", "num_layers"))
        d = self.dropout
        if not isinstance(d, (int, float)) or isinstance(d, bool) or not 0 <= d < 1:
            raise InputError(f"dropout must be a number in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class SequenceClassifierNet(nn.Module):
    """``forward(x (B, T, C) float, lengths (B,) int64) -> logits (B, K)``.

    Example::

        >>> net = SequenceClassifierNet(SequenceNetConfig(n_channels=12, num_classes=9))
        >>> net(torch.randn(4, 29, 12), torch.tensor([29, 7, 20, 15])).shape
        torch.Size([4, 9])
    """

    def __init__(self, config: SequenceNetConfig):
        super().__init__()
        c = config
        self.config = c
        self.rnn = make_rnn(
            c.cell, c.n_channels, c.hidden_size, num_layers=c.num_layers, batch_first=True,
            bidirectional=c.bidirectional, dropout=c.dropout if c.num_layers > 1 else 0.0,
            **c.layer_options,
        )
        self.drop = nn.Dropout(c.dropout)
        D = 2 if c.bidirectional else 1
        width = D * c.hidden_size * (2 if c.pooling == "max_mean" else 1)
        self.head = nn.Linear(width, c.num_classes)

    def features(self, x: Tensor, lengths: Tensor) -> Tensor:
        """The pooled sequence vectors (B, F) the head classifies."""
        out, state = self.rnn(x, lengths=lengths)  # (B, T, D*H), zero past each length
        return pool(out, state, lengths, self.config.pooling, self.config.bidirectional)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        return self.head(self.drop(self.features(x, lengths)))  # (B, K)
