"""The fused backend: one autograd.Function per layer and direction.

Forward: the input projection of all T steps is one (T*B, I) x (I, G) matmul (done by
the caller, :func:`~lstmkit.backends.base.input_projection`); the loop runs only the
recurrence and the cell's pointwise math, keeping what backward needs.
Backward: a hand-written loop back through time producing the pre-activation gradients
of every step; then the weight gradients as single matmuls over all steps, and the
gradients of the initial states. Every variant runs here (recurrent layer norm,
recurrent dropout, zoneout, and the cell options of :class:`~lstmkit.cells.LSTMMath`).

Shapes: T time, B batch, H hidden, P = proj_size or H, G = n_gates * H.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.backends.base import DirectionalBackend
from lstmkit.cells.layernorm import ln_backward, ln_forward


def _add(a: Tensor, b: Tensor | None) -> Tensor:
    return a if b is None else a + b


class _FusedDirection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cell, gx, h0, c0, w_hh, b_hh, w_hr, ln_w, ln_b,
                p_i, p_f, p_o, lnc_w, lnc_b, rec_mask, zone_h, zone_c, mask):
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
        ctx.save_for_backward(w_hh, w_hr, ln_w, rec_mask, zone_h, zone_c, mask)
        if c is None:
            return out, h
        return out, h, c

    @staticmethod
    def backward(ctx, dout, dhn, dcn=None):
        w_hh, w_hr, ln_w, rec_mask, zone_h, zone_c, mask = ctx.saved_tensors
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


class FusedBackend(DirectionalBackend):
    name = "fused"
    priority = 10

    def unsupported(self, spec, x):
        if x.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            return f"fused runs floating-point tensors, not {x.dtype}"
        return None

    def run_direction(self, cell, gx, h0, c0, p, mask, record):
        ln_w, ln_b = p.ln_hh if p.ln_hh is not None else (None, None)
        res = _FusedDirection.apply(
            cell, gx, h0, c0, p.w_hh, p.b_hh, p.w_hr, ln_w, ln_b, *p.cp,
            p.rec_mask, p.zone_h, p.zone_c, mask,
        )
        return res if c0 is not None else (res[0], res[1], None)
