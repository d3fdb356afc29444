"""lstmkit.xlstm: the sLSTM and mLSTM reference math and layers.

The mLSTM's three forms agree; the stabilised recurrences equal the paper's unstabilised
equations; float64 gradcheck of both cells; lengths=, unbatched input and carried states
behave as torch.nn.LSTM's; bad input raises one InputError."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lstmkit.errors import InputError
from lstmkit.xlstm import mLSTM, mlstm_math, mLSTMCell, sLSTM, slstm_math, sLSTMCell

D64 = torch.float64


def _mlstm_inputs(B=2, NH=3, T=13, d=4, dtype=D64, seed=0, exp_gate=False, scale=3.0):
    """Random q, k, v and log gates; gate pre-activations of standard deviation ``scale``."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, NH, T, d, generator=g, dtype=dtype) for _ in range(3))
    log_i = scale * torch.randn(B, NH, T, generator=g, dtype=dtype)
    f_raw = scale * torch.randn(B, NH, T, generator=g, dtype=dtype)
    log_f = f_raw if exp_gate else F.logsigmoid(f_raw)
    return q, k, v, log_i, log_f


def _random_state(B, NH, d, dtype, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, NH, d, d, generator=g, dtype=dtype),
            torch.randn(B, NH, d, generator=g, dtype=dtype),
            torch.randn(B, NH, generator=g, dtype=dtype))


def _maxdiff(a, b):
    if isinstance(a, tuple):
        return max(_maxdiff(x, y) for x, y in zip(a, b))
    return (a - b).abs().max().item()


def _close(a, b, tol):
    """|a - b| <= tol * (1 + |b|) elementwise (absolute near zero, relative for large values)."""
    if isinstance(a, tuple):
        return all(_close(x, y, tol) for x, y in zip(a, b))
    return bool(((a - b).abs() <= tol * (1 + b.abs())).all())


# --- mLSTM forms -----------------------------------------------------------------------------

