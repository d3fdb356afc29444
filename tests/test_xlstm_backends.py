"""The sLSTM's and mLSTM's backends against their reference (lstmkit.xlstm.backend).

Every backend gives the reference's outputs, final states and gradients (inputs, initial
states, every parameter) over a grid of head counts, lengths, initial states, layers and
directions (float32 within 1e-5 of each tensor's largest entry, float64 within 1e-10); float64 gradcheck and
gradgradcheck; the default backend under torch.compile(fullgraph=True), torch.export,
torch.jit.trace and torch.func; a bad ``backend=`` raises one InputError line.
"""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F

from lstmkit.errors import InputError
from lstmkit.xlstm import backend as xbackend
from lstmkit.xlstm import mLSTM, mlstm_fused, mlstm_math, sLSTM, slstm_compiled

D64 = torch.float64
compiled = pytest.mark.skipif(slstm_compiled.reason() is not None,
                              reason=f"the compiled sLSTM is unavailable: {slstm_compiled.reason()}")


def _rel(a, b) -> float:
    """The largest difference relative to the reference tensor's scale, max(max |b|, 1),
    over tensors or tuples of them."""
    if isinstance(a, (tuple, list)):
        return max(_rel(x, y) for x, y in zip(a, b))
    return ((a - b).abs().max() / b.abs().max().clamp(min=1.0)).item()


