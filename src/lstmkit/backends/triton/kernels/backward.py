"""The backward recurrence over all T steps in one launch, W_hh resident (see ``forward``
for the legend, the tiling and the exchange scheme).

A program owns BB batch rows and HT hidden units, and keeps dL/dh and dL/dc of its units
on chip from step to step. It holds W_hh's columns of its units for every gate
((HP, HT) tiles [j, u] = W_hh[k*H + j, u]), so that dL/dh_{t-1} of its units is
sum_k da_k W_k[:, u] over the gate gradients da of every unit: those are exchanged through
global memory when NHT > 1. A step is four stages:

1. dL/dh_t, dL/dc_t through the length mask and zoneout; the LSTM output gate; with the
   cell norm, its partial sums over H                      -> exchange when NHT > 1
2. the cell's pre-activation gradients (dgx); with the recurrent layer norm, its partial
   sums over G                                             -> exchange when NHT > 1
3. da = the gradient of h_in W_hh^T; dgx, dgh, da stored   -> exchange when NHT > 1
4. dL/dh_{t-1} = (da W_hh) * rec_mask + the direct terms; dL/dc_{t-1}

Written (float32): dgx (T, B, G) the gradient of the input projections; dgh (GRU) the
recurrent pre-activations'; da (recurrent layer norm) the gradient of h_in W_hh^T; dy, dyc
(cell norm) the gradient at the norm's affine output and its product with c_hat; dh, dc
(B, H) the running state gradients, in and out.
"""

from __future__ import annotations

import triton
import triton.language as tl

from lstmkit.backends.triton.kernels.cells import gru_bwd, lstm_cell_bwd, lstm_out_bwd
from lstmkit.backends.triton.kernels.common import (
    barrier,
    mm,
    store_pair,
    sum_pairs,
    tanh,
    vec4,
)
from lstmkit.backends.triton.kernels.program import cell_vecs, program_tile, w_tiles


@triton.jit
def _load_gates(p, m2, H, NG: tl.constexpr):
    a0 = tl.load(p, mask=m2, other=0.0)
    a1 = tl.load(p + H, mask=m2, other=0.0)
    a2 = tl.load(p + 2 * H, mask=m2, other=0.0)
    a3 = a2
    if NG == 4:
        a3 = tl.load(p + 3 * H, mask=m2, other=0.0)
    return a0, a1, a2, a3


@triton.jit
def _row(p, fmask, wdt: tl.constexpr):
    """Another program's (BB, HP) gradients, past L1 (written since this kernel began)."""
    return tl.load(p, mask=fmask, other=0.0, cache_modifier=".cg").to(wdt)


@triton.jit
def _store_gates(p, m2, H, a0, a1, a2, a3, NG: tl.constexpr):
    tl.store(p, a0, mask=m2)
    tl.store(p + H, a1, mask=m2)
    tl.store(p + 2 * H, a2, mask=m2)
    if NG == 4:
        tl.store(p + 3 * H, a3, mask=m2)


