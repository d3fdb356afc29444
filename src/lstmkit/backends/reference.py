"""The reference backend: a plain loop of cell steps under autograd. The truth that
every other backend is tested against; float64-safe; records gates when asked.
It runs every variant, with torch's own layer_norm for the recurrent normalisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lstmkit.backends.base import DirectionalBackend, stack_records
from lstmkit.cells.layernorm import EPS


class ReferenceBackend(DirectionalBackend):
    name = "reference"
    priority = 0

    def run_direction(self, cell, gx, h0, c0, p, mask, record):
        h, c = h0, c0
        outs, steps = [], []
        for t in range(gx.shape[0]):
            h_in = h if p.rec_mask is None else h * p.rec_mask
            if p.ln_hh is None:
                gh = F.linear(h_in, p.w_hh, p.b_hh)  # (B, G)
            else:
                gh = F.layer_norm(F.linear(h_in, p.w_hh), (p.w_hh.shape[0],), *p.ln_hh, EPS)
                gh = gh if p.b_hh is None else gh + p.b_hh
            h_raw, c_new, saved = cell.forward(gx[t], gh, h, c, p.cp)
            h_new = h_raw if p.w_hr is None else F.linear(h_raw, p.w_hr)
            if p.zone_h is not None:
                h_new = torch.lerp(h_new, h, p.zone_h[t])
            if p.zone_c is not None:
                c_new = torch.lerp(c_new, c, p.zone_c[t])
            if record is not None:
                steps.append(cell.record(h_new, c_new, saved))
            if mask is not None:
                m = mask[t]  # (B, 1)
                outs.append(h_new * m)
                h_new = torch.where(m, h_new, h)
                if c is not None:
                    c_new = torch.where(m, c_new, c)
            else:
                outs.append(h_new)
            h, c = h_new, c_new
        if record is not None:
            record.append(stack_records(steps))
        return torch.stack(outs), h, c
