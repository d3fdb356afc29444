"""The gate math of one time step, forward and hand-written backward, one module per family.

Every cell exposes the same small interface (see :class:`lstmkit.cells.base.CellMath`);
the time loop lives in the backends, so the cell is the only thing that changes
between LSTM, GRU and Elman RNN.
"""

from lstmkit.cells.base import CellMath
from lstmkit.cells.gru import GRUMath
from lstmkit.cells.lstm import LSTMMath
from lstmkit.cells.rnn import RNNMath


def cell_math(mode: str, **options) -> CellMath:
    """The cell math for a torch-style mode.

    Args:
        mode: ``LSTM``, ``GRU``, ``RNN_TANH`` or ``RNN_RELU``.
        **options: LSTM only: ``peephole``, ``coupled``, ``cell_clip``, ``layer_norm``
            (see :class:`LSTMMath`).

    Returns:
        A :class:`CellMath`.

    Raises:
        ValueError: an unknown mode.

    Example:
        >>> from lstmkit.cells import cell_math
        >>> cell = cell_math("LSTM", coupled=True)
        >>> cell.n_gates, cell.has_cell, cell.record_names
        (3, True, ('i', 'f', 'g', 'o', 'c', 'h'))
    """
    if mode == "LSTM":
        return LSTMMath(**options)
    if mode == "GRU":
        return GRUMath()
    if mode == "RNN_TANH":
        return RNNMath("tanh")
    if mode == "RNN_RELU":
        return RNNMath("relu")
    raise ValueError(f"unknown cell mode {mode!r}; expected LSTM, GRU, RNN_TANH or RNN_RELU")


__all__ = ["CellMath", "LSTMMath", "GRUMath", "RNNMath", "cell_math"]
