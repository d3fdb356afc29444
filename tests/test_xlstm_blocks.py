"""lstmkit.xlstm's blocks and stack: their own checks, and parity with the reference
package's ``xLSTMBlockStack`` through ``from_xlstm`` (outputs and every gradient, float32
within 1e-4; skipped where ``xlstm`` is not installed, see tests/test_xlstm_reference.py)."""

from __future__ import annotations

import pytest
import torch

from lstmkit.errors import InputError
from lstmkit.xlstm.blocks import mLSTMBlock, sLSTMBlock, xLSTMConfig, xLSTMStack

TOL = 1e-4


def _perturb(module, scale=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


def test_stack_places_slstm_blocks():
    stack = xLSTMStack(xLSTMConfig(embedding_dim=16, num_blocks=4, slstm_at=[1, 3],
                                   mlstm_num_heads=2, slstm_num_heads=2))
    kinds = [type(b) for b in stack.blocks]
    assert kinds == [mLSTMBlock, sLSTMBlock, mLSTMBlock, sLSTMBlock]
    assert stack(torch.randn(2, 5, 16))[0].shape == (2, 5, 16)


@pytest.mark.parametrize("form", ["chunkwise", "recurrent"])
def test_stack_mlstm_forms_agree(form):
    torch.manual_seed(0)
    base = xLSTMConfig(embedding_dim=16, num_blocks=2, slstm_at=[0], mlstm_num_heads=2,
                       slstm_num_heads=2, mlstm_form="parallel", chunk_size=3,
                       backend="reference")
    ref = xLSTMStack(base)
    _perturb(ref)
    other = xLSTMStack(xLSTMConfig(**{**base.__dict__, "mlstm_form": form}))
    other.load_state_dict(ref.state_dict())
    x = torch.randn(2, 10, 16)
    assert (ref(x)[0] - other(x)[0]).abs().max() < 1e-5


def test_stack_is_causal():
    """Output at step t does not depend on inputs after t."""
    torch.manual_seed(0)
    stack = xLSTMStack(xLSTMConfig(embedding_dim=16, num_blocks=2, slstm_at=[1],
                                   mlstm_num_heads=2, slstm_num_heads=2))
    _perturb(stack)
    x = torch.randn(1, 8, 16)
    y = x.clone()
    y[:, 5:] = torch.randn(1, 3, 16)
    assert torch.allclose(stack(x)[0][:, :5], stack(y)[0][:, :5], atol=1e-6)
    assert not torch.allclose(stack(x)[0][:, 5:], stack(y)[0][:, 5:])


@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_stack_gradcheck_float64(backend):
    torch.manual_seed(0)
    stack = xLSTMStack(xLSTMConfig(embedding_dim=8, num_blocks=2, slstm_at=[1],
                                   mlstm_num_heads=2, slstm_num_heads=2, mlstm_proj_factor=1.0,
                                   ffn_proj_factor=1.0, backend=backend)).double()
    _perturb(stack)
    x = torch.randn(1, 4, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: stack(x)[0], (x,))


@pytest.mark.parametrize("make", [
    lambda: xLSTMStack(xLSTMConfig(embedding_dim=16, num_blocks=2, slstm_at=[2])),
    lambda: xLSTMStack(xLSTMConfig(embedding_dim=18, num_blocks=1, slstm_at="all",
                                   slstm_num_heads=4)),
    lambda: xLSTMStack(xLSTMConfig(embedding_dim=16, mlstm_form="fast")),
    lambda: xLSTMStack(xLSTMConfig(embedding_dim=16, num_blocks=1, slstm_at="all",
                                   ffn_act="tanh")),
    lambda: xLSTMStack(xLSTMConfig(embedding_dim=16, num_blocks=1))(torch.randn(2, 3, 8)),
])
def test_bad_config_or_input_raises_one_line(make):
    with pytest.raises(InputError) as err:
        make()
    assert "\n" not in str(err.value)


# --- parity with the reference package -------------------------------------------------------

def _reference_stack(embedding_dim, num_blocks, slstm_at, heads, T):
    xlstm = pytest.importorskip(
        "xlstm", reason="the reference package xlstm is not installed (pip install --no-deps "
                        "xlstm mlstm_kernels dacite omegaconf einops)")
    cfg = xlstm.xLSTMBlockStackConfig(
        mlstm_block=xlstm.mLSTMBlockConfig(mlstm=xlstm.mLSTMLayerConfig(
            conv1d_kernel_size=4, qkv_proj_blocksize=4, num_heads=heads)),
        slstm_block=xlstm.sLSTMBlockConfig(
            slstm=xlstm.sLSTMLayerConfig(backend="vanilla", num_heads=heads,
                                         conv1d_kernel_size=4,
                                         bias_init="powerlaw_blockdependent"),
            feedforward=xlstm.FeedForwardConfig(proj_factor=1.3, act_fn="gelu")),
        context_length=T, num_blocks=num_blocks, embedding_dim=embedding_dim, slstm_at=slstm_at)
    return xlstm.xLSTMBlockStack(cfg)


@pytest.mark.parametrize("num_blocks,slstm_at,heads", [
    (4, [1], 4),          # a 4-block stack with an sLSTM block at position 1
    (4, [], 4),           # mLSTM only
    (2, "all", 4),        # sLSTM only
    (3, [0, 2], 2),
    (2, [1], 1),
])
def test_from_xlstm_matches_reference(num_blocks, slstm_at, heads):
    from lstmkit.xlstm import from_xlstm

    torch.manual_seed(0)
    T, E = 12, 32
    ref = _reference_stack(E, num_blocks, slstm_at, heads, T)
    _perturb(ref)
    ours = from_xlstm(ref)
    x = torch.randn(2, T, E)
    x_ref, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    want, got = ref(x_ref), ours(x_ours)[0]
    assert (got - want).abs().max() < TOL

    g = torch.randn_like(want)
    (want * g).sum().backward()
    (got * g).sum().backward()
    assert (x_ours.grad - x_ref.grad).abs().max() < TOL
    # the conversion only reshapes and permutes, so it maps the reference's gradients too
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(p.grad)
    grads_ref = dict(from_xlstm(ref).named_parameters())
    for name, p in ours.named_parameters():
        assert (p.grad - grads_ref[name]).abs().max() < TOL, name


@pytest.mark.parametrize("slstm_at", [[1], [], "all"])
def test_to_xlstm_round_trip(slstm_at):
    from lstmkit.xlstm import from_xlstm

    pytest.importorskip("xlstm", reason="the reference package xlstm is not installed")
    torch.manual_seed(0)
    ours = xLSTMStack(xLSTMConfig(embedding_dim=32, num_blocks=2, slstm_at=slstm_at,
                                  mlstm_num_heads=2, slstm_num_heads=2))
    _perturb(ours)
    ref = ours.to_xlstm(context_length=16)
    x = torch.randn(2, 9, 32)
    assert (ref(x) - ours(x)[0]).abs().max() < TOL
    back = from_xlstm(ref)
    for (name, p), (name2, q) in zip(ours.named_parameters(), back.named_parameters()):
        assert name == name2 and torch.equal(p, q), name


def test_initialisation_is_the_reference_packages():
    """Standard deviations of the reference's schemes: small init sqrt(2 / 5E) for input
    projections, Wang's 2 / (num_blocks sqrt(E)) for output projections."""
    torch.manual_seed(0)
    E, N = 256, 4
    stack = xLSTMStack(xLSTMConfig(embedding_dim=E, num_blocks=N, slstm_at=[1]))
    m, s = stack.blocks[0], stack.blocks[1]
    small, wang = (2 / (5 * E)) ** 0.5, 2 / N / E ** 0.5
    for w in (m.proj_up.weight, m.proj_q.weight, s.proj_i.weight, s.ffn.proj_up.weight):
        assert abs(w.std().item() / small - 1) < 0.05
    for w in (m.proj_down.weight, s.ffn.proj_down.weight):
        assert abs(w.std().item() / wang - 1) < 0.05
    assert (s.weight_hh == 0).all() and (m.skip == 1).all()
    assert torch.equal(m.gate_f.bias, torch.linspace(3.0, 6.0, 4))


# --- states: carried across calls, taken at lengths ------------------------------------------

# "auto": the compiled sLSTM loop and the fused chunkwise mLSTM; "reference" with each form
RUNS = ["auto", "parallel", "chunkwise", "recurrent"]


def _stack64(slstm_at=(1,), form="auto", kernel=4, blocks=3, E=16, heads=2):
    torch.manual_seed(0)
    stack = xLSTMStack(xLSTMConfig(
        embedding_dim=E, num_blocks=blocks, slstm_at=list(slstm_at), mlstm_num_heads=heads,
        slstm_num_heads=heads, mlstm_form="parallel" if form == "auto" else form, chunk_size=3,
        mlstm_conv_kernel=kernel, slstm_conv_kernel=kernel, mlstm_proj_factor=1.0,
        ffn_proj_factor=1.0, backend="auto" if form == "auto" else "reference")).double()
    _perturb(stack, 0.3)
    return stack


def _close(a, b, tol=1e-10):
    if isinstance(a, torch.Tensor):
        return a.shape == b.shape and (a.numel() == 0 or (a - b).abs().max().item() < tol)
    return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b))


