"""GRU gate math in torch.nn's convention (gate order r, z, n; Cho et al. 2014).

The reset gate multiplies the whole recurrent term of the candidate, bias included::

    r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}

Backward, with dh = dL/dh_t::

    dn = dh (1 - z),  dz = dh (h_{t-1} - n),  dh_{t-1} (direct) = dh z
    dn' = dn (1 - n^2),  dr' = dn' (W_hn h + b_hn) r (1 - r),  dz' = dz z (1 - z)
    d gx = [dr', dz', dn'],  d gh = [dr', dz', dn' r]
"""

from __future__ import annotations

import torch

from lstmkit.cells.base import CellMath


class GRUMath(CellMath):
    """One GRU step in torch.nn's convention (gates r, z, n), forward and backward.

    Not ``additive``: ``gh`` is needed separately (the reset gate multiplies W_hn h + b_hn).
    """

    mode = "GRU"
    n_gates = 3
    has_cell = False
    additive = False
    record_names = ("r", "z", "n", "h")

    def forward(self, gx, gh, h, c, cp=None):
        """One step; see :meth:`CellMath.forward` (``gh`` is required: the reset gate multiplies its n block)."""
        xr, xz, xn = gx.chunk(3, 1)
        hr, hz, hn = gh.chunk(3, 1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return n + z * (h - n), None, (r, z, n, hn)

    def backward(self, dh, dc, h, c, saved, cp=None):
        """The step's gradients; see :meth:`CellMath.backward`."""
        r, z, n, hn = saved
        dn = dh * (1 - z) * (1 - n * n)
        dr = dn * hn * r * (1 - r)
        dz = dh * (h - n) * z * (1 - z)
        dgx = torch.cat((dr, dz, dn), 1)
        dgh = torch.cat((dr, dz, dn * r), 1)
        return dgx, dgh, dh * z, None, None

    def record(self, h, c, saved):
        """``r``, ``z``, ``n`` and ``h`` of the step, each (B, H)."""
        r, z, n, _ = saved
        return {"r": r, "z": z, "n": n, "h": h}
