"""The reference ConvLSTM loop: Shi et al. (2015) written out step by step under autograd.

Each step convolves the input frame and the previous hidden state separately, adds the
two gate images and runs the LSTM equations on the images (gates split along the
channels). Nothing is hoisted and nothing is hand-differentiated: this is the truth the
fused loop is tested against, and with 1x1 kernels it is torch.nn.LSTM run on every
pixel (tested too). It is also what runs under torch's program-transforming tools
(:func:`~lstmkit.convlstm.common.resolve_backend`): plain operations on NCHW images,
which torch.compile and torch.export capture at any frame size and batch.

Shapes: T time, B batch, C input channels, K hidden channels, Y, X frame size, G = 4K.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from lstmkit.convlstm.common import ConvParams


def reference_layer(
    peephole: bool,
    frames: Sequence[Tensor],  # T x (B, C, Y, X)
    h0: Tensor,  # (B, K, Y, X)
    c0: Tensor,  # (B, K, Y, X)
    p: ConvParams,
    mask: Tensor | None,  # (T, B, 1, 1, 1) bool
) -> tuple[list[Tensor], Tensor, Tensor]:
    """Run one layer as a loop of autograd operations (the truth for the fused loop).

    Args:
        peephole: the peephole terms (``p.cp`` holds them).
        frames: the T input frames, each (B, C, Y, X) (``x.unbind(0)``; a cell passes its
            one frame as it is).
        h0: (B, K, Y, X).
        c0: (B, K, Y, X).
        p: the layer's parameters.
        mask: (T, B, 1, 1, 1) bool, or None.

    Returns:
        ``(outputs, h_n, c_n)``: the T outputs (B, K, Y, X) in a list, the final states.
    """
    def gates(t: int) -> Tensor:
        return F.conv2d(frames[t], p.w_ih, p.b_ih, padding=p.padding)

    return gate_loop(peephole, gates, len(frames), h0, c0, p.w_hh, p.b_hh, p.cp, p.padding, mask)


def gate_loop(
    peephole: bool,
    gates: Callable[[int], Tensor],  # t -> (B, G, Y, X), the input part of step t's gates
    T: int,
    h0: Tensor,  # (B, K, Y, X)
    c0: Tensor,  # (B, K, Y, X)
    w_hh: Tensor,  # (G, K, kY, kX)
    b_hh: Tensor | None,  # (G,)
    cp: tuple,  # (p_i, p_f, p_o, ...): per-channel peepholes (K,) when peephole
    padding: tuple[int, int],
    mask: Tensor | None,  # (T, B, 1, 1, 1) bool
) -> tuple[list[Tensor], Tensor, Tensor]:
    """The recurrence of one layer under autograd, given each step's input gates: what
    :func:`reference_layer` runs, and what the fused loop's double backward
    differentiates.

    Returns:
        ``(outputs, h_n, c_n)``: the T outputs (B, K, Y, X) in a list, the final states.
    """
    if peephole:  # (K,) -> (K, 1, 1): one weight per channel, broadcast over the pixels
        p_i, p_f, p_o = (w.view(-1, 1, 1) for w in cp[:3])
    h, c = h0, c0
    outs = []
    for t in range(T):
        i, f, g, o = (gates(t) + F.conv2d(h, w_hh, b_hh, padding=padding)).chunk(4, 1)
        if peephole:
            i, f = i + p_i * c, f + p_f * c
        i, f, g = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g)
        c_new = f * c + i * g
        if peephole:
            o = o + p_o * c_new
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        if mask is not None:
            m = mask[t]  # (B, 1, 1, 1): past a clip's end its state stays, its output is 0
            outs.append(h_new * m)
            h_new = torch.where(m, h_new, h)
            c_new = torch.where(m, c_new, c)
        else:
            outs.append(h_new)
        h, c = h_new, c_new
    return outs, h, c
