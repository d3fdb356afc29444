"""A sentence classifier: token embeddings -> (bidirectional) recurrent layers over the
true length of each sentence -> pooling over time -> linear head.

Shapes: B sentences, T tokens (the longest in the batch; shorter ones are padded),
E embedding size, H hidden size, D directions, C classes.

Padding never reaches the result: the recurrent layer gets ``lengths=`` (outputs past a
sentence's end are zero and the backward direction starts at its true end), and pooling
masks the padded steps (``-inf`` for max, excluded from the mean).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch  # noqa: F401  (the docstring examples)
from torch import Tensor, nn

from lstmkit.errors import InputError
from lstmkit.spine.nets import make_rnn
from lstmkit.spine.pooling import (
    POOLINGS,  # noqa: F401  (re-exported)
    check_pooled_config,
    pool,
)


@dataclass
class TextClassifierNetConfig:
    """Hyperparameters of :class:`TextClassifierNet`. ``pooling``: ``max`` or ``mean``
    over the valid steps, ``max_mean`` (both, concatenated) or ``last`` (the final state
    of each direction, taken at the sentence's true end)."""

    vocab_size: int
    num_classes: int
    embedding_dim: int = 100
    hidden_size: int = 64
    num_layers: int = 1
    cell: str = "lstm"
    bidirectional: bool = True
    pooling: str = "max"
    dropout: float = 0.4
    layer_options: dict = field(default_factory=lambda: {"backend": "auto"})

    def __post_init__(self) -> None:
        check_pooled_config(self, ("vocab_size", "embedding_dim", "hidden_size", "num_layers"))
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise InputError(f"dropout must be a number in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class TextClassifierNet(nn.Module):
    """``forward(tokens (B, T) int64, lengths (B,) int64) -> logits (B, C)``; token id 0
    is padding.

    Example::

        >>> net = TextClassifierNet(TextClassifierNetConfig(vocab_size=100, num_classes=3))
        >>> net(torch.randint(1, 100, (4, 12)), torch.tensor([12, 5, 7, 1])).shape
        torch.Size([4, 3])
    """

    def __init__(self, config: TextClassifierNetConfig):
        super().__init__()
        c = config
        self.config = c
        self.embedding = nn.Embedding(c.vocab_size, c.embedding_dim, padding_idx=0)
        self.rnn = make_rnn(
            c.cell,
            c.embedding_dim,
            c.hidden_size,
            num_layers=c.num_layers,
            batch_first=True,
            bidirectional=c.bidirectional,
            dropout=c.dropout if c.num_layers > 1 else 0.0,
            **c.layer_options,
        )
        self.drop = nn.Dropout(c.dropout)
        D = 2 if c.bidirectional else 1
        width = D * c.hidden_size * (2 if c.pooling == "max_mean" else 1)
        self.head = nn.Linear(width, c.num_classes)

    def features(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """The pooled sentence vectors (B, F) the head classifies."""
        emb = self.drop(self.embedding(tokens))  # (B, T, E)
        out, state = self.rnn(emb, lengths=lengths)  # (B, T, D*H), zero past each length
        return pool(out, state, lengths, self.config.pooling, self.config.bidirectional)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        return self.head(self.drop(self.features(tokens, lengths)))  # (B, C)
