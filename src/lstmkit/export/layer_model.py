"""A whole ONNX model for one lstmkit layer or cell, with torch's inputs and outputs.

Graph inputs (dynamic axes ``batch`` and ``time``):

- layer: ``input`` (time, batch, I) or (batch, time, I) with ``batch_first``; with
  ``lengths=True`` also ``lengths`` (batch,) int64; with ``initial_states=True`` also
  ``h_0`` (L*D, batch, P) and, for an LSTM, ``c_0`` (L*D, batch, H);
- cell: ``input`` (batch, I), and ``h_0`` (batch, H) / ``c_0`` with ``initial_states``.

Graph outputs: ``output``, ``h_n`` and, for an LSTM, ``c_n`` (a cell: ``h_1``, ``c_1``),
shaped exactly as torch's. Exported with ``initial_states=True``, a graph can be run one
chunk (or one step) at a time with the states fed back: streaming in onnxruntime.
"""

from __future__ import annotations

import json

from torch import nn

from lstmkit.export.graph import FLOAT, INT64, GraphBuilder, make_model, value_info
from lstmkit.export.layer import _is_cell, emit_recurrent, recurrent_kind


def layer_metadata(module: nn.Module, kind: str) -> dict[str, str]:
    """The ONNX metadata of an exported layer.

    Args:
        module: the exported layer or cell.
        kind: ``"native"`` or ``"loop"`` (:func:`~lstmkit.export.layer.recurrent_kind`).

    Returns:
        ``lstmkit.version``, ``lstmkit.module`` (its repr) and ``lstmkit.recurrent``.
    """
    import lstmkit

    return {"lstmkit.version": lstmkit.__version__, "lstmkit.module": repr(module),
            "lstmkit.recurrent": kind}


def layer_model(module: nn.Module, *, lengths: bool = False, initial_states: bool = False,
                recurrent: str = "auto"):
    """The ONNX ModelProto of ``module`` (an lstmkit LSTM/GRU/RNN or cell), in eval mode.

    Args:
        module: the layer or cell; variants are written as Scan loops.
        lengths: keyword-only; add a ``lengths`` (batch,) int64 input (layers only).
        initial_states: keyword-only; add ``h_0`` (and ``c_0``) inputs.
        recurrent: keyword-only; ``"auto"``, ``"native"`` (ONNX's LSTM/GRU/RNN operator)
            or ``"loop"`` (a Scan).

    Returns:
        An ``onnx.ModelProto`` with dynamic ``batch`` and ``time`` axes (inputs and
        outputs as in this module's docstring).

    Raises:
        ValueError: ``lengths`` for a cell, an unknown ``recurrent``, or ``"native"``
            for a variant ONNX's operator lacks.

    Example:
        >>> import os, tempfile, numpy as np, onnx, onnxruntime, torch, lstmkit
        >>> from lstmkit.export.layer_model import layer_model
        >>> lstm = lstmkit.LSTM(4, 8, layer_norm=True).eval()
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = os.path.join(d, "lstm.onnx")
        ...     onnx.save(layer_model(lstm, lengths=True), path)
        ...     sess = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        ...     x, n = torch.randn(6, 2, 4), torch.tensor([6, 3])
        ...     y, h, c = sess.run(None, {"input": x.numpy(), "lengths": n.numpy()})
        >>> ref, _ = lstm(x, lengths=n)
        >>> bool(np.allclose(y, ref.detach().numpy(), atol=1e-5))
        True
    """
    kind = recurrent_kind(module, recurrent)
    b = GraphBuilder()
    mode, H, I = module.mode, module.hidden_size, module.input_size
    has_c = mode == "LSTM"
    cell = _is_cell(module)
    if cell and lengths:
        raise ValueError("a cell takes one time step; lengths= applies to layers only")
    inputs, names = [], {}
    if cell:
        inputs.append(value_info("input", FLOAT, ["batch", I]))
        state_shape = {"h": ["batch", H], "c": ["batch", H]}
    else:
        D = 2 if module.bidirectional else 1
        LD, P = module.num_layers * D, module.proj_size or H
        inputs.append(value_info("input", FLOAT, ["batch", "time", I] if module.batch_first
                                 else ["time", "batch", I]))
        state_shape = {"h": [LD, "batch", P], "c": [LD, "batch", H]}
        if lengths:
            inputs.append(value_info("lengths", INT64, ["batch"]))
            names["lengths"] = "lengths"
    if initial_states:
        inputs.append(value_info("h_0", FLOAT, state_shape["h"]))
        names["h0"] = "h_0"
        if has_c:
            inputs.append(value_info("c_0", FLOAT, state_shape["c"]))
            names["c0"] = "c_0"
    y, hn, cn = emit_recurrent(b, module, "input", names.get("h0"), names.get("c0"),
                               names.get("lengths"), recurrent=kind, hint="rnn")
    if cell:
        results = [("h_1", hn, state_shape["h"])]
        if has_c:
            results.append(("c_1", cn, state_shape["c"]))
    else:
        out_shape = ["batch", "time", None] if module.batch_first else ["time", "batch", None]
        results = [("output", y, out_shape), ("h_n", hn, state_shape["h"])]
        if has_c:
            results.append(("c_n", cn, state_shape["c"]))
    outputs = []
    for name, value, shape in results:
        b.nodes.append(_identity(value, name))
        outputs.append(value_info(name, FLOAT, shape))
    meta = layer_metadata(module, kind)
    meta["lstmkit.signature"] = json.dumps({"inputs": [i.name for i in inputs],
                                            "outputs": [o.name for o in outputs]})
    return make_model(b, inputs, outputs, name=type(module).__name__, metadata=meta)


def _identity(src: str, dst: str):
    from onnx import helper

    return helper.make_node("Identity", [src], [dst], name=f"{dst}_out")
