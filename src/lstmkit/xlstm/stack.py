"""What the sLSTM and mLSTM layers share: input layout (batch_first, unbatched), lengths
masks, the reverse direction and the stacking of layers with dropout between them.

Shape legend: T time, B batch, L layers, D directions (2 if bidirectional).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lstmkit.errors import InputError
from lstmkit.xlstm import checks


def set_sizes(module, input_size, hidden_size, num_layers, num_heads, dropout, batch_first,
              bidirectional) -> int:
    """Check a layer's torch.nn-style arguments and set them on ``module``; returns the
    number of directions D."""
    module.input_size = checks.positive_int("input_size", input_size)
    module.hidden_size = checks.positive_int("hidden_size", hidden_size)
    module.num_layers = checks.positive_int("num_layers", num_layers)
    module.num_heads = checks.heads(module.hidden_size, num_heads)
    module.dropout = checks.dropout(dropout)
    module.batch_first, module.bidirectional = bool(batch_first), bool(bidirectional)
    return 2 if module.bidirectional else 1


def prepare(module, x, lengths):
    """Check ``x`` and return (x as (T, B, I), unbatched, lengths or None, mask (T, B) or None)."""
    x = checks.floating(x, "input", like=next(module.parameters()))
    if x.dim() not in (2, 3):
        raise InputError(f"input must be (T, B, {module.input_size}) ((B, T, ...) with "
                         f"batch_first) or unbatched (T, {module.input_size}), got shape "
                         f"{tuple(x.shape)}")
    unbatched = x.dim() == 2
    if unbatched:
        x = x.unsqueeze(1)
    elif module.batch_first:
        x = x.transpose(0, 1)
    if x.shape[-1] != module.input_size:
        raise InputError(f"input's last dimension must be input_size={module.input_size}, "
                         f"got {x.shape[-1]}")
    T, B = x.shape[0], x.shape[1]
    if T == 0:
        raise InputError("input has no time steps (T=0); give at least one step")
    if unbatched and lengths is not None:
        lengths = torch.as_tensor(lengths)
        if lengths.numel() != 1:
            raise InputError(f"an unbatched input takes one length, got {lengths.numel()}")
        lengths = lengths.reshape(1)
    lengths = checks.lengths(lengths, T, B, x.device)
    mask = None
    if lengths is not None:
        mask = torch.arange(T, device=x.device)[:, None] < lengths[None, :]
    return x, unbatched, lengths, mask


def reverse_index(T: int, B: int, lengths: Tensor | None, device) -> Tensor:
    """(T, B) time indices that reverse each sequence within its length (an involution)."""
    t = torch.arange(T, device=device)[:, None].expand(T, B)
    if lengths is None:
        return (T - 1 - t).contiguous()
    return torch.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)


def gather_time(x: Tensor, index: Tensor) -> Tensor:
    """x (T, B, ...) reordered along time per batch element by ``index`` (T, B)."""
    idx = index.reshape(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, idx)


def run_stack(module, x: Tensor, states: list, lengths, mask, run_direction):
    """Run ``module.num_layers`` layers of D directions.

    ``run_direction(k, x, state, mask)`` runs cell k = layer * D + direction forward in time
    over x (T, B, F) and returns (output (T, B, H) zero past the lengths, final state).
    ``states[k]`` is direction k's initial state (a tuple) or None."""
    T, B = x.shape[0], x.shape[1]
    D = 2 if module.bidirectional else 1
    rev = reverse_index(T, B, lengths, x.device) if D == 2 else None
    finals = []
    for layer in range(module.num_layers):
        if layer and module.dropout and module.training:
            x = F.dropout(x, module.dropout, training=True)
        outs = []
        for d in range(D):
            k = layer * D + d
            inp = x if d == 0 else gather_time(x, rev)
            out, final = run_direction(k, inp, states[k], mask)
            outs.append(out if d == 0 else gather_time(out, rev))
            finals.append(final)
        x = outs[0] if D == 1 else torch.cat(outs, dim=-1)
    if mask is not None:
        x = x * mask[..., None].to(x.dtype)
    return x, finals


def split_states(states, count: int, shapes: list[tuple], names: list[str], unbatched: bool,
                 like: Tensor | None = None):
    """The user's state tuple (each entry (L*D, B, ...)) as a list of per-direction tuples."""
    if states is None:
        return [None] * count
    if not isinstance(states, (tuple, list)) or len(states) != len(shapes):
        raise InputError(f"the initial state must be a tuple ({', '.join(names)}), got "
                         f"{type(states).__name__}"
                         + (f" of {len(states)}" if isinstance(states, (tuple, list)) else ""))
    out = []
    for s, shape, name in zip(states, shapes, names):
        want = (count, *shape[1:]) if unbatched else (count, *shape)
        checks.state_shape(s, name, want, like)
        out.append(s.unsqueeze(1) if unbatched else s)
    return [tuple(s[k] for s in out) for k in range(count)]


def join_states(finals: list, unbatched: bool) -> tuple:
    """Per-direction final states -> the tuple of (L*D, B, ...) tensors (B dropped if unbatched)."""
    joined = tuple(torch.stack(parts) for parts in zip(*finals))
    return tuple(s.squeeze(1) for s in joined) if unbatched else joined


def finish(x: Tensor, module, unbatched: bool) -> Tensor:
    """The time-major output (T, B, F) in the caller's layout: (T, F) unbatched, (B, T, F)
    with ``module.batch_first``."""
    if unbatched:
        return x.squeeze(1)
    return x.transpose(0, 1) if module.batch_first else x
