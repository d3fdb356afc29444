"""The reference ConvLSTM loop: Shi et al. (2015) written out step by step under autograd.

Each step convolves the input frame and the previous hidden state separately, adds the
two gate images and runs the LSTM cell math on every pixel. Nothing is hoisted and
nothing is hand-differentiated: this is the truth the fused loop is tested against, and
with 1x1 kernels it is torch.nn.LSTM run on every pixel (tested too).

Shapes: T time, B batch, C input channels, K hidden channels, Y, X frame size,
G = 4K, N = B*Y*X.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lstmkit.cells import CellMath
from lstmkit.convlstm.common import ConvParams, from_rows, to_rows


def reference_layer(
    cell: CellMath,
    x: Tensor,  # (T, B, C, Y, X)
    h0: Tensor,  # (B, K, Y, X)
    c0: Tensor,  # (B, K, Y, X)
    p: ConvParams,
    mask: Tensor | None,  # (T, B, 1, 1, 1) bool
) -> tuple[Tensor, Tensor, Tensor]:
    """Run one layer as a loop of autograd operations (the truth for the fused loop).

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
    B, _, Y, X = h0.shape
    h, c = h0, c0
    outs = []
    for t in range(x.shape[0]):
        gx = F.conv2d(x[t], p.w_ih, p.b_ih, padding=p.padding)  # (B, G, Y, X)
        gh = F.conv2d(h, p.w_hh, p.b_hh, padding=p.padding)  # (B, G, Y, X)
        h_rows, c_rows, _ = cell.forward(to_rows(gx), to_rows(gh), to_rows(h), to_rows(c), p.cp)
        h_new, c_new = from_rows(h_rows, B, Y, X), from_rows(c_rows, B, Y, X)
        if mask is not None:
            m = mask[t]  # (B, 1, 1, 1): past a clip's end its state stays, its output is 0
            outs.append(h_new * m)
            h_new = torch.where(m, h_new, h)
            c_new = torch.where(m, c_new, c)
        else:
            outs.append(h_new)
        h, c = h_new, c_new
    return torch.stack(outs), h, c
