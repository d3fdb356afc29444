"""What the pooled classifiers (:mod:`lstmkit.classify.network`,
:mod:`lstmkit.sequences.model`) share: the recurrent encoder's options and their checks,
the network (recurrent layers over each sequence's true length -> pooling over time ->
dropout -> linear head) and the pooling itself.

Shapes: B sequences, T steps, F features, H hidden size, D directions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch
from torch import Tensor, nn

from lstmkit.errors import InputError
from lstmkit.spine.nets import CELLS, make_rnn

POOLINGS = ("max", "mean", "max_mean", "last")


@dataclass(kw_only=True)
class PooledRNNOptions:
    """The recurrent encoder of a pooled classifier, shared by its estimator's config and
    its network's config (each sets its own defaults for ``pooling`` and ``dropout``).

    ``pooling``: ``max`` or ``mean`` over the valid steps, ``max_mean`` (both,
    concatenated) or ``last`` (each direction's final state, at the true end).
    ``dropout``: on the pooled vector (and the embeddings, where there are any), and
    between stacked layers. ``layer_options``: lstmkit keywords for the recurrent layer
    (``backend``, LSTM variants such as ``layer_norm=True``).

    Attributes:
        hidden_size: H per direction (default 64).
        num_layers: stacked layers (default 1).
        cell: ``"lstm"`` (default), ``"gru"``, ``"rnn"`` or an xLSTM cell.
        bidirectional: D = 2 when True (default).
        pooling: ``"max"``, ``"mean"``, ``"max_mean"`` or ``"last"``.
        dropout: in [0, 1).
        layer_options: lstmkit keywords for the recurrent layer.
    """

    hidden_size: int = 64
    num_layers: int = 1
    cell: str = "lstm"
    bidirectional: bool = True
    pooling: str = "max"
    dropout: float = 0.2
    layer_options: dict = field(default_factory=lambda: {"backend": "auto"})

    def rnn_options(self) -> dict:
        """These fields as keywords (``layer_options`` copied), to build a network's config."""
        out = {f.name: getattr(self, f.name) for f in fields(PooledRNNOptions)}
        out["layer_options"] = dict(self.layer_options)
        return out

    def to_dict(self) -> dict:
        """The config as a JSON-able dict (saved with the model)."""
        return asdict(self)


def check_pooled_config(config, positive: tuple[str, ...]) -> None:
    """Raise InputError unless ``hidden_size``, ``num_layers`` and the fields named in
    ``positive`` are positive integers, ``num_classes`` an integer >= 2, ``cell`` one of
    CELLS, ``pooling`` one of POOLINGS and ``dropout`` a number in [0, 1).

    Args:
        config: a :class:`PooledRNNOptions` with ``num_classes``.
        positive: more fields that must be positive integers.

    Raises:
        InputError: the first field out of range.
    """
    for name in ("hidden_size", "num_layers", *positive):
        v = getattr(config, name)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise InputError(f"{name} must be a positive integer, got {v!r}")
    if not isinstance(config.num_classes, int) or config.num_classes < 2:
        raise InputError(f"num_classes must be an integer >= 2, got {config.num_classes!r}")
    if config.cell not in CELLS:
        raise InputError(f"cell must be one of {', '.join(CELLS)}, got {config.cell!r}")
    if config.pooling not in POOLINGS:
        raise InputError(f"pooling must be one of {', '.join(POOLINGS)}, got {config.pooling!r}")
    d = config.dropout
    if not isinstance(d, (int, float)) or isinstance(d, bool) or not 0 <= d < 1:
        raise InputError(f"dropout must be a number in [0, 1), got {d!r}")


class PooledClassifierNet(nn.Module):
    """Recurrent layers over each sequence's true length -> pooling over time -> dropout
    -> linear head. ``config``: a :class:`PooledRNNOptions` with ``num_classes``;
    ``front``: modules registered before the recurrent layer (their initialisation draws
    first), which :meth:`inputs` applies.

    Padding never reaches the result: the recurrent layer gets ``lengths=`` (outputs past
    a sequence's end are zero and the backward direction starts at its true end), and
    pooling masks the padded steps (``-inf`` for max, excluded from the mean).

    Args:
        config: a :class:`PooledRNNOptions` with ``num_classes``.
        input_size: what the recurrent layer reads per step.
        **front: modules applied before it (e.g. ``embedding=``).
    """

    def __init__(self, config, input_size: int, **front: nn.Module):
        super().__init__()
        c = self.config = config
        for name, module in front.items():
            setattr(self, name, module)
        self.rnn = make_rnn(
            c.cell, input_size, c.hidden_size, num_layers=c.num_layers, batch_first=True,
            bidirectional=c.bidirectional, dropout=c.dropout if c.num_layers > 1 else 0.0,
            **c.layer_options,
        )
        self.drop = nn.Dropout(c.dropout)
        D = 2 if c.bidirectional else 1
        width = D * c.hidden_size * (2 if c.pooling == "max_mean" else 1)
        self.head = nn.Linear(width, c.num_classes)

    def inputs(self, x: Tensor) -> Tensor:
        """What the recurrent layer reads, (B, T, input_size); here ``x`` itself."""
        return x

    def features(self, x: Tensor, lengths: Tensor) -> Tensor:
        """The pooled vectors (B, F) the head classifies."""
        out, state = self.rnn(self.inputs(x), lengths=lengths)  # (B, T, D*H), zero past each length
        return pool(out, state, lengths, self.config.pooling, self.config.bidirectional)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """x (as :meth:`inputs` takes it, batch first) and lengths (B,) -> logits (B, num_classes)."""
        return self.head(self.drop(self.features(x, lengths)))  # (B, classes)


def masked_pool(out: Tensor, lengths: Tensor, how: str) -> Tensor:
    """Pool over each sequence's valid steps.

    Args:
        out: (B, T, F), any values past each length.
        lengths: (B,) valid steps.
        how: ``"max"``, ``"mean"`` or ``"max_mean"``.

    Returns:
        (B, F), or (B, 2F) for ``"max_mean"`` (the two concatenated).

    Example:
        >>> import torch
        >>> out = torch.tensor([[[1.0], [3.0], [9.0]]])
        >>> masked_pool(out, torch.tensor([2]), "max_mean")
        tensor([[3., 2.]])
    """
    T = out.shape[1]
    steps = torch.arange(T, device=out.device)
    valid = (steps < lengths.to(out.device).unsqueeze(1)).unsqueeze(-1)  # (B, T, 1)
    parts = []
    if how in ("max", "max_mean"):
        parts.append(out.masked_fill(~valid, float("-inf")).amax(dim=1))
    if how in ("mean", "max_mean"):
        parts.append((out * valid).sum(dim=1) / lengths.to(out).unsqueeze(1))
    return torch.cat(parts, dim=-1)


def pool(out: Tensor, state, lengths: Tensor, how: str, bidirectional: bool) -> Tensor:
    """The pooled vectors of a recurrent layer's ``out`` (B, T, D*H), zero past each
    length, and final ``state`` (h_n, or (h_n, c_n)): ``last``, the last layer's final
    state of every direction (B, D*H); else :func:`masked_pool`.

    Args:
        out: (B, T, D*H), zero past each length.
        state: the final state, h_n or (h_n, c_n).
        lengths: (B,) valid steps.
        how: ``"last"``, ``"max"``, ``"mean"`` or ``"max_mean"``.
        bidirectional: D = 2.

    Returns:
        (B, D*H), or (B, 2*D*H) for ``"max_mean"``.
    """
    if how == "last":
        h = state[0] if isinstance(state, tuple) else state  # (L*D, B, H)
        D = 2 if bidirectional else 1
        return torch.cat(list(h[-D:]), dim=-1)  # last layer, every direction: (B, D*H)
    return masked_pool(out, lengths, how)
