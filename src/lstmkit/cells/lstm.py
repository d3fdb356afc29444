"""LSTM gate math (Hochreiter & Schmidhuber 1997; torch.nn's gate order i, f, g, o).

For input x_t and previous states h_{t-1}, c_{t-1}::

    i_t = sigmoid(W_i x_t + b_ii + U_i h_{t-1} + b_hi)     input gate
    f_t = sigmoid(W_f x_t + b_if + U_f h_{t-1} + b_hf)     forget gate
    g_t = tanh   (W_g x_t + b_ig + U_g h_{t-1} + b_hg)     candidate values
    o_t = sigmoid(W_o x_t + b_io + U_o h_{t-1} + b_ho)     output gate
    c_t = f_t * c_{t-1} + i_t * g_t                        cell state
    h_t = o_t * tanh(c_t)                                  hidden state

Options (the cell-level variants; the layer handles the rest):

- ``peephole`` (Gers & Schmidhuber 2000): ``+ p_i * c_{t-1}`` inside i_t, ``+ p_f * c_{t-1}``
  inside f_t, ``+ p_o * c_t`` inside o_t (p_* are (H,) vectors).
- ``coupled`` (CIFG, Greff et al. 2017): no input-gate weights, i_t = 1 - f_t; gates are
  stacked f, g, o (3H).
- ``cell_clip`` v: c_t = clamp(c_t, -v, v) (gradient zero where clipped).
- ``layer_norm`` (Ba et al. 2016): h_t = o_t * tanh(LN(c_t) * gamma_c + beta_c).

Backward, with dh = dL/dh_t and dc = dL/dc_t arriving from the future (plain cell)::

    do  = dh * tanh(c_t)
    dc' = dc + dh * o_t * (1 - tanh(c_t)^2)
    di  = dc' * g_t,  df = dc' * c_{t-1},  dg = dc' * i_t,  dc_{t-1} = dc' * f_t
    d(pre-activation) = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)]
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.cells.base import CellMath
from lstmkit.cells.layernorm import ln_backward, ln_forward


class LSTMMath(CellMath):
    """One LSTM step (gates i, f, g, o; or f, g, o when coupled), forward and backward.

    Args:
        peephole: peephole connections; ``cp`` then holds p_i (None when coupled), p_f,
            p_o, each (H,).
        coupled: CIFG, i_t = 1 - f_t, 3H gate rows.
        cell_clip: clamp c_t to [-v, v]; None for no clip.
        layer_norm: h_t = o_t tanh(LN(c_t) g_c + b_c); ``cp`` then holds g_c, b_c (H,).

    Example:
        >>> import torch
        >>> from lstmkit.cells import LSTMMath
        >>> cell = LSTMMath()
        >>> B, H = 2, 3
        >>> h, c, saved = cell.forward(torch.zeros(B, 4 * H), None, torch.zeros(B, H), torch.zeros(B, H))
        >>> h.shape, c.shape
        (torch.Size([2, 3]), torch.Size([2, 3]))
    """

    mode = "LSTM"
    has_cell = True
    additive = True
    record_names = ("i", "f", "g", "o", "c", "h")

    def __init__(self, peephole: bool = False, coupled: bool = False,
                 cell_clip: float | None = None, layer_norm: bool = False):
        self.peephole = peephole
        self.coupled = coupled
        self.cell_clip = cell_clip
        self.layer_norm = layer_norm
        self.n_gates = 3 if coupled else 4
        self.plain = not (peephole or coupled or cell_clip is not None or layer_norm)

    # cp = (p_i, p_f, p_o, ln_c_weight, ln_c_bias), each None when the option is off
    def forward(self, gx: Tensor, gh: Tensor | None, h: Tensor, c: Tensor, cp=None):
        """One step; see :meth:`CellMath.forward`. ``cp`` = (p_i, p_f, p_o, LN(c) gain, LN(c) bias), None where off."""
        gates = gx if gh is None else gx + gh  # (B, G); gh None: gx holds the sum already
        if self.plain:
            H = c.shape[-1]
            # fewest kernels per step: one sigmoid over all gates, then tanh of g's slice
            act = torch.sigmoid(gates)
            i, f, o = act[:, :H], act[:, H : 2 * H], act[:, 3 * H :]
            g = torch.tanh(gates[:, 2 * H : 3 * H])
            c_new = torch.addcmul(f * c, i, g)
            tc = torch.tanh(c_new)
            return o * tc, c_new, (i, f, g, o, tc)
        p_i, p_f, p_o, gamma, beta = cp
        if self.coupled:
            f, g, o = gates.chunk(3, 1)
        else:
            i, f, g, o = gates.chunk(4, 1)
        if self.peephole:
            f = f + p_f * c
            if not self.coupled:
                i = i + p_i * c
        f = torch.sigmoid(f)
        i = 1 - f if self.coupled else torch.sigmoid(i)
        g = torch.tanh(g)
        c_new = f * c + i * g
        keep = None
        if self.cell_clip is not None:
            keep = c_new.abs() <= self.cell_clip  # where the gradient passes
            c_new = c_new.clamp(-self.cell_clip, self.cell_clip)
        if self.peephole:
            o = o + p_o * c_new
        o = torch.sigmoid(o)
        c_hat = rstd = None
        if self.layer_norm:
            c_hat, rstd = ln_forward(c_new)
            tc = torch.tanh(c_hat * gamma + beta)
        else:
            tc = torch.tanh(c_new)
        return o * tc, c_new, (i, f, g, o, tc, c_new, keep, c_hat, rstd)

    def backward(self, dh, dc, h, c, saved, cp=None):
        """The step's gradients; see :meth:`CellMath.backward`."""
        if self.plain:
            i, f, g, o, tc = saved
            do = dh * tc
            dcn = dh * o * (1 - tc * tc)
            if dc is not None:
                dcn = dcn + dc
            d = torch.cat(
                (dcn * g * i * (1 - i), dcn * c * f * (1 - f), dcn * i * (1 - g * g), do * o * (1 - o)), 1
            )
            return d, d, None, dcn * f, None
        p_i, p_f, p_o, gamma, _ = cp
        i, f, g, o, tc, c_new, keep, c_hat, rstd = saved
        do = dh * tc * o * (1 - o)  # pre-activation gradient of o
        dy = dh * o * (1 - tc * tc)  # gradient at the input of tanh
        extra = None
        if self.layer_norm:
            extra = dy
            dcn = ln_backward(dy * gamma, c_hat, rstd)
        else:
            dcn = dy
        if dc is not None:
            dcn = dcn + dc
        if self.peephole:
            dcn = dcn + do * p_o
        if keep is not None:
            dcn = dcn * keep
        dg = dcn * i * (1 - g * g)
        di = dcn * g
        df = dcn * c
        if self.coupled:
            df = (df - di) * f * (1 - f)
            d = torch.cat((df, dg, do), 1)
            dc_prev = dcn * f
            if self.peephole:
                dc_prev = dc_prev + df * p_f
        else:
            di = di * i * (1 - i)
            df = df * f * (1 - f)
            d = torch.cat((di, df, dg, do), 1)
            dc_prev = dcn * f
            if self.peephole:
                dc_prev = dc_prev + di * p_i + df * p_f
        return d, d, None, dc_prev, extra

    def param_grads(self, dgates: Tensor, c_prev: Tensor, saved: list, extras: list, cp, need):
        """Gradients of cp = (p_i, p_f, p_o, gamma_c, beta_c) from all steps at once.

        dgates (T, B, G) pre-activation gradients; c_prev (T, B, H) the c_{t-1} each step saw."""
        if self.plain:
            return (None,) * 5
        H = c_prev.shape[-1]
        out = [None] * 5
        if self.peephole:
            c_t = torch.stack([s[5] for s in saved])  # (T, B, H) clipped c_t
            if self.coupled:
                df, do = dgates[..., :H], dgates[..., 2 * H :]
            else:
                out[0] = (dgates[..., :H] * c_prev).sum((0, 1)) if need[0] else None
                df, do = dgates[..., H : 2 * H], dgates[..., 3 * H :]
            out[1] = (df * c_prev).sum((0, 1)) if need[1] else None
            out[2] = (do * c_t).sum((0, 1)) if need[2] else None
        if self.layer_norm:
            dy = torch.stack(extras)  # (T, B, H)
            c_hat = torch.stack([s[7] for s in saved])
            out[3] = (dy * c_hat).sum((0, 1)) if need[3] else None
            out[4] = dy.sum((0, 1)) if need[4] else None
        return tuple(out)

    def record(self, h, c, saved):
        """``i``, ``f``, ``g``, ``o``, ``c`` and ``h`` of the step, each (B, H) (``i`` = 1 - f when coupled)."""
        i, f, g, o = saved[:4]
        return {"i": i, "f": f, "g": g, "o": o, "c": c, "h": h}
