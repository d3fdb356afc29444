"""lstmkit.xlstm against the reference package ``xlstm`` (NX-AI, PyPI): the sLSTM cell (its
"vanilla" backend) and the mLSTM's forms and cell, outputs, states and gradients in float32
within 1e-4. The package is a test-only dependency, checked with these versions::

    pip install --no-deps xlstm==2.0.6 mlstm_kernels==2.0.6 dacite==1.9.2 omegaconf==2.4.0 einops==0.8.2

(with --no-deps: the modules imported here need nothing more than torch and PyYAML.)
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

xlstm = pytest.importorskip(
    "xlstm", reason="the reference package xlstm is not installed (pip install --no-deps xlstm "
                    "mlstm_kernels dacite omegaconf einops)")

from xlstm.blocks.mlstm.backends import (
    chunkwise_simple,
    parallel_stabilized_simple,
    recurrent_step_stabilized_simple,
)
from xlstm.blocks.mlstm.cell import mLSTMCell as RefmLSTMCell
from xlstm.blocks.mlstm.cell import mLSTMCellConfig
from xlstm.blocks.slstm.cell import sLSTMCell as RefsLSTMCell
from xlstm.blocks.slstm.cell import sLSTMCellConfig

from lstmkit.xlstm import mlstm_math, sLSTM, sLSTMCell

TOL = 1e-4


def _maxdiff(a, b):
    if isinstance(a, (tuple, list)):
        return max(_maxdiff(x, y) for x, y in zip(a, b))
    return (a - b).abs().max().item()


# --- sLSTM -----------------------------------------------------------------------------------

def _ref_slstm(cell: sLSTMCell):
    """The reference's vanilla sLSTM cell (sigmoid forget gate) with ``cell``'s R and b."""
    NH, d = cell.num_heads, cell.head_dim
    ref = RefsLSTMCell(sLSTMCellConfig(hidden_size=cell.hidden_size, num_heads=NH,
                                       backend="vanilla", function="slstm", dtype="float32",
                                       output_shape="BSH"))
    bias = cell.bias.detach().view(4, NH, d).permute(1, 0, 2)           # (NH, 4, d)
    kernel = cell.weight_hh.detach().permute(1, 3, 0, 2)               # (NH, d_in, 4, d_out)
    with torch.no_grad():
        ref._bias_.copy_(ref._bias_ext2int(bias))
        ref._recurrent_kernel_.copy_(ref._recurrent_kernel_ext2int(kernel))
    return ref


@pytest.mark.parametrize("num_heads", [1, 2, 4])
@pytest.mark.parametrize("initial", ["zeros", "random"])
def test_slstm_matches_reference_vanilla(num_heads, initial):
    torch.manual_seed(num_heads)
    B, T, I, H = 3, 9, 5, 8
    cell = sLSTMCell(I, H, num_heads=num_heads, recurrent_init="uniform")
    with torch.no_grad():
        cell.bias.normal_()
    ref = _ref_slstm(cell)
    layer = sLSTM(I, H, batch_first=True, num_heads=num_heads)
    layer.cells[0].load_state_dict(cell.state_dict())

    x = torch.randn(B, T, I)
    if initial == "zeros":
        state = torch.zeros(4, B, H)
    else:
        state = torch.randn(4, B, H)
        state[2] = state[2].abs() + 0.5  # a normaliser is positive
    x_ref = x.clone().requires_grad_()
    x_ours = x.clone().requires_grad_()
    w_ref = cell.weight_ih.detach().clone().requires_grad_()
    s_ref = state.clone().requires_grad_()
    s_ours = state.clone().requires_grad_()

    out_ref, final_ref = ref(F.linear(x_ref, w_ref), s_ref)
    out, final = layer(x_ours, tuple(s_ours[i:i + 1] for i in range(4)))
    assert _maxdiff(out, out_ref) < TOL
    assert _maxdiff(torch.cat(final), final_ref) < TOL

    g_out = torch.randn_like(out)
    (out_ref * g_out).sum().add(final_ref.sum()).backward()
    (out * g_out).sum().add(sum(s.sum() for s in final)).backward()
    ours = layer.cells[0]
    assert _maxdiff(x_ours.grad, x_ref.grad) < TOL
    assert _maxdiff(s_ours.grad, s_ref.grad) < TOL
    assert _maxdiff(ours.weight_ih.grad, w_ref.grad) < TOL
    NH, d = num_heads, H // num_heads
    assert _maxdiff(ours.bias.grad.view(4, NH, d).permute(1, 0, 2),
                    ref._bias_int2ext(ref._bias_.grad)) < TOL
    assert _maxdiff(ours.weight_hh.grad.permute(1, 3, 0, 2),
                    ref._recurrent_kernel_int2ext(ref._recurrent_kernel_.grad)) < TOL


@pytest.mark.parametrize("block_idx,num_blocks", [(0, 1), (0, 4), (2, 4), (3, 4)])
def test_slstm_powerlaw_bias_matches_reference(block_idx, num_blocks):
    NH, H = 2, 16
    ref = RefsLSTMCell(sLSTMCellConfig(hidden_size=H, num_heads=NH, backend="vanilla",
                                       dtype="float32", _block_idx=block_idx,
                                       _num_blocks=num_blocks))
    want = ref._bias_int2ext(ref._bias_.detach())                      # (NH, 4, d)
    ours = sLSTMCell(3, H, num_heads=NH, block_idx=block_idx, num_blocks=num_blocks)
    got = ours.bias.detach().view(4, NH, H // NH).permute(1, 0, 2)
    assert _maxdiff(got, want) < 1e-5


# --- mLSTM -----------------------------------------------------------------------------------

def _mlstm_inputs(B=2, NH=2, T=8, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, NH, T, d, generator=g) for _ in range(3))
    i_pre = 2 * torch.randn(B, NH, T, generator=g)
    f_pre = 2 * torch.randn(B, NH, T, generator=g) + 2
    return [t.requires_grad_() for t in (q, k, v, i_pre, f_pre)]


def _grads(out, inputs, g):
    return torch.autograd.grad((out * g).sum(), inputs)


@pytest.mark.parametrize("form", ["parallel", "chunkwise", "recurrent"])
def test_mlstm_forms_match_reference_parallel(form):
    q, k, v, i_pre, f_pre = inputs = _mlstm_inputs()
    want = parallel_stabilized_simple(q, k, v, i_pre[..., None], f_pre[..., None])
    kwargs = {"chunk_size": 3} if form == "chunkwise" else {}
    got, _ = mlstm_math.FORMS[form](q, k, v, i_pre, F.logsigmoid(f_pre), **kwargs)
    assert _maxdiff(got, want) < TOL
    g = torch.randn_like(got)
    assert _maxdiff(_grads(got, inputs, g), _grads(want, inputs, g)) < TOL


def test_mlstm_recurrent_matches_reference_steps():
    q, k, v, i_pre, f_pre = inputs = _mlstm_inputs()
    B, NH, T, d = q.shape
    g = torch.Generator().manual_seed(3)
    C0, n0, m0 = (torch.randn(B, NH, d, d, generator=g), torch.randn(B, NH, d, generator=g),
                  torch.randn(B, NH, generator=g))
    state = (C0, n0[..., None], m0[..., None, None])
    outs = []
    for t in range(T):
        h, state = recurrent_step_stabilized_simple(
            *state, q[:, :, t:t + 1].clone(), k[:, :, t:t + 1].clone(),  # it squeezes in place
            v[:, :, t:t + 1].clone(),
            i_pre[:, :, t, None, None], f_pre[:, :, t, None, None])
        outs.append(h.squeeze(2))
    want = torch.stack(outs, 2)
    got, (C, n, m) = mlstm_math.recurrent(q, k, v, i_pre, F.logsigmoid(f_pre), (C0, n0, m0))
    assert _maxdiff(got, want) < TOL
    assert _maxdiff((C, n, m), (state[0], state[1][..., 0], state[2][..., 0, 0])) < TOL
    gh = torch.randn_like(got)
    loss_w = (want * gh).sum() + state[0].sum() + state[1].sum()
    loss_g = (got * gh).sum() + C.sum() + n.sum()
    assert _maxdiff(torch.autograd.grad(loss_g, inputs), torch.autograd.grad(loss_w, inputs)) < TOL


def test_mlstm_chunkwise_matches_reference_chunkwise():
    """The reference's chunkwise keeps C and n unscaled by 1/sqrt(d) (it scales q instead)."""
    q, k, v, i_pre, f_pre = inputs = _mlstm_inputs(T=12)
    d = q.shape[-1]
    want, (C_w, n_w, m_w) = chunkwise_simple(q, k, v, i_pre, f_pre, chunk_size=4,
                                             return_last_state=True)
    got, (C, n, m) = mlstm_math.chunkwise(q, k, v, i_pre, F.logsigmoid(f_pre), chunk_size=4)
    assert _maxdiff(got, want) < TOL
    s = math.sqrt(d)
    assert _maxdiff((C * s, n * s, m), (C_w, n_w, m_w[..., 0, 0])) < TOL
    g = torch.randn_like(got)
    assert _maxdiff(_grads(got, inputs, g), _grads(want, inputs, g)) < TOL


