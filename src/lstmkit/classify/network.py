"""A sentence classifier: token embeddings -> (bidirectional) recurrent layers over the
true length of each sentence -> pooling over time -> linear head.

Shapes: B sentences, T tokens (the longest in the batch; shorter ones are padded),
E embedding size, H hidden size, D directions, C classes.

Padding never reaches the result: the recurrent layer gets ``lengths=`` (outputs past a
sentence's end are zero and the backward direction starts at its true end), and pooling
masks the padded steps (``-inf`` for max, excluded from the mean).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch  # noqa: F401  (the docstring examples)
from torch import Tensor, nn

from lstmkit.spine.pooling import (
    POOLINGS,  # noqa: F401  (re-exported)
    PooledClassifierNet,
    PooledRNNOptions,
    check_pooled_config,
)


@dataclass(kw_only=True)
class TextClassifierNetConfig(PooledRNNOptions):
    """Hyperparameters of :class:`TextClassifierNet`: the vocabulary, the classes, the
    embedding size and the recurrent encoder (:class:`~lstmkit.spine.pooling.PooledRNNOptions`:
    ``hidden_size``, ``num_layers``, ``cell``, ``bidirectional``, ``layer_options``).

    Attributes:
        vocab_size: token ids, padding (0) and unknown (1) included.
        num_classes: C, at least 2.
        embedding_dim: E (default 100).
        pooling: ``"max"`` (default), ``"mean"``, ``"max_mean"`` or ``"last"``.
        dropout: on the embeddings and the pooled vector, in [0, 1) (default 0.4).

    Raises:
        InputError: a field out of range.
    """

    vocab_size: int
    num_classes: int
    embedding_dim: int = 100
    pooling: str = "max"
    dropout: float = 0.4

    def __post_init__(self) -> None:
        check_pooled_config(self, ("vocab_size", "embedding_dim"))


class TextClassifierNet(PooledClassifierNet):
    """``forward(tokens (B, T) int64, lengths (B,) int64) -> logits (B, C)``; token id 0
    is padding. Dropout applies to the embeddings and to the pooled vector.

    Args:
        config: the hyperparameters.

    Example:

        >>> net = TextClassifierNet(TextClassifierNetConfig(vocab_size=100, num_classes=3))
        >>> net(torch.randint(1, 100, (4, 12)), torch.tensor([12, 5, 7, 1])).shape
        torch.Size([4, 3])
    """

    def __init__(self, config: TextClassifierNetConfig):
        embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=0)
        super().__init__(config, config.embedding_dim, embedding=embedding)

    def inputs(self, tokens: Tensor) -> Tensor:
        """Embedded tokens (B, T, E), with dropout, from ids (B, T) int64."""
        return self.drop(self.embedding(tokens))  # (B, T, E)
