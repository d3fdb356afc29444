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
"""The cells every task takes: lstmkit's LSTM, GRU and Elman RNN layers."""
XLSTM_CELLS = ("slstm", "mlstm", "xlstm")
"""The xLSTM cells (``lstmkit.sLSTM``, ``lstmkit.mLSTM``, :class:`xLSTMStackLayer`), built
where a caller names them in ``make_rnn(..., cells=...)``."""


class xLSTMStackLayer(nn.Module):
    """The ``"xlstm"`` cell: a linear map of the input to ``hidden_size`` and an
    :class:`lstmkit.xlstm.xLSTMStack` of ``num_layers`` blocks, with torch.nn's layout.

    Args:
        input_size: I, the input's width.
        hidden_size: H, the stack's width (``num_heads`` must divide it).
        num_layers: the number of blocks (default 2).
        batch_first: input and output (B, T, ...) instead of (T, B, ...).
        dropout: the blocks' dropout (``xLSTMConfig.dropout``).
        slstm_at: the positions of the sLSTM blocks (default block 0; ``"all"``), mLSTM
            blocks elsewhere.
        num_heads: heads of both kinds of block (default 4).
        **config: any other field of :class:`lstmkit.xlstm.xLSTMConfig`
            (``mlstm_form="chunkwise"``, ``ffn_proj_factor``...); an unknown one raises
            TypeError.

    Raises:
        InputError: a bad configuration (``num_heads`` not dividing H, a position
            outside the stack...).

    ``forward(x, state=None, lengths=None) -> (out, state)``: ``x`` (T, B, I) ((B, T, I)
    with ``batch_first``), ``out`` (T, B, H) ((B, T, H)); ``state`` the stack's, one tuple
    per block (:class:`lstmkit.xlstm.xLSTMStack`), None for zeros; ``lengths`` (B,):
    outputs past a length are zero and the final state is taken at each length.

    Example:
        >>> import torch
        >>> layer = xLSTMStackLayer(3, 16, 2, batch_first=True)
        >>> out, state = layer(torch.randn(2, 7, 3))
        >>> out.shape, len(state)
        (torch.Size([2, 7, 16]), 2)
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 2, *,
                 batch_first: bool = False, dropout: float = 0.0, slstm_at=(0,),
                 num_heads: int = 4, **config) -> None:
        super().__init__()
        from lstmkit.xlstm import xLSTMConfig, xLSTMStack

        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first = bool(batch_first)
        self.embed = nn.Linear(input_size, hidden_size)
        at = slstm_at if isinstance(slstm_at, str) else list(slstm_at)
        self.stack = xLSTMStack(xLSTMConfig(
            embedding_dim=hidden_size, num_blocks=num_layers, slstm_at=at, dropout=dropout,
            mlstm_num_heads=num_heads, slstm_num_heads=num_heads, **config))

    def forward(self, x: Tensor, state=None, lengths=None) -> tuple[Tensor, tuple]:
        """Run the stack (class docstring): returns ``(out, state)``."""
        y, state = self.stack(self.embed(x if self.batch_first else x.transpose(0, 1)), state,
                              lengths)
        return (y if self.batch_first else y.transpose(0, 1)), state


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
    """The lstmkit recurrent layer for ``cell``, built as
    ``layer(input_size, hidden_size, num_layers, **options)``.

    Args:
        cell: ``"lstm"``, ``"gru"``, ``"rnn"`` (:data:`CELLS`) or, where ``cells`` has
            them, ``"slstm"``, ``"mlstm"``, ``"xlstm"`` (:data:`XLSTM_CELLS`:
            ``lstmkit.sLSTM``, ``lstmkit.mLSTM``, :class:`xLSTMStackLayer`).
        input_size: I.
        hidden_size: H.
        num_layers: layers (blocks for ``"xlstm"``); None: 2 for ``"xlstm"``, else 1.
        unknown_cell: the message of the InputError raised for a cell outside ``cells``,
            formatted with ``cell`` and ``cells`` (joined by ", ").
        bad_options: None lets the layer's TypeError (a keyword it does not take) or
            ValueError (a value it refuses) through; else an InputError with the message
            ``bad_options(error)`` is raised instead.
        cells: the names this caller accepts (default :data:`CELLS`).
        **options: torch.nn's keywords (``batch_first``, ``dropout``,
            ``bidirectional``...) and lstmkit's (``backend``, LSTM variants, the xLSTM
            layers' ``num_heads``...).

    Returns:
        the layer, an ``nn.Module`` called as ``layer(x, state=None) -> (out, state)``.

    Raises:
        InputError: an unknown cell, or (with ``bad_options``) an option the layer does
            not take or a value it refuses.

    Example:
        >>> make_rnn("lstm", 8, 16, batch_first=True).hidden_size
        16
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
    except (TypeError, ValueError) as exc:  # a keyword this layer does not take, or a bad value
        raise InputError(bad_options(exc)) from None


__all__ = ["CELLS", "XLSTM_CELLS", "make_rnn", "xLSTMStackLayer"]
