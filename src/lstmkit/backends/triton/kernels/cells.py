"""The pointwise gate math of one step, on (BB, HT) float32 tiles: the only code that
differs between the LSTM (with its cell options) and the GRU. The same equations as
:mod:`lstmkit.cells.lstm` and :mod:`lstmkit.cells.gru`, whose docstrings derive them.

LSTM gates are (i, f, g, o), or (f, g, o) with coupled gates where i = 1 - f; the GRU's
are (r, z, n). ``p*`` are pre-activations (input part + recurrent part), ``vp*`` the
peephole weights as (1, HT) rows.
"""

from __future__ import annotations

import triton
import triton.language as tl

from lstmkit.backends.triton.kernels.common import sigmoid, tanh


@triton.jit
def lstm_gates(p0, p1, p2, p3, c, vpi, vpf, COUPLED: tl.constexpr, PEEP: tl.constexpr):
    """(i, f, g, pre_o) from the pre-activations and c_{t-1}; o waits for c_t (peephole)."""
    if COUPLED:
        pf, pg, po = p0, p1, p2
        if PEEP:
            pf = pf + vpf * c
        f = sigmoid(pf)
        i = 1.0 - f
    else:
        pi, pf, pg, po = p0, p1, p2, p3
        if PEEP:
            pi = pi + vpi * c
            pf = pf + vpf * c
        i = sigmoid(pi)
        f = sigmoid(pf)
    return i, f, tanh(pg), po


@triton.jit
def lstm_cell(i, f, g, c, clip, CLIP: tl.constexpr):
    """c_t = f c_{t-1} + i g, clamped to [-clip, clip] when CLIP."""
    c_new = f * c + i * g
    if CLIP:
        c_new = tl.minimum(tl.maximum(c_new, -clip), clip)
    return c_new


@triton.jit
def lstm_out_bwd(d, o, tc):
    """From dL/dh_t: the output gate's pre-activation gradient and the gradient at the
    input of the output tanh."""
    return d * tc * o * (1.0 - o), d * o * (1.0 - tc * tc)


@triton.jit
def lstm_cell_bwd(
    dcn, i, f, g, c, vpi, vpf, clip, COUPLED: tl.constexpr, PEEP: tl.constexpr, CLIP: tl.constexpr
):
    """Given dL/dc_t (everything that reaches c_t), return the pre-activation gradients
    of the gates before o (i, f, g or f, g) and dL/dc_{t-1}; dq2 is 0 when coupled."""
    if CLIP:
        # where c_t was clipped no gradient passes; c_raw is recomputed from the saved gates
        # with the forward's expression
        raw = f * c + i * g
        dcn = tl.where(tl.abs(raw) <= clip, dcn, 0.0)
    dg = dcn * i * (1.0 - g * g)
    di = dcn * g
    df = dcn * c
    if COUPLED:
        df = (df - di) * f * (1.0 - f)
        dc_prev = dcn * f
        if PEEP:
            dc_prev = dc_prev + df * vpf
        return df, dg, dg * 0.0, dc_prev
    di = di * i * (1.0 - i)
    df = df * f * (1.0 - f)
    dc_prev = dcn * f
    if PEEP:
        dc_prev = dc_prev + di * vpi + df * vpf
    return di, df, dg, dc_prev


@triton.jit
def gru_step(x0, x1, x2, g0, g1, g2, h):
    """(r, z, n, h_t) from the input parts x* and recurrent parts g* of (r, z, n)."""
    r = sigmoid(x0 + g0)
    z = sigmoid(x1 + g1)
    n = tanh(x2 + r * g2)
    return r, z, n, n + z * (h - n)


@triton.jit
def gru_bwd(d, r, z, n, hn, h):
    """Pre-activation gradients of (r, z, n) on the input side, the n gate's on the
    recurrent side (dn r), and the direct part of dL/dh_{t-1} (d z)."""
    dn = d * (1.0 - z) * (1.0 - n * n)
    dr = dn * hn * r * (1.0 - r)
    dz = d * (h - n) * z * (1.0 - z)
    return dr, dz, dn, dn * r, d * z
