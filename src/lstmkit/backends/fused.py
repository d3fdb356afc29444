"""The fused backend: one autograd.Function per layer and direction.

Forward: the input projection of all T steps is one (T*B, I) x (I, G) matmul (done by
the caller, :func:`~lstmkit.backends.base.input_projection`); the loop runs only the
recurrence and the cell's pointwise math, keeping what backward needs.
Backward: a hand-written loop back through time producing the pre-activation gradients
of every step; then the weight gradients as single matmuls over all steps, and the
gradients of the initial states. Every variant runs here (recurrent layer norm,
recurrent dropout, zoneout, and the cell options of :class:`~lstmkit.cells.LSTMMath`).

Under torch's tools the same loops run as two torch.library operators,
``lstmkit::fused_forward`` and ``lstmkit::fused_backward``, with fake kernels and
registered autograd, so that ``torch.jit.trace`` (saved and reloaded, any sequence
length), ``torch.export`` (dynamic batch and time), ``torch.compile(fullgraph=True)``
(training too) and ``torch.func.grad`` see one opaque, correct node instead of a Python
object they cannot follow or a loop unrolled to one sequence length. An operator
cannot carry the Python lists this backward reads, so there the backward operator
first reruns the forward loop (keeping them) and then runs the same hand-written
backward: the same numbers as eager, at the cost of one more forward pass, only under
those tools. Eager mode keeps the autograd.Function below.

Double backward (``create_graph=True``): the hand-written backward is not itself
differentiable, so when it runs with grad mode on it recomputes the direction on the
differentiable reference path (:func:`lstmkit.backends.reference.direction_grads`) and
returns gradients that carry their graph: exact, never gradients without a graph.
``torch.func.jvp`` and ``vmap`` have no rule here and raise torch's error.

Shapes: T time, B batch, H hidden, P = proj_size or H, G = n_gates * H.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils._python_dispatch import is_in_torch_dispatch_mode

from lstmkit.backends.base import (DirectionalBackend, cell_from_options, cell_options,
                                   functorch_active, hidden_of)
from lstmkit.cells.layernorm import ln_backward, ln_forward

#: the tensor arguments of one direction, in the order of _FusedDirection and the operators
TENSOR_ARGS = ("gx", "h0", "c0", "w_hh", "b_hh", "w_hr", "ln_w", "ln_b", "p_i", "p_f", "p_o",
               "lnc_w", "lnc_b", "rec_mask", "zone_h", "zone_c", "mask")
_N = len(TENSOR_ARGS)


def _add(a: Tensor, b: Tensor | None) -> Tensor:
    return a if b is None else a + b


class _FusedDirection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cell, gx, h0, c0, w_hh, b_hh, w_hr, ln_w, ln_b,
                p_i, p_f, p_o, lnc_w, lnc_b, rec_mask, zone_h, zone_c, mask):
        ctx.save_for_backward(gx, h0, c0, w_hh, b_hh, w_hr, ln_w, ln_b, p_i, p_f, p_o,
                              lnc_w, lnc_b, rec_mask, zone_h, zone_c, mask)
        T = gx.shape[0]
        cp = (p_i, p_f, p_o, lnc_w, lnc_b)
        w_hhT = w_hh.t()  # (P, G)
        w_hrT = None if w_hr is None else w_hr.t()  # (H, P)
        h, c = h0, c0
        hs, cs, h_ins, saved, raws, outs, lns = [h0], [c0], [], [], [], [], []
        # additive cells without recurrent LN: b_hh joins gx once, then one addmm per step
        fold = cell.additive and ln_w is None
        if fold and b_hh is not None:
            gx = gx + b_hh
        for t in range(T):
            h_in = h if rec_mask is None else h * rec_mask  # (B, P)
            h_ins.append(h_in)
            if fold:
                gx_t, gh = torch.addmm(gx[t], h_in, w_hhT), None
            elif ln_w is None:
                gx_t, gh = gx[t], (torch.addmm(b_hh, h_in, w_hhT) if b_hh is not None else h_in.mm(w_hhT))
            else:
                a_hat, rstd = ln_forward(h_in.mm(w_hhT))  # (B, G), (B, 1)
                lns.append((a_hat, rstd))
                gx_t, gh = gx[t], _add(torch.addcmul(ln_b, a_hat, ln_w), b_hh)
            h_raw, c_new, sv = cell.forward(gx_t, gh, h, c, cp)
            saved.append(sv)
            if w_hrT is not None:
                raws.append(h_raw)
                h_new = h_raw.mm(w_hrT)  # (B, P)
            else:
                h_new = h_raw
            if zone_h is not None:
                h_new = torch.lerp(h_new, h, zone_h[t])
            if zone_c is not None:
                c_new = torch.lerp(c_new, c, zone_c[t])
            if mask is not None:
                m = mask[t]  # (B, 1) bool
                outs.append(h_new * m)
                h_new = torch.where(m, h_new, h)
                if c is not None:
                    c_new = torch.where(m, c_new, c)
            else:
                outs.append(h_new)
            h, c = h_new, c_new
            hs.append(h)
            cs.append(c)
        out = torch.stack(outs)  # (T, B, P)
        ctx.cell, ctx.cp = cell, cp
        ctx.hs, ctx.cs, ctx.h_ins, ctx.saved, ctx.raws, ctx.lns = hs, cs, h_ins, saved, raws, lns
        ctx.has = (c0 is not None, b_hh is not None, w_hr is not None, ln_w is not None)
        if c is None:
            return out, h
        return out, h, c

    @staticmethod
    def backward(ctx, dout, dhn, dcn=None):
        tensors = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: differentiate again, on the reference path
            return (None, *_differentiable_grads(ctx.cell, tensors, ctx.needs_input_grad[1:], dout, dhn, dcn))
        return _backward_loop(ctx, tensors, dout, dhn, dcn)


def _differentiable_grads(cell, tensors, needs, dout, dhn, dcn) -> list:
    """The gradients of the direction's inputs as differentiable functions (double backward)."""
    from lstmkit.backends.reference import direction_grads

    want = [i for i in range(_N) if needs[i] and tensors[i] is not None
            and TENSOR_ARGS[i] not in ("rec_mask", "zone_h", "zone_c", "mask")]
    grads = direction_grads(cell, tensors, (dout, dhn, dcn), want)
    res = [None] * _N
    for i, g in zip(want, grads):
        res[i] = g
    return res