@pytest.mark.parametrize("form", RUNS)
@pytest.mark.parametrize("kernel", [4, 1, 0])
def test_stack_in_two_halves_equals_one_run(form, kernel):
    """T steps in two calls, the second from the first's final state, give the outputs and
    the final state of one call (float64 within 1e-10): the mLSTM block's convolution
    carries its last K-1 inputs."""
    stack = _stack64(form=form, kernel=kernel)
    x = torch.randn(2, 11, 16, dtype=torch.float64)
    y, state = stack(x)
    for cut in (1, 5, 10):
        y1, s1 = stack(x[:, :cut])
        y2, s2 = stack(x[:, cut:], s1)
        assert _close(torch.cat([y1, y2], 1), y) and _close(s2, state), cut


@pytest.mark.parametrize("form", ["auto", "chunkwise"])
def test_stack_step_by_step_equals_one_run(form):
    stack = _stack64(form=form)
    x = torch.randn(2, 7, 16, dtype=torch.float64)
    y, state = stack(x)
    s, ys = None, []
    for t in range(7):
        yt, s = stack(x[:, t:t + 1], s)
        ys.append(yt)
    assert _close(torch.cat(ys, 1), y) and _close(s, state)


@pytest.mark.parametrize("form", ["auto", "parallel"])
@pytest.mark.parametrize("block", ["s", "m"])
def test_block_in_two_halves_equals_one_run(block, form):
    stack = _stack64(slstm_at=(0,) if block == "s" else (), blocks=1, form=form)
    b = stack.blocks[0]
    x = torch.randn(3, 9, 16, dtype=torch.float64)
    y, state = b(x)
    y1, s1 = b(x[:, :4])
    y2, s2 = b(x[:, 4:], s1)
    assert _close(torch.cat([y1, y2], 1), y) and _close(s2, state)


