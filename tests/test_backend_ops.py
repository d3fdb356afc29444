"""The compiled and fused backends under torch's own tools.

Each case runs a small model (rnn -> Linear; T=7, B=3, I=8, H=16) on the backend under a
tool and compares its numbers with the reference backend's (float32: 1e-5 relative to
the largest value; float64 where the check is a gradient of a gradient):
``torch.jit.trace`` with and without grad, saved, reloaded and run on a new input of
another length and batch; ``torch.export`` static and with dynamic batch and time;
double backward (gradient penalties on the input's and on the parameters' gradients,
and ``gradgradcheck``); ``torch.func.grad``; ``torch.compile(fullgraph=True)`` training
(one case per backend by default, the rest marked slow); ``jvp`` and ``vmap`` raise;
the operators pass ``torch.library.opcheck``.
"""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch
import torch.nn as nn

import lstmkit
from lstmkit import backends

T, B, I, H = 7, 3, 8, 16

CASES = {
    "lstm": ("LSTM", {}),
    "gru": ("GRU", {}),
    "rnn": ("RNN", {}),
    "lstm-ln": ("LSTM", {"layer_norm": True}),
    "lstm-peephole": ("LSTM", {"peephole": True}),
}


def _available(name):
    return backends.get(name).unavailable() is None


BACKENDS = [
    pytest.param("compiled", marks=pytest.mark.skipif(not _available("compiled"), reason="compiled backend unavailable")),
    "fused",
]


class Model(nn.Module):
    def __init__(self, case, backend, dtype=torch.float32, **extra):
        super().__init__()
        name, kw = CASES[case]
        self.rnn = getattr(lstmkit, name)(I, H, backend=backend, dtype=dtype, **kw, **extra)
        self.fc = nn.Linear(H * (2 if extra.get("bidirectional") else 1), 2, dtype=dtype)

    def forward(self, x):
        return self.fc(self.rnn(x)[0])


def pair(case, backend, dtype=torch.float32, **extra):
    """The model on ``backend`` and the same model (same weights) on the reference backend."""
    torch.manual_seed(0)
    m = Model(case, backend, dtype, **extra)
    r = Model(case, "reference", dtype, **extra)
    r.load_state_dict(m.state_dict())
    return m, r


def close(a, b, tol=1e-5):
    assert a is not None and b is not None
    assert a.shape == b.shape
    err = (a - b).abs().max().item()
    scale = max(1.0, b.abs().max().item())
    assert err <= tol * scale, f"off by {err:.3g} (scale {scale:.3g})"


