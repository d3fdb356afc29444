"""Export a model that contains lstmkit layers: torch's exporter writes everything
around the recurrent layers, lstmkit writes the layers.

torch's TorchScript-based exporter (``dynamo=False``) handles embeddings, heads, pooling
and slicing with dynamic shapes, but it cannot see inside an lstmkit layer (a Python loop
over backends). So, for the export only, each lstmkit layer of the model is swapped for a
placeholder whose ``torch.autograd.Function`` has a ``symbolic``: torch writes one node
``lstmkit::Recurrent`` per layer, and :func:`splice` then replaces each such node by the
layer's own ONNX nodes (:func:`lstmkit.export.layer.emit_recurrent`): ONNX's LSTM/GRU/RNN
operators for plain layers, Scans for the variants. The model is restored afterwards.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import sys
import warnings

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from lstmkit.errors import InputError
from lstmkit.export.graph import OPSET, GraphBuilder
from lstmkit.export.layer import _is_cell, emit_recurrent, is_recurrent

DOMAIN = "lstmkit"
_SLOTS = ("x", "h0", "c0", "lengths")
_ACTIVE: dict[str, nn.Module] = {}  # placeholder key -> the real layer, during an export


class _RecurrentOp(torch.autograd.Function):
    """Runs the real layer; exports as one ``lstmkit::Recurrent`` node."""

    @staticmethod
    def forward(ctx, key: str, x, h0, c0, lengths):
        # the tracer must record this call as one node (symbolic below), not the layer's
        # own operations, which would bake its weights in as constants
        with _not_traced():
            return _RecurrentOp._run(_ACTIVE[key], x, h0, c0, lengths)

    @staticmethod
    def _run(layer, x, h0, c0, lengths):
        hx = (h0, c0) if layer.mode == "LSTM" and h0 is not None else h0
        if _is_cell(layer):
            out = layer(x, hx)
            h, c = out if isinstance(out, tuple) else (out, None)
            return (h, h) if c is None else (h, h, c)
        y, state = layer(x, hx, lengths=lengths)
        return (y, *state) if isinstance(state, tuple) else (y, state)

    @staticmethod
    def symbolic(g, key: str, x, h0, c0, lengths):
        args = {"x": x, "h0": h0, "c0": c0, "lengths": lengths}
        present = [k for k in _SLOTS if args[k] is not None]
        n_out = 3 if _ACTIVE[key].mode == "LSTM" else 2
        outs = g.op(f"{DOMAIN}::Recurrent", *[args[k] for k in present], key_s=key,
                    inputs_s=",".join(present), outputs=n_out)
        for o in outs:  # float tensors of unknown shape: keeps torch's shape inference quiet
            o.setType(x.type().with_sizes([None] * (x.type().dim() or 3)))
        return outs


@contextlib.contextmanager
def _not_traced():
    state = torch._C._get_tracing_state()
    torch._C._set_tracing_state(None)
    try:
        yield
    finally:
        torch._C._set_tracing_state(state)


class _Placeholder(nn.Module):
    """Stands in for an lstmkit layer or cell during the export; same call signature."""

    def __init__(self, layer: nn.Module, key: str) -> None:
        super().__init__()
        object.__setattr__(self, "_layer", layer)  # not a submodule: its weights stay out
        self.key = key

    def forward(self, input, hx=None, *, lengths=None):
        layer = self._layer
        if isinstance(input, PackedSequence):
            raise InputError(f"{self.key}: a PackedSequence cannot be exported (its batch sizes "
                             "are data); pass the padded batch with lengths= instead")
        expected = 2 if _is_cell(layer) else 3
        if not isinstance(input, torch.Tensor) or input.dim() != expected:
            got = f"{input.dim()}-D" if isinstance(input, torch.Tensor) else type(input).__name__
            raise InputError(f"{self.key}: export takes batched input ({expected}-D), got {got}")
        h0, c0 = (hx if isinstance(hx, (tuple, list)) else (hx, None)) if hx is not None else (None, None)
        outs = _RecurrentOp.apply(self.key, input, h0, c0, lengths)
        if _is_cell(layer):
            return (outs[1], outs[2]) if layer.mode == "LSTM" else outs[1]
        if layer.mode == "LSTM":
            return outs[0], (outs[1], outs[2])
        return outs[0], outs[1]


@contextlib.contextmanager
def placeholders(root: nn.Module):
    """Swap every lstmkit layer under ``root`` for a placeholder (a context manager; the
    layers are put back on exit).

    Args:
        root: the module to export.

    Yields:
        {key: layer}: the key each placeholder's ``lstmkit::Recurrent`` node carries.
    """
    swapped = []
    for name, module in list(root.named_modules()):
        if not name or not is_recurrent(module):
            continue
        parent_name, _, attr = name.rpartition(".")
        parent = root.get_submodule(parent_name) if parent_name else root
        key = name.replace(".", "/")
        swapped.append((parent, attr, module, key))
    if is_recurrent(root):
        raise ValueError("export a bare layer with lstmkit.export.to_onnx(layer, path)")
    try:
        for parent, attr, module, key in swapped:
            _ACTIVE[key] = module
            setattr(parent, attr, _Placeholder(module, key))
        yield {key: module for _, _, module, key in swapped}
    finally:
        for parent, attr, module, key in swapped:
            setattr(parent, attr, module)
            _ACTIVE.pop(key, None)


def _len(obj):
    """``len`` that the tracer records as a dynamic size for tensors (``x.shape[0]``)."""
    if isinstance(obj, torch.Tensor) and obj.dim():
        return obj.shape[0]
    return builtins.len(obj)


@contextlib.contextmanager
def dynamic_len(root: nn.Module):
    """While tracing, ``len(x)`` in the model's own modules reads ``x.shape[0]``.

    torch's tracer turns ``len(tensor)`` into a constant, so ``x.reshape(len(x), ...)``
    would fix the batch size of the exported graph. Python looks ``len`` up in a module's
    globals before the builtins, so the model's modules get a ``len`` that returns the
    same number the tracer can follow; removed afterwards."""
    names = {type(m).__module__ for m in root.modules()}
    patched = [sys.modules[n] for n in names
               if n in sys.modules and not n.startswith("torch.") and "len" not in vars(sys.modules[n])]
    try:
        for mod in patched:
            mod.len = _len
        yield
    finally:
        for mod in patched:
            vars(mod).pop("len", None)


def torch_export(module: nn.Module, args: tuple, input_names: list[str], output_names: list[str],
                 dynamic_axes: dict, recurrent: str = "auto"):
    """``module`` (in eval mode) as an ONNX ModelProto with its lstmkit layers spliced in.

    Args:
        module: the module (its train/eval flags are restored afterwards).
        args: its example inputs.
        input_names: the graph's input names.
        output_names: its output names.
        dynamic_axes: torch.onnx's.
        recurrent: ``"auto"``, ``"native"`` or ``"loop"`` for the layers.

    Returns:
        The ``onnx.ModelProto``.
    """
    import onnx

    # every submodule's own flag: a wrapper around a net in eval mode must leave it so
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    buf = io.BytesIO()
    try:
        with placeholders(module) as layers, dynamic_len(module), warnings.catch_warnings(), \
                torch.no_grad():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice, tracer hints
            torch.onnx.export(module, args, buf, dynamo=False, opset_version=OPSET,
                              input_names=input_names, output_names=output_names,
                              dynamic_axes=dynamic_axes, custom_opsets={DOMAIN: 1},
                              do_constant_folding=True)
            proto = onnx.load_from_string(buf.getvalue())
            splice(proto, layers, recurrent)
    finally:
        for m, training in modes:
            m.training = training
    return proto


def splice(proto, layers: dict[str, nn.Module], recurrent: str = "auto") -> None:
    """Replace each ``lstmkit::Recurrent`` node of ``proto`` by its layer's ONNX nodes, in
    place.

    Args:
        proto: the traced model (:func:`torch_export`).
        layers: {key: layer} from :func:`placeholders`.
        recurrent: ``"auto"``, ``"native"`` or ``"loop"``.
    """
    from onnx import helper

    graph = proto.graph
    b = GraphBuilder(prefix="lstmkit/")
    nodes = []
    for node in graph.node:
        if node.domain != DOMAIN:
            nodes.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        key = attrs["key"].decode()
        present = attrs["inputs"].decode().split(",")
        args = dict(zip(present, node.input))
        b.nodes = []
        results = emit_recurrent(b, layers[key], args["x"], args.get("h0"), args.get("c0"),
                                 args.get("lengths"), recurrent=recurrent, hint=key)
        nodes.extend(b.nodes)
        for src, dst in zip(results, node.output):
            nodes.append(helper.make_node("Identity", [src], [dst], name=f"{dst}/identity"))
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(b.initializers)
    # torch's shape hints were made before the layers existed; ONNX infers them again
    del graph.value_info[:]
    keep = [o for o in proto.opset_import if o.domain != DOMAIN]
    del proto.opset_import[:]
    proto.opset_import.extend(keep)
