"""The forward recurrence over all T steps in one launch, recurrent weights resident.

Legend: T time, B batch, H hidden (= P, no projection), NG gates, G = NG*H; a program
owns BB batch rows and HT hidden units of every gate (see ``common``).

Each program loads its NG (HP, HT) slices of W_hh^T once, before the time loop, and keeps
them on chip for all T steps (Diamos et al. 2016, "Persistent RNNs"). When one hidden tile
covers H (NHT == 1) a program needs nobody else's h and runs with no synchronisation at
all. Otherwise the NHT programs of a batch tile exchange h_t (and the layer-norm partial
statistics) through global memory, separated by a grid barrier (SYNC), or, where they
can't all be resident (or in the interpreter), the host launches one step at a time and
STAGES < 3 runs a step only up to one exchange. A step is three stages:

1. a = h_in W_hh^T for this program's units of every gate (h_in = h_{t-1} * rec_mask);
   with layer_norm, partial (mean, M2) of a over G          -> exchange when NHT > 1
2. gates and c_t; with layer_norm of c, partial (mean, M2)  -> exchange when NHT > 1
3. output, zoneout, length mask; h_t, c_t and what backward needs are stored
                                                            -> exchange when NHT > 1
Saved for backward (float32): hs, cs (T+1, B, H) states as carried; acts (T, B, G) gate
activations; aux (T, B, H) the LSTM's c_t before zoneout / the GRU's recurrent n part;
ahat (T, B, G) and rstd_h (T, B) of the recurrent layer norm; lnc_st (T, B, 2) mean and
rstd of the cell norm.
"""

from __future__ import annotations

import triton
import triton.language as tl

from lstmkit.backends.triton.kernels.cells import gru_step, lstm_cell, lstm_gates
from lstmkit.backends.triton.kernels.common import (
    barrier,
    combine_mean_m2,
    local_mean_m2,
    mm,
    sigmoid,
    store_pair,
    tanh,
    vec4,
)
from lstmkit.backends.triton.kernels.program import cell_vecs, program_tile, w_tiles


