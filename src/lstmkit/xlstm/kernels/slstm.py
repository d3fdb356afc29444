r"""The sLSTM's time loop: forward and backward kernels, one program per (batch block, head).

Legend: T time, B batch, NH heads of width D (H = NH * D), DP = D padded to a power of two,
BB batch rows per program. ``pre`` (T, B, 4H) holds W x_t + b for every step, gate-major
(i, f, z, o); ``R`` (4, NH, D, D) the block-diagonal recurrent matrix [gate, head, out, in].

A program keeps its head's four (D, D) blocks of R and its rows of h, c, n, m on chip for
all T steps; heads never exchange anything, so there is no synchronisation. The forward
(:func:`slstm_fwd`) stores the states as carried, ``hs, cs, ns, ms`` (T+1, B, H) with the
initial state at slot 0, and the gate pre-activations ``raw`` (T, B, 4H) (W x + b + R h),
which is what the backward needs. The backward (:func:`slstm_bwd`) runs back through time,
recomputes each step's gates from ``raw`` and the stored states, and writes the gradient of
every pre-activation ``draw`` (T, B, 4H) and of the initial state; the gradient of R is
then one contraction of ``draw`` with ``hs`` outside the kernel. The derivatives are
torch's for the operations of :func:`lstmkit.xlstm.slstm_math.step`, the half-and-half
split of ``maximum`` at ties and the clamp's edge included.
"""

from __future__ import annotations

import triton
import triton.language as tl

from lstmkit.xlstm.kernels.common import logsigmoid, sigmoid, tanh


@triton.jit
def _blocks(R, k, NH, D, DP: tl.constexpr, TRANS: tl.constexpr):
    """The head's four (DP, DP) blocks of R: [in, out] (to multiply h) or, with TRANS,
    [out, in] (to multiply a gradient of the gates)."""
    u = tl.arange(0, DP)
    if TRANS:
        off = (k * D + u[:, None]) * D + u[None, :]
    else:
        off = (k * D + u[None, :]) * D + u[:, None]
    wm = (u[:, None] < D) & (u[None, :] < D)
    gs = NH * D * D
    w0 = tl.load(R + off, mask=wm, other=0.0)
    w1 = tl.load(R + gs + off, mask=wm, other=0.0)
    w2 = tl.load(R + 2 * gs + off, mask=wm, other=0.0)
    w3 = tl.load(R + 3 * gs + off, mask=wm, other=0.0)
    return w0, w1, w2, w3


@triton.jit
def _mv(a, w):
    """(BB, DP) x (DP, DP) -> (BB, DP), by broadcast and reduction (heads are small)."""
    return tl.sum(a[:, :, None] * w[None, :, :], axis=1)


@triton.jit
def _gates(ir, fr, m, n, EXP_F: tl.constexpr):
    """The stabiliser and the two exponential gates of one step: (log f, m', i', the forget
    gate's exponent before its clamp, f')."""
    if EXP_F:
        lf = fr
    else:
        lf = logsigmoid(fr)
    m_new = tl.where(n == 0.0, ir, tl.maximum(ir, lf + m))
    ig = tl.exp(ir - m_new)
    farg = lf + m - m_new
    fg = tl.exp(tl.minimum(farg, 0.0))
    return lf, m_new, ig, farg, fg


@triton.jit
def slstm_fwd(pre, R, mask, hs, cs, ns, ms, raw, T, B, NH, D,
              DP: tl.constexpr, BB: tl.constexpr, EXP_F: tl.constexpr, HAS_MASK: tl.constexpr):
    """Forward over T steps from the states at slot 0 of hs, cs, ns, ms; fills slots 1..T
    and ``raw``. ``mask`` (T, B) int8, 0 where a step is padding (the state is kept)."""
    rb = tl.program_id(0).to(tl.int64) * BB + tl.arange(0, BB)
    k = tl.program_id(1).to(tl.int64)
    u = tl.arange(0, DP)
    H = NH * D
    m2 = (rb[:, None] < B) & (u[None, :] < D)
    s_off = rb[:, None] * H + k * D + u[None, :]       # (BB, DP) into (B, H)
    g_off = rb[:, None] * 4 * H + k * D + u[None, :]   # gate i of (B, 4H)
    w0, w1, w2, w3 = _blocks(R, k, NH, D, DP, False)
    h = tl.load(hs + s_off, mask=m2, other=0.0)
    c = tl.load(cs + s_off, mask=m2, other=0.0)
    n = tl.load(ns + s_off, mask=m2, other=0.0)
    m = tl.load(ms + s_off, mask=m2, other=0.0)
    zero = tl.program_id(1).to(tl.int64) * 0  # int64 step offsets: T * B * 4H may pass 2^31
    for s in range(T):
        t = zero + s
        pt = pre + t * B * 4 * H + g_off
        ir = tl.load(pt, mask=m2, other=0.0) + _mv(h, w0)
        fr = tl.load(pt + H, mask=m2, other=0.0) + _mv(h, w1)
        zr = tl.load(pt + 2 * H, mask=m2, other=0.0) + _mv(h, w2)
        orr = tl.load(pt + 3 * H, mask=m2, other=0.0) + _mv(h, w3)
        _lf, m_new, ig, _farg, fg = _gates(ir, fr, m, n, EXP_F)
        c_new = fg * c + ig * tanh(zr)
        n_new = fg * n + ig
        h_new = sigmoid(orr) * c_new / tl.where(m2, n_new, 1.0)
        if HAS_MASK:
            live = (tl.load(mask + t * B + rb, mask=rb < B, other=0) != 0)[:, None]
            h_new = tl.where(live, h_new, h)
            c_new = tl.where(live, c_new, c)
            n_new = tl.where(live, n_new, n)
            m_new = tl.where(live, m_new, m)
        rt = raw + t * B * 4 * H + g_off
        tl.store(rt, ir, mask=m2)
        tl.store(rt + H, fr, mask=m2)
        tl.store(rt + 2 * H, zr, mask=m2)
        tl.store(rt + 3 * H, orr, mask=m2)
        h, c, n, m = h_new, c_new, n_new, m_new
        st = (t + 1) * B * H + s_off
        tl.store(hs + st, h, mask=m2)
        tl.store(cs + st, c, mask=m2)
        tl.store(ns + st, n, mask=m2)
        tl.store(ms + st, m, mask=m2)


