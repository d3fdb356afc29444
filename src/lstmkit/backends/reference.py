"""The reference backend: a plain loop of cell steps under autograd. The truth that
every other backend is tested against; float64-safe; records gates when asked."""

from __future__ import annotations

import torch

from lstmkit.backends.base import DirectionalBackend, stack_records


class ReferenceBackend(DirectionalBackend):
    name = "reference"
    priority = 0

    def run_direction(self, cell, x, h0, c0, w, mask, record):
        w_ih, w_hh, b_ih, b_hh, w_hr = w
        gx = torch.nn.functional.linear(x, w_ih, b_ih)  # (T, B, G)
        h, c = h0, c0
        outs, steps = [], []
        for t in range(x.shape[0]):
            gh = torch.nn.functional.linear(h, w_hh, b_hh)  # (B, G)
            h_raw, c_new, saved = cell.forward(gx[t], gh, h, c)
            h_new = h_raw if w_hr is None else torch.nn.functional.linear(h_raw, w_hr)
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
