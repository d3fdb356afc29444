"""Streaming inference on the compiled path: one time step of a cell or of a layer stack
in one C++ call per layer (the input projection, its layer norm, the recurrence and the
gate math), without building a LayerSpec, choosing a backend or drawing masks.

:func:`cell_step` serves ``LSTMCell``/``GRUCell``/``RNNCell.forward`` and
:func:`layer_step` serves ``LSTM/GRU/RNN.step``. Each returns None when the fast path
does not apply, and the caller takes the general path, which gives the same numbers (and
the errors for bad input): when the compiled backend is unavailable or not the one asked
for, when autograd needs a graph, when random masks are in effect (training with
recurrent dropout, weight drop, zoneout or dropout between layers), or for other dtypes,
devices and shapes.

Shapes: B batch, I input, H hidden, P = proj_size or H, L layers.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lstmkit.backends.compiled import _build
from lstmkit.backends.compiled.function import cell_options

_DTYPES = (torch.float32, torch.float64)


def _needs_graph(module: nn.Module, tensors) -> bool:
    if not torch.is_grad_enabled():
        return False
    if any(t is not None and t.requires_grad for t in tensors):
        return True
    return any(p.requires_grad for p in module.parameters())


def _eligible(module: nn.Module, x: Tensor, tensors) -> bool:
    if module.backend not in ("auto", "compiled") or _build.reason() is not None:
        return False
    if not isinstance(x, Tensor) or x.dtype not in _DTYPES or x.device.type != "cpu":
        return False
    if module.training and module.variants.draws_masks():
        return False  # masks are drawn per call, in the general path's order
    # a weight no longer stored as the parameter it was registered as (a
    # parametrization, pruning, weight_norm) is computed: only the general path reads it
    names = module.__dict__.get("_parameter_names")
    if names is None or not module._parameters.keys() >= names:
        return False
    return not _needs_graph(module, tensors)


#: the C++ step's weight arguments, in its order (csrc); every variant parameter of
#: lstmkit.variants.SPECS is here (tests/test_variant_spec.py)
_NAMES = ("weight_ih", "bias_ih", "ln_ih_weight", "ln_ih_bias", "weight_hh", "bias_hh",
          "weight_hr", "ln_hh_weight", "ln_hh_bias", "peephole_i", "peephole_f", "peephole_o",
          "ln_c_weight", "ln_c_bias")


def _weights(module: nn.Module, sfx: str) -> tuple:
    # straight from the parameter dict: nn.Module.__getattr__ costs a microsecond a name,
    # which is most of a batch-1 step's budget
    get = module._parameters.get
    return tuple(get(n + sfx) for n in _NAMES)


def _options(module: nn.Module) -> tuple:
    cell = module._cell  # its options never change: computed once
    opts = getattr(cell, "_compiled_options", None)
    if opts is None:
        opts = cell._compiled_options = cell_options(cell)
    return opts


def _zone(module: nn.Module) -> tuple[float, float]:
    """Eval-mode zoneout: the state is the expectation, a lerp with the rate."""
    zc, zh = module.variants.zoneout
    return float(zc), float(zh)


def cell_step(module: nn.Module, x: Tensor, h: Tensor, c: Tensor | None):
    """One step of a cell on the compiled streaming path, or None where it does not apply.

    Args:
        module: an lstmkit cell.
        x: (B, I).
        h: (B, H).
        c: (B, H) for the LSTM, else None.

    Returns:
        ``(h_1 (B, H), c_1 (B, H) or None)``, or None: the caller then takes its general
        path (same numbers).
    """
    if not _eligible(module, x, (x, h, c)):
        return None
    if h.dtype != x.dtype or (c is not None and c.dtype != x.dtype):
        return None
    w = _weights(module, "")
    h1, c1 = _build.load().step(*_options(module), x, h, c, *w, *_zone(module))
    return h1, c1


def layer_step(module: nn.Module, x_t: Tensor, state):
    """One step of a unidirectional layer stack on the compiled streaming path, or None.

    Args:
        module: an lstmkit LSTM, GRU or RNN.
        x_t: (B, I) or (I,).
        state: as the layer's ``step`` takes it, or None.

    Returns:
        ``(output, h_n, c_n or None)`` shaped as the layer's ``step`` returns them, or
        None: the caller then takes its general path (same numbers).
    """
    if module.bidirectional or not isinstance(x_t, Tensor) or x_t.dim() not in (1, 2):
        return None
    if module.training and module.dropout and module.num_layers > 1:
        return None
    lstm = module.mode == "LSTM"
    if state is None:
        h0 = c0 = None
    elif lstm:
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            return None
        h0, c0 = state
    else:
        h0, c0 = state, None
    if not _eligible(module, x_t, (x_t, h0, c0)):
        return None
    batched = x_t.dim() == 2
    x = x_t if batched else x_t.unsqueeze(0)
    B, L = x.shape[0], module.num_layers
    H, P = module.hidden_size, module.proj_size or module.hidden_size
    if x.shape[1] != module.input_size or x.dtype != module.weight_ih_l0.dtype:
        return None
    for s, size in ((h0, P), (c0, H)):
        if s is None:
            continue
        if not isinstance(s, Tensor) or s.dtype != x.dtype or s.device != x.device:
            return None
        if tuple(s.shape) != ((L, B, size) if batched else (L, size)):
            return None
    if h0 is not None and not batched:
        h0 = h0.unsqueeze(1)
    if c0 is not None and not batched:
        c0 = c0.unsqueeze(1)
    ext = _build.load()
    opts = _options(module)
    zone = _zone(module)
    hs, cs = [], []
    inp = x
    for layer in range(L):
        h = h0[layer] if h0 is not None else x.new_zeros(B, P)
        c = (c0[layer] if c0 is not None else x.new_zeros(B, H)) if lstm else None
        h1, c1 = ext.step(*opts, inp, h, c, *_weights(module, f"_l{layer}"), *zone)
        hs.append(h1)
        cs.append(c1)
        inp = h1
    hn = torch.stack(hs)
    cn = torch.stack(cs) if lstm else None
    if not batched:
        hn, inp = hn.squeeze(1), inp[0]
        cn = cn.squeeze(1) if cn is not None else None
    return inp, hn, cn