def _backward_loop(ctx, tensors, dout, dhn, dcn):
    """The hand-written backward: gradients of (cell, *TENSOR_ARGS)."""
    w_hh, w_hr, ln_w, rec_mask, zone_h, zone_c, mask = (tensors[i] for i in (3, 5, 6, 13, 14, 15, 16))
    cell, cp = ctx.cell, ctx.cp
    hs, cs, saved, raws, lns = ctx.hs, ctx.cs, ctx.saved, ctx.raws, ctx.lns
    has_c, has_bhh, has_proj, has_ln = ctx.has
    T, B = len(saved), hs[0].shape[0]
    G = w_hh.shape[0]
    dgx_all = hs[0].new_empty(T, B, G)
    dgh_all = dgx_all if cell.additive else hs[0].new_empty(T, B, G)
    da_all = hs[0].new_empty(T, B, G) if has_ln else dgh_all  # grad of h_in W_hh^T
    dproj = hs[0].new_empty(T, B, w_hr.shape[0]) if has_proj else None
    extras = []
    dh = dhn if dhn is not None else torch.zeros_like(hs[-1])
    dc = dcn if has_c else None
    for t in range(T - 1, -1, -1):
        d = dh if dout is None else dout[t] + dh  # dL/dh_t (as stored)
        dcs = dc
        if mask is not None:
            m = mask[t]
            d = d * m
            if dc is not None:
                dcs = dc * m
        dh_keep = dc_keep = None
        if zone_h is not None:
            dh_keep = d * zone_h[t]
            d = d - dh_keep
        if zone_c is not None:
            dc_keep = dcs * zone_c[t]
            dcs = dcs - dc_keep
        if has_proj:
            dproj[t] = d
            d = d.mm(w_hr)  # (B, H)
        dgx, dgh, dh_direct, dc_prev, extra = cell.backward(d, dcs, hs[t], cs[t], saved[t], cp)
        extras.append(extra)
        dgx_all[t] = dgx
        if dgh_all is not dgx_all:
            dgh_all[t] = dgh
        if has_ln:
            a_hat, rstd = lns[t]
            da = ln_backward(dgh * ln_w, a_hat, rstd)
            da_all[t] = da
        else:
            da = dgh
        dh_new = da.mm(w_hh)  # (B, P)
        if rec_mask is not None:
            dh_new = dh_new * rec_mask
        dh_new = _add(_add(dh_new, dh_direct), dh_keep)
        dc_prev = _add(dc_prev, dc_keep)
        if mask is not None:
            nm = ~mask[t]
            dh_new = dh_new + dh * nm
            if dc is not None:
                dc_prev = dc_prev + dc * nm
        dh, dc = dh_new, dc_prev
    extras.reverse()
    need = ctx.needs_input_grad
    gh2 = dgh_all.view(T * B, G)
    dw_hh = None
    if need[4]:
        h_in = torch.stack(ctx.h_ins).view(T * B, -1)  # (T*B, P)
        dw_hh = da_all.view(T * B, G).t().mm(h_in)
    db_hh = gh2.sum(0) if has_bhh and need[5] else None
    dw_hr = None
    if has_proj and need[6]:
        dw_hr = dproj.view(T * B, -1).t().mm(torch.stack(raws).view(T * B, -1))
    dln_w = dln_b = None
    if has_ln:
        if need[7]:
            a_hat = torch.stack([a for a, _ in lns]).view(T * B, G)
            dln_w = (gh2 * a_hat).sum(0)
        dln_b = gh2.sum(0) if need[8] else None
    dcp = cell.param_grads(dgx_all, torch.stack(cs[:-1]) if has_c else None, saved, extras, cp, need[9:14])
    dh0 = dh if need[2] else None
    dc0 = dc if has_c and need[3] else None
    return (None, dgx_all if need[1] else None, dh0, dc0, dw_hh, db_hh, dw_hr, dln_w, dln_b,
            *dcp, None, None, None, None)


