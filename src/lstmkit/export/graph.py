"""A small ONNX graph builder: unique names, nodes, initializers, typed graph inputs.

The recurrent layers are written straight as ONNX nodes (``onnx.helper``), not through
torch's exporter, so every shape stays dynamic and the gate orders are under our control.
A :class:`GraphBuilder` collects nodes and initializers; :meth:`GraphBuilder.child` gives
the builder of a loop body, which shares the parent's names and initializers (a body may
read any value of the enclosing graph, ONNX's outer scope), but has its own nodes.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from onnx import GraphProto, TensorProto, helper, numpy_helper

#: the ONNX opset the exporter writes (17: the first with LayerNormalization)
OPSET = 17

FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64
BOOL = TensorProto.BOOL
INT32 = TensorProto.INT32


class GraphBuilder:
    """Nodes and initializers of one ONNX graph (or, from :meth:`child`, a loop body).

    Args:
        prefix: prepended to every name this builder makes (default none).
    """

    def __init__(self, prefix: str = "", *, _counter=None, _inits=None, _consts=None) -> None:
        self.prefix = prefix
        self.nodes: list = []
        self.initializers: list = [] if _inits is None else _inits
        self._counter = itertools.count() if _counter is None else _counter
        # constants by value, so a graph with many layers stores each shape vector once
        self._consts: dict = {} if _consts is None else _consts

    def child(self) -> GraphBuilder:
        """A builder for a subgraph (a Scan body) sharing names and initializers."""
        return GraphBuilder(self.prefix, _counter=self._counter, _inits=self.initializers,
                            _consts=self._consts)

    def name(self, hint: str) -> str:
        """A name no other value of this model has."""
        return f"{self.prefix}{hint}_{next(self._counter)}"

    def op(self, op_type: str, inputs: list, n_out: int = 1, **attrs):
        """Add a node; returns its output name, or a list of ``n_out`` names.
        An input of ``None`` is an omitted optional input (the empty name)."""
        outs = [self.name(op_type.lower()) for _ in range(n_out)]
        ins = ["" if i is None else i for i in inputs]
        while ins and ins[-1] == "":  # trailing omitted inputs are simply left out
            ins.pop()
        self.nodes.append(helper.make_node(op_type, ins, outs, name=self.name(op_type), **attrs))
        return outs[0] if n_out == 1 else outs

    def init(self, array, hint: str) -> str:
        """A new initializer holding ``array`` (a tensor or ndarray); float tensors are
        stored as float32."""
        if isinstance(array, torch.Tensor):
            array = array.detach().cpu()
            if array.is_floating_point():
                array = array.float()
            array = array.numpy()
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C"), name))  # keeps rank 0
        return name

    def ints(self, *values: int) -> str:
        """A constant int64 vector (shared by every node that needs the same one)."""
        key = ("i64", values)
        if key not in self._consts:
            self._consts[key] = self.init(np.array(values, dtype=np.int64), "ints")
        return self._consts[key]

    def iscalar(self, value: int) -> str:
        """A constant int64 scalar (rank 0, shared): a Gather index, a Range bound."""
        key = ("i64s", int(value))
        if key not in self._consts:
            self._consts[key] = self.init(np.array(value, dtype=np.int64), "iscalar")
        return self._consts[key]

    def scalar(self, value: float) -> str:
        """A constant float32 scalar (shared)."""
        key = ("f32", float(value))
        if key not in self._consts:
            self._consts[key] = self.init(np.array(value, dtype=np.float32), "scalar")
        return self._consts[key]

    # ---- a few composite helpers --------------------------------------------------------
    def linear(self, x: str, weight: torch.Tensor, bias: torch.Tensor | None, hint: str) -> str:
        """x @ W^T (+ b) for x of any rank (..., in): MatMul with the stored transpose."""
        y = self.op("MatMul", [x, self.init(weight.t(), hint + "_wT")])
        return y if bias is None else self.op("Add", [y, self.init(bias, hint + "_b")])

    def layer_norm(self, x: str, gain: torch.Tensor, bias: torch.Tensor, eps: float, hint: str) -> str:
        """LayerNormalization over the last axis with its gain and bias."""
        return self.op("LayerNormalization", [x, self.init(gain, hint + "_g"), self.init(bias, hint + "_b")],
                       axis=-1, epsilon=eps)

    def split(self, x: str, sizes: list[int], axis: int = -1) -> list[str]:
        """Split ``x`` along ``axis`` into pieces of ``sizes``."""
        return self.op("Split", [x, self.ints(*sizes)], n_out=len(sizes), axis=axis)

    def graph(self, name: str, inputs: list, outputs: list) -> GraphProto:
        """The nodes so far as a graph (a body: its initializers stay with the root)."""
        return helper.make_graph(self.nodes, name, inputs, outputs)


def value_info(name: str, elem_type: int, shape: list | None):
    """A typed graph input or output.

    Args:
        name: its name.
        elem_type: an ``onnx.TensorProto`` element type (``FLOAT``, ``INT64``...).
        shape: its dimensions, ints or names of dynamic axes (None: unknown rank).

    Returns:
        An ``onnx.ValueInfoProto``.
    """
    return helper.make_tensor_value_info(name, elem_type, shape)


def make_model(builder: GraphBuilder, inputs: list, outputs: list, *, name: str = "lstmkit",
               metadata: dict[str, str] | None = None, opset: int = OPSET):
    """A ModelProto from a root builder, checked by ``onnx.checker``.

    Args:
        builder: the root :class:`GraphBuilder`.
        inputs: the graph's inputs (:func:`value_info`).
        outputs: its outputs.
        name: the graph's name (default ``"lstmkit"``).
        metadata: ONNX metadata properties.
        opset: the default domain's opset.

    Returns:
        The checked ``onnx.ModelProto``.
    """
    import onnx

    graph = helper.make_graph(builder.nodes, name, inputs, outputs, initializer=builder.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="lstmkit")
    # the IR version onnxruntime releases of the last two years all read
    model.ir_version = min(model.ir_version, 9)
    for k, v in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(model)
    return model