def _perturb(module, scale=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


def _state(layer, B, dtype, seed=1):
    """A random initial state for ``layer`` (n positive for the sLSTM)."""
    g = torch.Generator().manual_seed(seed)
    LD = layer.num_layers * (2 if layer.bidirectional else 1)
    H = layer.hidden_size
    if isinstance(layer, sLSTM):
        h, c, m = (torch.randn(LD, B, H, generator=g, dtype=dtype) for _ in range(3))
        n = torch.rand(LD, B, H, generator=g, dtype=dtype) + 0.5
        return h, c, n, m
    NH = layer.num_heads
    d = H // NH
    return (torch.randn(LD, B, NH, d, d, generator=g, dtype=dtype),
            torch.randn(LD, B, NH, d, generator=g, dtype=dtype),
            torch.randn(LD, B, NH, generator=g, dtype=dtype))


def _run(layer, x, state, lengths):
    """Outputs, final states and the gradients of a fixed random loss of both."""
    x = x.clone().requires_grad_()
    state = None if state is None else tuple(s.clone().requires_grad_() for s in state)
    out, final = layer(x, state, lengths=lengths)
    g = torch.Generator().manual_seed(7)
    loss = sum((t * torch.randn(t.shape, generator=g, dtype=t.dtype)).sum() for t in (out, *final))
    leaves = [x, *(state or ()), *layer.parameters()]
    grads = torch.autograd.grad(loss, leaves)
    return (out, *final), grads


def _pair(cls, backend, dtype, **kw):
    torch.manual_seed(0)
    ref = cls(5, 8, dtype=dtype, backend="reference", **kw)
    _perturb(ref)
    other = cls(5, 8, dtype=dtype, backend=backend, **kw)
    other.load_state_dict(ref.state_dict())
    return ref, other


GRID = [
    {"num_heads": 1},
    {"num_heads": 2, "lengths": True},
    {"num_heads": 4, "state": True},
    {"num_heads": 2, "num_layers": 2, "bidirectional": True, "lengths": True, "state": True},
]


def _check_grid(cls, backend, case, dtype, tol, extra=None):
    case = dict(case)
    use_lengths, use_state = case.pop("lengths", False), case.pop("state", False)
    ref, other = _pair(cls, backend, dtype, **case, **(extra or {}))
    T, B = 9, 3
    x = torch.randn(T, B, 5, dtype=dtype, generator=torch.Generator().manual_seed(3))
    lengths = torch.tensor([9, 4, 1]) if use_lengths else None
    state = _state(ref, B, dtype) if use_state else None
    want, gwant = _run(ref, x, state, lengths)
    got, ggot = _run(other, x, state, lengths)
    assert _rel(got, want) < tol
    assert _rel(ggot, gwant) < tol


@compiled
@pytest.mark.parametrize("case", GRID)
@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_slstm_compiled_matches_reference(case, forget_gate):
    _check_grid(sLSTM, "compiled", case, torch.float32, 1e-5,
                {"forget_gate": forget_gate, "recurrent_init": "uniform"})


@compiled
@pytest.mark.parametrize("case", GRID[1:3])
def test_slstm_compiled_matches_reference_float64(case):
    _check_grid(sLSTM, "compiled", case, D64, 1e-10, {"recurrent_init": "uniform"})


@pytest.mark.parametrize("case", GRID)
def test_mlstm_fused_matches_reference(case):
    """float32 against the reference's chunkwise form (its parallel form loses digits to
    the cumulative log forget gates in float32, docs/xlstm.md; float64 below)."""
    _check_grid(mLSTM, "fused", case, torch.float32, 1e-5, {"form": "chunkwise", "chunk_size": 4})


@pytest.mark.parametrize("case", GRID)
@pytest.mark.parametrize("form", ["parallel", "chunkwise", "recurrent"])
def test_mlstm_fused_matches_reference_float64(case, form):
    _check_grid(mLSTM, "fused", case, D64, 1e-10, {"form": form, "chunk_size": 4})


@pytest.mark.parametrize("T,chunk", [(1, 4), (7, 3), (12, 4), (5, 64), (40, 16)])
def test_mlstm_fused_chunk_sizes(T, chunk):
    """Chunks that do not divide T, one chunk, one step: the parallel form's numbers."""
    g = torch.Generator().manual_seed(0)
    B, NH, d = 2, 3, 4
    q, k, v = (torch.randn(B, NH, T, d, generator=g, dtype=D64, requires_grad=True) for _ in range(3))
    log_i = torch.randn(B, NH, T, generator=g, dtype=D64, requires_grad=True)
    log_f = F.logsigmoid(2 * torch.randn(B, NH, T, generator=g, dtype=D64) + 2).requires_grad_()
    state = tuple(torch.randn(*s, generator=g, dtype=D64, requires_grad=True)
                  for s in ((B, NH, d, d), (B, NH, d), (B, NH)))
    inputs = (q, k, v, log_i, log_f, *state)
    h1, s1 = mlstm_math.parallel(q, k, v, log_i, log_f, state)
    h2, s2 = mlstm_fused.chunkwise(q, k, v, log_i, log_f, state, chunk_size=chunk)
    assert _rel((h2, *s2), (h1, *s1)) < 1e-10
    loss1 = h1.square().sum() + sum(s.sum() for s in s1)
    loss2 = h2.square().sum() + sum(s.sum() for s in s2)
    assert _rel(torch.autograd.grad(loss2, inputs), torch.autograd.grad(loss1, inputs)) < 1e-10



def test_mlstm_fused_gradient_on_both_sides_of_the_normaliser_maximum():
    """The fused form's written-out backward where the denominator max(|q.n|, exp(-m)) takes
    either side: tiny queries on even steps put those on the exp(-m) side (their output
    doubles when the query doubles), most others on the |q.n| side (their output stays).
    Gradients of every input match the parallel form's autograd (float64, 1e-10), and
    the gradient differentiates again (gradgradcheck)."""
    g = torch.Generator().manual_seed(2)
    B, NH, T, d = 1, 2, 9, 3
    small = torch.arange(T) % 2 == 0
    q = torch.randn(B, NH, T, d, generator=g, dtype=D64) * torch.where(small, 1e-3, 1.0)[:, None]
    k, v = (torch.randn(B, NH, T, d, generator=g, dtype=D64) for _ in range(2))
    log_i = torch.randn(B, NH, T, generator=g, dtype=D64)
    log_f = F.logsigmoid(torch.randn(B, NH, T, generator=g, dtype=D64) + 3)
    state = (torch.randn(B, NH, d, d, generator=g, dtype=D64),
             torch.randn(B, NH, d, generator=g, dtype=D64), torch.zeros(B, NH, dtype=D64))
    inputs = tuple(t.clone().requires_grad_() for t in (q, k, v, log_i, log_f, *state))
    h = mlstm_math.parallel(*inputs[:5], inputs[5:])[0].detach()
    ratio = (mlstm_math.parallel(2 * q, k, v, log_i, log_f, state)[0] / h).mean(-1)
    assert torch.allclose(ratio[..., small], torch.tensor(2.0, dtype=D64), atol=1e-6)
    assert ((ratio[..., ~small] - 1).abs() < 1e-3).sum() >= 4

    def loss(form, *args):
        out, final = form(*args[:5], args[5:])
        return out.square().sum() + sum(s.sum() for s in final)

    want = torch.autograd.grad(loss(mlstm_math.parallel, *inputs), inputs)
    fused = lambda *a: mlstm_fused.chunkwise(*a, chunk_size=4)
    got = torch.autograd.grad(loss(fused, *inputs), inputs)
    assert _rel(got, want) < 1e-10
    assert torch.autograd.gradgradcheck(lambda *a: loss(fused, *a), inputs)


def test_mlstm_fused_long_sequence_with_strong_forgetting_keeps_float32_precision():
    """T = 4096 with a summed log forget gate near -20,000: the float32 fused form stays
    within 1e-3 (relative) of the float64 chunkwise reference, outputs and final state
    (the chunk-level sums run in float64)."""
    g = torch.Generator().manual_seed(0)
    B, NH, T, d = 2, 2, 4096, 16
    q, k, v = (torch.randn(B, NH, T, d, generator=g, dtype=D64) for _ in range(3))
    log_i = 3 * torch.randn(B, NH, T, generator=g, dtype=D64)
    # forget gates near 0 for the first half (a summed log forget gate near -20,000 by
    # the middle), near 1 after it: the second half's chunks carry memory across chunks
    # while their cumulative sums are large, the case float32 sums would round
    pre = torch.randn(B, NH, T, generator=g, dtype=D64)
    log_f = F.logsigmoid(torch.where(torch.arange(T) < T // 2, pre - 10, pre + 5))
    assert log_f.sum(-1).min() < -10_000
    want, (C, n, m) = mlstm_math.chunkwise(q, k, v, log_i, log_f, chunk_size=64)
    got, (C2, n2, m2) = mlstm_fused.chunkwise(*(t.float() for t in (q, k, v, log_i, log_f)),
                                              chunk_size=64)
    # float32 rounding of the inputs alone gives about 1e-4 here (the reference's own
    # chunkwise form in float32: 7e-5); float32 chunk-level sums would give 6e-2
    assert _rel(got.double(), want) < 1e-3
    assert _rel((C2.double(), n2.double()), (C, n)) < 1e-3
    assert (m2.double() - m).abs().max() < 1e-2

@compiled
def test_slstm_no_grad_forward_matches():
    ref, other = _pair(sLSTM, "compiled", torch.float32, num_heads=2)
    x = torch.randn(6, 2, 5)
    with torch.no_grad():
        assert _rel(other(x)[0], ref(x)[0]) < 1e-5


# --- gradcheck ------------------------------------------------------------------------------

@compiled
def test_slstm_compiled_gradcheck_and_gradgradcheck():
    layer = sLSTM(2, 4, num_heads=2, dtype=D64, backend="compiled", recurrent_init="uniform")
    _perturb(layer)
    x = torch.randn(4, 2, 2, dtype=D64, requires_grad=True)
    state = tuple(s.requires_grad_() for s in _state(layer, 2, D64))
    lengths = torch.tensor([4, 3])

    def f(x, *state):
        out, final = layer(x, state, lengths=lengths)
        return (out, *final)

    assert torch.autograd.gradcheck(f, (x, *state))
    # double backward recomputes on the reference loop: a gradient with a graph
    assert torch.autograd.gradgradcheck(lambda x: layer(x, lengths=lengths)[0], (x,))


def test_mlstm_fused_gradcheck_and_gradgradcheck():
    layer = mLSTM(2, 4, num_heads=2, dtype=D64, backend="fused", chunk_size=2)
    _perturb(layer)
    x = torch.randn(5, 2, 2, dtype=D64, requires_grad=True)
    state = tuple(s.requires_grad_() for s in _state(layer, 2, D64))
    lengths = torch.tensor([5, 3])

    def f(x, *state):
        out, final = layer(x, state, lengths=lengths)
        return (out, *final)

    assert torch.autograd.gradcheck(f, (x, *state))
    assert torch.autograd.gradgradcheck(lambda x: layer(x, lengths=lengths)[0], (x,))


# --- choice and errors ----------------------------------------------------------------------

@pytest.mark.parametrize("cls,bad", [(sLSTM, "fused"), (sLSTM, "cuda"), (mLSTM, "compiled"),
                                     (mLSTM, None)])
def test_bad_backend_raises_one_line(cls, bad):
    with pytest.raises(InputError) as err:
        cls(4, 4, backend=bad)
    assert "\n" not in str(err.value) and "backend" in str(err.value)


def test_compiled_where_it_cannot_run_raises_one_line():
    layer = sLSTM(4, 4, backend="compiled", dtype=torch.bfloat16)
    with pytest.raises(InputError) as err:
        layer(torch.randn(3, 2, 4, dtype=torch.bfloat16))
    assert "\n" not in str(err.value) and "float32" in str(err.value)


def test_auto_falls_back_to_reference_where_compiled_cannot_run():
    layer = sLSTM(4, 4, dtype=torch.bfloat16)
    out, _ = layer(torch.randn(3, 2, 4, dtype=torch.bfloat16))
    assert out.shape == (3, 2, 4)
    assert xbackend.slstm_choice("auto", torch.zeros(1, dtype=torch.bfloat16)) == "reference"


def test_auto_says_why_without_the_extension(monkeypatch):
    monkeypatch.setattr(slstm_compiled, "_tried", True)
    monkeypatch.setattr(slstm_compiled, "_module", None)
    monkeypatch.setattr(slstm_compiled, "_reason", "turned off by LSTMKIT_COMPILED=0")
    assert xbackend.slstm_choice("auto", torch.zeros(1)) == "reference"
    with pytest.raises(InputError, match="LSTMKIT_COMPILED=0"):
        xbackend.slstm_choice("compiled", torch.zeros(1))


@compiled
def test_auto_picks_compiled_and_fused():
    assert xbackend.slstm_choice("auto", torch.zeros(1)) == "compiled"
    assert xbackend.mlstm_choice("auto", torch.zeros(1)) == "fused"


def test_use_sets_every_layer():
    model = torch.nn.ModuleList([sLSTM(4, 4), mLSTM(4, 4)])
    assert xbackend.use(model, "reference") == 2
    assert model[0].backend == model[1].backend == "reference"
    with pytest.raises(InputError):
        xbackend.use(model, "compiled")   # not an mLSTM backend


# --- torch's tools on the default backend ---------------------------------------------------

def _layers():
    torch.manual_seed(0)
    s, m = sLSTM(4, 8, num_heads=2), mLSTM(4, 8, num_heads=2, chunk_size=4)
    _perturb(s)
    _perturb(m)
    return s, m


@compiled
def test_compile_fullgraph_training():
    s, m = _layers()
    x = torch.randn(6, 2, 4)
    for layer in (s, m):
        want = layer(x)[0]
        gwant = torch.autograd.grad(want.sum(), list(layer.parameters()))
        compiled_layer = torch.compile(layer, fullgraph=True, backend="aot_eager")
        got = compiled_layer(x)[0]
        ggot = torch.autograd.grad(got.sum(), list(layer.parameters()))
        assert _rel(got, want) < 1e-5 and _rel(ggot, gwant) < 1e-5


@compiled
def test_export_and_trace():
    s, m = _layers()
    x = torch.randn(6, 2, 4)
    for layer in (s, m):
        want = layer(x)[0]
        exported = torch.export.export(layer, (x,))
        assert _rel(exported.module()(x)[0], want) < 1e-5
        traced = torch.jit.trace(layer, (x,), check_trace=False)
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
        buf.seek(0)
        assert _rel(torch.jit.load(buf)(x)[0], want) < 1e-5
    graph = str(torch.export.export(s, (x,)).graph)
    assert "xlstm_slstm_forward" in graph   # one opaque operator, not T steps


def test_torch_func_grad_runs_on_a_backend_that_supports_it():
    s, m = _layers()
    x = torch.randn(5, 2, 4)
    for layer in (s, m):
        xr = x.clone().requires_grad_()
        want = torch.autograd.grad(layer(xr)[0].sum(), xr)[0]
        got = torch.func.grad(lambda x, layer=layer: layer(x)[0].sum())(x)
        assert _rel(got, want) < 1e-5


def _onnx_run(layer, x, dynamo: bool):
    import warnings

    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            proto = torch.onnx.export(layer, (x,), dynamo=True, verbose=False).model_proto
            proto = proto.SerializeToString()
        else:
            buf = io.BytesIO()
            torch.onnx.export(layer, (x,), buf, dynamo=False, input_names=["x"])
            proto = buf.getvalue()
    sess = ort.InferenceSession(proto, providers=["CPUExecutionProvider"])
    return torch.from_numpy(sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0])


def test_onnx_export_runs_in_onnxruntime():
    """auto runs the reference loop under the TorchScript ONNX exporter (the compiled
    operator and the fused chunk loop have no ONNX form it can write)."""
    s, m = _layers()
    x = torch.randn(6, 2, 4)   # two chunks of 4 for the mLSTM
    for layer in (s, m):
        layer.eval()
        assert _rel(_onnx_run(layer, x, dynamo=False), layer(x)[0]) < 1e-5


@pytest.mark.slow
def test_onnx_dynamo_export_runs_in_onnxruntime():
    s, m = _layers()
    x = torch.randn(6, 2, 4)
    for layer in (s, m):
        layer.eval()
        assert _rel(_onnx_run(layer, x, dynamo=True), layer(x)[0]) < 1e-5


# --- the Triton kernels through backend= (in triton's interpreter, in a child process) -------

def test_triton_where_it_cannot_run_raises_one_line():
    from lstmkit.xlstm import slstm_triton

    if slstm_triton.interpreting():
        pytest.skip("this process runs triton's interpreter, where the kernels do run on the CPU")
    for cls in (sLSTM, mLSTM):
        with pytest.raises(InputError) as err:
            cls(4, 4, backend="triton")(torch.randn(3, 2, 4))
        assert "\n" not in str(err.value) and "triton" in str(err.value)
    assert xbackend.slstm_choice("auto", torch.zeros(1)) != "triton"   # never on the CPU
    assert xbackend.mlstm_choice("auto", torch.zeros(1)) != "triton"


_TRITON_CHILD = """
import torch
from lstmkit.xlstm import sLSTM, mLSTM
torch.manual_seed(0)
worst = 0.0
for cls, kw in ((sLSTM, {"recurrent_init": "uniform"}), (mLSTM, {"chunk_size": 2})):
    ref = cls(3, 4, num_heads=2, backend="reference", **kw)
    tri = cls(3, 4, num_heads=2, backend="triton", **kw)
    tri.load_state_dict(ref.state_dict())
    x = torch.randn(5, 2, 3)
    lengths = torch.tensor([5, 3])
    outs = []
    for layer in (ref, tri):
        xi = x.clone().requires_grad_()
        out, state = layer(xi, lengths=lengths)
        loss = (out * torch.arange(out.numel()).reshape(out.shape).sin()).sum() + state[0].sum()
        outs.append([out, *state, *torch.autograd.grad(loss, [xi, *layer.parameters()])])
    worst = max(worst, max(((a - b).abs().max() / b.abs().max().clamp(min=1)).item()
                           for a, b in zip(outs[1], outs[0])))
print(worst)
"""


def test_triton_backend_matches_reference_in_the_interpreter():
    import os
    import subprocess
    import sys

    pytest.importorskip("triton", reason="triton is not installed")
    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", _TRITON_CHILD], env=env, capture_output=True, check=False,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert float(run.stdout.strip().splitlines()[-1]) < 1e-5