# float32: the parallel form subtracts cumulative log forget gates (F_t - F_j), which loses
# digits as |F| grows; at unit-scale gate pre-activations it stays within 1e-5 (relative
# above 1)
@pytest.mark.parametrize("dtype,tol,scale", [(torch.float64, 1e-10, 3.0), (torch.float32, 1e-5, 1.0)])
@pytest.mark.parametrize("exp_gate", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_mlstm_forms_agree(dtype, tol, scale, exp_gate, with_state):
    q, k, v, log_i, log_f = _mlstm_inputs(dtype=dtype, exp_gate=exp_gate, scale=scale)
    state = _random_state(2, 3, 4, dtype) if with_state else None
    h_r, s_r = mlstm_math.recurrent(q, k, v, log_i, log_f, state)
    h_p, s_p = mlstm_math.parallel(q, k, v, log_i, log_f, state)
    assert _close(h_p, h_r, tol) and _close(s_p, s_r, tol)
    for chunk in (1, 4, 5, 13, 64):
        h_c, s_c = mlstm_math.chunkwise(q, k, v, log_i, log_f, state, chunk_size=chunk)
        assert _close(h_c, h_r, tol) and _close(s_c, s_r, tol), chunk


def test_mlstm_forms_agree_in_gradients():
    inputs = [t.requires_grad_() for t in _mlstm_inputs(T=9)]
    grads = {}
    for form, fn in mlstm_math.FORMS.items():
        kwargs = {"chunk_size": 4} if form == "chunkwise" else {}
        h, (C, n, _m) = fn(*inputs, **kwargs)
        loss = (h * torch.linspace(-1, 1, h.numel(), dtype=D64).view_as(h)).sum() + C.sum() + n.sum()
        grads[form] = torch.autograd.grad(loss, inputs)
    for form in ("parallel", "chunkwise"):
        assert _maxdiff(grads[form], grads["recurrent"]) < 1e-10, form


def test_mlstm_equals_unstabilised_paper_equations():
    """C_t = f C + i k v^T, n_t = f n + i k, h = C^T q / max(|n^T q|, 1), without m."""
    q, k, v, log_i, log_f = _mlstm_inputs(T=8)
    log_i = log_i / 3  # keep exp() of the unstabilised gates in range
    B, NH, T, d = q.shape
    ks = k / math.sqrt(d)
    C = torch.zeros(B, NH, d, d, dtype=D64)
    n = torch.zeros(B, NH, d, dtype=D64)
    want = []
    for t in range(T):
        f, i = log_f[:, :, t].exp()[..., None], log_i[:, :, t].exp()[..., None]
        C = f[..., None] * C + i[..., None] * ks[:, :, t, :, None] * v[:, :, t, None, :]
        n = f * n + i * ks[:, :, t]
        qt = q[:, :, t]
        den = torch.clamp((n * qt).sum(-1, keepdim=True).abs(), min=1.0)
        want.append((qt[..., None, :] @ C).squeeze(-2) / den)
    for fn in mlstm_math.FORMS.values():
        h, _ = fn(q, k, v, log_i, log_f, eps=0.0)
        assert _maxdiff(h, torch.stack(want, 2)) < 1e-10


def test_mlstm_layer_forms_agree():
    torch.manual_seed(0)
    x = torch.randn(2, 11, 6)
    lengths = torch.tensor([11, 6])
    ref = mLSTM(6, 8, num_layers=2, batch_first=True, bidirectional=True, num_heads=2,
                form="recurrent")
    out_r, st_r = ref(x, lengths=lengths)
    for form, chunk in (("parallel", 64), ("chunkwise", 4), ("chunkwise", 3)):
        other = mLSTM(6, 8, num_layers=2, batch_first=True, bidirectional=True, num_heads=2,
                      form=form, chunk_size=chunk)
        other.load_state_dict(ref.state_dict())
        out, st = other(x, lengths=lengths)
        assert _maxdiff(out, out_r) < 1e-5 and _maxdiff(st, st_r) < 1e-5, (form, chunk)


# --- sLSTM math ------------------------------------------------------------------------------

def test_slstm_equals_unstabilised_paper_equations():
    """c_t = f c + i z, n_t = f n + i with i = exp(ĩ), f = sigmoid(f̃): h unchanged by m."""
    torch.manual_seed(0)
    cell = sLSTMCell(3, 6, num_heads=2, recurrent_init="uniform", dtype=D64)
    x = torch.randn(10, 2, 3, dtype=D64)
    state = cell.zero_state(2, x)
    c = torch.zeros(2, 6, dtype=D64)
    n = torch.zeros(2, 6, dtype=D64)
    h = torch.zeros(2, 6, dtype=D64)
    for t in range(10):
        _, state = cell(x[t], state)
        raw = cell.project(x[t]) + slstm_math.recurrent_input(h, cell.weight_hh)
        i, f, z, o = raw.chunk(4, -1)
        c = torch.sigmoid(f) * c + torch.exp(i) * torch.tanh(z)
        n = torch.sigmoid(f) * n + torch.exp(i)
        h = torch.sigmoid(o) * c / n
        assert _maxdiff(state[0], h) < 1e-10
        assert _maxdiff(state[1] * state[3].exp(), c) < 1e-9


def test_slstm_recurrence_is_block_diagonal():
    """A head's units never see another head's hidden state."""
    cell = sLSTMCell(3, 8, num_heads=4, recurrent_init="uniform", dtype=D64)
    h = torch.zeros(1, 8, dtype=D64)
    h[0, 2] = 1.0  # a unit of head 1 (units 2, 3)
    r = slstm_math.recurrent_input(h, cell.weight_hh).view(4, 4, 2)  # gate, head, unit
    assert r[:, [0, 2, 3]].abs().max() == 0 and r[:, 1].abs().max() > 0


def test_powerlaw_forget_bias():
    b = slstm_math.forget_bias("powerlaw", 2, 5)
    head = 5 - 12 * torch.linspace(0, 1, 5) ** 0.3
    assert torch.allclose(b, head.repeat(2))
    deep = slstm_math.forget_bias("powerlaw", 1, 5, block_idx=3, num_blocks=4)
    assert torch.allclose(deep, 5 - 12 * torch.linspace(0, 1, 5) ** 1.6)
    layer = sLSTM(3, 8, num_layers=2, num_heads=2)
    assert torch.allclose(layer.cells[1].bias[8:16], slstm_math.forget_bias(
        "powerlaw", 2, 4, block_idx=1, num_blocks=2))
    assert (layer.cells[0].bias[:8] == 0).all() and (layer.cells[0].weight_hh == 0).all()


# --- gradcheck -------------------------------------------------------------------------------

@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_gradcheck_slstm_cell(forget_gate):
    torch.manual_seed(0)
    cell = sLSTMCell(3, 4, num_heads=2, forget_gate=forget_gate, recurrent_init="uniform",
                     dtype=D64)
    x = torch.randn(2, 3, dtype=D64, requires_grad=True)
    state = tuple(torch.randn(2, 4, dtype=D64) for _ in range(4))
    state = (state[0], state[1], state[2].abs() + 0.5, state[3])
    state = tuple(s.requires_grad_() for s in state)
    params = tuple(cell.parameters())

    def run(x, *args):
        st, ps = args[:4], args[4:]
        out = torch.func.functional_call(cell, dict(zip(
            [n for n, _ in cell.named_parameters()], ps)), (x, st))
        h, (_h2, c, n, m) = out
        return h, c, n, m

    assert torch.autograd.gradcheck(run, (x, *state, *params))


def test_gradcheck_slstm_layer_from_zero_state():
    torch.manual_seed(0)
    layer = sLSTM(2, 4, num_heads=2, bidirectional=True, recurrent_init="uniform", dtype=D64)
    x = torch.randn(4, 2, 2, dtype=D64, requires_grad=True)
    lengths = torch.tensor([4, 2])
    assert torch.autograd.gradcheck(lambda x: layer(x, lengths=lengths)[0], (x,))


@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_gradcheck_mlstm_cell(forget_gate):
    torch.manual_seed(0)
    cell = mLSTMCell(3, 4, num_heads=2, forget_gate=forget_gate, dtype=D64)
    with torch.no_grad():
        cell.weight_i.normal_()
        cell.weight_f.normal_()
    x = torch.randn(2, 3, dtype=D64, requires_grad=True)
    state = tuple(s.requires_grad_() for s in _random_state(2, 2, 2, D64))
    names = [n for n, _ in cell.named_parameters()]

    def run(x, *args):
        st, ps = args[:3], args[3:]
        h, (C, n, m) = torch.func.functional_call(cell, dict(zip(names, ps)), (x, st))
        return h, C, n, m

    assert torch.autograd.gradcheck(run, (x, *state, *cell.parameters()))


@pytest.mark.parametrize("form", ["parallel", "chunkwise", "recurrent"])
def test_gradcheck_mlstm_layer(form):
    torch.manual_seed(0)
    layer = mLSTM(2, 4, num_heads=2, form=form, chunk_size=2, dtype=D64)
    with torch.no_grad():
        for c in layer.cells:
            c.weight_i.normal_()
            c.weight_f.normal_()
    x = torch.randn(5, 2, 2, dtype=D64, requires_grad=True)
    lengths = torch.tensor([5, 3])
    assert torch.autograd.gradcheck(lambda x: layer(x, lengths=lengths)[0], (x,))


# --- torch.nn conventions --------------------------------------------------------------------

def _layers():
    torch.manual_seed(0)
    common = {"num_layers": 2, "bidirectional": True, "num_heads": 2}
    yield "slstm", sLSTM(3, 4, recurrent_init="uniform", **common)
    for form in ("parallel", "chunkwise", "recurrent"):
        layer = mLSTM(3, 4, form=form, chunk_size=3, **common)
        with torch.no_grad():
            for c in layer.cells:
                c.weight_f.normal_()
        yield f"mlstm-{form}", layer


@pytest.mark.parametrize("name,layer", list(_layers()), ids=lambda v: v if isinstance(v, str) else "")
def test_lengths_equal_each_sequence_alone(name, layer):
    torch.manual_seed(1)
    lengths = torch.tensor([7, 3, 5, 1])
    x = torch.randn(7, 4, 3)
    out, states = layer(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        alone, alone_states = layer(x[:n, b:b + 1])
        assert _maxdiff(out[:n, b:b + 1], alone) < 1e-5, name
        assert (out[n:, b] == 0).all(), name
        assert _maxdiff(tuple(s[:, b:b + 1] for s in states), alone_states) < 1e-5, name


@pytest.mark.parametrize("name,layer", list(_layers()), ids=lambda v: v if isinstance(v, str) else "")
def test_unbatched_equals_batch_of_one(name, layer):
    x = torch.randn(6, 3)
    out, states = layer(x)
    out1, states1 = layer(x.unsqueeze(1))
    assert out.shape == (6, 8)
    assert _maxdiff(out, out1.squeeze(1)) == 0
    assert _maxdiff(states, tuple(s.squeeze(1) for s in states1)) == 0
    again, _ = layer(x, states)  # unbatched states are accepted back
    assert again.shape == (6, 8)


@pytest.mark.parametrize("cls", [sLSTM, mLSTM])
def test_states_round_trip(cls):
    """T steps in two halves, the state carried, equal one run of T steps."""
    torch.manual_seed(0)
    layer = cls(3, 4, num_layers=2, num_heads=2, batch_first=True)
    x = torch.randn(2, 10, 3)
    full, s_full = layer(x)
    first, s_half = layer(x[:, :4])
    second, s_end = layer(x[:, 4:], s_half)
    assert _maxdiff(torch.cat([first, second], 1), full) < 1e-5
    assert _maxdiff(s_end, s_full) < 1e-5


def test_layer_equals_its_cell_step_by_step():
    torch.manual_seed(0)
    for layer in (sLSTM(3, 4, num_heads=2, recurrent_init="uniform"), mLSTM(3, 4, num_heads=2)):
        x = torch.randn(5, 2, 3)
        out, final = layer(x)
        state, cell = None, layer.cells[0]
        for t in range(5):
            h, state = cell(x[t], state)
            assert _maxdiff(h, out[t]) < 1e-5
        assert _maxdiff(tuple(s[0] for s in final), state) < 1e-5


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(0)
    layer = sLSTM(3, 4, num_layers=2, dropout=0.5)
    x = torch.randn(4, 2, 3)
    layer.eval()
    assert torch.equal(layer(x)[0], layer(x)[0])
    layer.train()
    assert not torch.equal(layer(x)[0], layer.eval()(x)[0])


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: sLSTM(3, 6, num_heads=4),
    lambda: mLSTM(3, 6, num_heads=4),
    lambda: sLSTMCell(3, 6, num_heads=0),
    lambda: mLSTMCell(3, 6, forget_gate="relu"),
    lambda: sLSTM(3, 6, bias_init="ones"),
    lambda: sLSTM(3, 6, dropout=1.5),
    lambda: mLSTM(3, 6, form="fast"),
    lambda: mLSTM(3, 6, chunk_size=0),
    lambda: sLSTM(0, 6),
])
def test_bad_construction_raises_one_line(make):
    with pytest.raises(InputError) as err:
        make()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("cls", [sLSTM, mLSTM])
