"""Elman RNN math (Elman 1990), torch.nn.RNN's convention::

    h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   act = tanh or relu

Backward: d(pre-activation) = dh (1 - h_t^2) for tanh, dh [h_t > 0] for relu.
"""

from __future__ import annotations

import torch

from lstmkit.cells.base import CellMath


class RNNMath(CellMath):
    """One Elman step, h_t = act(gx + gh), forward and backward.

    Args:
        nonlinearity: ``"tanh"`` (default) or ``"relu"``.

    Raises:
        ValueError: another nonlinearity.
    """

    n_gates = 1
    has_cell = False
    additive = True
    record_names = ("h",)

    def __init__(self, nonlinearity: str = "tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"

    def forward(self, gx, gh, h, c, cp=None):
        """One step; see :meth:`CellMath.forward`."""
        pre = gx if gh is None else gx + gh
        h_new = torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)
        return h_new, None, (h_new,)

    def backward(self, dh, dc, h, c, saved, cp=None):
        """The step's gradients; see :meth:`CellMath.backward`."""
        (h_new,) = saved
        if self.nonlinearity == "tanh":
            d = dh * (1 - h_new * h_new)
        else:
            d = dh * (h_new > 0).to(dh.dtype)
        return d, d, None, None, None
