"""Recording the per-step activations of a layer: ``with lstmkit.record_states(m) as rec``.

While the context is open, every forward of ``m`` runs on the reference backend and
keeps, for the latest forward, ``rec.layers[k][d]``: a dict of (T, B, H) tensors for
layer k and direction d, in the input's time order (keys ``i f g o c h`` for an LSTM,
``r z n h`` for a GRU, ``h`` for an RNN; with ``proj_size``, ``h`` is the projected
state). With ``lengths=``, positions past a sequence's length are no steps of that
sequence: the layer computes one there and discards it (its output is zero and its state
carries over), and the recorded values at those positions are that discarded step;
``rec.valid`` (T, B) marks the real positions.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

_ACTIVE: list[StateRecorder] = []


class StateRecorder:
    def __init__(self, module: nn.Module):
        self.module = module
        self.layers: list[list[dict]] = []
        self.lengths = None

    def begin(self, lengths) -> None:
        self.layers = []
        self.lengths = lengths

    @property
    def valid(self) -> torch.Tensor | None:
        """(T, B) bool: True where position t is a step of sequence b (all True without
        ``lengths``); None before the first recorded forward."""
        if not self.layers:
            return None
        T, B = next(iter(self.layers[0][0].values())).shape[:2]
        if self.lengths is None:
            return torch.ones(T, B, dtype=torch.bool)
        lengths = self.lengths.to("cpu")
        return torch.arange(T).unsqueeze(1) < lengths.unsqueeze(0)


def active_recorder(module: nn.Module) -> StateRecorder | None:
    for rec in reversed(_ACTIVE):
        if rec.module is module:
            return rec
    return None


@contextmanager
def record_states(module: nn.Module):
    """Record the gates and states of ``module`` (an lstmkit LSTM, GRU or RNN) during
    the forwards run inside the context. Yields a :class:`StateRecorder`.

    Example::

        >>> with lstmkit.record_states(lstm) as rec:
        ...     lstm(x)
        >>> rec.layers[0][0]["f"].shape      # forget gate, (T, B, H)
    """
    rec = StateRecorder(module)
    _ACTIVE.append(rec)
    try:
        yield rec
    finally:
        _ACTIVE.remove(rec)
