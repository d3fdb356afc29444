"""ConvLSTM under torch's tools: ``auto`` runs the reference loop under torch.compile,
torch.export, torch.jit.trace and torch.func (the fused loop's autograd.Function cannot
run there) and gives the eager numbers; an explicit ``fused`` is refused there by name;
double backward through the fused loop is exact (it differentiates the reference loop
again) instead of a gradient without its graph."""

from __future__ import annotations

import io
import warnings

import pytest
import torch

import lstmkit
from lstmkit.convlstm import common

leaves = torch.utils._pytree.tree_leaves


def _layer(**kw):
    torch.manual_seed(0)
    return lstmkit.ConvLSTM(2, 3, kernel_size=3, num_layers=2, peephole=True, **kw).eval()


def _cell(**kw):
    torch.manual_seed(0)
    return lstmkit.ConvLSTMCell(2, 3, kernel_size=(3, 5), peephole=True, **kw).eval()


def _perturb_peepholes(m):
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.startswith("peephole"):
                p.uniform_(-0.5, 0.5)
    return m


def _close(a, b, tol=2e-5):
    for u, v in zip(leaves(a), leaves(b)):
        torch.testing.assert_close(u, v, rtol=tol, atol=tol)


@pytest.mark.parametrize("make,shapes,dynamic", [
    # a layer's (B, T, C, Y, X) frames: static shapes (with dynamic ones torch 2.13's
    # Inductor cannot order the strides of a convolution's input taken from a 5-D
    # tensor whose weight trains; plain torch code stops the same way: docs/video.md)
    (_layer, [(2, 4, 2, 5, 5), (3, 6, 2, 6, 4)], False),
    (_cell, [(2, 2, 5, 5), (3, 2, 6, 4)], None),  # the second shape recompiles dynamic
])
def test_compile_fullgraph_at_new_shapes(make, shapes, dynamic):
    m = _perturb_peepholes(make())
    compiled = torch.compile(m, fullgraph=True, dynamic=dynamic)
    for shape in shapes:
        x = torch.randn(shape)
        _close(compiled(x), m(x))


def test_export_with_dynamic_batch_and_frame_size():
    m = _perturb_peepholes(_layer())
    x = torch.randn(2, 4, 2, 5, 5)
    dims = {0: torch.export.Dim("B"), 3: torch.export.Dim("Y", min=2), 4: torch.export.Dim("X", min=2)}
    program = torch.export.export(m, (x,), dynamic_shapes=(dims,))
    x2 = torch.randn(3, 4, 2, 6, 7)
    _close(program.module()(x2), m(x2))
    cell = _perturb_peepholes(_cell())
    program = torch.export.export(cell, (x[:, 0],), dynamic_shapes=({0: torch.export.Dim("B")},))
    frame = torch.randn(3, 2, 5, 5)
    _close(program.module()(frame), cell(frame))


def test_trace_saved_and_loaded():
    m = _perturb_peepholes(_layer())
    x = torch.randn(2, 4, 2, 5, 5)
    for grad in (False, True):
        with torch.set_grad_enabled(grad), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on Python values
            traced = torch.jit.trace(m, (x,), strict=False)
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
        buf.seek(0)
        x2 = torch.randn(3, 4, 2, 6, 7)
        _close(torch.jit.load(buf)(x2), m(x2))


@pytest.mark.parametrize("make,shape", [(_layer, (2, 3, 2, 4, 4)), (_cell, (2, 2, 4, 4))])
def test_func_grad_matches_autograd(make, shape):
    m = _perturb_peepholes(make())
    x = torch.randn(shape)
    g = torch.func.grad(lambda v: leaves(m(v))[0].pow(2).sum())(x)
    xr = x.clone().requires_grad_()
    leaves(m(xr))[0].pow(2).sum().backward()
    _close(g, xr.grad)


def test_fused_is_refused_by_name_under_the_tools_it_cannot_run_under():
    m = _cell(backend="fused")
    x = torch.randn(2, 2, 4, 4)
    with pytest.raises(common.InputError, match="a torch.func transform.*backend='reference' or 'auto'"):
        torch.func.grad(lambda v: m(v)[0].sum())(x)
    with pytest.raises(common.InputError, match="torch.export"):
        torch.export.export(m, (x,))


@pytest.mark.parametrize("what,lengths", [("layer", None), ("layer", torch.tensor([3, 1])), ("cell", None)])
def test_double_backward_through_the_fused_loop(what, lengths):
    """A gradient penalty on the input and on a weight, differentiated again: the fused
    loop gives the reference loop's numbers (float64)."""
    results = []
    for backend in ("fused", "reference"):
        m = (_layer if what == "layer" else _cell)(backend=backend).double().train()
        _perturb_peepholes(m)
        torch.manual_seed(1)
        x = torch.randn((2, 3, 2, 4, 4) if what == "layer" else (2, 2, 4, 4), dtype=torch.float64,
                        requires_grad=True)
        out = m(x, lengths=lengths) if lengths is not None else m(x)
        loss = sum((t * t).sum() for t in leaves(out))
        w = m.weight_hh_l1 if what == "layer" else m.weight_hh
        gx, gw = torch.autograd.grad(loss, (x, w), create_graph=True)
        penalty = gx.pow(2).sum() + gw.pow(2).sum()
        results.append(torch.autograd.grad(penalty, [x, *m.parameters()], allow_unused=True))
    for a, b in zip(*results):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_lengths_under_compile_and_export():
    """Under a capture the lengths' values are not read on the host (not checked there):
    one graph serves every set of lengths."""
    m = _perturb_peepholes(_layer())
    x = torch.randn(2, 4, 2, 5, 5)
    compiled = torch.compile(m, fullgraph=True, dynamic=False)
    program = torch.export.export(m, (x,), {"lengths": torch.tensor([4, 2])})
    for lengths in (torch.tensor([4, 2]), torch.tensor([1, 3])):
        expected = m(x, lengths=lengths)
        _close(compiled(x, lengths=lengths), expected)
        _close(program.module()(x, lengths=lengths), expected)
