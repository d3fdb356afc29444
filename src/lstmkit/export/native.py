"""Plain LSTM/GRU/RNN layers as ONNX's own LSTM, GRU and RNN operators.

One operator per layer runs both directions (``direction="bidirectional"``). What differs
from torch.nn and is converted here:

- gate order: torch stacks LSTM gates i, f, g, o and ONNX i, o, f, c; torch stacks GRU
  gates r, z, n and ONNX z, r, h;
- the GRU's reset gate multiplies ``W_hn h + b_hn`` in torch, which is ONNX's
  ``linear_before_reset=1``;
- biases: ONNX takes one (D, 2G) tensor, ``[b_ih, b_hh]`` per direction;
- output: ONNX's Y is (T, D, B, H); torch's is (T, B, D*H);
- variable lengths go to the operator's ``sequence_lens`` (int32): onnxruntime then zeroes
  the outputs past each length, takes the final states at it and starts the reverse
  direction there, as torch does with ``lengths=`` or a packed sequence.

Shapes: T time, B batch, I input, H hidden, D directions, G = gates * H.
"""

from __future__ import annotations

import torch

from lstmkit.export.graph import GraphBuilder

# for each mode: torch's gate blocks in ONNX's order
_ONNX_ORDER = {"LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2), "RNN_TANH": (0,), "RNN_RELU": (0,)}
_OP = {"LSTM": "LSTM", "GRU": "GRU", "RNN_TANH": "RNN", "RNN_RELU": "RNN"}


def _reorder(t: torch.Tensor, mode: str) -> torch.Tensor:
    order = _ONNX_ORDER[mode]
    blocks = t.detach().float().chunk(len(order), 0)
    return torch.cat([blocks[i] for i in order], 0)


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
    attrs = {"hidden_size": hidden_size, "direction": "bidirectional" if D == 2 else "forward"}
    if mode == "GRU":
        attrs["linear_before_reset"] = 1
    if mode.startswith("RNN"):
        attrs["activations"] = ["Tanh" if mode == "RNN_TANH" else "Relu"] * D
    inputs = [x, b.init(W, hint + "_W"), b.init(R, hint + "_R"),
              None if B is None else b.init(B, hint + "_B"), lens32, h0]
    if mode == "LSTM":
        inputs.append(c0)
        y, hn, cn = b.op("LSTM", inputs, n_out=3, **attrs)
    else:
        (y, hn), cn = b.op(_OP[mode], inputs, n_out=2, **attrs), None
    if D == 1:
        y = b.op("Squeeze", [y, b.ints(1)])  # (T, B, H)
    else:
        y = b.op("Transpose", [y], perm=[0, 2, 1, 3])  # (T, B, D, H)
        y = b.op("Reshape", [y, b.ints(0, 0, -1)])  # (T, B, D*H)
    return y, hn, cn
