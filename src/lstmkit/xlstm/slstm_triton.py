r"""The sLSTM recurrence in Triton kernels (:mod:`lstmkit.xlstm.kernels.slstm`).

One kernel launch runs the forward time loop, one program per (batch block, head) with the
head's (4, d, d) block of R and its rows of the state on chip for all T steps; the input
projection W x + b of all steps is computed outside, by the caller, in one matmul. A second
kernel runs the backward through time over the stored gate pre-activations and states;
the gradient of R is then one contraction over all steps in torch. Double backward
(``create_graph=True``) differentiates the reference loop
(:func:`lstmkit.xlstm.slstm_math.sequence`) on the saved inputs instead, so the gradients
it returns always carry a graph.

Runs on CUDA tensors, or on the CPU in triton's interpreter (``TRITON_INTERPRET=1`` in the
environment before triton loads); float32 and float64. Its correctness is checked in the
interpreter against :mod:`lstmkit.xlstm.slstm_math` (tests/test_xlstm_triton.py); its speed
on a GPU has not been measured.

Shapes: T time, B batch, H hidden (NH heads of width d); ``pre`` (T, B, 4H) = W x + b,
gates i, f, z, o; ``weight_hh`` (4, NH, d, d); states (B, H); ``mask`` (T, B) bool or None.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import torch
from torch import Tensor

DTYPES = (torch.float32, torch.float64)
MODES = ("sigmoid", "exp")
_TRUE = ("1", "true", "yes", "on", "y")


def interpreting() -> bool:
    """Whether the kernels run (or, once loaded, will run) in triton's CPU interpreter.

    Returns:
        True when the loaded kernels are interpreted, or (before they load) when
        ``TRITON_INTERPRET`` is set to a true value.
    """
    for name, fn in (("slstm", "slstm_fwd"), ("mlstm", "mlstm_states")):
        kernels = sys.modules.get(f"lstmkit.xlstm.kernels.{name}")
        if kernels is not None:
            return type(getattr(kernels, fn)).__name__ == "InterpretedFunction"
    return os.environ.get("TRITON_INTERPRET", "").strip().lower() in _TRUE


def unsupported(x: Tensor) -> str | None:
    """Why the Triton kernels cannot run on ``x`` here, or None.

    Args:
        x: the input (its device and dtype count).

    Returns:
        The reason (triton missing, a CPU tensor outside the interpreter, a dtype other
        than float32 or float64), or None.
    """
    try:
        found = importlib.util.find_spec("triton") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return "triton is not installed (the extra: pip install 'lstmkit[triton]')"
    if x.device.type != "cuda" and not interpreting():
        return (f"the triton kernels run on CUDA tensors, not on {x.device.type} "
                "(TRITON_INTERPRET=1 runs them in triton's interpreter, for tests)")
    if x.dtype not in DTYPES:
        return f"the triton kernels run float32 and float64, not {x.dtype}"
    return None


def _next_pow2(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def _tiles(B: int, d: int) -> dict:
    # a program's per-gate product is a (BB, DP, DP) tile: at most 16 rows, fewer for wide
    # heads (untuned: no GPU has run these kernels)
    DP = _next_pow2(d)
    return {"DP": DP, "BB": min(_next_pow2(B), 16, _next_pow2(max(1, 2048 // (DP * DP))))}


def _forward(pre, weight_hh, state, mask, exp_f):
    """Launch the forward kernel: (hs, cs, ns, ms (T+1, B, H), raw (T, B, 4H))."""
    from lstmkit.xlstm.kernels.slstm import slstm_fwd

    T, B, G = pre.shape
    NH, d = weight_hh.shape[1], weight_hh.shape[2]
    buf = [pre.new_empty(T + 1, B, G // 4) for _ in range(4)]
    for b, s0 in zip(buf, state):
        b[0] = s0
    raw = pre.new_empty(T, B, G)
    tiles = _tiles(B, d)
    m8 = pre.new_empty(1) if mask is None else mask.to(torch.int8).contiguous()
    grid = (_cdiv(B, tiles["BB"]), NH)
    slstm_fwd[grid](pre.contiguous(), weight_hh.contiguous(), m8, *buf, raw, T, B, NH, d,
                    EXP_F=exp_f, HAS_MASK=mask is not None, **tiles)
    return (*buf, raw)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


class SLSTMTriton(torch.autograd.Function):
    """The sLSTM over T steps through the kernels; ``apply(pre, weight_hh, h0, c0, n0, m0,
    mask, forget_gate)`` returns (outputs (T, B, H), h_T, c_T, n_T, m_T)."""

    @staticmethod
    def forward(ctx, pre, weight_hh, h0, c0, n0, m0, mask, forget_gate):
        """Run the forward kernel and keep what backward needs."""
        hs, cs, ns, ms, raw = _forward(pre, weight_hh, (h0, c0, n0, m0), mask,
                                       forget_gate == "exp")
        ctx.forget_gate = forget_gate
        ctx.save_for_backward(pre, weight_hh, h0, c0, n0, m0, mask, hs, cs, ns, ms, raw)
        T = pre.shape[0]
        return hs[1:].clone(), hs[T].clone(), cs[T].clone(), ns[T].clone(), ms[T].clone()

    @staticmethod
    def backward(ctx, dout, dh, dc, dn, dm):
        """The gradients of pre, weight_hh and the initial state, from the backward kernel
        (or, under ``create_graph=True``, from the differentiable reference loop)."""
        pre, weight_hh, h0, c0, n0, m0, mask, hs, cs, ns, ms, raw = ctx.saved_tensors
        need = ctx.needs_input_grad
        if torch.is_grad_enabled():
            return _double_backward(ctx, (pre, weight_hh, h0, c0, n0, m0), mask,
                                    (dout, dh, dc, dn, dm))
        from lstmkit.xlstm.kernels.slstm import slstm_bwd

        T, B, _ = raw.shape
        NH, d = weight_hh.shape[1], weight_hh.shape[2]
        io = [g.contiguous().clone() for g in (dh, dc, dn, dm)]
        draw = torch.empty_like(raw)
        tiles = _tiles(B, d)
        m8 = raw.new_empty(1) if mask is None else mask.to(torch.int8).contiguous()
        slstm_bwd[(_cdiv(B, tiles["BB"]), NH)](
            weight_hh.contiguous(), m8, hs, cs, ns, ms, raw, dout.contiguous(), *io, draw,
            T, B, NH, d, EXP_F=ctx.forget_gate == "exp", HAS_MASK=mask is not None,
            HAS_DOUT=True, **tiles)
        dR = None
        if need[1]:
            dR = torch.einsum("tbgko,tbki->gkoi", draw.view(T, B, 4, NH, d),
                              hs[:-1].reshape(T, B, NH, d))
        grads = [draw if need[0] else None, dR]
        grads += [g if n else None for g, n in zip(io, need[2:6])]
        return (*grads, None, None)


def _double_backward(ctx, inputs, mask, grads):
    """The backward through the reference loop with a graph (``create_graph=True``)."""
    from lstmkit.xlstm import slstm_math

    want = [i for i, t in enumerate(inputs) if ctx.needs_input_grad[i]]
    pre, weight_hh, *state = inputs
    out, final = slstm_math.sequence(pre, weight_hh, tuple(state), ctx.forget_gate, mask)
    got = torch.autograd.grad((out, *final), [inputs[i] for i in want], grads,
                              create_graph=True, allow_unused=True)
    res = [None] * 8
    for i, g in zip(want, got):
        res[i] = g
    return tuple(res)


def sequence(pre: Tensor, weight_hh: Tensor, state, forget_gate: str = "sigmoid",
             mask: Tensor | None = None) -> tuple[Tensor, tuple]:
    """The sLSTM over T steps in the Triton kernels: the numbers and gradients of
    :func:`lstmkit.xlstm.slstm_math.sequence`.

    Args:
        pre: (T, B, 4H), W x_t + b (CUDA, or CPU under the interpreter; float32 or float64).
        weight_hh: (4, NH, d, d).
        state: (h, c, n, m), each (B, H).
        forget_gate: "sigmoid" or "exp".
        mask: (T, B) bool, or None; where False the state is kept (and the output is the
            kept h).

    Returns:
        (outputs (T, B, H), the final (h, c, n, m), each (B, H)).

    Raises:
        RuntimeError: the kernels cannot run on ``pre`` (:func:`unsupported` says why).

    Example:
        >>> pre = torch.randn(10, 4, 32, device="cuda")  # doctest: +SKIP
        >>> R = torch.zeros(4, 2, 4, 4, device="cuda")  # doctest: +SKIP
        >>> state = tuple(torch.zeros(4, 8, device="cuda") for _ in range(4))  # doctest: +SKIP
        >>> out, (h, c, n, m) = sequence(pre, R, state)  # doctest: +SKIP
    """
    why = unsupported(pre)
    if why is not None:
        raise RuntimeError(f"the triton sLSTM cannot run: {why}")
    state = tuple(s.to(pre.dtype) for s in state)
    out, hn, cn, nn_, mn = SLSTMTriton.apply(pre, weight_hh.to(pre.dtype), *state, mask,
                                             forget_gate)
    return out, (hn, cn, nn_, mn)
