"""torch's recurrent layer kernels as ONNX's own operators under ``torch.onnx.export(dynamo=True)``.

The dynamo exporter captures torch's layer kernel (``aten.lstm``, ``aten.gru``,
``aten.rnn_tanh``, ``aten.rnn_relu``) and onnxscript translates it into ONNX's LSTM, GRU
or RNN operator. With a dynamic time axis (``dynamic_shapes``), torch's fake kernel gives
the layer's output the example's sequence length, so the exported graph declares that
length and the exporter's optimiser folds it into the output's Reshape: onnxruntime then
returns an output of the wrong shape, or refuses, for any other length (torch 2.13,
onnxscript 0.7; torch.nn.LSTM does not export with a dynamic time axis at all). Here the
layer writes the ONNX operator itself (``torch.onnx.ops.symbolic_multi_out``), with its
output shapes stated in the input's own, possibly symbolic, sizes: the same operator and
weights as onnxscript's translation and ``lstmkit export``, with batch and time dynamic.

What differs between torch and ONNX, and is converted here:

- gate order: torch stacks LSTM gates i, f, g, o and ONNX i, o, f, c; torch stacks GRU
  gates r, z, n and ONNX z, r, h (:func:`onnx_gate_order`);
- the GRU's reset gate multiplies ``W_hn h + b_hn`` in torch, which is ONNX's
  ``linear_before_reset=1``;
- biases: ONNX takes one (D, 2G) tensor, ``[b_ih, b_hh]`` per direction;
- output: ONNX's Y is (T, D, B, H); torch's is (T, B, D*H).

Shapes: T time, B batch, I input, H hidden, D directions, G = gates * H.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.backends.tools import onnx_exporting

#: for each mode: torch's gate blocks in ONNX's order
ONNX_GATE_ORDER = {"LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2), "RNN_TANH": (0,), "RNN_RELU": (0,)}
#: for each mode: the ONNX operator
ONNX_OP = {"LSTM": "LSTM", "GRU": "GRU", "RNN_TANH": "RNN", "RNN_RELU": "RNN"}


def onnx_gate_order(t: Tensor, mode: str) -> Tensor:
    """A weight (G, K) or bias (G,) with its gate blocks in ONNX's order."""
    order = ONNX_GATE_ORDER[mode]
    n = t.shape[0] // len(order)
    # slices, not chunk: ONNX's Split has several outputs, which the exporter's optimiser
    # does not fold into the weights
    return torch.cat([t[i * n:(i + 1) * n] for i in order], 0)


def onnx_attributes(mode: str, hidden_size: int, directions: int) -> dict:
    """The ONNX operator's attributes for a layer of torch's ``mode``."""
    attrs = {"hidden_size": hidden_size, "direction": "bidirectional" if directions == 2 else "forward"}
    if mode == "GRU":
        attrs["linear_before_reset"] = 1
    if mode.startswith("RNN"):
        attrs["activations"] = ["Tanh" if mode == "RNN_TANH" else "Relu"] * directions
    return attrs


def dynamo_onnx_export() -> bool:
    """Whether ``torch.onnx.export(dynamo=True)`` is capturing the program now."""
    return torch.compiler.is_exporting() and onnx_exporting()


def run_layer(mode: str, x: Tensor, h0: Tensor, c0: Tensor | None, flat: list[Tensor],
              bias: bool, bidirectional: bool, lengths: Tensor | None = None,
              ) -> tuple[Tensor, Tensor, Tensor | None]:
    """One layer (all directions) as one ONNX operator, called as torch's layer kernel is.

    Variable lengths go to the operator's ``sequence_lens``: onnxruntime then zeroes the
    outputs past each length, takes the final states at it and starts the reverse
    direction there, as torch does with a packed sequence.

    Args:
        mode: ``LSTM``, ``GRU``, ``RNN_TANH`` or ``RNN_RELU``.
        x: (T, B, I).
        h0: (D, B, H).
        c0: (D, B, H) for the LSTM, else None.
        flat: torch's flat weights, per direction ``w_ih, w_hh[, b_ih, b_hh]``.
        bias: whether ``flat`` holds the biases.
        bidirectional: two directions.
        lengths: (B,) integer lengths, or None.

    Returns:
        ``(y (T, B, D*H), h_n (D, B, H), c_n (D, B, H) or None)``.
    """
    D = 2 if bidirectional else 1
    per = 4 if bias else 2
    dirs = [flat[d * per:(d + 1) * per] for d in range(D)]
    W = torch.stack([onnx_gate_order(p[0], mode) for p in dirs])  # (D, G, I)
    R = torch.stack([onnx_gate_order(p[1], mode) for p in dirs])  # (D, G, H)
    Bias = None
    if bias:
        Bias = torch.stack([torch.cat([onnx_gate_order(p[2], mode), onnx_gate_order(p[3], mode)])
                            for p in dirs])  # (D, 2G)
    T, B, H = x.shape[0], x.shape[1], h0.shape[-1]
    lens = None if lengths is None else lengths.to(torch.int32)
    inputs = [x, W, R, Bias, lens, h0] + ([c0] if mode == "LSTM" else [])
    n_out = 3 if mode == "LSTM" else 2
    shapes = [(T, D, B, H)] + [(D, B, H)] * (n_out - 1)
    outs = torch.onnx.ops.symbolic_multi_out(
        "::" + ONNX_OP[mode], inputs, onnx_attributes(mode, H, D),
        dtypes=[x.dtype] * n_out, shapes=shapes)
    y = outs[0].squeeze(1) if D == 1 else outs[0].transpose(1, 2).reshape(T, B, D * H)  # (T, B, D*H)
    return y, outs[1], outs[2] if mode == "LSTM" else None
