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
    assert stack(torch.randn(2, 5, 16)).shape == (2, 5, 16)


@pytest.mark.parametrize("form", ["chunkwise", "recurrent"])
def test_stack_mlstm_forms_agree(form):
    torch.manual_seed(0)
    base = xLSTMConfig(embedding_dim=16, num_blocks=2, slstm_at=[0], mlstm_num_heads=2,
                       slstm_num_heads=2, mlstm_form="parallel", chunk_size=3)
    ref = xLSTMStack(base)
    _perturb(ref)
    other = xLSTMStack(xLSTMConfig(**{**base.__dict__, "mlstm_form": form}))
    other.load_state_dict(ref.state_dict())
    x = torch.randn(2, 10, 16)
    assert (ref(x) - other(x)).abs().max() < 1e-5


def test_stack_is_causal():
    """Output at step t does not depend on inputs after t."""
    torch.manual_seed(0)
    stack = xLSTMStack(xLSTMConfig(embedding_dim=16, num_blocks=2, slstm_at=[1],
                                   mlstm_num_heads=2, slstm_num_heads=2))
    _perturb(stack)
    x = torch.randn(1, 8, 16)
    y = x.clone()
    y[:, 5:] = torch.randn(1, 3, 16)
    assert torch.allclose(stack(x)[:, :5], stack(y)[:, :5], atol=1e-6)
    assert not torch.allclose(stack(x)[:, 5:], stack(y)[:, 5:])


def test_stack_gradcheck_float64():
    torch.manual_seed(0)
    stack = xLSTMStack(xLSTMConfig(embedding_dim=8, num_blocks=2, slstm_at=[1],
                                   mlstm_num_heads=2, slstm_num_heads=2, mlstm_proj_factor=1.0,
                                   ffn_proj_factor=1.0)).double()
    _perturb(stack)
    x = torch.randn(1, 4, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(stack, (x,))


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
    want, got = ref(x_ref), ours(x_ours)
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
    assert (ref(x) - ours(x)).abs().max() < TOL
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