@triton.jit(do_not_specialize=["t0", "t1"])  # steps are runtime values, 1 included
def recurrence_fwd(
    gx,
    w,
    bhh,
    lnw,
    lnb,
    pi,
    pf,
    po,
    lncw,
    lncb,
    rdm,
    zh,
    zc,
    lens,
    hs,
    cs,
    out,
    acts,
    aux,
    ahat,
    rstd_h,
    lnc_st,
    st_h,
    st_c,
    cnt,
    t0,
    t1,
    B,
    H,
    clip,
    eps,
    LSTM: tl.constexpr,
    NG: tl.constexpr,
    COUPLED: tl.constexpr,
    PEEP: tl.constexpr,
    CLIP: tl.constexpr,
    LN_H: tl.constexpr,
    LN_C: tl.constexpr,
    HAS_BHH: tl.constexpr,
    HAS_RD: tl.constexpr,
    HAS_ZH: tl.constexpr,
    HAS_ZC: tl.constexpr,
    HAS_LEN: tl.constexpr,
    BB: tl.constexpr,
    HP: tl.constexpr,
    HT: tl.constexpr,
    NHT: tl.constexpr,
    NHTP: tl.constexpr,
    STAGES: tl.constexpr,
    SYNC: tl.constexpr,
    NBAR: tl.constexpr,
    USE_DOT: tl.constexpr,
    DOT_F32: tl.constexpr,
    PREC: tl.constexpr,
):
    bt, ht, rb, rmask, umask, m2, jj, fmask, s_off, g_off = program_tile(B, H, NG, BB, HP, HT, NHT)
    G = NG * H
    n_u = tl.minimum(H - ht * HT, HT) * 1.0  # real units in this tile
    cnt_b = cnt + bt
    first = rmask & ((rb * 0 + ht) == 0)  # rows whose per-row results tile 0 stores
    wdt = w.dtype.element_ty

    # resident: the recurrent weights and the per-unit parameters, for all T steps
    w0, w1, w2, w3 = w_tiles(w, ht, H, NG, HP, HT, False)  # (HP, HT)
    if HAS_BHH:
        b0, b1, b2, b3 = vec4(bhh, ht, H, HT, NG)
    if LN_H:
        lw0, lw1, lw2, lw3 = vec4(lnw, ht, H, HT, NG)
        lb0, lb1, lb2, lb3 = vec4(lnb, ht, H, HT, NG)
    vpi, vpf, vpo, gamma, beta = cell_vecs(pi, pf, po, lncw, lncb, ht, H, HT, COUPLED, PEEP, LN_C)
    if HAS_RD:
        rd = tl.load(rdm + rb[:, None] * H + jj[None, :], mask=fmask, other=0.0).to(tl.float32)
    if HAS_LEN:
        n_len = tl.load(lens + rb, mask=rmask, other=0)
    h = tl.load(hs + t0.to(tl.int64) * B * H + s_off, mask=m2, other=0.0)  # (BB, HT) f32
    if LSTM:
        c = tl.load(cs + t0.to(tl.int64) * B * H + s_off, mask=m2, other=0.0)

    for s in range(t1 - t0):
        t = (t0 + s).to(tl.int64)
        # --- stage 1: the recurrent matmul for this program's units of every gate
        if NHT == 1:
            hf = h  # HT == HP: the program holds all of h_{t-1}
        else:
            hf = tl.load(
                hs + t * B * H + rb[:, None] * H + jj[None, :],
                mask=fmask,
                other=0.0,
                cache_modifier=".cg",
            )
        if HAS_RD:
            hf = hf * rd
        hk = hf.to(wdt)  # (BB, HP)
        a0 = mm(hk, w0, USE_DOT, DOT_F32, PREC)  # (BB, HT)
        a1 = mm(hk, w1, USE_DOT, DOT_F32, PREC)
        a2 = mm(hk, w2, USE_DOT, DOT_F32, PREC)
        a3 = a2 * 0.0
        if NG == 4:
            a3 = mm(hk, w3, USE_DOT, DOT_F32, PREC)
        if LN_H:
            n_loc = NG * n_u
            mean = (tl.sum(tl.where(umask, a0 + a1 + a2 + a3, 0.0), 1)) / n_loc
            d0 = tl.where(umask, a0 - mean[:, None], 0.0)
            d1 = tl.where(umask, a1 - mean[:, None], 0.0)
            d2 = tl.where(umask, a2 - mean[:, None], 0.0)
            d3 = tl.where(umask, a3 - mean[:, None], 0.0)
            var = tl.sum(d0 * d0 + d1 * d1 + d2 * d2, 1)
            if NG == 4:
                var += tl.sum(d3 * d3, 1)
            if NHT > 1:
                st = st_h + t * B * NHT * 2
                store_pair(st, rb, rmask, ht, mean, var, NHT)
        if STAGES >= 2:
            # --- stage 2: the gates and the new state
            if LN_H:
                if NHT == 1:
                    var = var / n_loc
                else:
                    barrier(cnt_b, (s * NBAR + 1) * NHT, SYNC)
                    mean, var = combine_mean_m2(st, rb, rmask, H, NG, HT, NHT, NHTP)
                rstd = 1.0 / tl.sqrt(var + eps)
                a0 = (a0 - mean[:, None]) * rstd[:, None]  # a_hat
                a1 = (a1 - mean[:, None]) * rstd[:, None]
                a2 = (a2 - mean[:, None]) * rstd[:, None]
                a3 = (a3 - mean[:, None]) * rstd[:, None]
                g0 = a0 * lw0 + lb0
                g1 = a1 * lw1 + lb1
                g2 = a2 * lw2 + lb2
                g3 = a3 * lw3 + lb3
            else:
                g0, g1, g2, g3 = a0, a1, a2, a3
            if HAS_BHH:
                g0 += b0
                g1 += b1
                g2 += b2
                g3 += b3
            gxt = gx + t * B * G + g_off
            x0 = tl.load(gxt, mask=m2, other=0.0).to(tl.float32)
            x1 = tl.load(gxt + H, mask=m2, other=0.0).to(tl.float32)
            x2 = tl.load(gxt + 2 * H, mask=m2, other=0.0).to(tl.float32)
            if LSTM:
                x3 = x2
                if NG == 4:
                    x3 = tl.load(gxt + 3 * H, mask=m2, other=0.0).to(tl.float32)
                gi, gf, gg, pre_o = lstm_gates(
                    x0 + g0, x1 + g1, x2 + g2, x3 + g3, c, vpi, vpf, COUPLED, PEEP
                )
                c_new = lstm_cell(gi, gf, gg, c, clip, CLIP)
                if PEEP:
                    pre_o += vpo * c_new
                go = sigmoid(pre_o)
                if LN_C:
                    cmean, cvar = local_mean_m2(c_new, umask, n_u)
                    if NHT > 1:
                        stc = st_c + t * B * NHT * 2
                        store_pair(stc, rb, rmask, ht, cmean, cvar, NHT)
            else:
                gr, gz, gn, h_new = gru_step(x0, x1, x2, g0, g1, g2, h)
            if STAGES >= 3:
                # --- stage 3: the output; zoneout, the length mask, and the stores
                if LSTM:
                    if LN_C:
                        if NHT == 1:
                            cvar = cvar / n_u
                        else:
                            barrier(cnt_b, (s * NBAR + LN_H + 1) * NHT, SYNC)
                            cmean, cvar = combine_mean_m2(stc, rb, rmask, H, 1, HT, NHT, NHTP)
                        crstd = 1.0 / tl.sqrt(cvar + eps)
                        chat = (c_new - cmean[:, None]) * crstd[:, None]
                        tc = tanh(chat * gamma + beta)
                    else:
                        tc = tanh(c_new)
                    h_new = go * tc
                sh = t * B * H + s_off
                if HAS_ZH:
                    h_new += tl.load(zh + sh, mask=m2, other=0.0).to(tl.float32) * (h - h_new)
                if LSTM:
                    c_keep = c_new
                    if HAS_ZC:
                        c_keep += tl.load(zc + sh, mask=m2, other=0.0).to(tl.float32) * (c - c_new)
                o_t = h_new
                if HAS_LEN:
                    live = (t < n_len)[:, None]  # (BB, 1)
                    o_t = tl.where(live, h_new, 0.0)
                    h_new = tl.where(live, h_new, h)
                    if LSTM:
                        c_keep = tl.where(live, c_keep, c)
                tl.store(out + sh, o_t.to(out.dtype.element_ty), mask=m2)
                tl.store(hs + sh + B * H, h_new, mask=m2)
                ga = acts + t * B * G + g_off
                if LSTM:
                    tl.store(cs + sh + B * H, c_keep, mask=m2)
                    tl.store(aux + sh, c_new, mask=m2)
                    if COUPLED:
                        tl.store(ga, gf, mask=m2)
                        tl.store(ga + H, gg, mask=m2)
                        tl.store(ga + 2 * H, go, mask=m2)
                    else:
                        tl.store(ga, gi, mask=m2)
                        tl.store(ga + H, gf, mask=m2)
                        tl.store(ga + 2 * H, gg, mask=m2)
                        tl.store(ga + 3 * H, go, mask=m2)
                    if LN_C:
                        tl.store(lnc_st + (t * B + rb) * 2, cmean, mask=first)
                        tl.store(lnc_st + (t * B + rb) * 2 + 1, crstd, mask=first)
                    c = c_keep
                else:
                    tl.store(aux + sh, g2, mask=m2)
                    tl.store(ga, gr, mask=m2)
                    tl.store(ga + H, gz, mask=m2)
                    tl.store(ga + 2 * H, gn, mask=m2)
                if LN_H:
                    gh = ahat + t * B * G + g_off
                    tl.store(gh, a0, mask=m2)
                    tl.store(gh + H, a1, mask=m2)
                    tl.store(gh + 2 * H, a2, mask=m2)
                    if NG == 4:
                        tl.store(gh + 3 * H, a3, mask=m2)
                    tl.store(rstd_h + t * B + rb, rstd, mask=first)
                h = h_new
                if NHT > 1:
                    barrier(cnt_b, (s * NBAR + NBAR) * NHT, SYNC)