def grads(model, x):
    xg = x.clone().requires_grad_()
    out = model(xg)
    out.square().sum().backward()
    res = [xg.grad] + [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    return out.detach(), res


@pytest.mark.parametrize("grad", [True, False], ids=["grad", "no_grad"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("backend", BACKENDS)
def test_jit_trace_save_load(backend, case, grad):
    m, r = pair(case, backend)
    x = torch.randn(T, B, I)
    with torch.set_grad_enabled(grad):
        traced = torch.jit.trace(m, x, check_trace=False)
    buf = io.BytesIO()
    torch.jit.save(traced, buf)
    buf.seek(0)
    loaded = torch.jit.load(buf)
    x2 = torch.randn(T + 4, B + 2, I)  # a new input, another length and batch
    with torch.no_grad():
        close(loaded(x2), r(x2))
    if grad:  # the loaded graph trains too
        out, g = grads(loaded, x2)
        out_r, g_r = grads(r, x2)
        close(out, out_r)
        for a, b in zip(g, g_r):
            close(a, b)


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("backend", BACKENDS)
def test_export(backend, case, dynamic):
    m, r = pair(case, backend)
    x = torch.randn(T, B, I)
    shapes = None
    if dynamic:
        shapes = {"x": {0: torch.export.Dim("time", min=2, max=256), 1: torch.export.Dim("batch", min=2, max=256)}}
    ep = torch.export.export(m, (x,), dynamic_shapes=shapes)
    x2 = torch.randn(T + 5, B + 3, I) if dynamic else torch.randn(T, B, I)
    close(ep.module()(x2), r(x2))


def _penalty_grads(model, x):
    """A gradient penalty on the input's gradient and on the parameters' gradients,
    differentiated w.r.t. the parameters (the WGAN-GP / double-backward pattern)."""
    xg = x.clone().requires_grad_()
    params = list(model.parameters())
    loss = model(xg).square().sum()
    gx, *gp = torch.autograd.grad(loss, [xg, *params], create_graph=True)
    penalty = gx.square().sum() + sum(g.square().sum() for g in gp)
    return torch.autograd.grad(penalty, params)  # raises if any parameter got no graph


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("backend", BACKENDS)
def test_double_backward_matches_reference(backend, case):
    m, r = pair(case, backend, torch.float64, bidirectional=True)
    x = torch.randn(T, B, I, dtype=torch.float64)
    for a, b in zip(_penalty_grads(m, x), _penalty_grads(r, x)):
        close(a, b, 1e-9)


def _gradgrad_cases():
    quick = {("compiled", "lstm-ln"), ("compiled", "gru"), ("fused", "lstm")}
    for backend in ("compiled", "fused"):
        for case in ("lstm", "gru", "lstm-ln"):
            marks = [] if (backend, case) in quick else [pytest.mark.slow]
            if backend == "compiled" and not _available("compiled"):
                marks.append(pytest.mark.skip(reason="compiled backend unavailable"))
            yield pytest.param(backend, case, marks=marks, id=f"{backend}-{case}")


@pytest.mark.parametrize("backend,case", list(_gradgrad_cases()))
def test_gradgradcheck(backend, case):
    torch.manual_seed(0)
    name, kw = CASES[case]
    layer = getattr(lstmkit, name)(3, 4, backend=backend, dtype=torch.float64, **kw)
    # the input and the recurrent weights (the rest as constants, to keep it quick)
    names = [n for n, _ in layer.named_parameters() if n.startswith(("weight_hh", "bias_hh", "ln_hh_w"))]
    params = [getattr(layer, n).detach().clone().requires_grad_() for n in names]
    x = torch.randn(3, 2, 3, dtype=torch.float64, requires_grad=True)

    def f(x, *ps):
        return torch.func.functional_call(layer, dict(zip(names, ps)), (x,), strict=False)[0]

    # functional_call keeps the layer eager here: double backward on the backend's own path
    assert torch.autograd.gradcheck(f, (x, *params))
    assert torch.autograd.gradgradcheck(f, (x, *params))


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("backend", BACKENDS)
def test_func_grad(backend, case):
    from torch.func import functional_call, grad

    m, r = pair(case, backend)
    x = torch.randn(T, B, I)
    res = []
    for model in (m, r):
        params = dict(model.named_parameters())
        res.append(grad(lambda p, x: functional_call(model, p, (x,)).square().sum(), argnums=(0, 1))(params, x))
    (gp, gx), (gp_r, gx_r) = res
    close(gx, gx_r)
    for k in gp:
        close(gp[k], gp_r[k])


@pytest.mark.parametrize("backend", BACKENDS)
def test_jvp_and_vmap_raise(backend):
    """No forward-mode or batching rule: torch says so instead of a wrong number."""
    m, _ = pair("lstm", backend)
    x = torch.randn(T, B, I)
    params = dict(m.named_parameters())
    with pytest.raises(Exception):
        torch.func.jvp(lambda x: torch.func.functional_call(m, params, (x,)), (x,), (torch.ones_like(x),))
    with pytest.raises(Exception):
        torch.func.vmap(lambda x: torch.func.functional_call(m, params, (x,)))(torch.randn(2, T, B, I))


def _compile_training(backend, case):
    torch._dynamo.reset()
    m, r = pair(case, backend)
    x = torch.randn(T + 1, B + 1, I)
    compiled = torch.compile(m, fullgraph=True)
    out, g = grads(compiled, x)
    out_r, g_r = grads(r, x)
    close(out, out_r)
    for a, b in zip(g, g_r):
        close(a, b)
    with torch.no_grad():
        close(compiled(x), r(x))


@pytest.mark.parametrize("backend", BACKENDS)
def test_compile_training(backend):
    _compile_training(backend, "lstm")


@pytest.mark.slow
@pytest.mark.parametrize("case", ["gru", "rnn", "lstm-ln", "lstm-peephole"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_compile_training_variants(backend, case):
    _compile_training(backend, case)


@pytest.mark.parametrize("backend", BACKENDS)
def test_eager_after_tools_and_copies(backend):
    """The operators leave plain modules alone: deepcopy and pickle still work, and the
    eager numbers are the reference's."""
    m, r = pair("lstm-ln", backend)
    x = torch.randn(T, B, I)
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        close(clone(x), r(x))
    out, g = grads(m, x)
    out_r, g_r = grads(r, x)
    for a, b in zip(g, g_r):
        close(a, b)


def test_unsupported_under():
    for name in ("compiled", "fused"):
        b = backends.get(name)
        assert b.unsupported_under(frozenset()) is None
        for tool in ("jit_trace", "export", "compile", "functorch", "double_backward"):
            assert b.unsupported_under(frozenset({tool})) is None, (name, tool)
        for tool in ("onnx_export", "autocast"):
            reason = b.unsupported_under(frozenset({tool, "jit_trace"}))
            assert isinstance(reason, str) and "\n" not in reason


def _op_args(mode, dtype=torch.float64, ln=False, proj=False):
    """Sample arguments of one direction for the operators (requires_grad on the floats)."""
    from lstmkit.backends.base import hidden_of

    torch.manual_seed(0)
    Hh, P = 4, (3 if proj else 4)
    G = {0: 4, 1: 3, 2: 1}[mode] * Hh
    t = lambda *s: torch.randn(*s, dtype=dtype, requires_grad=True)  # noqa: E731
    assert hidden_of(mode, False, G) == Hh
    mask = torch.tensor([[1, 1], [1, 1], [1, 0]], dtype=torch.bool).unsqueeze(-1)
    return [t(3, 2, G), t(2, P), t(2, Hh) if mode == 0 else None, t(G, P), t(G),
            t(P, Hh) if proj else None, t(G) if ln else None, t(G) if ln else None,
            None, None, None, None, None, None, None, None, mask]


@pytest.mark.parametrize("mode,ln,proj", [(0, False, False), (0, True, True), (1, False, False)],
                         ids=["lstm", "lstm-ln-proj", "gru"])
def test_opcheck(mode, ln, proj):
    args = _op_args(mode, ln=ln, proj=proj)
    opts = (mode, False, False, -1.0, False)
    torch.library.opcheck(torch.ops.lstmkit.fused_forward.default, (*args, *opts))
    if _available("compiled"):
        from lstmkit.backends.compiled import extension

        extension()
        torch.library.opcheck(torch.ops.lstmkit.compiled_forward.default, (*args, None, None, None, *opts, True))


@pytest.mark.skipif(not _available("compiled"), reason="compiled backend unavailable")
def test_compiled_backward_returns_no_aliased_gradients():
    """Each gradient of ``lstmkit::compiled_backward`` is a tensor of its own: in float64
    the summed bias gradients (b_hh, LN(W_hh h)'s bias, and with the input's layer norm
    b_ih and LN(W_ih x)'s bias, one sum) would otherwise be one tensor returned four
    times, which an operator's outputs must not be."""
    from lstmkit.backends.compiled import extension
    from lstmkit.backends.compiled.function import GRAD_ARGS

    extension()
    args = _op_args(0, ln=True)
    G = args[0].shape[-1]
    tensors = [*args, *(torch.randn(G, dtype=torch.float64) for _ in range(3))]  # lnx_w, lnx_b, b_x
    opts = (0, False, False, -1.0, False)
    out, _, _, saved = torch.ops.lstmkit.compiled_forward(*tensors, *opts, True)
    need = [tensors[i] is not None for i in GRAD_ARGS]
    grads = torch.ops.lstmkit.compiled_backward(*tensors, saved, torch.ones_like(out), None, None, *opts, need)
    got = [g for g, n in zip(grads, need, strict=True) if n]
    assert len(got) == sum(need) >= 8
    pointers = [g.data_ptr() for g in got]
    assert len(set(pointers)) == len(pointers)
    b_hh, ln_b, lnx_b, b_x = (grads[GRAD_ARGS.index(i)] for i in (4, 7, 18, 19))
    assert torch.equal(b_hh, ln_b) and torch.equal(b_hh, lnx_b) and torch.equal(b_hh, b_x)


@pytest.mark.skipif(not _available("compiled"), reason="compiled backend unavailable")
def test_traced_without_grad_refuses_backward():
    """A graph traced under no_grad kept nothing for backward: differentiating the
    reloaded graph raises one clear error instead of returning wrong gradients."""
    m, _ = pair("lstm", "compiled")
    x = torch.randn(T, B, I)
    with torch.no_grad():
        traced = torch.jit.trace(m, x, check_trace=False)
    with pytest.raises(RuntimeError, match="without autograd"):
        traced(x).sum().backward()


@pytest.mark.parametrize("backend", BACKENDS)
def test_ddp(backend, tmp_path):
    """DistributedDataParallel (one gloo process) wraps and trains a model on the backend."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        m, r = pair("gru", backend)
        x = torch.randn(T, B, I)
        ddp = DistributedDataParallel(m)
        out, g = grads(ddp, x)
        out_r, g_r = grads(r, x)
        for a, b in zip(g, g_r):
            close(a, b)
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not _available("compiled"), reason="compiled backend unavailable")
def test_compile_dynamic_as_first_use():
    """torch.compile(dynamic=True) as the first thing to touch the compiled backend (the
    extension not yet loaded: dynamo must not trace the build), then other shapes."""
    from lstmkit.backends.compiled import _build

    _build.reset()
    torch._dynamo.reset()
    torch.manual_seed(0)
    m = lstmkit.GRU(I, H, backend="compiled")
    r = lstmkit.GRU(I, H, backend="reference")
    r.load_state_dict(m.state_dict())
    compiled = torch.compile(m, fullgraph=True, dynamic=True)
    for t, b in ((T, B), (T + 3, B + 2)):
        x = torch.randn(t, b, I, requires_grad=True)
        compiled(x)[0].square().sum().backward()
        g = x.grad
        x.grad = None
        r(x)[0].square().sum().backward()
        close(g, x.grad)


@pytest.mark.parametrize("width", [2, 10, 11, 64])
@pytest.mark.parametrize("bias", [True, False])
def test_project_matches_linear(width, bias):
    """base.project (addmm on a contiguous W^T for inputs of at most NARROW_INPUT
    columns, F.linear above) gives F.linear's output and gradients, float64 to 1e-12."""
    from lstmkit.backends.base import NARROW_INPUT, project

    assert NARROW_INPUT == 10
    torch.manual_seed(0)
    x = torch.randn(5, 3, width, dtype=torch.float64, requires_grad=True)
    w = torch.randn(12, width, dtype=torch.float64, requires_grad=True)
    b = torch.randn(12, dtype=torch.float64, requires_grad=True) if bias else None
    g = torch.randn(5, 3, 12, dtype=torch.float64)
    got = project(x, w, b)
    want = torch.nn.functional.linear(x, w, b)
    assert got.shape == want.shape == (5, 3, 12)
    inputs = [x, w] + ([b] if bias else [])
    d_got = torch.autograd.grad(got, inputs, g)
    d_want = torch.autograd.grad(want, inputs, g)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    for a, e in zip(d_got, d_want):
        assert a.shape == e.shape
        torch.testing.assert_close(a, e, rtol=0, atol=1e-12)
