"""The recurrent layer of every task's network, by cell name.

:func:`make_rnn` is the one place that maps a cell name to lstmkit's layer, so every
task builds its layers through the same code (RNN, GRU, LSTM and the LSTM variants:
keyword options such as ``layer_norm=True`` or ``backend="fused"`` go straight to the
layer). Each task words a bad cell name or an unknown option in its own terms through
``unknown_cell`` and ``bad_options``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from lstmkit.errors import InputError
from lstmkit.layers import GRU, LSTM, RNN

CELLS = ("lstm", "gru", "rnn")
_LAYERS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}


def make_rnn(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    *,
    unknown_cell: str = "cell must be one of {cells}, got {cell!r}",
    bad_options: Callable[[TypeError], str] | None = None,
    **options,
) -> nn.Module:
    """The lstmkit ``LSTM`` / ``GRU`` / ``RNN`` layer for ``cell``, built as
    ``layer(input_size, hidden_size, num_layers, **options)``: ``options`` are torch.nn's
    keywords (``batch_first``, ``dropout``, ``bidirectional``...) and lstmkit's
    (``backend``, LSTM variants).

    ``unknown_cell``: the message of the InputError raised for a cell outside
    :data:`CELLS`, formatted with ``cell`` and ``cells`` (CELLS joined by ", ").
    ``bad_options``: None lets the layer's TypeError for a keyword it does not take
    through; else an InputError with the message ``bad_options(error)`` is raised instead.
    """
    if cell not in _LAYERS:
        raise InputError(unknown_cell.format(cell=cell, cells=", ".join(CELLS)))
    layer = _LAYERS[cell]
    if bad_options is None:
        return layer(input_size, hidden_size, num_layers, **options)
    try:
        return layer(input_size, hidden_size, num_layers, **options)
    except TypeError as exc:  # a keyword this layer does not take
        raise InputError(bad_options(exc)) from None


__all__ = ["CELLS", "make_rnn"]
