"""Plain LSTM/GRU/RNN layers as ONNX's own LSTM, GRU and RNN operators.

One operator per layer runs both directions (``direction="bidirectional"``), with the
weights converted as :mod:`lstmkit.backends.onnx_ops` converts them for torch's own
exporter (gate order, the GRU's ``linear_before_reset=1``, one bias tensor, the output's
layout). Variable lengths go to the operator's ``sequence_lens`` (int32): onnxruntime then
zeroes the outputs past each length, takes the final states at it and starts the reverse
direction there, as torch does with ``lengths=`` or a packed sequence.

Shapes: T time, B batch, I input, H hidden, D directions, G = gates * H.
"""

from __future__ import annotations

import torch

from lstmkit.backends.onnx_ops import ONNX_OP, onnx_attributes, onnx_gate_order
from lstmkit.export.graph import GraphBuilder


def _reorder(t: torch.Tensor, mode: str) -> torch.Tensor:
    return onnx_gate_order(t.detach().float(), mode)


def emit_native(
    b: GraphBuilder,
    mode: str,
    params: list[dict],
    hidden_size: int,
    x: str,  # (T, B, I)
    h0: str | None,  # (D, B, H)
    c0: str | None,  # (D, B, H)
    lens32: str | None,  # (B,) int32
    hint: str,
) -> tuple[str, str, str | None]:
    """One layer (all directions) as one ONNX LSTM, GRU or RNN operator.

    Args:
        b: the graph being built.
        mode: ``LSTM``, ``GRU``, ``RNN_TANH`` or ``RNN_RELU``.
        params: each direction's torch-named tensors.
        hidden_size: H.
        x: the name of x (T, B, I).
        h0: the name of h_0 (D, B, H), or None.
        c0: the name of c_0 (D, B, H), or None.
        lens32: the name of the (B,) int32 lengths, or None.
        hint: a prefix for the node names.

    Returns:
        The names ``(y (T, B, D*H), h_n (D, B, H), c_n (D, B, H) or None)``.
    """
    D = len(params)
    W = torch.stack([_reorder(p["weight_ih"], mode) for p in params])  # (D, G, I)
    R = torch.stack([_reorder(p["weight_hh"], mode) for p in params])  # (D, G, H)
    B = None
    if params[0].get("bias_ih") is not None:
        B = torch.stack([torch.cat([_reorder(p["bias_ih"], mode), _reorder(p["bias_hh"], mode)])
                         for p in params])  # (D, 2G)
    attrs = onnx_attributes(mode, hidden_size, D)
    inputs = [x, b.init(W, hint + "_W"), b.init(R, hint + "_R"),
              None if B is None else b.init(B, hint + "_B"), lens32, h0]
    if mode == "LSTM":
        inputs.append(c0)
        y, hn, cn = b.op("LSTM", inputs, n_out=3, **attrs)
    else:
        (y, hn), cn = b.op(ONNX_OP[mode], inputs, n_out=2, **attrs), None
    if D == 1:
        y = b.op("Squeeze", [y, b.ints(1)])  # (T, B, H)
    else:
        y = b.op("Transpose", [y], perm=[0, 2, 1, 3])  # (T, B, D, H)
        y = b.op("Reshape", [y, b.ints(0, 0, -1)])  # (T, B, D*H)
    return y, hn, cn