# ---- the operators (what torch's tools see) ------------------------------------------

_TENSORS = ", ".join(f"Tensor{'' if n in ('gx', 'h0', 'w_hh') else '?'} {n}" for n in TENSOR_ARGS)
_OPTS = "int mode, bool peephole, bool coupled, float clip, bool ln_cell"
torch.library.define("lstmkit::fused_forward", f"({_TENSORS}, {_OPTS}) -> (Tensor, Tensor, Tensor)")
torch.library.define(
    "lstmkit::fused_backward",
    f"({_TENSORS}, Tensor? dout, Tensor? dhn, Tensor? dcn, {_OPTS}, bool[] need) -> Tensor[]",
)


class _Ctx:
    """What _FusedDirection's forward and backward read and write on an autograd
    context, for running them inside an operator."""

    def __init__(self, needs=()):
        self.needs_input_grad = needs

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors


@torch.library.impl("lstmkit::fused_forward", "CompositeExplicitAutograd")
def _op_forward(*args):
    tensors, opts = args[:_N], args[_N:]
    res = _FusedDirection.forward(_Ctx(), cell_from_options(*opts), *tensors)
    cn = res[2] if len(res) == 3 else tensors[0].new_empty((0,))
    return res[0], res[1], cn


@torch.library.impl("lstmkit::fused_backward", "CompositeExplicitAutograd")
def _op_backward(*args):
    tensors, (dout, dhn, dcn), opts, need = args[:_N], args[_N:_N + 3], args[_N + 3:_N + 8], args[-1]
    ctx = _Ctx((False, *need))
    _FusedDirection.forward(ctx, cell_from_options(*opts), *tensors)  # the lists backward reads
    if opts[0] == 0 and dcn is None:  # the loop reads dL/dc_T (zoneout, masks)
        dcn = torch.zeros_like(tensors[2])
    grads = _backward_loop(ctx, ctx.saved_tensors, dout, dhn, dcn if opts[0] == 0 else None)[1:]
    res, seen = [], {t.data_ptr() for t in tensors if t is not None and t.numel()}
    for t, g, n in zip(tensors, grads, need):
        if not n or g is None:
            res.append(tensors[0].new_empty((0,)))
            continue
        if g.numel() and g.data_ptr() in seen:  # an operator's outputs must not share memory
            g = g.clone()
        seen.add(g.data_ptr())
        res.append(g.contiguous())
    return res


@torch.library.register_fake("lstmkit::fused_forward")
def _op_forward_fake(*args):
    gx, w_hh, mode, coupled = args[0], args[3], args[_N], args[_N + 2]
    T, B, G = gx.shape
    P, H = w_hh.shape[1], hidden_of(mode, coupled, G)
    cn = gx.new_empty((B, H)) if mode == 0 else gx.new_empty((0,))
    return gx.new_empty((T, B, P)), gx.new_empty((B, P)), cn


