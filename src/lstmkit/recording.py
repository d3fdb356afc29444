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
    """What :func:`record_states` yields: the activations of the latest forward.

    Attributes:
        module: the recorded layer.
        layers: ``layers[k][d]`` is a dict of (T, B, H) tensors for layer k and
            direction d (keys from the cell: ``i f g o c h``, ``r z n h`` or ``h``).
        lengths: the forward's ``lengths`` (B,), or None.
    """

    def __init__(self, module: nn.Module):
        self.module = module
        self.layers: list[list[dict]] = []
        self.lengths = None

    def begin(self, lengths) -> None:
        """Start a new forward (called by the layer): forget the previous record."""
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
    """The innermost open recorder of ``module``, or None (called by the layers)."""
    for rec in reversed(_ACTIVE):
        if rec.module is module:
            return rec
    return None


@contextmanager
def record_states(module: nn.Module):
    """Record the gates and states of ``module`` during the forwards run inside the context.

    The forwards run on the reference backend while the context is open.

    Args:
        module: an lstmkit LSTM, GRU or RNN.

    Yields:
        A :class:`StateRecorder` holding the latest forward's activations.

    Example:
        >>> import torch, lstmkit
        >>> lstm = lstmkit.LSTM(4, 8, num_layers=2)
        >>> with lstmkit.record_states(lstm) as rec:
        ...     _ = lstm(torch.randn(6, 3, 4))
        >>> rec.layers[1][0]["f"].shape      # layer 1's forget gate, (T, B, H)
        torch.Size([6, 3, 8])
        >>> sorted(rec.layers[0][0])
        ['c', 'f', 'g', 'h', 'i', 'o']
    """
    rec = StateRecorder(module)
    _ACTIVE.append(rec)
    try:
        yield rec
    finally:
        _ACTIVE.remove(rec)
