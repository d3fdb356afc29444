"""The network every experiment trains: one lstmkit recurrent layer and a linear read-out.

:func:`recurrent_layer` builds the layer through :func:`lstmkit.spine.nets.make_rnn`, the
single place that maps a cell name to a layer, so the comparison runs the same code for
RNN, GRU, LSTM and the LSTM variants (keyword options such as ``layer_norm=True`` go
straight to the layer).

Shape legend: T time, B batch, I input, H hidden, K read-out steps, O outputs.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lstmkit.errors import InputError
from lstmkit.spine.nets import XLSTM_CELLS, make_rnn

CELLS = ("rnn", "gru", "lstm", *XLSTM_CELLS)  # the cells of lstmkit.spine.nets, simplest first
#: the cells whose gate biases :func:`init_gates` sets; the xLSTM cells keep their own
#: initialisation (docs/xlstm.md) whatever ``init`` says
GATED = ("gru", "lstm")


def recurrent_layer(cell: str, input_size: int, hidden_size: int, **options) -> nn.Module:
    """The recurrent layer of a cell name, time-major.

    Args:
        cell: ``"rnn"``, ``"gru"``, ``"lstm"`` (``lstmkit.RNN`` / ``GRU`` / ``LSTM``) or
            an xLSTM cell (``"slstm"``, ``"mlstm"``, ``"xlstm"``).
        input_size: I.
        hidden_size: H.
        **options: the layer's keywords (variants, ``num_layers``, ``backend``...).

    Returns:
        The layer.

    Raises:
        InputError: a cell or an option this build does not know.
    """
    return make_rnn(
        cell, input_size, hidden_size, cells=CELLS,
        unknown_cell="unknown cell {cell!r}; expected one of " + ", ".join(CELLS),
        bad_options=lambda exc: f"cell {cell!r} does not accept the options {options}: {exc}",
        **options,
    )


def _gate_rows(layer: nn.Module) -> tuple[slice | None, slice]:
    """(input-gate rows or None, keep-gate rows) of the stacked biases: torch.nn's order is
    i, f, g, o for an LSTM (keep = forget gate) and r, z, n for a GRU (keep = update gate z,
    as h_t = (1 - z) n + z h_{t-1}); an Elman RNN has no gates."""
    H = layer.hidden_size
    if layer.mode == "LSTM":
        return slice(0, H), slice(H, 2 * H)
    if layer.mode == "GRU":
        return None, slice(H, 2 * H)
    raise InputError(f"a {layer.mode} layer has no gates to initialise")


def init_gates(layer: nn.Module, scheme: str, max_lag: int = 100, forget_bias: float = 1.0) -> None:
    """Initialise the gate biases of an LSTM or GRU layer (a no-op on an Elman RNN).

    ``"forget_bias"``: the LSTM forget-gate (GRU update-gate) bias is ``forget_bias``
    (Gers et al. 2000 recommend 1.0). ``"chrono"``: that bias is log(U(1, max_lag - 1))
    per unit and, for an LSTM, the input-gate bias its negative (Tallec & Ollivier 2018):
    each unit starts with a memory time scale somewhere up to the task's lag instead of
    forgetting within a few steps, so the gradient reaches the marked inputs at all.
    ``"torch"``: leave torch.nn's uniform initialisation.

    The value goes into ``bias_hh`` and the matching ``bias_ih`` rows are zeroed, since
    the two are added.

    Args:
        layer: an lstmkit LSTM, GRU or RNN layer (changed in place).
        scheme: ``"chrono"``, ``"forget_bias"`` or ``"torch"``.
        max_lag: the task's longest lag, for ``"chrono"`` (default 100).
        forget_bias: the bias for ``"forget_bias"`` (default 1.0).

    Raises:
        InputError: an unknown scheme.
    """
    if scheme not in GATE_INITS:
        raise InputError(f"unknown gate init {scheme!r}; expected one of {', '.join(GATE_INITS)}")
    if scheme == "torch" or layer.mode.startswith("RNN"):
        return
    in_rows, keep_rows = _gate_rows(layer)
    H = layer.hidden_size
    with torch.no_grad():
        for name, p in layer.named_parameters():
            if not name.startswith(("bias_hh", "bias_ih")):
                continue
            if name.startswith("bias_ih"):
                p[keep_rows].zero_()
                if in_rows is not None and scheme == "chrono":
                    p[in_rows].zero_()
                continue
            if scheme == "forget_bias":
                p[keep_rows].fill_(forget_bias)
                continue
            keep = torch.empty(H, device=p.device).uniform_(1.0, max(2.0, max_lag - 1.0)).log()
            p[keep_rows].copy_(keep)
            if in_rows is not None:
                p[in_rows].copy_(-keep)


GATE_INITS = ("chrono", "forget_bias", "torch")


class SequenceModel(nn.Module):
    """A recurrent layer and a linear head on its last ``readout_steps`` outputs, or, with
    ``query_channel``, on the output at the step where that input channel is largest (the
    query token of a formal-language task, each sequence at its own length).

    ``forward(x)`` takes (T, B, I) and returns (B, O) when one step is read out, else
    (B, K, O).

    Args:
        cell: the cell's name (:func:`recurrent_layer`).
        input_size: I.
        hidden_size: H.
        output_size: O.
        readout_steps: K, the last steps read out (default 1).
        query_channel: the input channel marking each sequence's read-out step (None:
            read the last steps).
        **options: the layer's keywords.

    Example:
        >>> import torch
        >>> m = SequenceModel("lstm", input_size=2, hidden_size=8, output_size=1)
        >>> m(torch.randn(30, 4, 2)).shape
        torch.Size([4, 1])
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        output_size: int,
        readout_steps: int = 1,
        query_channel: int | None = None,
        **options,
    ) -> None:
        super().__init__()
        self.cell = cell
        self.readout_steps = readout_steps
        self.query_channel = query_channel
        self.rnn = recurrent_layer(cell, input_size, hidden_size, **options)
        width = hidden_size * (2 if getattr(self.rnn, "bidirectional", False) else 1)
        self.head = nn.Linear(width, output_size)

    def forward(self, x: Tensor) -> Tensor:
        """x (T, B, I) -> (B, O) when one step is read out, else (B, K, O)."""
        out, _ = self.rnn(x)  # (T, B, H)
        if self.query_channel is not None:  # each sequence's own query step
            at = x[..., self.query_channel].argmax(0)  # (B,)
            return self.head(out[at, torch.arange(x.shape[1], device=x.device)])  # (B, O)
        if self.readout_steps == 1:
            return self.head(out[-1])  # (B, O)
        return self.head(out[-self.readout_steps :]).transpose(0, 1)  # (B, K, O)


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
