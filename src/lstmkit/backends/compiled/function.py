"""The autograd Function of one direction on the compiled recurrence.

It takes exactly what :class:`lstmkit.backends.fused._FusedDirection` takes and returns
the same outputs and gradients; the loops forward and back through time run in C++
(``csrc/recurrence.h``, ``csrc/backward.h``). Without autograd (``torch.no_grad()`` or
nothing requiring grad) the C++ forward runs directly, keeping only two rows of state.

Shapes: T time, B batch, H hidden, P = proj_size or H, G = n_gates * H.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from lstmkit.backends.base import DirParams
from lstmkit.cells import CellMath

_MODES = {"LSTM": 0, "GRU": 1, "RNN_TANH": 2, "RNN_RELU": 3}


def cell_options(cell: CellMath) -> tuple[int, bool, bool, float, bool]:
    """(mode, peephole, coupled, clip or -1, layer norm of c) for the C++ side."""
    clip = getattr(cell, "cell_clip", None)
    return (
        _MODES[cell.mode],
        bool(getattr(cell, "peephole", False)),
        bool(getattr(cell, "coupled", False)),
        -1.0 if clip is None else float(clip),
        bool(getattr(cell, "layer_norm", False)),
    )


class _CompiledDirection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ext, opts, gx, h0, c0, w_hh, b_hh, w_hr, ln_w, ln_b, p_i, p_f, p_o,
                lnc_w, lnc_b, rec_mask, zone_h, zone_c, mask, lnx_w, lnx_b, b_x):
        d = ext.Direction(*opts, gx, h0, c0, w_hh, b_hh, w_hr, ln_w, ln_b, p_i, p_f, p_o,
                          lnc_w, lnc_b, rec_mask, zone_h, zone_c, mask, lnx_w, lnx_b, b_x)
        out, hn, cn = d.forward(True)
        ctx.direction = d
        # kept so that autograd notices an in-place change before backward
        ctx.save_for_backward(w_hh, b_hh, w_hr, ln_w, ln_b, p_i, p_f, p_o, lnc_w, lnc_b,
                              lnx_w, lnx_b, b_x)
        return (out, hn) if cn is None else (out, hn, cn)

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dhn, dcn=None):
        ctx.saved_tensors  # raises if a saved weight was modified in place
        n = ctx.needs_input_grad
        need = list(n[2:15]) + list(n[19:22])
        g = ctx.direction.backward(dout, dhn, dcn, need)
        return (None, None, *g[:13], None, None, None, None, *g[13:])


def run_direction(ext, cell: CellMath, gx: Tensor, h0: Tensor, c0: Tensor | None,
                  p: DirParams, mask: Tensor | None, ln_x: tuple | None = None):
    """One direction: ``(output (T, B, P), h_n (B, P), c_n (B, H) | None)``.

    ``ln_x`` = (gain, bias, b_ih) when ``gx`` is the raw x W_ih^T and the loop applies
    the input's layer norm (and b_ih) itself."""
    ln_w, ln_b = p.ln_hh if p.ln_hh is not None else (None, None)
    lnx = ln_x if ln_x is not None else (None, None, None)
    args = (gx, h0, c0, p.w_hh, p.b_hh, p.w_hr, ln_w, ln_b, *p.cp,
            p.rec_mask, p.zone_h, p.zone_c, mask, *lnx)
    opts = cell_options(cell)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in args):
        res = _CompiledDirection.apply(ext, opts, *args)
        return res if c0 is not None else (res[0], res[1], None)
    out, hn, cn = ext.Direction(*opts, *args).forward(False)
    return out, hn, cn