def test_state_shapes():
    stack = xLSTMStack(xLSTMConfig(embedding_dim=32, num_blocks=2, slstm_at=[1],
                                   mlstm_num_heads=4, slstm_num_heads=2))
    _, (m, s) = stack(torch.randn(3, 5, 32))
    inner = 64  # up_dim(32, 2.0)
    d = inner // 4
    assert [tuple(t.shape) for t in m] == [(3, 4, d, d), (3, 4, d), (3, 4), (3, 3, inner)]
    assert [tuple(t.shape) for t in s] == [(3, 32)] * 4 + [(3, 3, 32)]
    assert [list(t.shape) for t in m] == [list(t) for t in stack.blocks[0].state_shapes(3)]
    assert [list(t.shape) for t in s] == [list(t) for t in stack.blocks[1].state_shapes(3)]


@pytest.mark.parametrize("form", RUNS)
def test_stack_lengths_take_the_state_at_each_length(form):
    """With lengths, outputs past a length are zero and each block's final state (its
    convolution's included) is the state of running that sequence alone up to its length,
    from a carried initial state too."""
    stack = _stack64(form=form)
    x = torch.randn(3, 8, 16, dtype=torch.float64)
    _, start = stack(torch.randn(3, 4, 16, dtype=torch.float64))
    lengths = torch.tensor([8, 3, 5])
    for init in (None, start):
        y, state = stack(x, init, lengths=lengths)
        for b, n in enumerate(lengths.tolist()):
            sub = None if init is None else tuple(tuple(t[b:b + 1] for t in s) for s in init)
            yb, sb = stack(x[b:b + 1, :n], sub)
            assert _close(y[b:b + 1, :n], yb)
            assert (y[b, n:] == 0).all()
            assert _close(tuple(tuple(t[b:b + 1] for t in s) for s in state), sb)


def test_xlstm_stack_layer_carries_its_state():
    """The experiments' and the character model's ``"xlstm"`` cell, time-major."""
    from lstmkit.spine.nets import XLSTM_CELLS, make_rnn

    torch.manual_seed(0)
    layer = make_rnn("xlstm", 3, 8, cells=XLSTM_CELLS, num_heads=2, slstm_at=[1]).double()
    x = torch.randn(9, 2, 3, dtype=torch.float64)
    y, state = layer(x)
    y1, s1 = layer(x[:4])
    y2, s2 = layer(x[4:], s1)
    assert y.shape == (9, 2, 8) and len(state) == 2
    assert _close(torch.cat([y1, y2], 0), y) and _close(s2, state)


@pytest.mark.parametrize("bad", [
    lambda st: st[:1],                                               # one block state short
    lambda st: (st[0], st[1][:4]),                                   # sLSTM state without conv
    lambda st: (st[0], (*st[1][:4], st[1][4][:, :2])),              # conv state of K-2 steps
    lambda st: ((st[0][0].float(), *st[0][1:]), st[1]),             # another dtype
    lambda st: "state",
])
def test_bad_state_raises_one_line(bad):
    stack = _stack64(slstm_at=(1,), blocks=2)
    x = torch.randn(2, 4, 16, dtype=torch.float64)
    _, state = stack(x)
    with pytest.raises(InputError) as err:
        stack(x, bad(state))
    assert "\n" not in str(err.value)


