"""ConvLSTM / ConvLSTMCell: the fused loop against the reference loop (outputs, final
states and every gradient under random upstream gradients), the reference against
torch.nn.LSTM (1x1 kernels make a ConvLSTM an LSTM run on every pixel), gradcheck,
variable lengths, the cell, and the errors users see.
"""

from __future__ import annotations

import pytest
import torch
from conftest import DTYPES, TOL, assert_close

import lstmkit
from lstmkit.convlstm import ConvLSTM, ConvLSTMCell

# id -> (constructor kwargs, input (B, T, C, Y, X), lengths)
CASES = {
    "plain": (dict(input_channels=2, hidden_channels=3), (2, 4, 2, 5, 6), None),
    "peephole": (dict(input_channels=2, hidden_channels=3, peephole=True), (2, 4, 2, 5, 6), None),
    "lengths": (dict(input_channels=2, hidden_channels=3), (3, 5, 2, 4, 4), [5, 2, 3]),
    "two_layers_widths": (dict(input_channels=1, hidden_channels=[3, 4], kernel_size=(3, 5)), (2, 3, 1, 5, 7), None),
    "no_bias_k5_forget": (dict(input_channels=2, hidden_channels=2, kernel_size=5, bias=False), (1, 3, 2, 6, 6), None),
    "time_major_peep_len": (dict(input_channels=1, hidden_channels=2, num_layers=2, peephole=True,
                                 forget_bias=1.0, batch_first=False), (4, 2, 1, 4, 5), [2, 4]),
}


