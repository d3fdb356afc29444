"""Recording the per-step activations of a layer: ``with lstmkit.record_states(m) as rec``.

While the context is open, every forward of ``m`` runs on the reference backend and
keeps, for the latest forward, ``rec.layers[k][d]``: a dict of (T, B, H) tensors for
layer k and direction d, in the input's time order (keys ``i f g o c h`` for an LSTM,
``r z n h`` for a GRU, ``h`` for an RNN; with ``proj_size``, ``h`` is the projected
state). Positions past a sequence's length (``lengths=``) hold the state carried over.
"""

from __future__ import annotations

from contextlib import contextmanager

from torch import nn

_ACTIVE: list["StateRecorder"] = []


class StateRecorder:
    def __init__(self, module: nn.Module):
        self.module = module
        self.layers: list[list[dict]] = []
        self.lengths = None

    def begin(self, lengths) -> None:
        self.layers = []
        self.lengths = lengths


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
