"""A sentence classifier: token embeddings -> (bidirectional) recurrent layers over the
true length of each sentence -> pooling over time -> linear head.

Shapes: B sentences, T tokens (the longest in the batch; shorter ones are padded),
E embedding size, H hidden size, D directions, C classes.

Padding never reaches the result: the recurrent layer gets ``lengths=`` (outputs past a
sentence's end are zero and the backward direction starts at its true end), and pooling
masks the padded steps (``-inf`` for max, excluded from the mean).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lstmkit.errors import InputError
from lstmkit.spine.pooling import (
    POOLINGS,
    PooledClassifierNet,
    PooledRNNOptions,
    check_pooled_config,
    masked_pool,
    pool,
)

CLASSIFIER_POOLINGS = (*POOLINGS, "concat")
"""The spine's poolings and ``"concat"`` (ULMFiT's concat pooling: each direction's final
state, the max and the mean over the valid steps, concatenated: (B, 3*D*H))."""


@dataclass(kw_only=True)
class TextClassifierNetConfig(PooledRNNOptions):
    """Hyperparameters of :class:`TextClassifierNet`: the vocabulary, the classes, the
    embedding size and the recurrent encoder (:class:`~lstmkit.spine.pooling.PooledRNNOptions`:
    ``hidden_size``, ``num_layers``, ``cell``, ``bidirectional``, ``layer_options``).

    Attributes:
        vocab_size: token ids, padding (0) and unknown (1) included.
        num_classes: C, at least 2.
        embedding_dim: E (default 100).
        pooling: ``"max"`` (default), ``"mean"``, ``"max_mean"``, ``"last"`` or
            ``"concat"`` (last, max and mean together).
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
        pooling = self.pooling
        if pooling == "concat":  # the spine's pooled checks know max_mean, concat's widest part
            self.pooling = "max_mean"
        try:
            check_pooled_config(self, ("vocab_size", "embedding_dim"))
        except InputError as exc:
            if "pooling" in str(exc):
                raise InputError(f"pooling must be one of {', '.join(CLASSIFIER_POOLINGS)}, "
                                 f"got {pooling!r}") from None
            raise
        finally:
            self.pooling = pooling


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
        if config.pooling == "concat":
            D = 2 if config.bidirectional else 1
            self.head = nn.Linear(3 * D * config.hidden_size, config.num_classes)

    def features(self, x: Tensor, lengths: Tensor) -> Tensor:
        """The pooled vectors (B, F) the head classifies, from ids (B, T) and lengths (B,)."""
        if self.config.pooling != "concat":
            return super().features(x, lengths)
        out, state = self.rnn(self.inputs(x), lengths=lengths)  # (B, T, D*H)
        last = pool(out, state, lengths, "last", self.config.bidirectional)  # (B, D*H)
        return torch.cat([last, masked_pool(out, lengths, "max_mean")], dim=-1)  # (B, 3*D*H)

    def inputs(self, tokens: Tensor) -> Tensor:
        """Embedded tokens (B, T, E), with dropout, from ids (B, T) int64."""
        return self.drop(self.embedding(tokens))  # (B, T, E)


class TextClassifierEnsemble(nn.Module):
    """``members`` :class:`TextClassifierNet` of one config, trained side by side (each
    on its own loss, the same batches), predicting together.

    ``forward(tokens, lengths)`` gives the log of the members' mean class probabilities
    (B, C), so a softmax of it is their mean, what :meth:`TextClassifier.predict_proba`
    returns and what an exported graph gives; :meth:`member_logits` gives each member's
    own logits (M, B, C) for the training loss. The members start from different
    weights (drawn one after another from the seeded generator) and draw different
    dropout masks; that is their diversity.

    Args:
        config: the members' hyperparameters.
        members: how many, at least 2.

    Example:

        >>> net = TextClassifierEnsemble(TextClassifierNetConfig(vocab_size=50, num_classes=2), 3)
        >>> tokens, lengths = torch.randint(1, 50, (4, 9)), torch.tensor([9, 3, 5, 1])
        >>> net.member_logits(tokens, lengths).shape, net(tokens, lengths).shape
        (torch.Size([3, 4, 2]), torch.Size([4, 2]))
    """

    def __init__(self, config: TextClassifierNetConfig, members: int):
        super().__init__()
        if members < 2:
            raise InputError(f"an ensemble needs at least 2 members, got {members}")
        self.config = config
        self.members = nn.ModuleList(TextClassifierNet(config) for _ in range(members))

    def member_logits(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """Each member's logits (M, B, C)."""
        return torch.stack([m(tokens, lengths) for m in self.members])

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """Log of the members' mean probabilities (B, C)."""
        logp = torch.log_softmax(self.member_logits(tokens, lengths), dim=-1)
        return torch.logsumexp(logp, dim=0) - math.log(len(self.members))


def classifier_net(config: TextClassifierNetConfig, members: int = 1) -> nn.Module:
    """The classifier's network: one :class:`TextClassifierNet`, or a
    :class:`TextClassifierEnsemble` of ``members`` of them."""
    return TextClassifierNet(config) if members == 1 else TextClassifierEnsemble(config, members)


def member_logits(net: nn.Module, tokens: Tensor, lengths: Tensor) -> Tensor:
    """The logits (M, B, C) of each member of ``net`` (M = 1 for a single network)."""
    if isinstance(net, TextClassifierEnsemble):
        return net.member_logits(tokens, lengths)
    return net(tokens, lengths).unsqueeze(0)
