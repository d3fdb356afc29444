r"""The mLSTM's chunkwise form in Triton kernels (:mod:`lstmkit.xlstm.kernels.mlstm`).

Forward: the T steps are cut into chunks of ``chunk_size`` steps as in
:func:`lstmkit.xlstm.mlstm_fused.chunkwise`; the scaling of k, the padding of the last
chunk and the cumulative log forget gate inside each chunk are torch operations, then one
kernel walks the chunk boundaries per (batch, head) and carries the state across them,
and a second runs the parallel form inside every chunk at once. Backward: by recomputation,
not by kernel: the gradients are those of :func:`lstmkit.xlstm.mlstm_fused.chunkwise`
(plain torch operations) run again on the saved inputs; under ``create_graph=True`` that
recomputation keeps its graph, so double backward works.

Runs on CUDA tensors, or on the CPU in triton's interpreter (``TRITON_INTERPRET=1`` before
triton loads); float32 and float64. Its correctness is checked in the interpreter against
:mod:`lstmkit.xlstm.mlstm_math` (tests/test_xlstm_triton.py); its speed on a GPU has not
been measured.

Shapes: q, k, v (B, NH, T, d); log_i, log_f (B, NH, T); state (C (B, NH, d, d),
n (B, NH, d), m (B, NH)); output (B, NH, T, d).
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.xlstm import mlstm_fused
from lstmkit.xlstm.mlstm_math import EPS, State, zero_state
from lstmkit.xlstm.slstm_triton import interpreting, unsupported  # noqa: F401 - shared checks

#: the chunk length used when none is given (as the fused backend's)
DEFAULT_CHUNK = 64


def _next_pow2(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def _forward(q, k, v, log_i, log_f, state, chunk_size, eps):
    """Launch both kernels: (h̃ (B, NH, T, d), final C, n, m)."""
    from lstmkit.xlstm.kernels.mlstm import mlstm_outputs, mlstm_states

    C, n, m = state
    B, NH, T, d = q.shape
    q, k, v, log_i, log_f, L, NC = mlstm_fused.padded_chunks(q, k, v, log_i, log_f, chunk_size)
    BH = B * NH
    fc = torch.cumsum(log_f.reshape(BH, NC, L), dim=-1).reshape(BH, NC * L).contiguous()
    q, k, v = (t.reshape(BH, NC * L, d).contiguous() for t in (q, k, v))
    li = log_i.reshape(BH, NC * L).contiguous()
    c_io = C.reshape(BH, d, d).to(q.dtype).contiguous().clone()
    n_io = n.reshape(BH, d).to(q.dtype).contiguous().clone()
    m_io = m.reshape(BH).to(q.dtype).contiguous().clone()
    c0 = q.new_empty(BH, NC, d, d)
    n0 = q.new_empty(BH, NC, d)
    m0 = q.new_empty(BH, NC)
    LP, DP = max(_next_pow2(L), 2), max(_next_pow2(d), 2)
    consts = {"LP": LP, "DP": DP, "USE_DOT": q.dtype == torch.float32 and LP >= 16 and DP >= 16}
    mlstm_states[(BH,)](k, v, li, fc, c_io, n_io, m_io, c0, n0, m0, NC, L, d, **consts)
    h = q.new_empty(BH, NC * L, d)
    mlstm_outputs[(BH, NC)](q, k, v, li, fc, c0, n0, m0, h, NC, L, d, float(eps), **consts)
    h = h.reshape(B, NH, NC * L, d)[:, :, :T]
    return h, c_io.reshape(B, NH, d, d), n_io.reshape(B, NH, d), m_io.reshape(B, NH)


class MLSTMTriton(torch.autograd.Function):
    """The mLSTM over T steps through the kernels; ``apply(q, k, v, log_i, log_f, C, n, m,
    chunk_size, eps)`` returns (h̃, C_T, n_T, m_T)."""

    @staticmethod
    def forward(ctx, q, k, v, log_i, log_f, C, n, m, chunk_size, eps):
        """Run the kernels; the inputs are kept for the recomputing backward."""
        ctx.chunk_size, ctx.eps = chunk_size, eps
        ctx.save_for_backward(q, k, v, log_i, log_f, C, n, m)
        return _forward(q, k, v, log_i, log_f, (C, n, m), chunk_size, eps)

    @staticmethod
    def backward(ctx, dh, dC, dn, dm):
        """The gradients of every tensor input, from the fused chunkwise form run again (with
        a graph under ``create_graph=True``)."""
        from lstmkit.xlstm import mlstm_fused

        saved = ctx.saved_tensors
        want = [i for i in range(8) if ctx.needs_input_grad[i]]
        graph = torch.is_grad_enabled()
        inputs = saved if graph else tuple(t.detach().requires_grad_(i in want)
                                           for i, t in enumerate(saved))
        with torch.enable_grad():
            q, k, v, log_i, log_f, C, n, m = inputs
            h, (Cn, nn_, mn) = mlstm_fused.chunkwise(q, k, v, log_i, log_f, (C, n, m),
                                                     chunk_size=ctx.chunk_size, eps=ctx.eps)
            got = torch.autograd.grad((h, Cn, nn_, mn), [inputs[i] for i in want],
                                      (dh, dC, dn, dm), create_graph=graph, allow_unused=True)
        res = [None] * 10
        for i, g in zip(want, got):
            res[i] = g
        return tuple(res)


def chunkwise(q: Tensor, k: Tensor, v: Tensor, log_i: Tensor, log_f: Tensor,
              state: State | None = None, chunk_size: int = DEFAULT_CHUNK,
              eps: float = EPS) -> tuple[Tensor, State]:
    """The mLSTM over T steps in the Triton kernels: the numbers and gradients of
    :func:`lstmkit.xlstm.mlstm_math.chunkwise`.

    Args:
        q, k, v: (B, NH, T, d); k unscaled (scaled by 1/sqrt(d) here). CUDA, or CPU under
            the interpreter; float32 or float64.
        log_i: (B, NH, T) log input gate ĩ.
        log_f: (B, NH, T) log forget gate.
        state: (C (B, NH, d, d), n (B, NH, d), m (B, NH)), zeros when None.
        chunk_size: steps per chunk (T itself when larger than T: the parallel form).
        eps: added to the normaliser's denominator.

    Returns:
        (h̃ (B, NH, T, d), final state (C, n, m)).

    Raises:
        RuntimeError: the kernels cannot run on ``q`` (:func:`unsupported` says why).

    Example:
        >>> q, k, v = (torch.randn(2, 4, 256, 32, device="cuda") for _ in range(3))  # doctest: +SKIP
        >>> gates = torch.randn(2, 4, 256, device="cuda")  # doctest: +SKIP
        >>> h, (C, n, m) = chunkwise(q, k, v, gates, F.logsigmoid(gates))  # doctest: +SKIP
    """
    why = unsupported(q)
    if why is not None:
        raise RuntimeError(f"the triton mLSTM cannot run: {why}")
    state = zero_state(q) if state is None else state
    h, C, n, m = MLSTMTriton.apply(q, k, v, log_i, log_f, *state, int(chunk_size), float(eps))
    return h, (C, n, m)
