"""The fused ConvLSTM loop: one autograd.Function per layer with a hand-written backward.

What "fused" means for convolutional gates (the analogue of the LSTM's hoisted input
projection): the input part W_ih * x_t + b of every step is computed before the loop,
outside the recurrence (:func:`~lstmkit.convlstm.common.input_gates`); the loop runs only
the recurrent convolution W_hh * h_{t-1} and the cell's pointwise math, with no autograd
graph. Backward walks back through time with the cell's hand-written backward, sends each
step's gate gradient through the transposed recurrent convolution to h_{t-1}, and then
computes the recurrent weight gradient as ONE weight-gradient convolution over all T*B
stored states. Both biases are the input convolution's bias.

The state images are channels-last views of the pixel rows the cell math works on, so
moving between the two layouts copies nothing.

Shapes: T time, B batch, K hidden channels, Y, X frame size, G = 4K, N = B*Y*X.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.grad import conv2d_input, conv2d_weight

from lstmkit.cells import CellMath
from lstmkit.convlstm.common import ConvParams, from_rows, input_gates, to_rows
from lstmkit.convlstm.reference import gate_loop


class _FusedConvLSTM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cell, padding, gx, h0, c0, w_hh, p_i, p_f, p_o, mask, x, w_ih, bias):
        # x, w_ih and bias (what gx was computed from) are kept for double backward only;
        # their gradients flow through gx's own convolution
        ctx.save_for_backward(w_hh, mask, h0, c0, p_i, p_f, p_o, x, w_ih, bias)
        T, B, G, Y, X = gx.shape
        N = B * Y * X
        cp = (p_i, p_f, p_o, None, None)
        gx = gx.permute(0, 1, 3, 4, 2).reshape(T, N, G)  # (T, N, G) pixel rows, a view
        mrows = None
        if mask is not None:  # (T, B, 1, 1, 1) -> (T, N, 1)
            mrows = mask.expand(T, B, Y, X, 1).reshape(T, N, 1)
        # channels-last throughout: oneDNN's fastest convolution layout on the CPU, and the
        # layout in which an image IS its pixel rows (to_rows/from_rows are views)
        w_hh = w_hh.contiguous(memory_format=torch.channels_last)
        h0 = h0.contiguous(memory_format=torch.channels_last)
        h, c = h0, to_rows(c0)  # (B, K, Y, X), (N, K)
        hs, cs, saved, outs = [h0], [c], [], []
        for t in range(T):
            gates = gx[t] + to_rows(F.conv2d(h, w_hh, None, padding=padding))  # (N, G)
            h_r, c_r, sv = cell.forward(gates, None, None, c, cp)
            saved.append(sv)
            h_new = from_rows(h_r, B, Y, X)
            if mask is not None:
                m = mask[t]  # (B, 1, 1, 1)
                outs.append(h_new * m)
                h_new = torch.where(m, h_new, h)
                c_r = torch.where(mrows[t], c_r, c)
            else:
                outs.append(h_new)
            h, c = h_new, c_r
            hs.append(h)
            cs.append(c)
        out = torch.stack(outs)  # (T, B, K, Y, X)
        ctx.cell, ctx.cp, ctx.padding, ctx.dims = cell, cp, padding, (T, B, G, Y, X)
        ctx.hs, ctx.cs, ctx.saved, ctx.mrows = hs, cs, saved, mrows
        return out, h.contiguous(), from_rows(c, B, Y, X).contiguous()

    @staticmethod
    def backward(ctx, dout, dhn, dcn):
        if torch.is_grad_enabled():  # create_graph: differentiate again, on the reference path
            return _differentiable_grads(ctx, dout, dhn, dcn)
        w_hh, mask = ctx.saved_tensors[:2]
        w_hh = w_hh.contiguous(memory_format=torch.channels_last)
        cell, cp, padding = ctx.cell, ctx.cp, ctx.padding
        T, B, G, Y, X = ctx.dims
        N = B * Y * X
        hs, cs, saved, mrows = ctx.hs, ctx.cs, ctx.saved, ctx.mrows
        dg_all = cs[0].new_empty(T, N, G)  # pre-activation gate gradients, all steps
        extras = []
        cl = torch.channels_last
        dh = torch.zeros_like(hs[-1]) if dhn is None else dhn.contiguous(memory_format=cl)  # (B, K, Y, X)
        dc = None if dcn is None else to_rows(dcn)  # (N, K)
        if dout is not None:  # (T, B, K, Y, X) with each step's image channels-last
            dout = dout.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
        for t in range(T - 1, -1, -1):
            d = dh if dout is None else dout[t] + dh  # dL/dh_t
            dcs = dc
            if mask is not None:
                d = d * mask[t]
                if dc is not None:
                    dcs = dc * mrows[t]
            dg, _, _, dc_prev, extra = cell.backward(to_rows(d), dcs, None, cs[t], saved[t], cp)
            extras.append(extra)
            dg_all[t] = dg
            # dL/dh_{t-1} through W_hh: the transposed convolution of the gate gradient
            dh_new = conv2d_input(hs[t].shape, w_hh, from_rows(dg_all[t], B, Y, X), padding=padding)
            if mask is not None:  # past a clip's end, the state passed through unchanged
                dh_new = dh_new + dh * ~mask[t]
                if dc is not None:
                    dc_prev = dc_prev + dc * ~mrows[t]
            dh, dc = dh_new, dc_prev
        extras.reverse()
        need = ctx.needs_input_grad
        dgx = dg_all.view(T, B, Y, X, G).permute(0, 1, 4, 2, 3) if need[2] else None
        dw_hh = None
        if need[5]:  # one weight-gradient convolution over every step's h_{t-1}
            h_in = torch.stack([to_rows(h) for h in hs[:-1]])  # (T, N, K)
            h_in = h_in.view(T * B, Y, X, -1).permute(0, 3, 1, 2)  # (T*B, K, Y, X) channels-last
            dg_img = dg_all.view(T * B, Y, X, G).permute(0, 3, 1, 2)  # (T*B, G, Y, X) channels-last
            dw_hh = conv2d_weight(h_in, w_hh.shape, dg_img, padding=padding)
        dcp = cell.param_grads(dg_all, torch.stack(cs[:-1]), saved, extras, cp,
                               (need[6], need[7], need[8], False, False))
        dh0 = dh if need[3] else None
        dc0 = from_rows(dc, B, Y, X) if need[4] and dc is not None else None
        return (None, None, dgx, dh0, dc0, dw_hh, dcp[0], dcp[1], dcp[2], None, None, None, None)


def _differentiable_grads(ctx, dout, dhn, dcn) -> tuple:
    """The gradients of the loop's inputs as differentiable functions (double backward,
    gradient penalties): the hand-written backward has no graph, so the layer is
    recomputed from the saved inputs under autograd (the reference loop,
    :func:`~lstmkit.convlstm.reference.gate_loop`) and differentiated with
    ``create_graph``: exact, never gradients without a graph. The input gates are
    recomputed from x, W_ih and the bias, so their gradient carries its graph back to
    them."""
    w_hh, mask, h0, c0, p_i, p_f, p_o, x, w_ih, bias = ctx.saved_tensors
    need = ctx.needs_input_grad
    with torch.enable_grad():
        gx = input_gates(x, w_ih, bias, ctx.padding)
        outs, hn, cn = gate_loop(ctx.cell.peephole, lambda t: gx[t], gx.shape[0], h0, c0, w_hh,
                                 None, ctx.cp, ctx.padding, mask)
        out = torch.stack(outs)
        pairs = [(o, g) for o, g in ((out, dout), (hn, dhn), (cn, dcn)) if g is not None]
        args = {2: gx, 3: h0, 4: c0, 5: w_hh, 6: p_i, 7: p_f, 8: p_o}
        want = [i for i, t in args.items() if need[i] and t is not None]
        grads = torch.autograd.grad([o for o, _ in pairs], [args[i] for i in want],
                                    [g for _, g in pairs], create_graph=True, allow_unused=True)
    res: list = [None] * 13
    for i, g in zip(want, grads):
        res[i] = torch.zeros_like(args[i]) if g is None else g
    return tuple(res)


def fused_layer(
    cell: CellMath,
    x: Tensor,  # (T, B, C, Y, X)
    h0: Tensor,  # (B, K, Y, X)
    c0: Tensor,  # (B, K, Y, X)
    p: ConvParams,
    mask: Tensor | None,  # (T, B, 1, 1, 1) bool
) -> tuple[Tensor, Tensor, Tensor]:
    """Run one layer with the hand-written backward.

    Args:
        cell: the LSTM cell math (peepholes or not).
        x: (T, B, C, Y, X).
        h0: (B, K, Y, X).
        c0: (B, K, Y, X).
        p: the layer's parameters.
        mask: (T, B, 1, 1, 1) bool, or None.

    Returns:
        ``(output (T, B, K, Y, X), h_n, c_n (B, K, Y, X))``.
    """
    # both biases ride on the input convolution: added once by the convolution itself
    # rather than to every step's gates (autograd gives each bias the same gradient)
    bias = None if p.b_ih is None else p.b_ih + p.b_hh
    gx = input_gates(x, p.w_ih, bias, p.padding)  # (T, B, G, Y, X)
    return _FusedConvLSTM.apply(cell, p.padding, gx, h0, c0, p.w_hh, *p.cp[:3], mask, x, p.w_ih, bias)