def test_bad_input_raises_one_line(cls):
    layer = cls(3, 4, num_heads=2)
    x = torch.randn(5, 2, 3)
    bad = [
        lambda: layer(torch.randn(5, 2, 4)),                       # wrong input_size
        lambda: layer(torch.randn(5, 2, 3, 1)),                    # wrong rank
        lambda: layer(torch.randint(0, 3, (5, 2, 3))),             # integer input
        lambda: layer(x.double()),                                 # dtype mismatch
        lambda: layer(x, lengths=torch.tensor([6, 2])),            # length past T
        lambda: layer(x, lengths=torch.tensor([0, 2])),            # zero length
        lambda: layer(x, lengths=torch.tensor([2.0, 2.0])),        # float lengths
        lambda: layer(x, lengths=torch.tensor([2, 2, 2])),         # wrong count
        lambda: layer(x, (torch.zeros(1, 2, 4),)),                 # short state tuple
        lambda: layer(x, tuple(torch.zeros(1, 3, 4, 4, 4)[..., :1] for _ in range(4))),
        lambda: layer(x, tuple(s.double() for s in layer(x)[1])),  # state dtype mismatch
        lambda: layer(x[:, 0], lengths=torch.tensor([2, 3])),      # unbatched, two lengths
    ]
    for call in bad:
        with pytest.raises(InputError) as err:
            call()
        assert "\n" not in str(err.value)


def test_bad_cell_state_raises():
    with pytest.raises(InputError):
        sLSTMCell(3, 4)(torch.randn(2, 3), (torch.zeros(2, 4),) * 3)
    with pytest.raises(InputError):
        mLSTMCell(3, 4, num_heads=2)(torch.randn(2, 3), (torch.zeros(2, 2, 2, 2),
                                                          torch.zeros(2, 2, 2), torch.zeros(2, 3)))


@pytest.mark.parametrize("cls", [sLSTM, mLSTM])
def test_double_backward(cls):
    """A gradient penalty: the gradient itself is differentiable (float64 gradgradcheck)."""
    torch.manual_seed(0)
    layer = cls(2, 4, num_heads=2, dtype=D64)
    x = torch.randn(4, 2, 2, dtype=D64, requires_grad=True)
    lengths = torch.tensor([4, 3])
    assert torch.autograd.gradgradcheck(lambda x: layer(x, lengths=lengths)[0], (x,))
