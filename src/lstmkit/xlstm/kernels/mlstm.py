r"""The mLSTM's chunkwise form: a kernel for the state at each chunk boundary and a kernel for
the outputs inside the chunks.

Legend: BH = B * NH (batch and head flattened), T time padded to NC chunks of L steps,
d the head width padded to DP, L padded to LP (powers of two for the tiles). Inputs are
prepared by :mod:`lstmkit.xlstm.mlstm_triton` in torch: k already scaled by 1/sqrt(d),
q, k, v (BH, NC*L, d); the log input gate ``li`` (BH, NC*L) with -inf on padding steps;
``fc`` (BH, NC*L) the cumulative log forget gate within each chunk (0 on padding steps).

1. :func:`mlstm_states`, one program per (batch, head): walks the NC chunks in order with
   C (d, d), n (d,) and m in registers; for each chunk it stores the state at its start,
   forms the chunk's stabilised contribution ``kv = sum_j exp(a_j - g) k_j v_j^T`` (``a_j
   = F_L - F_j + ĩ_j``, ``g = max_j a_j``) and carries ``m' = max(F_L + m, g)``,
   ``C' = exp(F_L + m - m') C + exp(g - m') kv`` (n likewise with k_j).
2. :func:`mlstm_outputs`, one program per (batch, head, chunk): the parallel form inside
   the chunk, (L x L) stabilised log-gate matrix, plus the term of the state at its start.

These are the equations of :func:`lstmkit.xlstm.mlstm_fused.chunkwise`.
"""

from __future__ import annotations

import triton
import triton.language as tl

from lstmkit.xlstm.kernels.common import mm


@triton.jit
def mlstm_states(k, v, li, fc, c_io, n_io, m_io, c0, n0, m0, NC, L, d,
                 LP: tl.constexpr, DP: tl.constexpr, USE_DOT: tl.constexpr):
    """The state at the start of every chunk (``c0`` (BH, NC, d, d), ``n0`` (BH, NC, d),
    ``m0`` (BH, NC)); ``c_io``, ``n_io``, ``m_io`` hold the initial state on entry and the
    final state on return."""
    bh = tl.program_id(0).to(tl.int64)
    j = tl.arange(0, LP)
    u = tl.arange(0, DP)
    jm = j < L
    um = u < d
    sq = um[:, None] & um[None, :]
    c_off = bh * d * d + u[:, None] * d + u[None, :]
    C = tl.load(c_io + c_off, mask=sq, other=0.0)
    n = tl.load(n_io + bh * d + u, mask=um, other=0.0)
    m = tl.load(m_io + bh)
    T = NC * L
    for c in range(NC):
        base = bh * T + c * L
        tile = (base + j[:, None]) * d + u[None, :]
        tm = jm[:, None] & um[None, :]
        kc = tl.load(k + tile, mask=tm, other=0.0)
        vc = tl.load(v + tile, mask=tm, other=0.0)
        fcj = tl.load(fc + base + j, mask=jm, other=0.0)
        lij = tl.load(li + base + j, mask=jm, other=float("-inf"))
        fl = tl.load(fc + base + L - 1)
        a = fl - fcj + lij
        g = tl.max(a, axis=0)
        g_safe = tl.where(g == float("-inf"), 0.0, g)
        wk = kc * tl.exp(a - g_safe)[:, None]
        kv = mm(tl.trans(wk), vc, USE_DOT)
        ks = tl.sum(wk, axis=0)
        s_off = bh * NC + c
        tl.store(c0 + s_off * d * d + u[:, None] * d + u[None, :], C, mask=sq)
        tl.store(n0 + s_off * d + u, n, mask=um)
        tl.store(m0 + s_off, m)
        decay = fl + m
        m_new = tl.maximum(decay, g)
        wf = tl.exp(decay - m_new)
        wi = tl.exp(g_safe - m_new)
        C = wf * C + wi * kv
        n = wf * n + wi * ks
        m = m_new
    tl.store(c_io + c_off, C, mask=sq)
    tl.store(n_io + bh * d + u, n, mask=um)
    tl.store(m_io + bh, m)


@triton.jit
def mlstm_outputs(q, k, v, li, fc, c0, n0, m0, h, NC, L, d, eps,
                  LP: tl.constexpr, DP: tl.constexpr, USE_DOT: tl.constexpr):
    """h̃ (BH, NC*L, d) of one chunk: the parallel form inside it plus the carried state."""
    bh = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1)
    i = tl.arange(0, LP)
    u = tl.arange(0, DP)
    im = i < L
    um = u < d
    base = bh * NC * L + c * L
    tile = (base + i[:, None]) * d + u[None, :]
    tm = im[:, None] & um[None, :]
    qc = tl.load(q + tile, mask=tm, other=0.0)
    kc = tl.load(k + tile, mask=tm, other=0.0)
    vc = tl.load(v + tile, mask=tm, other=0.0)
    fci = tl.load(fc + base + i, mask=im, other=0.0)
    lii = tl.load(li + base + i, mask=im, other=float("-inf"))
    s_off = bh * NC + c
    C = tl.load(c0 + s_off * d * d + u[:, None] * d + u[None, :],
                mask=um[:, None] & um[None, :], other=0.0)
    n = tl.load(n0 + s_off * d + u, mask=um, other=0.0)
    m = tl.load(m0 + s_off)
    causal = i[None, :] <= i[:, None]
    log_d = tl.where(causal, fci[:, None] - fci[None, :] + lii[None, :], float("-inf"))
    log_0 = fci + m
    m_t = tl.maximum(log_0, tl.max(log_d, axis=1))
    D = tl.exp(log_d - m_t[:, None])
    w0 = tl.exp(log_0 - m_t)
    S = mm(qc, tl.trans(kc), USE_DOT) * D
    num = mm(S, vc, USE_DOT) + w0[:, None] * mm(qc, C, USE_DOT)
    qn = tl.sum(S, axis=1) + w0 * tl.sum(qc * n[None, :], axis=1)
    den = tl.maximum(tl.abs(qn), tl.exp(-m_t)) + eps
    tl.store(h + tile, num / den[:, None], mask=tm)