@triton.jit
def slstm_bwd(R, mask, hs, cs, ns, ms, raw, dout, dh_io, dc_io, dn_io, dm_io, draw, T, B, NH, D,
              DP: tl.constexpr, BB: tl.constexpr, EXP_F: tl.constexpr, HAS_MASK: tl.constexpr,
              HAS_DOUT: tl.constexpr):
    """Backward over T steps, last to first. ``dh_io`` .. ``dm_io`` (B, H) hold the
    gradients of the final state on entry and those of the initial state on return;
    ``dout`` (T, B, H) the gradient of the outputs; ``draw`` (T, B, 4H) receives the
    gradient of the gate pre-activations (zero on padding steps)."""
    rb = tl.program_id(0).to(tl.int64) * BB + tl.arange(0, BB)
    k = tl.program_id(1).to(tl.int64)
    u = tl.arange(0, DP)
    H = NH * D
    m2 = (rb[:, None] < B) & (u[None, :] < D)
    s_off = rb[:, None] * H + k * D + u[None, :]
    g_off = rb[:, None] * 4 * H + k * D + u[None, :]
    w0, w1, w2, w3 = _blocks(R, k, NH, D, DP, True)
    dh = tl.load(dh_io + s_off, mask=m2, other=0.0)
    dc = tl.load(dc_io + s_off, mask=m2, other=0.0)
    dn = tl.load(dn_io + s_off, mask=m2, other=0.0)
    dm = tl.load(dm_io + s_off, mask=m2, other=0.0)
    zero = tl.program_id(1).to(tl.int64) * 0
    for s in range(T):
        t = zero + (T - 1 - s)
        if HAS_DOUT:
            dh += tl.load(dout + t * B * H + s_off, mask=m2, other=0.0)
        rt = raw + t * B * 4 * H + g_off
        ir = tl.load(rt, mask=m2, other=0.0)
        fr = tl.load(rt + H, mask=m2, other=0.0)
        zr = tl.load(rt + 2 * H, mask=m2, other=0.0)
        orr = tl.load(rt + 3 * H, mask=m2, other=0.0)
        sp = t * B * H + s_off
        c = tl.load(cs + sp, mask=m2, other=0.0)
        n = tl.load(ns + sp, mask=m2, other=0.0)
        m = tl.load(ms + sp, mask=m2, other=0.0)
        lf, _m_new, ig, farg, fg = _gates(ir, fr, m, n, EXP_F)
        tz = tanh(zr)
        og = sigmoid(orr)
        c_new = fg * c + ig * tz
        n_new = tl.where(m2, fg * n + ig, 1.0)
        # h' = og c' / n'
        dc_t = dc + dh * og / n_new
        dn_t = dn - dh * og * c_new / (n_new * n_new)
        do_ = dh * (c_new / n_new) * og * (1.0 - og)
        # c' = f' c + i' tanh(z), n' = f' n + i'
        dfg = dc_t * c + dn_t * n
        dig = dc_t * tz + dn_t
        dz = dc_t * ig * (1.0 - tz * tz)
        # f' = exp(min(farg, 0)), farg = log f + m - m'; i' = exp(ĩ - m')
        dfarg = tl.where(farg <= 0.0, dfg * fg, 0.0)
        di = dig * ig
        dm_new = dm - dfarg - di
        # m' = where(n == 0, ĩ, maximum(ĩ, log f + m)), ties split in half as torch does
        x = lf + m
        share = tl.where(n == 0.0, 1.0, tl.where(ir > x, 1.0, tl.where(ir == x, 0.5, 0.0)))
        di += dm_new * share
        dx = dm_new * (1.0 - share)
        dlf = dfarg + dx
        dm_p = dfarg + dx
        if EXP_F:
            df = dlf
        else:
            df = dlf * sigmoid(-fr)
        dh_p = _mv(di, w0) + _mv(df, w1) + _mv(dz, w2) + _mv(do_, w3)
        dc_p = dc_t * fg
        dn_p = dn_t * fg
        if HAS_MASK:
            live = (tl.load(mask + t * B + rb, mask=rb < B, other=0) != 0)[:, None]
            di = tl.where(live, di, 0.0)
            df = tl.where(live, df, 0.0)
            dz = tl.where(live, dz, 0.0)
            do_ = tl.where(live, do_, 0.0)
            dh_p = tl.where(live, dh_p, dh)
            dc_p = tl.where(live, dc_p, dc)
            dn_p = tl.where(live, dn_p, dn)
            dm_p = tl.where(live, dm_p, dm)
        dt = draw + t * B * 4 * H + g_off
        tl.store(dt, di, mask=m2)
        tl.store(dt + H, df, mask=m2)
        tl.store(dt + 2 * H, dz, mask=m2)
        tl.store(dt + 3 * H, do_, mask=m2)
        dh, dc, dn, dm = dh_p, dc_p, dn_p, dm_p
    tl.store(dh_io + s_off, dh, mask=m2)
    tl.store(dc_io + s_off, dc, mask=m2)
    tl.store(dn_io + s_off, dn, mask=m2)
    tl.store(dm_io + s_off, dm, mask=m2)