@triton.jit(do_not_specialize=["t0", "t1"])  # steps are runtime values, 1 included
def recurrence_bwd(
    w,
    lnw,
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
    acts,
    aux,
    ahat,
    rstd_h,
    lnc_st,
    dout,
    dh_p,
    dc_p,
    dgx,
    dgh,
    da,
    da_src,
    dy_p,
    dyc_p,
    sb_h,
    sb_c,
    cnt,
    t0,
    t1,
    B,
    H,
    clip,
    LSTM: tl.constexpr,
    NG: tl.constexpr,
    COUPLED: tl.constexpr,
    PEEP: tl.constexpr,
    CLIP: tl.constexpr,
    LN_H: tl.constexpr,
    LN_C: tl.constexpr,
    HAS_DOUT: tl.constexpr,
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
    cnt_b = cnt + bt
    wdt = w.dtype.element_ty

    w0, w1, w2, w3 = w_tiles(w, ht, H, NG, HP, HT, True)  # (HP, HT), resident for all T steps
    if LN_H:
        lw0, lw1, lw2, lw3 = vec4(lnw, ht, H, HT, NG)
    vpi, vpf, vpo, gamma, beta = cell_vecs(pi, pf, po, lncw, lncb, ht, H, HT, COUPLED, PEEP, LN_C)
    if HAS_RD:
        rd = tl.load(rdm + s_off, mask=m2, other=0.0).to(tl.float32)
    if HAS_LEN:
        n_len = tl.load(lens + rb, mask=rmask, other=0)
    dh = tl.load(dh_p + s_off, mask=m2, other=0.0)  # (BB, HT) dL/dh_t of own units
    if LSTM:
        dc = tl.load(dc_p + s_off, mask=m2, other=0.0)

    for s in range(t1 - t0):
        t = (t1 - 1 - s).to(tl.int64)
        sh = t * B * H + s_off
        # --- stage 1: through the length mask and zoneout to the cell's outputs
        d = dh
        if HAS_DOUT:
            d += tl.load(dout + sh, mask=m2, other=0.0).to(tl.float32)
        if HAS_LEN:
            live = (t < n_len)[:, None]
            d = tl.where(live, d, 0.0)
        if HAS_ZH:
            d_keep = d * tl.load(zh + sh, mask=m2, other=0.0).to(tl.float32)
            d -= d_keep
        q0, q1, q2, q3 = _load_gates(acts + t * B * G + g_off, m2, H, NG)
        if LSTM:
            dcs = dc
            if HAS_LEN:
                dcs = tl.where(live, dcs, 0.0)
            if HAS_ZC:
                dc_keep = dcs * tl.load(zc + sh, mask=m2, other=0.0).to(tl.float32)
                dcs -= dc_keep
            if COUPLED:
                gf, gg, go = q0, q1, q2
                gi = 1.0 - gf
            else:
                gi, gf, gg, go = q0, q1, q2, q3
            c_new = tl.load(aux + sh, mask=m2, other=0.0)
            c_prev = tl.load(cs + sh, mask=m2, other=0.0)
            if LN_C:
                cst = lnc_st + (t * B + rb) * 2
                cmean = tl.load(cst, mask=rmask, other=0.0)
                crstd = tl.load(cst + 1, mask=rmask, other=0.0)
                chat = tl.where(umask, (c_new - cmean[:, None]) * crstd[:, None], 0.0)
                tc = tanh(chat * gamma + beta)
            else:
                tc = tanh(c_new)
            do, dy = lstm_out_bwd(d, go, tc)
            if LN_C:
                dhat = dy * gamma
                s1 = tl.sum(dhat, 1)
                s2 = tl.sum(dhat * chat, 1)
                if NHT > 1:
                    sbc = sb_c + t * B * NHT * 2
                    store_pair(sbc, rb, rmask, ht, s1, s2, NHT)
        if STAGES >= 2:
            # --- stage 2: the cell's pre-activation gradients
            if LSTM:
                if LN_C:
                    if NHT > 1:
                        barrier(cnt_b, (s * NBAR + 1) * NHT, SYNC)
                        s1, s2 = sum_pairs(sbc, rb, rmask, NHT, NHTP)
                    dcn = crstd[:, None] * (dhat - (s1 / H)[:, None] - chat * (s2 / H)[:, None])
                else:
                    dcn = dy
                dcn += dcs
                if PEEP:
                    dcn += do * vpo
                e0, e1, e2, dc_prev = lstm_cell_bwd(
                    dcn, gi, gf, gg, c_prev, vpi, vpf, clip, COUPLED, PEEP, CLIP
                )
                if COUPLED:  # gates f, g, o: o's gradient is third
                    e2 = do
                e3 = do
                r0, r1, r2, r3 = e0, e1, e2, e3  # recurrent side = input side (additive)
            else:
                hn = tl.load(aux + sh, mask=m2, other=0.0)
                h_prev = tl.load(hs + sh, mask=m2, other=0.0)
                e0, e1, e2, r2, d_direct = gru_bwd(d, q0, q1, q2, hn, h_prev)
                e3 = e2
                r0, r1, r3 = e0, e1, e2
            if LN_H:
                n0, n1, n2, n3 = _load_gates(ahat + t * B * G + g_off, m2, H, NG)
                k0 = r0 * lw0  # gradient of a_hat
                k1 = r1 * lw1
                k2 = r2 * lw2
                k3 = r3 * lw3
                u1 = tl.sum(k0 + k1 + k2, 1)
                u2 = tl.sum(k0 * n0 + k1 * n1 + k2 * n2, 1)
                if NG == 4:
                    u1 += tl.sum(k3, 1)
                    u2 += tl.sum(k3 * n3, 1)
                if NHT > 1:
                    sbh = sb_h + t * B * NHT * 2
                    store_pair(sbh, rb, rmask, ht, u1, u2, NHT)
            if STAGES >= 3:
                # --- stage 3: the gradient of h_in W_hh^T, and the stores
                if LN_H:
                    if NHT > 1:
                        barrier(cnt_b, (s * NBAR + LN_C + 1) * NHT, SYNC)
                        u1, u2 = sum_pairs(sbh, rb, rmask, NHT, NHTP)
                    rstd = tl.load(rstd_h + t * B + rb, mask=rmask, other=0.0)[:, None]
                    m1 = (u1 / G)[:, None]
                    mm2 = (u2 / G)[:, None]
                    a0 = rstd * (k0 - m1 - n0 * mm2)
                    a1 = rstd * (k1 - m1 - n1 * mm2)
                    a2 = rstd * (k2 - m1 - n2 * mm2)
                    a3 = rstd * (k3 - m1 - n3 * mm2)
                    _store_gates(da + t * B * G + g_off, m2, H, a0, a1, a2, a3, NG)
                else:
                    a0, a1, a2, a3 = r0, r1, r2, r3
                _store_gates(dgx + t * B * G + g_off, m2, H, e0, e1, e2, e3, NG)
                if not LSTM:
                    _store_gates(dgh + t * B * G + g_off, m2, H, r0, r1, r2, r3, NG)
                if LN_C:
                    tl.store(dy_p + sh, dy, mask=m2)
                    tl.store(dyc_p + sh, dy * chat, mask=m2)
                if STAGES >= 4:
                    # --- stage 4: dL/dh_{t-1} of own units from every unit's da
                    if NHT == 1:  # HT == HP: every unit's da is in this program
                        dh_new = mm(a0.to(wdt), w0, USE_DOT, DOT_F32, PREC)
                        dh_new += mm(a1.to(wdt), w1, USE_DOT, DOT_F32, PREC)
                        dh_new += mm(a2.to(wdt), w2, USE_DOT, DOT_F32, PREC)
                        if NG == 4:
                            dh_new += mm(a3.to(wdt), w3, USE_DOT, DOT_F32, PREC)
                    else:
                        barrier(cnt_b, (s * NBAR + NBAR) * NHT, SYNC)
                        # one gate at a time, so one (BB, HP) operand is staged at once
                        src = da_src + t * B * G + rb[:, None] * G + jj[None, :]
                        dh_new = mm(_row(src, fmask, wdt), w0, USE_DOT, DOT_F32, PREC)
                        dh_new += mm(_row(src + H, fmask, wdt), w1, USE_DOT, DOT_F32, PREC)
                        dh_new += mm(_row(src + 2 * H, fmask, wdt), w2, USE_DOT, DOT_F32, PREC)
                        if NG == 4:
                            dh_new += mm(_row(src + 3 * H, fmask, wdt), w3, USE_DOT, DOT_F32, PREC)
                    if HAS_RD:
                        dh_new = dh_new * rd
                    if not LSTM:
                        dh_new += d_direct
                    if HAS_ZH:
                        dh_new += d_keep
                    if LSTM:
                        if HAS_ZC:
                            dc_prev += dc_keep
                    if HAS_LEN:
                        dh_new += tl.where(live, 0.0, dh)
                        if LSTM:
                            dc_prev += tl.where(live, 0.0, dc)
                    dh = dh_new
                    if LSTM:
                        dc = dc_prev
    if STAGES >= 4:
        tl.store(dh_p + s_off, dh, mask=m2)
        if LSTM:
            tl.store(dc_p + s_off, dc, mask=m2)
