"""What every backend shares: the layer spec it is asked to run, the interface, and the
per-direction plumbing (reversal of variable-length sequences, masks).

Shapes: T time, B batch, I input features, H hidden, P = proj_size or H (the size of h),
D directions, G = n_gates * H.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from lstmkit.cells import CellMath

# per direction: (w_ih (G, I), w_hh (G, P), b_ih (G,) | None, b_hh (G,) | None, w_hr (P, H) | None)
DirWeights = tuple[Tensor, Tensor, "Tensor | None", "Tensor | None", "Tensor | None"]


@dataclass(frozen=True)
class LayerSpec:
    """The configuration of a recurrent layer, as backends see it."""

    mode: str  # LSTM, GRU, RNN_TANH, RNN_RELU
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    dropout: float = 0.0
    bidirectional: bool = False
    proj_size: int = 0

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def variants(self) -> tuple[str, ...]:
        """Names of the options torch.nn has no equivalent for (none in the plain layer)."""
        return ()


class Backend:
    """A way to run one layer (all its directions) of a recurrent network."""

    name: str = ""
    #: higher runs first under ``backend="auto"``
    priority: int = 0

    def unavailable(self) -> str | None:
        """Why this backend cannot run on this machine at all, or None."""
        return None

    def unsupported(self, spec: LayerSpec, x: Tensor) -> str | None:
        """Why this backend cannot run ``spec`` on input ``x``, or None."""
        return self.unavailable()

    def run_layer(
        self,
        spec: LayerSpec,
        cell: CellMath,
        x: Tensor,  # (T, B, I)
        h0: Tensor,  # (D, B, P)
        c0: Tensor | None,  # (D, B, H)
        weights: list[DirWeights],
        lengths: Tensor | None,  # (B,) int64 on x's device
        training: bool,
        record: list | None = None,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Return ``(output (T, B, D*P), h_n (D, B, P), c_n (D, B, H) | None)``."""
        raise NotImplementedError


def time_mask(lengths: Tensor | None, T: int) -> Tensor | None:
    """(T, B, 1) bool: True where step t is inside sequence b."""
    if lengths is None:
        return None
    steps = torch.arange(T, device=lengths.device).unsqueeze(1)  # (T, 1)
    return (steps < lengths.unsqueeze(0)).unsqueeze(-1)


def reverse_time(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of ``x`` (T, B, F) within its own length; padding stays put.

    It is its own inverse, and differentiable (a gather)."""
    if lengths is None:
        return x.flip(0)
    T = x.shape[0]
    t = torch.arange(T, device=x.device).unsqueeze(1)  # (T, 1)
    idx = torch.where(t < lengths.unsqueeze(0), lengths.unsqueeze(0) - 1 - t, t)  # (T, B)
    return x.gather(0, idx.unsqueeze(-1).expand_as(x))


class DirectionalBackend(Backend):
    """A backend that runs one direction at a time with :meth:`run_direction`; the
    reverse direction runs forward over each sequence reversed within its length."""

    def run_direction(
        self,
        cell: CellMath,
        x: Tensor,  # (T, B, I), already in processing order
        h0: Tensor,  # (B, P)
        c0: Tensor | None,  # (B, H)
        w: DirWeights,
        mask: Tensor | None,  # (T, B, 1) bool
        record: list | None,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        raise NotImplementedError

    def run_layer(self, spec, cell, x, h0, c0, weights, lengths, training, record=None):
        mask = time_mask(lengths, x.shape[0])
        outs, hns, cns = [], [], []
        for d, w in enumerate(weights):
            rec = [] if record is not None else None
            xd = x if d == 0 else reverse_time(x, lengths)
            out, hn, cn = self.run_direction(
                cell, xd, h0[d], None if c0 is None else c0[d], w, mask, rec
            )
            outs.append(out if d == 0 else reverse_time(out, lengths))
            hns.append(hn)
            cns.append(cn)
            if record is not None:
                steps = rec[0] if rec else {}
                if d == 1:  # back to the input's time order
                    steps = {k: reverse_time(v, lengths) for k, v in steps.items()}
                record.append(steps)
        out = outs[0] if len(outs) == 1 else torch.cat(outs, -1)
        cn = None if c0 is None else torch.stack(cns)
        return out, torch.stack(hns), cn


def stack_records(steps: list[dict[str, Any]]) -> dict:
    """Turn a list of per-step dicts of (B, H) tensors into a dict of (T, B, H) tensors."""
    if not steps:
        return {}
    return {k: torch.stack([s[k] for s in steps]) for k in steps[0]}
