"""The fused backend: one autograd.Function per layer and direction.

Forward: the input projection of all T steps is one (T*B, I) x (I, G) matmul; the loop
runs only the recurrence and the cell's pointwise math, keeping what backward needs.
Backward: a hand-written loop back through time producing the pre-activation
gradients of every step, then the input gradient and the weight gradients as single
matmuls over all steps, plus the gradients of the initial states.

Shapes: T time, B batch, I input, H hidden, P = proj_size or H, G = n_gates * H.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.backends.base import DirectionalBackend


def _proj(x2: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    return torch.addmm(b, x2, w.t()) if b is not None else x2.mm(w.t())


class _FusedDirection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, mask):
        T, B, I = x.shape
        gx = _proj(x.reshape(T * B, I), w_ih, b_ih).view(T, B, -1)  # (T, B, G)
        w_hhT = w_hh.t()  # (P, G)
        w_hrT = None if w_hr is None else w_hr.t()  # (H, P)
        h, c = h0, c0
        hs, cs, saved, raws, outs = [h0], [c0], [], [], []
        for t in range(T):
            gh = torch.addmm(b_hh, h, w_hhT) if b_hh is not None else h.mm(w_hhT)  # (B, G)
            h_raw, c_new, sv = cell.forward(gx[t], gh, h, c)
            saved.append(sv)
            if w_hrT is not None:
                raws.append(h_raw)
                h_new = h_raw.mm(w_hrT)  # (B, P)
            else:
                h_new = h_raw
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
        ctx.cell = cell
        ctx.hs, ctx.cs, ctx.saved, ctx.raws = hs, cs, saved, raws
        ctx.has = (c0 is not None, b_ih is not None, b_hh is not None, w_hr is not None)
        ctx.save_for_backward(x, w_ih, w_hh, w_hr, mask)
        if c is None:
            return out, h
        return out, h, c

    @staticmethod
    def backward(ctx, dout, dhn, dcn=None):
        x, w_ih, w_hh, w_hr, mask = ctx.saved_tensors
        cell, hs, cs, saved, raws = ctx.cell, ctx.hs, ctx.cs, ctx.saved, ctx.raws
        has_c, has_bih, has_bhh, has_proj = ctx.has
        T, B, I = x.shape
        G = w_ih.shape[0]
        dgx_all = x.new_empty(T, B, G)
        dgh_all = dgx_all if cell.additive else x.new_empty(T, B, G)
        dproj = x.new_empty(T, B, w_hr.shape[0]) if has_proj else None
        dh = dhn if dhn is not None else torch.zeros_like(hs[-1])
        dc = dcn if has_c else None
        for t in range(T - 1, -1, -1):
            d = dh if dout is None else dout[t] + dh
            dcs = dc
            if mask is not None:
                m = mask[t]
                d = d * m
                if dc is not None:
                    dcs = dc * m
            if has_proj:
                dproj[t] = d
                d = d.mm(w_hr)  # (B, H)
            dgx, dgh, dh_direct, dc_prev = cell.backward(d, dcs, hs[t], cs[t], saved[t])
            dgx_all[t] = dgx
            if dgh_all is not dgx_all:
                dgh_all[t] = dgh
            dh_new = dgh.mm(w_hh) if dh_direct is None else torch.addmm(dh_direct, dgh, w_hh)
            if mask is not None:
                nm = ~mask[t]
                dh_new = dh_new + dh * nm
                if dc is not None:
                    dc_prev = dc_prev + dc * nm
            dh, dc = dh_new, dc_prev
        need = ctx.needs_input_grad
        gx2 = dgx_all.view(T * B, G)
        gh2 = dgh_all.view(T * B, G)
        dx = gx2.mm(w_ih).view(T, B, I) if need[1] else None
        dw_ih = gx2.t().mm(x.reshape(T * B, I)) if need[4] else None
        dw_hh = None
        if need[5]:
            hprev = torch.stack(hs[:-1]).view(T * B, -1)  # (T*B, P)
            dw_hh = gh2.t().mm(hprev)
        db_ih = gx2.sum(0) if has_bih and need[6] else None
        db_hh = gh2.sum(0) if has_bhh and need[7] else None
        dw_hr = None
        if has_proj and need[8]:
            dw_hr = dproj.view(T * B, -1).t().mm(torch.stack(raws).view(T * B, -1))
        dh0 = dh if need[2] else None
        dc0 = dc if has_c and need[3] else None
        return None, dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr, None


class FusedBackend(DirectionalBackend):
    name = "fused"
    priority = 10

    def unsupported(self, spec, x):
        if x.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            return f"fused runs floating-point tensors, not {x.dtype}"
        return None

    def run_direction(self, cell, x, h0, c0, w, mask, record):
        res = _FusedDirection.apply(cell, x, h0, c0, *w, mask)
        return res if c0 is not None else (res[0], res[1], None)