@pytest.mark.parametrize("num_heads", [1, 2, 4])
@pytest.mark.parametrize("form", ["parallel", "chunkwise", "recurrent"])
def test_mlstm_matches_reference_cell(num_heads, form):
    """The reference cell = its gate projections, the mLSTM recurrence and a per-head norm;
    lstmkit's forms in the middle give its outputs and every gradient."""
    torch.manual_seed(num_heads)
    B, T, H = 2, 10, 8
    ref = RefmLSTMCell(mLSTMCellConfig(context_length=T, embedding_dim=H, num_heads=num_heads))
    with torch.no_grad():
        ref.igate.weight.normal_(0, 0.3)
        ref.fgate.weight.normal_(0, 0.3)
        ref.outnorm.weight.normal_(0, 0.3)
    q, k, v = (torch.randn(B, T, H, requires_grad=True) for _ in range(3))
    want = ref(q, k, v)
    params = list(ref.parameters())
    g = torch.randn_like(want)
    grads_want = torch.autograd.grad((want * g).sum(), [q, k, v, *params])

    gates_in = torch.cat([q, k, v], -1)
    i_pre = ref.igate(gates_in).transpose(1, 2)
    log_f = F.logsigmoid(ref.fgate(gates_in)).transpose(1, 2)
    heads = [t.view(B, T, num_heads, -1).transpose(1, 2) for t in (q, k, v)]
    kwargs = {"chunk_size": 4} if form == "chunkwise" else {}
    h, _ = mlstm_math.FORMS[form](*heads, i_pre, log_f, **kwargs)
    got = ref.outnorm(h).transpose(1, 2).reshape(B, T, H)
    assert _maxdiff(got, want) < TOL
    grads_got = torch.autograd.grad((got * g).sum(), [q, k, v, *params])
    assert _maxdiff(grads_got, grads_want) < TOL