def test_stack_bad_lengths_raise_one_line():
    stack = _stack64(blocks=2)
    with pytest.raises(InputError) as err:
        stack(torch.randn(2, 4, 16, dtype=torch.float64), lengths=torch.tensor([5, 2]))
    assert "\n" not in str(err.value)


def test_backends_give_the_references_numbers():
    """backend="auto" (the compiled sLSTM loop, the fused chunkwise mLSTM) against the
    reference, outputs, final states and input gradients in float64; backend.use sets
    every block."""
    from lstmkit.xlstm import backend as backends

    fast = _stack64(form="auto")
    ref = _stack64(form="chunkwise")
    assert backends.use(ref, "reference") == 3 and {b.backend for b in fast.blocks} == {"auto"}
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    lengths = torch.tensor([9, 4])
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    (ya, sa), (yb, sb) = fast(xa, lengths=lengths), ref(xb, lengths=lengths)
    assert _close(ya, yb) and _close(sa, sb)
    ya.sum().backward()
    yb.sum().backward()
    assert _close(xa.grad, xb.grad)
    with pytest.raises(InputError):
        xLSTMStack(xLSTMConfig(embedding_dim=16, num_blocks=2, slstm_at=[1], backend="fused"))


@pytest.mark.parametrize("features,heads", [(384, 96), (64, 16), (36, 9), (192, 4)])
def test_headwise_linear_is_one_matrix_per_head(features, heads):
    """Small heads run as block-diagonal groups: the same map and gradients as each head's
    own (d x d) matrix."""
    from lstmkit.xlstm.blocks import HeadwiseLinear

    torch.manual_seed(0)
    lin = HeadwiseLinear(features, heads, bias=True).double()
    x = torch.randn(3, 5, features, dtype=torch.float64, requires_grad=True)
    y = lin(x)
    want = torch.einsum("...hi,hoi->...ho", x.reshape(3, 5, heads, -1), lin.weight)
    want = want.reshape(3, 5, features) + lin.bias
    assert _close(y, want)
    g = torch.randn_like(y)
    got = torch.autograd.grad(y, (x, lin.weight), g)
    exp = torch.autograd.grad(want, (x, lin.weight), g)
    assert _close(got, exp)


@pytest.mark.parametrize("features,heads,out_heads", [(384, 96, 4), (64, 16, 2), (36, 9, 3), (192, 4, 4)])
def test_headwise_heads_layout_and_folded_gates(features, heads, out_heads):
    """``heads`` and ``pair_heads`` give ``forward``'s numbers split into the consumer's
    heads, and ``fold`` the product of a following dense map with the head-wise one."""
    from lstmkit.xlstm.blocks import HeadwiseLinear

    torch.manual_seed(0)
    a, b = (HeadwiseLinear(features, heads, bias=True).double() for _ in range(2))
    x = torch.randn(3, 5, features, dtype=torch.float64)
    split = lambda y: y.reshape(3, 5, out_heads, -1).transpose(1, 2)
    assert _close(a.heads(x, out_heads), split(a(x)))
    qa, qb = HeadwiseLinear.pair_heads(a, b, x, out_heads)
    assert _close(qa, split(a(x))) and _close(qb, split(b(x)))
    dense = torch.randn(7, features, dtype=torch.float64)
    assert _close(x @ a.fold(dense).T + dense @ a.bias, a(x) @ dense.T)


@pytest.mark.parametrize("kernel", [1, 2, 4])
def test_causal_conv_gradients_and_second_order(kernel):
    """The convolution's own backward: gradcheck and gradgradcheck in float64, with and
    without a carried state, and the numbers of a depthwise conv1d."""
    from lstmkit.xlstm.blocks import CausalConv

    torch.manual_seed(0)
    conv = CausalConv(6, kernel).double()
    x = torch.randn(2, 5, 6, dtype=torch.float64, requires_grad=True)
    state = torch.randn(2, kernel - 1, 6, dtype=torch.float64, requires_grad=True)
    y, _ = conv(x, state)
    full = torch.cat([state, x], 1).transpose(1, 2)
    want = torch.nn.functional.conv1d(full, conv.weight, conv.bias, groups=6).transpose(1, 2)
    assert _close(y, want)
    params = (x, state, conv.weight, conv.bias)
    assert torch.autograd.gradcheck(lambda *p: conv(p[0], p[1])[0], params)
    assert torch.autograd.gradgradcheck(lambda *p: conv(p[0], p[1])[0], params)
