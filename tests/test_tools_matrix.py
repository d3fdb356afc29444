"""lstmkit's layers and cells under torch's own tools, against torch.nn.

Every case is ``tool-module-variant-backend`` and fails on any mismatch with the truth:
torch.nn's module holding the same weights for the plain cells, lstmkit's reference
backend run eagerly for the variants (layer_norm, peephole, zoneout in eval mode and in
training mode with a fixed seed). The model is ``rnn -> Linear`` (T=7, B=3, I=8, H=16);
it returns the head's output and the final states.

Tools: ``torch.onnx.export`` (dynamo=False and dynamo=True, with a dynamic batch, and for
the plain layers a dynamic time axis, then onnxruntime on another batch and length),
``torch.jit.trace`` (with and without grad, saved and reloaded, run on new inputs),
``torch.export`` (static; dynamic batch and time), ``torch.compile(fullgraph=True)``
(the aot_eager backend: dynamo's graph capture and AOTAutograd's fake-tensor tracing,
without building C++), double backward (a gradient penalty with create_graph),
``torch.func.grad``, and ``torch.autocast("cpu", torch.bfloat16)``.

Where a tool cannot express a case it must raise instead: ``torch.onnx.export(dynamo=False)``
of a variant layer (one error naming ``lstmkit.export.to_onnx``); a jit trace of a
Python time loop run on another sequence length; ``torch.export`` of a layer with a
dynamic time axis where the backend specialises the length (torch's ConstraintViolation,
as for torch.nn.LSTM). Where it does not raise, the numbers must be right.

The default run takes every tool x module on the default backend (``auto``) plus one
variant (layer norm); the full matrix (every CPU backend, every variant) is marked slow:
``pytest -m slow tests/test_tools_matrix.py``.

On a machine with a CUDA device, :func:`test_tool_on_cuda` runs the same tools with the
module under test on the GPU (``auto``, and ``triton`` for the LSTM and GRU layers) against
the truth on the CPU (TF32 off): ``auto`` must give the truth's numbers, ``triton`` its
declared one-line refusal; where torch.nn's own module fails under a tool on CUDA (cuDNN's
RNN has no double backward), lstmkit may fail there too, never silently.
"""

from __future__ import annotations

import copy
import io
import warnings

import pytest
import torch
from torch import nn

import lstmkit
from lstmkit.backends.native import _without_onednn

I, H, T, B = 8, 16, 7, 3
T2, B2 = 5, 2  # another length and batch for the tools that keep them dynamic
TOL = 1e-5  # float32, max abs error
AUTOCAST_TOL = {"exact": 0.0, "bf16": 3e-2}

# id -> (torch.nn class, lstmkit class, is a cell, is an LSTM)
MODULES = {
    "lstm": (nn.LSTM, lstmkit.LSTM, False, True),
    "gru": (nn.GRU, lstmkit.GRU, False, False),
    "rnn": (nn.RNN, lstmkit.RNN, False, False),
    "lstm_cell": (nn.LSTMCell, lstmkit.LSTMCell, True, True),
    "gru_cell": (nn.GRUCell, lstmkit.GRUCell, True, False),
    "rnn_cell": (nn.RNNCell, lstmkit.RNNCell, True, False),
}
# id -> (module id, constructor keywords, training mode)
VARIANTS = {
    "plain": (None, {}, False),
    "layer_norm": ("lstm", {"layer_norm": True}, False),
    "peephole": ("lstm", {"peephole": True}, False),
    "zoneout_eval": ("lstm", {"zoneout": 0.3}, False),
    "zoneout_train": ("lstm", {"zoneout": 0.3}, True),
}
TOOLS = ["onnx_ts", "onnx_dynamo", "jit_trace_grad", "jit_trace_nograd", "export_static",
         "export_dynamic", "compile", "double_backward", "func_grad", "autocast"]
BACKENDS = ["auto", "native", "reference", "compiled", "fused"]


class Net(nn.Module):
    """``rnn -> Linear``; returns (head output, h_n[, c_n]) as plain tensors."""

    def __init__(self, rnn: nn.Module, cell: bool, device: str | None = None):
        super().__init__()
        self.rnn, self.cell, self.device = rnn, cell, device
        self.fc = nn.Linear(H, 2)
        if device is not None:  # inputs move there, outputs come back to the CPU
            self.to(device)

    def forward(self, x):
        if self.device is not None:
            return tuple(t.cpu() for t in self._forward(x.to(self.device)))
        return self._forward(x)

    def _forward(self, x):
        if self.cell:
            out = self.rnn(x)
            if isinstance(out, tuple):
                return self.fc(out[0]), out[0], out[1]
            return self.fc(out), out
        out, state = self.rnn(x)
        if isinstance(state, tuple):
            return self.fc(out), state[0], state[1]
        return self.fc(out), state


