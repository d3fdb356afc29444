"""The network of :class:`~lstmkit.sequences.SequenceClassifier`: (bidirectional)
recurrent layers over each sequence's true length -> pooling over time -> linear head.

Shapes: B sequences, T steps (the longest in the batch; shorter ones are padded),
C input channels, H hidden size, D directions, K classes.

Padding never reaches the result: the lstmkit layer gets ``lengths=`` (outputs past a
sequence's end are zero, final states are taken at the true end, and the backward
direction starts there), and pooling masks the padded steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch  # noqa: F401  (the docstring examples)

from lstmkit.spine.pooling import (  # noqa: F401  (POOLINGS, masked_pool, pool: re-exported)
    POOLINGS,
    PooledClassifierNet,
    PooledRNNOptions,
    check_pooled_config,
    masked_pool,
    pool,
)


@dataclass(kw_only=True)
class SequenceNetConfig(PooledRNNOptions):
    """Hyperparameters of :class:`SequenceClassifierNet`: the input channels, the classes
    and the recurrent encoder (:class:`~lstmkit.spine.pooling.PooledRNNOptions`:
    ``hidden_size``, ``num_layers``, ``cell``, ``bidirectional``, ``dropout``,
    ``layer_options``).

    Attributes:
        n_channels: C, values per step.
        num_classes: K, at least 2.
        pooling: ``"max_mean"`` (default), ``"max"``, ``"mean"`` or ``"last"``.

    Raises:
        InputError: a field out of range.
    """

    n_channels: int
    num_classes: int
    pooling: str = "max_mean"

    def __post_init__(self) -> None:
        check_pooled_config(self, ("n_channels",))


class SequenceClassifierNet(PooledClassifierNet):
    """Recurrent layers over each sequence's true length, pooling over time and a linear
    head: ``forward(x (B, T, C) float, lengths (B,) int64) -> logits (B, K)``.

    Args:
        config: the hyperparameters.

    Example:

        >>> net = SequenceClassifierNet(SequenceNetConfig(n_channels=12, num_classes=9))
        >>> net(torch.randn(4, 29, 12), torch.tensor([29, 7, 20, 15])).shape
        torch.Size([4, 9])
    """

    def __init__(self, config: SequenceNetConfig):
        super().__init__(config, config.n_channels)
