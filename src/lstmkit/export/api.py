"""``to_onnx``: one entry point for layers, cells, task models and modules that hold
lstmkit layers; ``check_onnx``: run the exported graph in onnxruntime against PyTorch."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lstmkit.errors import InputError
from lstmkit.export.layer import _is_cell, is_recurrent, recurrent_kind


def _spec_for(obj, example_inputs, input_names, output_names, dynamic_axes):
    from lstmkit.export.tasks import generic_spec, task_spec

    spec = task_spec(obj)
    if spec is not None:
        return spec
    if isinstance(obj, nn.Module):
        if example_inputs is None:
            raise InputError(f"to export a {type(obj).__name__}, pass example_inputs= (a tuple of "
                             "tensors its forward takes); layers and task models need none")
        return generic_spec(obj, example_inputs, input_names, output_names, dynamic_axes)
    raise InputError(f"expected an lstmkit layer, a task model (Forecaster, TextGenerator, "
                     f"TextClassifier) or an nn.Module, got {type(obj).__name__}")


def build_onnx(obj, *, lengths: bool = False, initial_states: bool = False, recurrent: str = "auto",
               example_inputs=None, input_names=None, output_names=None, dynamic_axes=None):
    """The ONNX ModelProto :func:`to_onnx` writes, in memory.

    Args:
        obj: as for :func:`to_onnx`.
        lengths: as for :func:`to_onnx`.
        initial_states: as for :func:`to_onnx`.
        recurrent: as for :func:`to_onnx`.
        example_inputs: as for :func:`to_onnx`.
        input_names: as for :func:`to_onnx`.
        output_names: as for :func:`to_onnx`.
        dynamic_axes: as for :func:`to_onnx`.

    Returns:
        An ``onnx.ModelProto``.
    """
    import onnx

    import lstmkit
    from lstmkit.export.layer_model import layer_model
    from lstmkit.export.splice import torch_export

    if is_recurrent(obj):
        was = obj.training
        try:
            return layer_model(obj.eval(), lengths=lengths, initial_states=initial_states,
                               recurrent=recurrent)
        finally:
            obj.train(was)
    spec = _spec_for(obj, example_inputs, input_names, output_names, dynamic_axes)
    for m in spec.module.modules():  # fail early, naming the layer, for recurrent='native'
        if is_recurrent(m):
            recurrent_kind(m, recurrent)
    proto = torch_export(spec.module, spec.example, spec.input_names, spec.output_names,
                         spec.dynamic_axes, recurrent)
    meta = {"lstmkit.version": lstmkit.__version__, **spec.metadata}
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(proto)
    return proto


def to_onnx(obj, path: str | os.PathLike, *, lengths: bool = False, initial_states: bool = False,
            recurrent: str = "auto", example_inputs=None, input_names=None, output_names=None,
            dynamic_axes=None) -> Path:
    """Export ``obj`` to the ONNX file ``path`` (written atomically) and return the path.

    The graph computes eval mode (dropout off, zoneout as its expectation), float32.
    Plain layers become ONNX's own LSTM/GRU/RNN operators, variants and ``proj_size`` a
    Scan loop. For a layer, batch and sequence length are dynamic.

    Args:
        obj: an lstmkit layer or cell (LSTM, GRU, RNN, LSTMCell...), a task model
            (:class:`~lstmkit.Forecaster`, ``TextGenerator``, ``TextClassifier``... or
            their networks), or any ``nn.Module`` that uses lstmkit layers (then
            ``example_inputs`` is required).
        path: the ``.onnx`` file to write (folders made as needed).
        lengths: for a layer, add a ``lengths`` (batch,) int64 input.
        initial_states: for a layer, add the ``h_0``/``c_0`` inputs (and stream with
            :class:`~lstmkit.export.streaming.OnnxStream`).
        recurrent: ``"auto"`` (native operators where the layer is plain), ``"native"``
            or ``"loop"`` (a Scan loop).
        example_inputs: inputs to trace a generic module with.
        input_names: torch.onnx's, for a generic module.
        output_names: torch.onnx's, for a generic module.
        dynamic_axes: torch.onnx's, for a generic module.

    Returns:
        ``path``, as a :class:`~pathlib.Path`.

    Example:
        A bidirectional 2-layer LSTM with a lengths input, run in onnxruntime on
        x (T=5, B=3, I=8):

        >>> import os, tempfile
        >>> import torch
        >>> import lstmkit
        >>> from lstmkit.export import to_onnx
        >>> from lstmkit.export.api import session
        >>> lstm = lstmkit.LSTM(8, 16, num_layers=2, bidirectional=True)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     sess = session(to_onnx(lstm, os.path.join(d, "lstm.onnx"), lengths=True))
        ...     [i.name for i in sess.get_inputs()]
        ...     x, lengths = torch.randn(5, 3, 8), torch.tensor([5, 2, 4])
        ...     sess.run(None, {"input": x.numpy(), "lengths": lengths.numpy()})[0].shape
        ['input', 'lengths']
        (5, 3, 32)
    """
    proto = build_onnx(obj, lengths=lengths, initial_states=initial_states, recurrent=recurrent,
                       example_inputs=example_inputs, input_names=input_names,
                       output_names=output_names, dynamic_axes=dynamic_axes)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(proto.SerializeToString())
        mask = os.umask(0o022)  # mkstemp's file is private; give it the usual permissions
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)  # a reader never sees half a file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def session(model, threads: int | None = 1):
    """An onnxruntime CPU session for a path or a ModelProto.

    Args:
        model: an ONNX file's path or a ModelProto.
        threads: intra-op threads (default 1, without spinning): lstmkit uses sessions
            to check exports and to stream one step at a time, where the per-call work is
            small and busy-waiting threads only slow down a machine whose cores are
            shared. None leaves onnxruntime's own default (one thread per core).

    Returns:
        An ``onnxruntime.InferenceSession`` on the CPU provider.
    """
    import onnxruntime as ort

    data = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # errors only
    if threads is not None:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def run_onnx(model, feeds: dict) -> dict[str, np.ndarray]:
    """Run a graph in onnxruntime.

    Args:
        model: a path, a ModelProto or a session (:func:`session`).
        feeds: input name -> tensor or array.

    Returns:
        Output name -> numpy array, in the graph's order.
    """
    sess = model if hasattr(model, "get_outputs") else session(model)
    arrays = {k: v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
              for k, v in feeds.items()}
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, arrays)))


def layer_feeds(layer, T: int, B: int, *, lengths: bool = False, initial_states: bool = False,
                seed: int = 0) -> dict[str, torch.Tensor]:
    """Random inputs for an exported layer, named as its graph's inputs.

    Args:
        layer: the lstmkit layer or cell.
        T: steps.
        B: batch.
        lengths: add ``lengths`` (B,) in 1..T.
        initial_states: add ``h_0`` (and ``c_0``).
        seed: seeds the draws.

    Returns:
        Input name -> tensor.
    """
    g = torch.Generator().manual_seed(seed)
    H = layer.hidden_size
    if _is_cell(layer):
        feeds = {"input": torch.randn(B, layer.input_size, generator=g)}
        shape_h = shape_c = (B, H)
    else:
        D = 2 if layer.bidirectional else 1
        x = torch.randn(T, B, layer.input_size, generator=g)
        feeds = {"input": x.transpose(0, 1).contiguous() if layer.batch_first else x}
        shape_h, shape_c = (layer.num_layers * D, B, layer.proj_size or H), (layer.num_layers * D, B, H)
        if lengths:
            lens = torch.randint(1, T + 1, (B,), generator=g)
            lens[0] = T  # the longest fills the batch, as after padding
            feeds["lengths"] = lens
    if initial_states:
        feeds["h_0"] = torch.randn(shape_h, generator=g)
        if layer.mode == "LSTM":
            feeds["c_0"] = torch.randn(shape_c, generator=g)
    return feeds


def torch_outputs(layer, feeds: dict) -> list[torch.Tensor]:
    """What the layer computes in eval mode for ``feeds``, in the graph's output order.

    Args:
        layer: the lstmkit layer or cell.
        feeds: :func:`layer_feeds`'s inputs.

    Returns:
        The outputs (y, then the state's tensors).
    """
    h0 = feeds.get("h_0")
    hx = (h0, feeds["c_0"]) if "c_0" in feeds else h0
    was = layer.training
    layer.eval()
    try:
        with torch.no_grad():
            if _is_cell(layer):
                out = layer(feeds["input"], hx)
                return list(out) if isinstance(out, tuple) else [out]
            y, state = layer(feeds["input"], hx, lengths=feeds.get("lengths"))
    finally:
        layer.train(was)
    return [y, *state] if isinstance(state, tuple) else [y, state]


def check_onnx(layer, path, shapes=((7, 3), (2, 1)), *, lengths: bool = False,
               initial_states: bool = False) -> float:
    """Largest absolute difference between onnxruntime running the exported ``layer`` at
    ``path`` and PyTorch.

    Args:
        layer: the lstmkit layer or cell that was exported.
        path: its ONNX file.
        shapes: (T, B) of each random input (default (7, 3) and (2, 1)).
        lengths: the graph has a ``lengths`` input (as exported).
        initial_states: the graph has ``h_0``/``c_0`` inputs (as exported).

    Returns:
        The largest absolute difference over every output.

    Raises:
        AssertionError: an output's shape differs between the two.
    """
    sess = session(path)
    worst = 0.0
    for i, (T, B) in enumerate(shapes):
        feeds = layer_feeds(layer, T, B, lengths=lengths, initial_states=initial_states, seed=i)
        got = list(run_onnx(sess, feeds).values())
        for g, r in zip(got, torch_outputs(layer, feeds)):
            if g.shape != tuple(r.shape):
                raise AssertionError(f"shape {g.shape} from onnxruntime, {tuple(r.shape)} from torch")
            worst = max(worst, float(np.abs(g - r.numpy()).max()))
    return worst


def check_model(obj, path, example_inputs=None) -> float:
    """Largest absolute difference between onnxruntime running ``path`` and PyTorch
    running ``obj`` (a task model, or a module with ``example_inputs``) on the example
    inputs its export used). An object with its own ``check_export(path)`` (an export of
    more than one graph, e.g. the Translator's) checks itself.

    Args:
        obj: what was exported.
        path: the ONNX file.
        example_inputs: the module's inputs, for a generic module.

    Returns:
        The largest absolute difference over every output.
    """
    from lstmkit.export.tasks import _leaves

    if hasattr(obj, "check_export"):
        return obj.check_export(path)
    spec = _spec_for(obj, example_inputs, None, None, None)
    was = spec.module.training
    spec.module.eval()
    try:
        with torch.no_grad():
            ref = _leaves(spec.module(*spec.example))
    finally:
        spec.module.train(was)
    got = run_onnx(path, dict(zip(spec.input_names, spec.example)))
    worst = 0.0
    for g, r in zip(got.values(), ref):
        if g.shape != tuple(r.shape):
            raise AssertionError(f"shape {g.shape} from onnxruntime, {tuple(r.shape)} from torch")
        worst = max(worst, float(np.abs(g - r.numpy()).max()))
    return worst