def _run(module: ConvLSTM, x: Tensor, lengths, seed: int = 7):
    """Forward, then backward with random upstream gradients on the output and on every
    final state; returns {name: tensor} of outputs, states and gradients."""
    x = x.detach().clone().requires_grad_()
    module.zero_grad(set_to_none=True)
    out, (h, c) = module(x, lengths=None if lengths is None else torch.tensor(lengths))
    hs, cs = (list(h), list(c))
    g = torch.Generator().manual_seed(seed)
    loss = (out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum()
    for s in hs + cs:
        loss = loss + (s * torch.randn(s.shape, generator=g, dtype=s.dtype)).sum()
    loss.backward()
    res = {"output": out, "x.grad": x.grad}
    res.update({f"h_n[{i}]": s for i, s in enumerate(hs)})
    res.update({f"c_n[{i}]": s for i, s in enumerate(cs)})
    res.update({f"{n}.grad": p.grad for n, p in module.named_parameters()})
    return res


Tensor = torch.Tensor


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dname", list(DTYPES))
def test_fused_matches_reference(case, dname):
    dtype = DTYPES[dname]
    kwargs, shape, lengths = CASES[case]
    torch.manual_seed(0)
    module = ConvLSTM(**kwargs, dtype=dtype)
    with torch.no_grad():  # peepholes start at 0; give them values so they matter
        for n, p in module.named_parameters():
            if n.startswith("peephole"):
                p.normal_()
    x = torch.randn(shape, dtype=dtype)
    module.backend = "reference"
    ref = _run(module, x, lengths)
    module.backend = "fused"
    got = _run(module, x, lengths)
    assert set(ref) == set(got)
    for name in ref:
        assert_close(got[name], ref[name], dtype, f"{case}/{dname}: {name}", scaled=True)


@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_one_by_one_kernel_is_torch_lstm_on_every_pixel(backend):
    B, T, C, K, Y, X = 2, 5, 3, 4, 3, 2
    torch.manual_seed(1)
    conv = ConvLSTM(C, K, kernel_size=1, num_layers=2, dtype=torch.float64, backend=backend)
    ref = torch.nn.LSTM(C, K, num_layers=2, dtype=torch.float64)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            src = getattr(conv, name)
            p.copy_(src.reshape(p.shape))
    x = torch.randn(B, T, C, Y, X, dtype=torch.float64)
    out, (h, c) = conv(x)
    seq = x.permute(1, 0, 3, 4, 2).reshape(T, B * Y * X, C)  # one sequence per pixel
    r_out, (r_h, r_c) = ref(seq)
    unpix = lambda t: t.reshape(*t.shape[:-2], B, Y, X, K).movedim(-1, -3)
    tol = TOL[torch.float64]
    assert (out.transpose(0, 1) - unpix(r_out)).abs().max() < tol
    assert (h - unpix(r_h)).abs().max() < tol
    assert (c - unpix(r_c)).abs().max() < tol


@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_gradcheck_float64(backend):
    torch.manual_seed(2)
    m = ConvLSTM(1, 2, kernel_size=3, peephole=True, dtype=torch.float64, backend=backend)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.startswith("peephole"):
                p.normal_()
    x = torch.randn(2, 3, 1, 3, 4, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(1, 2, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(1, 2, 2, 3, 4, dtype=torch.float64, requires_grad=True)

    def f(x, h0, c0):
        out, (h, c) = m(x, (h0, c0), lengths=torch.tensor([3, 2]))
        return out, h, c

    assert torch.autograd.gradcheck(f, (x, h0, c0), fast_mode=True)


@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_lengths_stop_each_clip_at_its_end(backend):
    torch.manual_seed(3)
    m = ConvLSTM(1, 3, num_layers=2, backend=backend)
    x = torch.randn(2, 6, 1, 5, 5)
    out, (h, c) = m(x, lengths=torch.tensor([6, 4]))
    assert out[1, 4:].abs().max() == 0  # nothing past the end
    short_out, (short_h, short_c) = m(x[1:, :4])
    assert (out[1, :4] - short_out[0]).abs().max() < 1e-6
    assert (h[:, 1] - short_h[:, 0]).abs().max() < 1e-6
    assert (c[:, 1] - short_c[:, 0]).abs().max() < 1e-6


@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_cell_steps_equal_the_layer(backend):
    torch.manual_seed(4)
    layer = ConvLSTM(2, 3, kernel_size=3, peephole=True, backend=backend)
    cell = ConvLSTMCell(2, 3, kernel_size=3, peephole=True, backend=backend)
    with torch.no_grad():
        for name, p in cell.named_parameters():
            p.copy_(getattr(layer, name + "_l0"))
            if name.startswith("peephole"):
                p.normal_()
                getattr(layer, name + "_l0").copy_(p)
    x = torch.randn(2, 4, 2, 5, 5)
    out, (h, c) = layer(x)
    state = None
    for t in range(4):
        state = cell(x[:, t], state)
        assert (state[0] - out[:, t]).abs().max() < 1e-6
    assert (state[0] - h[0]).abs().max() < 1e-6
    assert (state[1] - c[0]).abs().max() < 1e-6


def test_exported_at_the_top_level():
    assert lstmkit.ConvLSTM is ConvLSTM and lstmkit.ConvLSTMCell is ConvLSTMCell


def test_parameters_shapes_and_initial_forget_bias():
    m = ConvLSTM(3, 8, kernel_size=(3, 5), num_layers=2, forget_bias=1.0)
    shapes = {n: tuple(p.shape) for n, p in m.named_parameters()}
    assert shapes["weight_ih_l0"] == (32, 3, 3, 5)
    assert shapes["weight_hh_l0"] == (32, 8, 3, 5)
    assert shapes["weight_ih_l1"] == (32, 8, 3, 5)
    assert shapes["bias_hh_l1"] == (32,)
    bound = 1 / (8 * 15) ** 0.5
    f = m.bias_hh_l0[8:16]
    assert ((f >= 1 - bound) & (f <= 1 + bound)).all()  # U(-b, b) + 1 on the forget gate
    assert m.weight_hh_l0.abs().max() <= bound


@pytest.mark.parametrize("bad, match", [
    (dict(kernel_size=4), "odd"),
    (dict(backend="native"), "unknown ConvLSTM backend"),
    (dict(hidden_channels=0), "positive"),
    (dict(bias=False, forget_bias=1.0), "forget_bias needs bias"),
    (dict(hidden_channels=[2, 3], num_layers=3), "lists 2 layers"),
])
def test_bad_constructor_arguments(bad, match):
    kwargs = dict(input_channels=1, hidden_channels=2) | bad
    with pytest.raises(ValueError, match=match):
        ConvLSTM(**kwargs)


def test_bad_inputs_name_what_was_expected():
    m = ConvLSTM(2, 3)
    with pytest.raises(ValueError, match="5-D frames"):
        m(torch.randn(2, 3, 5, 5))
    with pytest.raises(ValueError, match="expected 2 input channels, got 1"):
        m(torch.randn(1, 3, 1, 5, 5))
    with pytest.raises(ValueError, match="lengths must lie in"):
        m(torch.randn(2, 3, 2, 5, 5), lengths=torch.tensor([4, 1]))
    with pytest.raises(ValueError, match="h_0"):
        m(torch.randn(2, 3, 2, 5, 5), (torch.zeros(1, 2, 3, 4, 4), torch.zeros(1, 2, 3, 4, 4)))
    with pytest.raises(ValueError, match="dtype"):
        m(torch.randn(2, 3, 2, 5, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="4-D frames"):
        ConvLSTMCell(2, 3)(torch.randn(1, 1, 2, 5, 5))
