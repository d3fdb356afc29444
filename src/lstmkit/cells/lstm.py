"""LSTM gate math (Hochreiter & Schmidhuber 1997; torch.nn's gate order i, f, g, o).

For input x_t and previous states h_{t-1}, c_{t-1}::

    i_t = sigmoid(W_i x_t + b_ii + U_i h_{t-1} + b_hi)     input gate
    f_t = sigmoid(W_f x_t + b_if + U_f h_{t-1} + b_hf)     forget gate
    g_t = tanh   (W_g x_t + b_ig + U_g h_{t-1} + b_hg)     candidate values
    o_t = sigmoid(W_o x_t + b_io + U_o h_{t-1} + b_ho)     output gate
    c_t = f_t * c_{t-1} + i_t * g_t                        cell state
    h_t = o_t * tanh(c_t)                                  hidden state

(With ``proj_size`` the layer multiplies h_t by W_hr afterwards; that is not cell math.)

Backward, with dh = dL/dh_t and dc = dL/dc_t arriving from the future::

    do  = dh * tanh(c_t)
    dc' = dc + dh * o_t * (1 - tanh(c_t)^2)
    di  = dc' * g_t,  df = dc' * c_{t-1},  dg = dc' * i_t,  dc_{t-1} = dc' * f_t
    d(pre-activation) = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)]
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.cells.base import CellMath


class LSTMMath(CellMath):
    mode = "LSTM"
    n_gates = 4
    has_cell = True
    additive = True
    record_names = ("i", "f", "g", "o", "c", "h")

    def forward(self, gx: Tensor, gh: Tensor, h: Tensor, c: Tensor | None):
        gates = gx + gh  # (B, 4H)
        i, f, g, o = gates.chunk(4, 1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c_new = f * c + i * g
        tc = torch.tanh(c_new)
        return o * tc, c_new, (i, f, g, o, tc)

    def backward(self, dh, dc, h, c, saved):
        i, f, g, o, tc = saved
        do = dh * tc
        dcn = dh * o * (1 - tc * tc)
        if dc is not None:
            dcn = dcn + dc
        d = torch.cat(
            (
                dcn * g * i * (1 - i),
                dcn * c * f * (1 - f),
                dcn * i * (1 - g * g),
                do * o * (1 - o),
            ),
            1,
        )
        return d, d, None, dcn * f

    def record(self, h, c, saved):
        i, f, g, o, _ = saved
        return {"i": i, "f": f, "g": g, "o": o, "c": c, "h": h}
