"""The recurrent layer of every task's network, by cell name.

:func:`make_rnn` is the one place that maps a cell name to lstmkit's layer, so every
task builds its layers through the same code (RNN, GRU, LSTM and the LSTM variants:
keyword options such as ``layer_norm=True`` or ``backend="fused"`` go straight to the
layer). Each task words a bad cell name or an unknown option in its own terms through
``unknown_cell`` and ``bad_options``.

The xLSTM cells (:data:`XLSTM_CELLS`: ``"slstm"``, ``"mlstm"``, ``"xlstm"``) are built only
where a caller names them in ``cells=``; by default ``make_rnn`` takes :data:`CELLS` alone.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from lstmkit.errors import InputError
from lstmkit.layers import GRU, LSTM, RNN

CELLS = ("lstm", "gru", "rnn")
XLSTM_CELLS = ("slstm", "mlstm", "xlstm")


class xLSTMStackLayer(nn.Module):
    """The ``"xlstm"`` cell: a linear map of the input to ``hidden_size`` and an
    :class:`lstmkit.xlstm.xLSTMStack` of ``num_layers`` blocks (default 2) with an sLSTM
    block at the positions ``slstm_at`` (default block 0) and mLSTM blocks elsewhere,
    ``num_heads`` heads in both (default 4; it must divide ``hidden_size``).

    ``forward(x)`` takes (T, B, I) ((B, T, I) with ``batch_first``) and returns
    ``(out, None)``, ``out`` (T, B, H) ((B, T, H)): the stack takes no initial state.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 2, *,
                 batch_first: bool = False, slstm_at=(0,), num_heads: int = 4) -> None:
        super().__init__()
        from lstmkit.xlstm import xLSTMConfig, xLSTMStack

        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first = bool(batch_first)
        self.embed = nn.Linear(input_size, hidden_size)
        at = slstm_at if isinstance(slstm_at, str) else list(slstm_at)
        self.stack = xLSTMStack(xLSTMConfig(
            embedding_dim=hidden_size, num_blocks=num_layers, slstm_at=at,
            mlstm_num_heads=num_heads, slstm_num_heads=num_heads))

    def forward(self, x: Tensor, state=None) -> tuple[Tensor, None]:
        if state is not None:
            raise InputError("the xlstm cell takes no initial state; expected None")
        y = self.stack(self.embed(x if self.batch_first else x.transpose(0, 1)))
        return (y if self.batch_first else y.transpose(0, 1)), None


def _layer(cell: str):
    if cell in CELLS:
        return {"lstm": LSTM, "gru": GRU, "rnn": RNN}[cell]
    import lstmkit.xlstm as xl

    return {"slstm": xl.sLSTM, "mlstm": xl.mLSTM, "xlstm": xLSTMStackLayer}[cell]


def make_rnn(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int | None = None,
    *,
    unknown_cell: str = "cell must be one of {cells}, got {cell!r}",
    bad_options: Callable[[TypeError], str] | None = None,
    cells: tuple[str, ...] = CELLS,
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
    ``cells``: the names this caller accepts, from :data:`CELLS` and :data:`XLSTM_CELLS`
    (``lstmkit.sLSTM``, ``lstmkit.mLSTM``, :class:`xLSTMStackLayer`; the ``"xlstm"`` cell
    reads ``num_layers`` as its number of blocks, default 2; the others default to 1).
    """
    if cell not in cells or cell not in CELLS + XLSTM_CELLS:
        raise InputError(unknown_cell.format(cell=cell, cells=", ".join(cells)))
    if num_layers is None:
        num_layers = 2 if cell == "xlstm" else 1
    layer = _layer(cell)
    if bad_options is None:
        return layer(input_size, hidden_size, num_layers, **options)
    try:
        return layer(input_size, hidden_size, num_layers, **options)
    except TypeError as exc:  # a keyword this layer does not take
        raise InputError(bad_options(exc)) from None


__all__ = ["CELLS", "XLSTM_CELLS", "make_rnn", "xLSTMStackLayer"]