def _pair(module_id: str, variant: str, backend: str, device: str | None = None):
    """(net under test, truth net, training) with the same weights; the net under test on
    ``device`` (the truth always on the CPU)."""
    torch_cls, kit_cls, cell, _ = MODULES[module_id]
    _, kw, training = VARIANTS[variant]
    torch.manual_seed(0)
    kit = Net(kit_cls(I, H, backend=backend, **kw), cell, device)
    if kw:  # the truth is the reference backend, eager
        truth = Net(kit_cls(I, H, backend="reference", **kw), cell)
        with torch.no_grad():  # off the initialisation (layer-norm gains 1, biases 0)
            for p in kit.parameters():
                p.add_(0.2 * torch.randn_like(p))
    else:
        truth = Net(torch_cls(I, H), cell)
    truth.load_state_dict(kit.state_dict())
    kit.train(training)
    truth.train(training)
    return kit, truth, training


def _input(cell: bool, t: int = T, b: int = B, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((b, I) if cell else (t, b, I), generator=g)


def _close(got, want, what: str, tol: float = TOL, scaled: bool = False):
    """Max abs error within ``tol`` (times max(1, max |want|) when ``scaled``: second
    derivatives of float32 reach hundreds, and their rounding with them)."""
    got = got if isinstance(got, (tuple, list)) else (got,)
    want = want if isinstance(want, (tuple, list)) else (want,)
    assert len(got) == len(want), f"{what}: {len(got)} outputs, expected {len(want)}"
    for i, (a, b) in enumerate(zip(got, want)):
        a, b = torch.as_tensor(a).cpu(), b.cpu()
        assert a.shape == b.shape, f"{what}[{i}]: shape {tuple(a.shape)} != {tuple(b.shape)}"
        err = (a.double() - b.double()).abs().max().item()
        bound = tol * max(1.0, b.abs().max().item()) if scaled else tol
        assert err <= bound, f"{what}[{i}]: max abs error {err:.3g} > {bound:g}"


def _seeded(f, *args, **kwargs):
    torch.manual_seed(123)  # the same random masks (zoneout in training) in every run
    return f(*args, **kwargs)


def _truth_out(truth, x):
    with torch.no_grad():
        return _seeded(truth, x)


def _ort(proto_bytes: bytes, x):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(proto_bytes, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return [torch.from_numpy(a) for a in sess.run(None, {name: x.numpy()})]


# ---- the tools ------------------------------------------------------------------------
def tool_onnx_ts(kit, truth, cell, variant):
    kit.eval()
    truth.eval()
    x = _input(cell)
    n_out = 3 if MODULES[_module_of(kit)][3] else 2
    axes = {"x": {0: "batch"}} if cell else {"x": {0: "time", 1: "batch"}}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if variant != "plain":
            with pytest.raises(Exception, match="lstmkit.export.to_onnx"):
                torch.onnx.export(kit, (x,), buf, dynamo=False, input_names=["x"],
                                  dynamic_axes=axes)
            return
        torch.onnx.export(kit, (x,), buf, dynamo=False, input_names=["x"],
                          output_names=[f"y{i}" for i in range(n_out)], dynamic_axes=axes)
    proto = buf.getvalue()
    import onnx

    model = onnx.load_from_string(proto)
    assert [i.name for i in model.graph.input] == ["x"], "the graph must read its input"
    for x2 in (_input(cell, seed=2), _input(cell, T2, B2, seed=3)):
        _close(_ort(proto, x2), _truth_out(truth, x2), "onnxruntime vs torch.nn")


def _module_of(net) -> str:
    for k, (_, kit_cls, _, _) in MODULES.items():
        if type(net.rnn) is kit_cls:
            return k
    raise KeyError(type(net.rnn))


def tool_onnx_dynamo(kit, truth, cell, variant):
    """Exported with a dynamic batch, and for the plain layers a dynamic time axis too
    (ONNX's own operator; the variants' loop holds the example's length), then run by
    onnxruntime on another batch (and length)."""
    from torch.export import Dim

    kit.eval()
    truth.eval()
    x = _input(cell)
    dynamic_time = not cell and variant == "plain"
    axes = {0: Dim("batch", max=64)} if cell else {1: Dim("batch", max=64)}
    if dynamic_time:
        axes[0] = Dim("time", min=2, max=256)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(kit, (x,), dynamo=True, verbose=False, dynamic_shapes=(axes,))
    proto = prog.model_proto.SerializeToString()
    x2 = _input(cell, T2 if dynamic_time else T, B2, seed=2)
    _close(_ort(proto, x2), _truth_out(truth, x2), "onnxruntime (dynamo export) vs truth")


def _jit_trace(kit, truth, cell, variant, grad: bool):
    x = _input(cell)
    with torch.set_grad_enabled(grad), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = _seeded(torch.jit.trace, kit, (x,), check_trace=False)
    buf = io.BytesIO()
    torch.jit.save(traced, buf)
    buf.seek(0)
    loaded = torch.jit.load(buf)
    x2 = _input(cell, seed=2)
    with torch.set_grad_enabled(grad):
        got = _seeded(loaded, x2)
    _close([g.detach() for g in got], _truth_out(truth, x2), "saved trace, new input")
    if grad:  # the trace's backward
        kit_p = dict(loaded.named_parameters())
        _seeded(loaded, x2)[0].sum().backward()
        _seeded(truth, x2)[0].sum().backward()
        for n, p in truth.named_parameters():
            _close(kit_p[n].grad, p.grad, f"trace grad {n}", tol=2e-5, scaled=True)
    x3 = _input(cell, T2, B2, seed=3)
    with torch.no_grad():
        try:
            got3 = _seeded(loaded, x3)
        except RuntimeError as e:  # a Python time loop traced for one length refuses another
            assert not cell and "expand" in str(e), e
        else:
            _close(got3, _truth_out(truth, x3), "saved trace, other T and B")


def tool_jit_trace_grad(kit, truth, cell, variant):
    _jit_trace(kit, truth, cell, variant, True)


def tool_jit_trace_nograd(kit, truth, cell, variant):
    _jit_trace(kit, truth, cell, variant, False)


def tool_export_static(kit, truth, cell, variant):
    x = _input(cell)
    ep = _seeded(torch.export.export, kit, (x,))
    x2 = _input(cell, seed=2)
    _close(_seeded(ep.module(), x2), _truth_out(truth, x2), "exported program, new input")


def tool_export_dynamic(kit, truth, cell, variant):
    """Dynamic batch (cells and layers), and for a layer dynamic time too: ``auto`` and
    ``compiled`` export it (the compiled operator's fake kernel keeps the length
    symbolic); torch's kernel (torch.nn.LSTM's too) and a Python time loop specialise it,
    so an explicit ``native``, ``fused`` or ``reference`` raises torch's
    ConstraintViolation there, never a wrong program."""
    from torch.export import Dim

    x = _input(cell)
    batch = Dim("batch", min=1, max=64)
    if not cell:
        try:
            ep = _seeded(torch.export.export, kit, (x,),
                         dynamic_shapes={"x": {0: Dim("time", min=1, max=512), 1: batch}})
        except Exception as e:  # torch's ConstraintViolation: the time axis was specialised
            runs_dynamic = kit.rnn.backend == "compiled" or (
                kit.rnn.backend == "auto" and lstmkit.backends.get("compiled").unavailable() is None)
            if "cannot run this layer under" in str(e) or runs_dynamic:
                raise  # an explicit backend's refusal (checked by the caller), or a failure
            assert "time" in str(e), e
        else:
            x3 = _input(cell, T2, B2, seed=3)
            _close(_seeded(ep.module(), x3), _truth_out(truth, x3), "exported program, other T and B")
    ep = _seeded(torch.export.export, kit, (x,), dynamic_shapes={"x": {0 if cell else 1: batch}})
    x3 = _input(cell, T, B2, seed=3)
    _close(_seeded(ep.module(), x3), _truth_out(truth, x3), "exported program, another batch")


def _grads(net, x, loss=lambda y: sum(t.square().sum() for t in y)):
    params = [p for p in net.parameters()]
    out = _seeded(net, x)
    return out, torch.autograd.grad(loss(out), [x, *params])


def tool_compile(kit, truth, cell, variant):
    torch._dynamo.reset()
    compiled = torch.compile(kit, fullgraph=True, backend="aot_eager")
    x = _input(cell).requires_grad_()
    got, g_got = _grads(compiled, x)
    want, g_want = _grads(truth, x)
    _close([t.detach() for t in got], [t.detach() for t in want], "compiled forward")
    _close(g_got, g_want, "compiled gradients (x, parameters)", scaled=True)
    # the usual training step: data that needs no gradient, only the parameters
    x2 = _input(cell, seed=2)
    loss = lambda y: sum(t.square().sum() for t in y)
    g_got = torch.autograd.grad(loss(_seeded(compiled, x2)), list(kit.parameters()))
    g_want = torch.autograd.grad(loss(_seeded(truth, x2)), list(truth.parameters()))
    _close(g_got, g_want, "compiled gradients (parameters; the input needs none)", scaled=True)
    x3 = _input(cell, T2, B2, seed=3)
    with torch.no_grad():
        _close(_seeded(compiled, x3), _truth_out(truth, x3), "compiled, other T and B")


def tool_double_backward(kit, truth, cell, variant):
    x = _input(cell).requires_grad_()

    def penalty(net):
        params = list(net.parameters())
        out = _seeded(net, x)
        gs = torch.autograd.grad(sum(t.square().sum() for t in out), [x, *params], create_graph=True)
        pen = sum(g.square().sum() for g in gs)
        return torch.autograd.grad(pen, [x, *params])

    _close(penalty(kit), penalty(truth), "gradient of a gradient penalty (x, parameters)",
           tol=1e-5, scaled=True)


def tool_func_grad(kit, truth, cell, variant):
    x = _input(cell)

    def grads(net):
        params = dict(net.named_parameters())

        def loss(p):
            out = _seeded(torch.func.functional_call, net, p, (x,))
            return sum(t.square().sum() for t in out)

        g = torch.func.grad(loss)(params)
        return [g[n] for n in params]

    _close(grads(kit), grads(truth), "torch.func.grad", tol=2e-5, scaled=True)


def tool_autocast(kit, truth, cell, variant):
    x = _input(cell)
    device = kit.device or "cpu"
    if device != "cpu":  # autocast's rules differ by device: the truth runs there too
        truth = copy.deepcopy(truth)
        truth.device = device
        truth.to(device)
    with torch.autocast(device, torch.bfloat16), torch.no_grad():
        got = _seeded(kit, x)
        # torch.nn.LSTM's oneDNN path has no bf16 LSTM primitive on CPUs without
        # AVX512-BF16 ("could not create a primitive descriptor"); its ATen path (a loop
        # of lstm_cell steps, as torch.nn.GRU and RNN always run) is the truth
        with _without_onednn():
            want = _seeded(truth, x)
    # torch.nn's numbers exactly where lstmkit runs torch's kernel (plain cells on auto
    # and native); the reference's own bf16 rounding elsewhere
    backend = kit.rnn.backend
    exact = device == "cpu" and (variant != "plain" and backend in ("auto", "reference") or
                                 variant == "plain" and backend in ("auto", "native"))
    _close([t.float() for t in got], [t.float() for t in want], "autocast bf16",
           tol=AUTOCAST_TOL["exact" if exact else "bf16"])
    for a, b in zip(got, want):
        assert a.dtype == b.dtype, f"autocast output dtype {a.dtype}, torch.nn gives {b.dtype}"


# ---- the matrix -----------------------------------------------------------------------
def _cases():
    for tool in TOOLS:
        for backend in BACKENDS:
            for variant, (only, _, training) in VARIANTS.items():
                for module_id in MODULES:
                    if only is not None and module_id != only:
                        continue
                    if backend == "native" and variant != "plain":
                        continue  # torch's kernels run only the plain cells
                    if training and tool.startswith("onnx"):
                        continue  # an ONNX graph is eval mode
                    default = backend == "auto" and (variant == "plain" or variant == "layer_norm")
                    marks = () if default else (pytest.mark.slow,)
                    yield pytest.param(tool, module_id, variant, backend, marks=marks,
                                       id=f"{tool}-{module_id}-{variant}-{backend}")


def _run_case(tool, module_id, variant, backend, device=None):
    kit, truth, _ = _pair(module_id, variant, backend, device)
    cell = MODULES[module_id][2]
    try:
        globals()[f"tool_{tool}"](kit, truth, cell, variant)
    except (ValueError, torch._dynamo.exc.Unsupported) as e:
        # an explicit backend's declared refusal: clear, never silent (dynamo reports the
        # ValueError raised in the compiled region as Unsupported, quoting it)
        if backend == "auto" or "cannot run this layer under" not in str(e):
            raise
        # the refusal is the backend's own declared reason, on one line, with what to use
        msg = str(e) if isinstance(e, ValueError) else next(
            line for line in str(e).splitlines() if "cannot run this layer under" in line)
        # (native's one refusal here lives in lstmkit.backends itself: torch's LSTM layer
        # kernel in a compiled training step)
        declared = getattr(lstmkit.backends.get(backend), "unsupported_under", None)
        assert declared is not None or (backend, tool, module_id) == ("native", "compile", "lstm")
        assert "\n" not in msg
        assert "use backend='auto'" in msg


@pytest.mark.parametrize("tool,module_id,variant,backend", list(_cases()))
def test_tool(tool, module_id, variant, backend):
    _run_case(tool, module_id, variant, backend)


def _cuda_cases():
    if not torch.cuda.is_available():
        return
    for tool in TOOLS:
        for backend in ("auto", "triton"):
            for variant, (only, _, training) in VARIANTS.items():
                for module_id in MODULES:
                    if only is not None and module_id != only:
                        continue
                    if backend == "triton" and module_id not in ("lstm", "gru"):
                        continue  # the triton kernels run the LSTM and GRU layers
                    if training:  # CUDA's random masks are not the CPU truth's
                        continue
                    marks = ()
                    if (tool, module_id, variant, backend) == ("compile", "lstm", "plain", "auto"):
                        # seen on an H200 with torch 2.11 (2026-12-04): h_n comes back
                        # (1, 1, B, H), the output is right; GRU, RNN, the cells and the
                        # layer-norm LSTM are right there
                        marks = pytest.mark.xfail(strict=True, reason=(
                            "torch.compile of the plain LSTM on CUDA returns h_n with an extra "
                            "leading dimension (docs/gpu.md)"))
                    yield pytest.param(tool, module_id, variant, backend, marks=marks,
                                       id=f"cuda-{tool}-{module_id}-{variant}-{backend}")


def _torch_nn_fails_on_cuda(tool: str, module_id: str) -> str | None:
    """torch.nn's own module under ``tool`` on CUDA: the error, or None where it works."""
    torch_cls, _, cell, _ = MODULES[module_id]
    torch.manual_seed(0)
    on_gpu = Net(torch_cls(I, H), cell, "cuda").train(False)
    truth = Net(torch_cls(I, H), cell).train(False)
    truth.load_state_dict(on_gpu.state_dict())
    try:
        globals()[f"tool_{tool}"](on_gpu, truth, cell, "plain")
    except Exception as e:  # noqa: BLE001 - whatever torch.nn raises is its answer
        return f"{type(e).__name__}: {e}"
    return None


@pytest.mark.parametrize("tool,module_id,variant,backend", list(_cuda_cases()))
def test_tool_on_cuda(tool, module_id, variant, backend, monkeypatch):
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    if backend == "triton" and tool == "double_backward":  # eager: the kernels run
        with pytest.raises(RuntimeError, match="no double backward"):
            _run_case(tool, module_id, variant, backend, "cuda")
        return
    try:
        _run_case(tool, module_id, variant, backend, "cuda")
    except (AssertionError, ValueError):
        raise  # a wrong number, or a refusal that is not the backend's declared one
    except Exception as e:
        failed = _torch_nn_fails_on_cuda(tool, module_id)
        if failed is None:
            raise
        print(f"torch.nn fails here too ({failed.splitlines()[0][:200]}); lstmkit: {e}")


# ---- routing and refusals ---------------------------------------------------------------
def test_active_tools_names_each_tool():
    from lstmkit.backends.tools import active_tools

    seen = []

    class Spy(nn.Module):
        def forward(self, x):
            seen.append(active_tools(x))
            return x * 2

    x = torch.randn(2, 3)
    m = Spy()

    def autocast():
        with torch.autocast("cpu", torch.bfloat16):
            m(x)

    runs = {
        "eager": (lambda: m(x), set()),
        "trace": (lambda: torch.jit.trace(m, (x,), check_trace=False), {"jit_trace"}),
        "onnx_ts": (lambda: torch.onnx.export(m, (x,), io.BytesIO(), dynamo=False),
                    {"jit_trace", "onnx_export"}),
        "export": (lambda: torch.export.export(m, (x,)), {"compile", "export"}),
        "onnx_dynamo": (lambda: torch.onnx.export(m, (x,), dynamo=True, verbose=False),
                        {"compile", "export", "onnx_export"}),
        "func.grad": (lambda: torch.func.grad(lambda x: m(x).sum())(x), {"functorch"}),
        "vmap": (lambda: torch.func.vmap(m)(x), {"functorch", "functorch_forward"}),
        "autocast": (autocast, {"autocast"}),
    }
    for name, (run, expected) in runs.items():
        seen.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run()
        assert seen and all(s == expected for s in seen), f"{name}: {seen}"


def test_onnx_export_seen_under_a_strict_capture():
    """The dynamo ONNX exporter falls back to a strict capture (dynamo) when the
    non-strict one fails; dynamo folds torch.onnx.is_in_onnx_export() to False, so the
    exporter's own flag must be read there (else a layer would take a backend the
    exporter cannot write). A strict export returns what the tools were, as a tensor."""
    from torch.onnx._internal.exporter._flags import set_onnx_exporting_flag

    from lstmkit.backends.tools import TOOLS, active_tools

    class Report(nn.Module):
        def forward(self, x):
            tools = active_tools(x)
            return x * 0 + torch.tensor([float(t in tools) for t in TOOLS])

    x = torch.zeros(len(TOOLS))
    for flag, expected in ((False, {"compile", "export"}), (True, {"compile", "export", "onnx_export"})):
        export = set_onnx_exporting_flag(torch.export.export) if flag else torch.export.export
        got = export(Report(), (x,), strict=True).module()(x)
        assert {t for t, v in zip(TOOLS, got.tolist()) if v} == expected, (flag, got)


def test_explicit_backend_without_declared_tool_support_raises(monkeypatch):
    from lstmkit import backends

    class Opaque(backends.Backend):  # an opaque kernel that declares nothing
        name, priority = "opaque_test", 99

        def run_layer(self, *a, **k):
            raise AssertionError("must not run under a tool")

    backends.register(Opaque())
    try:
        lstm = lstmkit.LSTM(I, H, backend="opaque_test")
        with pytest.raises(ValueError, match="torch.autocast.*'opaque_test'|'opaque_test'.*torch.autocast"):
            with torch.autocast("cpu", torch.bfloat16):
                lstm(_input(False))
        auto = lstmkit.LSTM(I, H)
        with torch.autocast("cpu", torch.bfloat16):
            auto(_input(False))  # auto skips it
    finally:
        backends._REGISTRY.pop("opaque_test")


def test_auto_under_autocast_runs_torch_kernel_for_plain_cells():
    from lstmkit import backends
    from lstmkit.backends import LayerSpec

    x = _input(False)
    with torch.autocast("cpu", torch.bfloat16):
        assert backends.select(LayerSpec("LSTM", I, H), x).name == "native"
        assert backends.select(LayerSpec("GRU", I, H), x).name == "native"
        order = backends.auto_order(LayerSpec("LSTM", I, H, layer_norm=True), x)
        assert order[0] == "reference"  # compiled and fused run float32 and float64 only
        assert backends.select(LayerSpec("LSTM", I, H, layer_norm=True), x).name == "reference"


def test_lengths_under_tools():
    """Variable lengths under export and trace: the reference loop's masks, no host read."""
    torch.manual_seed(0)
    lstm = lstmkit.LSTM(I, H)
    ref = lstmkit.LSTM(I, H, backend="reference")
    ref.load_state_dict(lstm.state_dict())
    x, lengths = _input(False), torch.tensor([7, 3, 5])

    class WithLengths(nn.Module):
        def __init__(self, rnn):
            super().__init__()
            self.rnn = rnn

        def forward(self, x, lengths):
            out, (h, c) = self.rnn(x, lengths=lengths)
            return out, h, c

    want = WithLengths(ref)(x, lengths)
    ep = torch.export.export(WithLengths(lstm), (x, lengths))
    _close(ep.module()(x, torch.tensor([7, 3, 5])), [w.detach() for w in want], "export with lengths")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = torch.jit.trace(WithLengths(lstm), (x, lengths), check_trace=False)
    lengths2 = torch.tensor([2, 7, 4])
    _close(tr(x, lengths2), [w.detach() for w in WithLengths(ref)(x, lengths2)], "trace with lengths")



@pytest.mark.parametrize("cls", [lstmkit.LSTM, lstmkit.RNN], ids=["lstm", "rnn"])
def test_lengths_under_func_grad(cls):
    """torch.func.grad through a layer with lengths=: torch's packed kernel cannot read
    functorch's wrapped tensors (torch.nn fails the same way on a PackedSequence), so
    ``auto`` runs another backend, with the reference's gradients, and an explicit
    ``native`` raises one error naming the tool."""
    from torch.func import functional_call, grad

    torch.manual_seed(0)
    x, lengths = _input(False), torch.tensor([7, 3, 5])

    def grads(backend):
        m = cls(I, H, num_layers=2, bidirectional=True, backend=backend)
        m.load_state_dict(ref.state_dict())
        params = {k: v.detach() for k, v in m.named_parameters()}
        return grad(lambda p: functional_call(m, p, (x,), {"lengths": lengths})[0].square().sum())(params)

    ref = cls(I, H, num_layers=2, bidirectional=True, backend="reference")
    want, got = grads("reference"), grads("auto")
    for name in want:
        _close([got[name]], [want[name]], f"func.grad of {name} with lengths")
    with pytest.raises(ValueError, match="torch.func transform.*packed kernel"):
        grads("native")


def test_onnx_export_of_a_projected_lstm():
    """ONNX's LSTM operator has no projection (torch.nn.LSTM with proj_size: the
    TorchScript exporter refuses, the dynamo exporter writes a graph onnxruntime rejects).
    lstmkit's dynamo export runs the reference loop there, giving the layer's numbers; the
    TorchScript exporter raises one error naming proj_size and lstmkit.export."""
    torch.manual_seed(0)
    net = Net(lstmkit.LSTM(I, H, proj_size=4, num_layers=2, bidirectional=True), False).eval()
    net.fc = nn.Linear(8, 2)
    x = _input(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(net, (x,), dynamo=True, verbose=False)
    _close(_ort(prog.model_proto.SerializeToString(), x), [t.detach() for t in net(x)],
           "onnxruntime (dynamo export) of a projected LSTM")
    with pytest.raises(ValueError, match="no proj_size.*lstmkit.export.to_onnx"):
        torch.onnx.export(net, (x,), io.BytesIO(), dynamo=False)


class _WithState(nn.Module):
    """A layer called with its initial state (and lengths), returning every output."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x, h0, c0, lengths=None):
        state = (h0, c0) if isinstance(self.rnn, lstmkit.LSTM) else h0
        out, hn = self.rnn(x, state, lengths=lengths)
        return (out, *hn) if isinstance(hn, tuple) else (out, hn)


@pytest.mark.parametrize("case", [
    "lstm", "gru", "rnn_relu",
    pytest.param("lstm_lengths", marks=pytest.mark.slow), pytest.param("gru_lengths", marks=pytest.mark.slow),
    pytest.param("rnn", marks=pytest.mark.slow)])
def test_onnx_dynamo_export_with_dynamic_time(case):
    """torch.onnx.export(dynamo=True) of a plain layer with dynamic time and batch axes
    (torch.nn's layers cannot: the exporter fixes their length): two layers, both
    directions, batch first, the initial state as an input, and variable lengths. The
    graph holds ONNX's own operator per layer, and onnxruntime gives the layer's numbers
    at other lengths and batches. Before, torch's kernel declared its output at the
    example's length and the exporter folded that length into a Reshape: another length
    gave an output of the wrong shape (10 x 1 read as 5 x 2) or an onnxruntime error."""
    import onnx
    from torch.export import Dim

    mode, lengths = case.replace("_lengths", ""), case.endswith("_lengths")
    cls = {"lstm": lstmkit.LSTM, "gru": lstmkit.GRU, "rnn": lstmkit.RNN, "rnn_relu": lstmkit.RNN}[mode]
    kw = {"nonlinearity": "relu"} if mode == "rnn_relu" else {}
    torch.manual_seed(0)
    net = _WithState(cls(I, H, num_layers=2, bidirectional=True, batch_first=True, **kw)).eval()
    g = torch.Generator().manual_seed(4)

    def inputs(t, b):
        x = torch.randn(b, t, I, generator=g)
        h0, c0 = torch.randn(4, b, H, generator=g), torch.randn(4, b, H, generator=g)
        if not lengths:
            return (x, h0, c0)
        return (x, h0, c0, torch.randint(1, t + 1, (b,), generator=g).sort(descending=True).values)

    time, batch = Dim("time", min=2, max=256), Dim("batch", max=64)
    axes = ({0: batch, 1: time}, {1: batch}, {1: batch}) + (({0: batch},) if lengths else ())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(net, inputs(7, 3), dynamo=True, verbose=False, dynamic_shapes=axes)
    proto = prog.model_proto.SerializeToString()
    ops = [n.op_type for n in onnx.load_from_string(proto).graph.node]
    assert ops.count({"lstm": "LSTM", "gru": "GRU"}.get(mode, "RNN")) == 2, ops
    import onnxruntime as ort

    sess = ort.InferenceSession(proto, providers=["CPUExecutionProvider"])
    for t, b in ((7, 3), (10, 1), (9, 2), (2, 5)):
        feed = inputs(t, b)
        got = sess.run(None, {i.name: v.numpy() for i, v in zip(sess.get_inputs(), feed)})
        with torch.no_grad():
            want = net(*feed)
        _close([torch.from_numpy(a) for a in got], list(want), f"onnxruntime at T={t}, B={b}")


@pytest.mark.skipif(lstmkit.backends.get("compiled").unavailable() is not None,
                    reason="the compiled backend is unavailable")
@pytest.mark.parametrize("cls", [lstmkit.LSTM, lstmkit.GRU, lstmkit.RNN], ids=["lstm", "gru", "rnn"])
def test_export_keeps_torch_kernel_unless_time_is_dynamic(cls):
    """torch.export of a plain layer: with a static length or a dynamic batch only, the
    program holds torch's own kernel (it runs without lstmkit); with a dynamic time axis
    (which torch's kernel would fix: torch.nn raises ConstraintViolation) ``auto`` runs the
    compiled operator, and the program runs any length."""
    from torch.export import Dim

    torch.manual_seed(0)
    net = Net(cls(I, H), False).eval()
    x = _input(False)
    batch, time = Dim("batch", min=1, max=64), Dim("time", min=2, max=512)

    def targets(ep):
        return {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}

    for shapes in (None, {"x": {1: batch}}):
        ops = targets(torch.export.export(net, (x,), dynamic_shapes=shapes))
        assert not any("lstmkit" in t for t in ops), ops
    ep = torch.export.export(net, (x,), dynamic_shapes={"x": {0: time, 1: batch}})
    assert any("lstmkit.compiled_forward" in t for t in targets(ep))
    x3 = _input(False, T2 + 4, B2, seed=3)
    _close(ep.module()(x3), [t.detach() for t in net(x3)], "dynamic-time program, another length")

def test_quantization_refuses_instead_of_staying_float():
    """quantize_dynamic targeting lstmkit's types raises; its default spec (torch.nn's
    types only) quantizes the Linear and leaves the layer float, as for any module it
    does not know; an explicit qconfig = None keeps a layer float in any flow."""
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    for module_id in ("lstm", "gru_cell"):
        _, kit_cls, cell, _ = MODULES[module_id]
        net = Net(kit_cls(I, H), cell)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(ValueError, match="no int8 form"):
                quantize_dynamic(net, {kit_cls, nn.Linear})
            with pytest.raises(ValueError, match="no int8 form"):
                quantize_dynamic(net, {"rnn": default_dynamic_qconfig})
            q = quantize_dynamic(Net(kit_cls(I, H), cell))
            assert type(q.rnn) is kit_cls and type(q.fc) is not nn.Linear
            net.rnn.qconfig = None
            q = quantize_dynamic(net, {kit_cls, nn.Linear})
            assert type(q.rnn) is kit_cls


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_vmap_and_jvp_route_auto_to_a_backend_with_their_rules(cls):
    """torch.func.vmap and jvp run the forward themselves, and torch's fused kernels have no
    rule for them (torch.nn.LSTM fails under both): auto runs the reference loop, which
    gives torch.nn's numbers; an explicit fast backend refuses in one line."""
    torch.manual_seed(0)
    kit = getattr(lstmkit, cls)(4, 5)
    ref = getattr(torch.nn, cls)(4, 5)
    ref.load_state_dict(kit.state_dict())
    xs = torch.randn(2, 6, 3, 4)  # vmap over the first dimension of (T, B, I) inputs

    def run(m):
        return lambda x: m(x)[0]

    with torch.no_grad():
        per_sample = torch.stack([ref(x)[0] for x in xs])
        assert torch.allclose(torch.func.vmap(run(kit))(xs), per_sample, atol=1e-5)
    x, v = torch.randn(6, 3, 4), torch.randn(6, 3, 4)
    out, tangent = torch.func.jvp(run(kit), (x,), (v,))
    out_ref, tangent_ref = torch.autograd.functional.jvp(run(ref), (x,), (v,))
    assert torch.allclose(out, out_ref, atol=1e-5) and torch.allclose(tangent, tangent_ref, atol=1e-5)
    for backend in ("compiled", "fused", "native"):
        explicit = getattr(lstmkit, cls)(4, 5, backend=backend)
        with pytest.raises(ValueError, match="vmap or jvp"):
            torch.func.jvp(run(explicit), (x,), (v,))
