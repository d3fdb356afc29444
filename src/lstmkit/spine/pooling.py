"""What the pooled classifiers (:mod:`lstmkit.classify.network`,
:mod:`lstmkit.sequences.model`) share: their configs' checks and the pooling of the
recurrent layer's outputs over each sequence's true length.

Shapes: B sequences, T steps, F features, H hidden size, D directions.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.errors import InputError
from lstmkit.spine.nets import CELLS

POOLINGS = ("max", "mean", "max_mean", "last")


def check_pooled_config(config, positive: tuple[str, ...]) -> None:
    """Raise InputError unless the fields named in ``positive`` are positive integers,
    ``num_classes`` an integer >= 2, ``cell`` one of CELLS and ``pooling`` one of POOLINGS
    (each config checks its own ``dropout``)."""
    for name in positive:
        v = getattr(config, name)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise InputError(f"{name} must be a positive integer, got {v!r}")
    if not isinstance(config.num_classes, int) or config.num_classes < 2:
        raise InputError(f"num_classes must be an integer >= 2, got {config.num_classes!r}")
    if config.cell not in CELLS:
        raise InputError(f"cell must be one of {', '.join(CELLS)}, got {config.cell!r}")
    if config.pooling not in POOLINGS:
        raise InputError(f"pooling must be one of {', '.join(POOLINGS)}, got {config.pooling!r}")


def masked_pool(out: Tensor, lengths: Tensor, how: str) -> Tensor:
    """Pool ``out`` (B, T, F) over its first ``lengths`` (B,) steps: ``max``, ``mean`` or
    ``max_mean`` (the two concatenated, (B, 2F))."""
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
    state of every direction (B, D*H); else :func:`masked_pool`."""
    if how == "last":
        h = state[0] if isinstance(state, tuple) else state  # (L*D, B, H)
        D = 2 if bidirectional else 1
        return torch.cat(list(h[-D:]), dim=-1)  # last layer, every direction: (B, D*H)
    return masked_pool(out, lengths, how)
