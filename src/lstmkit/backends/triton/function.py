"""The autograd.Function around the kernels: forward and backward of one direction.

The kernels run the recurrence (the time loops); the weight gradients are then single
matmuls and reductions over all T*B rows, as in :mod:`lstmkit.backends.fused`.
Shapes: T time, B batch, H hidden, NG gates, G = NG*H.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from lstmkit.backends.base import DirParams
from lstmkit.backends.triton import launch
from lstmkit.backends.triton.plan import Recurrence
from lstmkit.cells import CellMath


def _sum(t: Tensor, like: Tensor | None, need: bool) -> Tensor | None:
    """``t`` summed over time and batch, in ``like``'s dtype (None if not needed)."""
    if like is None or not need:
        return None
    return t.sum((0, 1)).to(like.dtype)


class _Params(NamedTuple):
    """The tensor inputs of :class:`TritonDirection` after the states, in ``apply`` order
    (None where absent); saved for backward."""

    w_hh: Tensor
    b_hh: Tensor | None
    ln_w: Tensor | None
    ln_b: Tensor | None
    p_i: Tensor | None
    p_f: Tensor | None
    p_o: Tensor | None
    lnc_w: Tensor | None
    lnc_b: Tensor | None
    rec_mask: Tensor | None
    zone_h: Tensor | None
    zone_c: Tensor | None
    lengths: Tensor | None

    def launch_args(self) -> tuple:
        """(ln_h, cp, rec_mask, zone_h, zone_c, lengths) as the launchers take them: ln_h
        the recurrent layer norm's (weight, bias) or None, cp the cell's (p_i, p_f, p_o,
        lnc_w, lnc_b)."""
        ln_h = None if self.ln_w is None else (self.ln_w, self.ln_b)
        cp = (self.p_i, self.p_f, self.p_o, self.lnc_w, self.lnc_b)
        return (ln_h, cp, self.rec_mask, self.zone_h, self.zone_c, self.lengths)


class TritonDirection(torch.autograd.Function):
    """One direction of a layer on the Triton kernels: the forward launches the recurrence
    kernel over all T steps and saves what its backward kernel needs; the backward runs the
    reverse recurrence and forms the weight gradients as single matmuls over all T*B rows."""

    @staticmethod
    def forward(ctx, rec, plan, gx, h0, c0, *params):
        """``params``: the fields of :class:`_Params`, in order."""
        T = gx.shape[0]
        x = _Params(*params)
        saved = launch.forward(rec, plan, gx, h0, c0, x.w_hh, x.b_hh, *x.launch_args())
        ctx.rec, ctx.plan, ctx.saved = rec, plan, saved
        # dtypes only for gx and the initial states: keeping gx itself would hold (T, B, G)
        ctx.dtypes = (gx.dtype, h0.dtype, None if c0 is None else c0.dtype)
        ctx.save_for_backward(*x)
        hn = saved["hs"][T].to(gx.dtype, copy=True)
        if not rec.lstm:
            return saved["out"], hn
        return saved["out"], hn, saved["cs"][T].to(gx.dtype, copy=True)

    @staticmethod
    def backward(ctx, dout, dhn, dcn=None):
        """The gradients of the direction's inputs, from the backward kernel."""
        if torch.is_grad_enabled():
            raise RuntimeError(
                "backend='triton' has no double backward (create_graph=True): its backward "
                "kernels are not differentiable; run the layer with backend='fused' or "
                "'reference' to take a gradient of a gradient")
        x = _Params(*ctx.saved_tensors)
        w_hh, b_hh, ln_w, ln_b, p_i, p_f, p_o, lnc_w, lnc_b, rec_mask = x[:10]
        rec, plan, s = ctx.rec, ctx.plan, ctx.saved
        gx_dtype, h0_dtype, c0_dtype = ctx.dtypes
        T, B, G = s["acts"].shape
        H = w_hh.shape[1]
        g = launch.backward(rec, plan, s, w_hh, *x.launch_args(), dout, dhn, dcn)
        need = ctx.needs_input_grad
        dw_hh = None
        if need[5]:
            h_in = s["hs"][:-1] if rec_mask is None else s["hs"][:-1] * rec_mask.float()
            dw_hh = g["da"].view(T * B, G).t().mm(h_in.reshape(T * B, H)).to(w_hh.dtype)
        dgh = g["dgh"]
        dln_w = _sum(dgh * s["ahat"], ln_w, True) if ln_w is not None and need[7] else None
        dgp = [None] * 5
        if rec.peephole:
            c_prev, c_new, dgx = s["cs"][:-1], s["aux"], g["dgx"]
            if rec.coupled:
                df, do = dgx[..., :H], dgx[..., 2 * H :]
            else:
                dgp[0] = _sum(dgx[..., :H] * c_prev, p_i, need[9])
                df, do = dgx[..., H : 2 * H], dgx[..., 3 * H :]
            dgp[1] = _sum(df * c_prev, p_f, need[10])
            dgp[2] = _sum(do * c_new, p_o, need[11])
        if rec.ln_c:
            dgp[3] = _sum(g["dyc"], lnc_w, need[12])
            dgp[4] = _sum(g["dy"], lnc_b, need[13])
        return (
            None,
            None,
            g["dgx"].to(gx_dtype) if need[2] else None,
            g["dh"].to(h0_dtype) if need[3] else None,
            g["dc"].to(c0_dtype) if rec.lstm and need[4] else None,
            dw_hh,
            _sum(dgh, b_hh, need[6]),
            dln_w,
            _sum(dgh, ln_b, need[8]),
            *dgp,
            None,
            None,
            None,
            None,
        )


def recurrence_of(cell: CellMath, p: DirParams) -> Recurrence:
    """The kernels' static configuration for ``cell`` with ``p``'s options."""
    lstm = cell.mode == "LSTM"
    return Recurrence(
        lstm=lstm,
        n_gates=cell.n_gates,
        coupled=lstm and cell.coupled,
        peephole=lstm and cell.peephole,
        cell_clip=cell.cell_clip if lstm else None,
        ln_h=p.ln_hh is not None,
        ln_c=lstm and cell.layer_norm,
    )


def run_direction(
    cell: CellMath, gx: Tensor, h0: Tensor, c0: Tensor | None, p: DirParams, mask: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """One direction: gx (T, B, G) in processing order, h0 (B, H), c0 (B, H) or None,
    mask (T, B, 1) prefix mask or None -> (out (T, B, H), h_n (B, H), c_n (B, H) or None)."""
    rec = recurrence_of(cell, p)
    plan = launch.plan_for(rec, gx.shape[1], p.w_hh.shape[1], p.w_hh)
    lengths = None if mask is None else mask[:, :, 0].sum(0)  # (B,) int64
    ln_w, ln_b = p.ln_hh if p.ln_hh is not None else (None, None)
    res = TritonDirection.apply(
        rec,
        plan,
        gx,
        h0,
        c0,
        p.w_hh,
        p.b_hh,
        ln_w,
        ln_b,
        *p.cp,
        p.rec_mask,
        p.zone_h,
        p.zone_c,
        lengths,
    )
    return res if rec.lstm else (res[0], res[1], None)