@torch.library.register_fake("lstmkit::fused_backward")
def _op_backward_fake(*args):
    tensors, need = args[:_N], args[-1]
    return [t.new_empty(t.shape) if n and t is not None else tensors[0].new_empty((0,))
            for t, n in zip(tensors, need)]


def _setup_context(ctx, inputs, output):
    ctx.opts = tuple(inputs[_N:_N + 5])
    ctx.save_for_backward(*inputs[:_N])
    ctx.set_materialize_grads(False)


def _op_grads(ctx, dout, dhn, dcn, *rest):
    tensors, needs = ctx.saved_tensors, ctx.needs_input_grad
    dcn = dcn if ctx.opts[0] == 0 else None
    if torch.is_grad_enabled():  # create_graph: differentiate again, on the reference path
        grads = _differentiable_grads(cell_from_options(*ctx.opts), tensors, needs, dout, dhn, dcn)
        return (*grads, None, None, None, None, None)
    need = [bool(needs[i]) and tensors[i] is not None
            and TENSOR_ARGS[i] not in ("rec_mask", "zone_h", "zone_c", "mask") for i in range(_N)]
    g = torch.ops.lstmkit.fused_backward(*tensors, dout, dhn, dcn, *ctx.opts, need)
    return (*(g[i] if need[i] else None for i in range(_N)), None, None, None, None, None)


torch.library.register_autograd("lstmkit::fused_forward", _op_grads, setup_context=_setup_context)


class _UnderFunctorch(torch.autograd.Function):
    """The operator and its formula as an autograd.Function with ``setup_context``, the
    form torch.func transforms accept (they reject an operator's registered autograd)."""

    @staticmethod
    def forward(*args):
        return torch.ops.lstmkit.fused_forward(*args)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _setup_context(ctx, inputs, output)

    @staticmethod
    def backward(ctx, dout, dhn, dcn):
        return _op_grads(ctx, dout, dhn, dcn)


def _under_tools(gx: Tensor) -> bool:
    """Whether a tool that cannot follow the eager autograd.Function runs this forward:
    dynamo / export, the jit tracer, a torch.func transform, or a tracing mode (fake,
    functional or proxy tensors, make_fx)."""
    return (torch.compiler.is_compiling() or torch._C._get_tracing_state() is not None
            or functorch_active() or type(gx) is not Tensor or is_in_torch_dispatch_mode())


class FusedBackend(DirectionalBackend):
    """One autograd.Function per direction with a hand-written backward; every variant."""

    name = "fused"
    priority = 10

    def unsupported(self, spec, x):
        """Floating-point tensors, every mode and variant (see :meth:`Backend.unsupported`)."""
        if x.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            return f"fused runs floating-point tensors, not {x.dtype}"
        return None

    def unsupported_under(self, tools: frozenset[str]) -> str | None:
        """Why this backend cannot run under the named tools (see
        :mod:`lstmkit.backends.tools`), or None. Under jit_trace, export, compile and
        functorch it runs as the lstmkit::fused_* operators (module docstring); double
        backward recomputes on the reference path. ONNX has no such operator, and the
        hand-written backward does not follow autocast's mixed dtypes."""
        if "functorch_forward" in tools:
            return ("its operators have autograd rules but no vmap or forward-mode (jvp) rule; "
                    "use backend='auto' (it picks one that runs there) or 'reference'")
        if "onnx_export" in tools:
            return ("ONNX has no lstmkit::fused_forward operator; export the layer through "
                    "native (plain cells), the reference loop or lstmkit.export")
        if "autocast" in tools:
            return "its hand-written backward does not follow autocast's mixed precision"
        return None

    def run_direction(self, cell, gx, h0, c0, p, mask, record):
        """One direction through the autograd.Function, or the operators under torch's tools (see :meth:`DirectionalBackend.run_direction`)."""
        ln_w, ln_b = p.ln_hh if p.ln_hh is not None else (None, None)
        args = (gx, h0, c0, p.w_hh, p.b_hh, p.w_hr, ln_w, ln_b, *p.cp,
                p.rec_mask, p.zone_h, p.zone_c, mask)
        if _under_tools(gx):
            grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in args)
            if grad and not torch.compiler.is_compiling() and functorch_active():
                res = _UnderFunctorch.apply(*args, *cell_options(cell))
            else:
                res = torch.ops.lstmkit.fused_forward(*args, *cell_options(cell))
        else:
            res = _FusedDirection.apply(cell, *args)
        return res if c0 is not None else (res[0], res[1], None)
