"""The reference backend: a plain loop of cell steps under autograd. The truth that
every other backend is tested against; float64-safe; records gates when asked.
It runs every variant, with torch's own layer_norm for the recurrent normalisation."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from lstmkit.backends.base import DirectionalBackend, DirParams, stack_records
from lstmkit.cells.layernorm import EPS


class ReferenceBackend(DirectionalBackend):
    """A Python loop of cell steps under autograd: every variant, any dtype, any tool."""

    name = "reference"
    priority = 0

    def prepare_input(self, x, tools):
        """Under ``torch.jit.trace``, a Python time loop is recorded unrolled for this
        input's length; pin that length into the trace (an ``expand`` to the constant T,
        a no-op here) so that running the trace on another length raises instead of
        silently computing the traced number of steps."""
        if "jit_trace" not in tools:
            return x
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TracerWarning is the point: T is a constant
            T = int(x.shape[0])
        return x.expand(T, *x.shape[1:])

    def run_direction(self, cell, gx, h0, c0, p, mask, record):
        """The loop of cell steps under autograd (see :meth:`DirectionalBackend.run_direction`)."""
        h, c = h0, c0
        outs, steps = [], []
        for t in range(gx.shape[0]):
            h_in = h if p.rec_mask is None else h * p.rec_mask
            if p.ln_hh is None:
                gh = F.linear(h_in, p.w_hh, p.b_hh)  # (B, G)
            else:
                gh = F.layer_norm(F.linear(h_in, p.w_hh), (p.w_hh.shape[0],), *p.ln_hh, EPS)
                gh = gh if p.b_hh is None else gh + p.b_hh
            h_raw, c_new, saved = cell.forward(gx[t], gh, h, c, p.cp)
            h_new = h_raw if p.w_hr is None else F.linear(h_raw, p.w_hr)
            if p.zone_h is not None:
                h_new = torch.lerp(h_new, h, p.zone_h[t])
            if p.zone_c is not None:
                c_new = torch.lerp(c_new, c, p.zone_c[t])
            if record is not None:
                steps.append(cell.record(h_new, c_new, saved))
            if mask is not None:
                m = mask[t]  # (B, 1)
                outs.append(h_new * m)
                h_new = torch.where(m, h_new, h)
                if c is not None:
                    c_new = torch.where(m, c_new, c)
            else:
                outs.append(h_new)
            h, c = h_new, c_new
        if record is not None:
            record.append(stack_records(steps))
        return torch.stack(outs), h, c


def direction_outputs(cell, gx, h0, c0, w_hh, b_hh, w_hr, ln_w, ln_b, p_i, p_f, p_o,
                      lnc_w, lnc_b, rec_mask, zone_h, zone_c, mask, lnx_w=None, lnx_b=None,
                      b_x=None):
    """One direction on the reference path from the flat arguments the compiled and
    fused operators take: ``(out, h_n, c_n | None)``, differentiable to any order.
    With ``lnx_w`` ``gx`` is the raw x W_ih^T, normalised here (gain lnx_w, bias lnx_b)
    before b_x is added, as the compiled loop does.

    Args:
        cell: the cell math.
        gx: (T, B, G) input projections in processing order.
        h0: (B, P).
        c0: (B, H) or None.
        w_hh: (G, P).
        b_hh: (G,) or None.
        w_hr: (P, H) or None.
        ln_w: recurrent layer-norm gain (G,) or None.
        ln_b: recurrent layer-norm bias (G,) or None.
        p_i: peephole (H,) or None.
        p_f: peephole (H,) or None.
        p_o: peephole (H,) or None.
        lnc_w: layer-norm gain of c (H,) or None.
        lnc_b: layer-norm bias of c (H,) or None.
        rec_mask: (B, P) or None.
        zone_h: (T, B, P) or None.
        zone_c: (T, B, H) or None.
        mask: (T, B, 1) bool or None.
        lnx_w: input layer-norm gain (G,) or None.
        lnx_b: input layer-norm bias (G,) or None.
        b_x: b_ih (G,) added after the input's layer norm, or None.

    Returns:
        ``(out (T, B, P), h_n (B, P), c_n (B, H) or None)``.
    """
    if lnx_w is not None:
        gx = F.layer_norm(gx, (gx.shape[-1],), lnx_w, lnx_b, EPS)
        if b_x is not None:
            gx = gx + b_x
    p = DirParams(w_ih=None, w_hh=w_hh, b_hh=b_hh, w_hr=w_hr,
                  ln_hh=None if ln_w is None else (ln_w, ln_b),
                  cp=(p_i, p_f, p_o, lnc_w, lnc_b), rec_mask=rec_mask, zone_h=zone_h, zone_c=zone_c)
    return ReferenceBackend().run_direction(cell, gx, h0, c0, p, mask, None)


def direction_grads(cell, tensors, grad_outputs, want):
    """Gradients of one direction w.r.t. ``tensors[i]`` for ``i`` in ``want``, as
    differentiable functions of ``tensors`` and ``grad_outputs`` (``create_graph``):
    what a backend's backward returns when it is itself being differentiated (double
    backward, gradient penalties). ``tensors`` in the order of
    :data:`lstmkit.backends.compiled.function.TENSOR_ARGS`; ``grad_outputs`` =
    (d out, d h_n, d c_n), None entries meaning zero.

    Args:
        cell: the cell math.
        tensors: the flat arguments of :func:`direction_outputs`.
        grad_outputs: (d out, d h_n, d c_n).
        want: indices into ``tensors``.

    Returns:
        One gradient per index of ``want`` (zeros where it does not reach).
    """
    with torch.enable_grad():
        outs = direction_outputs(cell, *tensors)
        pairs = [(o, g) for o, g in zip(outs, grad_outputs) if o is not None and g is not None]
        inputs = [tensors[i] for i in want]
        grads = torch.autograd.grad([o for o, _ in pairs], inputs, [g for _, g in pairs],
                                    create_graph=True, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for t, g in zip(inputs, grads)]
