"""The variants (lstmkit.variants): fused against reference for each variant alone and
in combinations, float64 and float32, outputs, states and all gradients under random
upstream gradients; the equations checked independently; eval-mode expectations;
seeded masks reproducible and shared by the backends."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import lstmkit
from tests.conftest import assert_close, gradcheck_layer

T, B, I, H = 6, 3, 4, 5
LENGTHS = torch.tensor([6, 3, 5])

LSTM_CASES = {
    "layer_norm": dict(layer_norm=True),
    "peephole": dict(peephole=True),
    "coupled": dict(coupled_gates=True),
    "coupled_peephole": dict(coupled_gates=True, peephole=True),
    "forget_bias": dict(forget_bias=1.0),
    "cell_clip": dict(cell_clip=0.3),
    "recurrent_dropout": dict(recurrent_dropout=0.3),
    "zoneout": dict(zoneout=0.2),
    "zoneout_pair": dict(zoneout=(0.3, 0.1)),
    "weight_drop": dict(weight_drop=0.4),
    "ln_peep_clip": dict(layer_norm=True, peephole=True, cell_clip=0.5),
    "all": dict(layer_norm=True, peephole=True, forget_bias=1.0, cell_clip=0.8,
                recurrent_dropout=0.2, zoneout=(0.1, 0.2), weight_drop=0.2),
    "all_coupled": dict(layer_norm=True, peephole=True, coupled_gates=True, cell_clip=0.8,
                        recurrent_dropout=0.2, zoneout=0.1, weight_drop=0.2),
}
GRU_CASES = {
    "layer_norm": dict(layer_norm=True),
    "recurrent_dropout": dict(recurrent_dropout=0.3),
    "zoneout": dict(zoneout=0.25),
    "weight_drop": dict(weight_drop=0.4),
    "all": dict(layer_norm=True, recurrent_dropout=0.2, zoneout=0.1, weight_drop=0.2),
}
STRUCTURES = {
    "plain": dict(),
    "l2_bidir_lengths": dict(num_layers=2, bidirectional=True, lengths=True),
    "proj_bidir": dict(proj_size=3, bidirectional=True, lstm_only=True),
    "proj_lengths_l2": dict(proj_size=2, num_layers=2, lengths=True, lstm_only=True),
    "packed": dict(packed=True, bidirectional=True),
}


def _grid():
    for kind, cases in (("lstm", LSTM_CASES), ("gru", GRU_CASES)):
        for cname in cases:
            for sname, st in STRUCTURES.items():
                if st.get("lstm_only") and kind != "lstm":
                    continue
                yield pytest.param(kind, cname, sname, id=f"{kind}-{cname}-{sname}")


def _forward(kind, opts, structure, backend, dtype, seed=0, train=True):
    st = dict(structure)
    use_lengths, packed = st.pop("lengths", False), st.pop("packed", False)
    st.pop("lstm_only", None)
    cls = lstmkit.LSTM if kind == "lstm" else lstmkit.GRU
    torch.manual_seed(seed)
    m = cls(I, H, **st, **opts, dtype=dtype, backend=backend).train(train)
    with torch.no_grad():  # perturb so layer-norm gains/biases are not all 1 and 0
        for p in m.parameters():
            p.add_(0.1 * torch.randn_like(p))
    g = torch.Generator().manual_seed(seed + 7)
    x = torch.randn(T, B, I, dtype=dtype, generator=g).requires_grad_()
    D = 2 if m.bidirectional else 1
    P = m.proj_size or H
    h0 = torch.randn(m.num_layers * D, B, P, dtype=dtype, generator=g).requires_grad_()
    c0 = torch.randn(m.num_layers * D, B, H, dtype=dtype, generator=g).requires_grad_()
    hx = (h0, c0) if kind == "lstm" else h0
    torch.manual_seed(seed + 1)  # the masks' draws
    if packed:
        pk = torch.nn.utils.rnn.pack_padded_sequence(x, LENGTHS, enforce_sorted=False)
        out, st_ = m(pk, hx)
        out = out.data
    else:
        out, st_ = m(x, hx, lengths=LENGTHS if use_lengths else None)
    states = list(st_) if isinstance(st_, tuple) else [st_]
    ups = [torch.randn(t.shape, dtype=dtype, generator=g) for t in (out, *states)]
    loss = sum((t * u).sum() for t, u in zip((out, *states), ups))
    inputs = [x, h0] + ([c0] if kind == "lstm" else [])
    names = ["input", "h0"] + (["c0"] if kind == "lstm" else []) + [n for n, _ in m.named_parameters()]
    grads = torch.autograd.grad(loss, inputs + list(m.parameters()))
    return out, states, dict(zip(names, grads))


def assert_matches_reference(kind, cname, sname, backend, dtype):
    """``backend`` against the reference on one case of the grid: output, final states and
    every gradient (float32: 2e-5 relative to the gradient's magnitude; float64 1e-10 absolute)."""
    opts = (LSTM_CASES if kind == "lstm" else GRU_CASES)[cname]
    ref = _forward(kind, opts, STRUCTURES[sname], "reference", dtype)
    got = _forward(kind, opts, STRUCTURES[sname], backend, dtype)
    assert_close(got[0], ref[0], dtype, "output")
    for a, b in zip(got[1], ref[1]):
        assert_close(a, b, dtype, "final state")
    assert got[2].keys() == ref[2].keys()
    for name in ref[2]:
        assert_close(got[2][name], ref[2][name], dtype, f"grad of {name}", scaled=dtype == torch.float32)


@pytest.mark.parametrize("kind,cname,sname", list(_grid()))
def test_fused_matches_reference(kind, cname, sname, dtype):
    assert_matches_reference(kind, cname, sname, "fused", dtype)


@pytest.mark.parametrize("backend", ["reference", "fused"])
@pytest.mark.parametrize("kind,opts", [
    ("lstm", LSTM_CASES["all"]), ("lstm", LSTM_CASES["all_coupled"]), ("gru", GRU_CASES["all"]),
], ids=["lstm_all", "lstm_all_coupled", "gru_all"])
def test_gradcheck_variants(kind, opts, backend):
    cls = lstmkit.LSTM if kind == "lstm" else lstmkit.GRU
    torch.manual_seed(0)
    m = cls(2, 3, bidirectional=True, **opts, dtype=torch.float64, backend=backend)
    assert gradcheck_layer(m)


def test_layer_norm_lstm_equations():
    """One step of layer_norm=True against the equations written out with F.layer_norm."""
    torch.manual_seed(0)
    m = lstmkit.LSTM(I, H, layer_norm=True, peephole=True, dtype=torch.float64)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(1, B, I, dtype=torch.float64)
    h0 = torch.randn(1, B, H, dtype=torch.float64)
    c0 = torch.randn(1, B, H, dtype=torch.float64)
    out, (h1, c1) = m(x, (h0, c0))
    p = dict(m.named_parameters())
    ln = lambda a, w, b: F.layer_norm(a, a.shape[-1:], w, b, 1e-5)  # noqa: E731
    pre = (ln(x[0] @ p["weight_ih_l0"].T, p["ln_ih_weight_l0"], p["ln_ih_bias_l0"]) + p["bias_ih_l0"]
           + ln(h0[0] @ p["weight_hh_l0"].T, p["ln_hh_weight_l0"], p["ln_hh_bias_l0"]) + p["bias_hh_l0"])
    i, f, g, o = pre.chunk(4, 1)
    i = torch.sigmoid(i + p["peephole_i_l0"] * c0[0])
    f = torch.sigmoid(f + p["peephole_f_l0"] * c0[0])
    c = f * c0[0] + i * torch.tanh(g)
    o = torch.sigmoid(o + p["peephole_o_l0"] * c)
    h = o * torch.tanh(ln(c, p["ln_c_weight_l0"], p["ln_c_bias_l0"]))
    assert_close(c1[0], c, torch.float64, "c_1")
    assert_close(h1[0], h, torch.float64, "h_1")


def test_coupled_gates_input_is_one_minus_forget():
    m = lstmkit.LSTM(I, H, coupled_gates=True)
    assert m.weight_ih_l0.shape == (3 * H, I)
    with lstmkit.record_states(m) as rec:
        m(torch.randn(T, B, I))
    r = rec.layers[0][0]
    torch.testing.assert_close(r["i"], 1 - r["f"])


def test_cell_clip_bounds_the_cell():
    m = lstmkit.LSTM(I, H, cell_clip=0.05, forget_bias=3.0)
    _, (_, c) = m(torch.randn(50, B, I) * 5)
    assert c.abs().max() <= 0.05 + 1e-7
    assert c.abs().max() > 0.04


def test_forget_bias_initialisation():
    torch.manual_seed(0)
    a = lstmkit.LSTM(I, H)
    torch.manual_seed(0)
    b = lstmkit.LSTM(I, H, forget_bias=1.0)
    diff = b.bias_hh_l0 - a.bias_hh_l0
    torch.testing.assert_close(diff[H:2 * H], torch.ones(H))
    torch.testing.assert_close(diff[:H], torch.zeros(H))
    torch.testing.assert_close(diff[2 * H:], torch.zeros(2 * H))


def test_variant_parameter_names():
    m = lstmkit.LSTM(I, H, layer_norm=True, peephole=True, bidirectional=True)
    names = {n for n, _ in m.named_parameters()}
    for n in ("ln_ih_weight_l0", "ln_hh_bias_l0_reverse", "ln_c_weight_l0", "peephole_i_l0",
              "peephole_f_l0_reverse", "peephole_o_l0"):
        assert n in names
    assert torch.equal(m.ln_ih_weight_l0, torch.ones(4 * H))
    assert torch.equal(m.ln_c_bias_l0, torch.zeros(H))
    with pytest.raises(ValueError, match=r"torch.nn has no equivalent of layer_norm, peephole"):
        m.to_torch()


def test_all_off_keeps_torch_state_dict():
    kw = dict(layer_norm=False, peephole=False, coupled_gates=False, cell_clip=None,
              recurrent_dropout=0.0, zoneout=0.0, weight_drop=0.0, forget_bias=0.0)
    m = lstmkit.LSTM(I, H, num_layers=2, **kw)
    assert list(m.state_dict()) == list(torch.nn.LSTM(I, H, num_layers=2).state_dict())


@pytest.mark.parametrize("opts", [dict(recurrent_dropout=0.5), dict(weight_drop=0.5)], ids=["recurrent_dropout", "weight_drop"])
def test_dropouts_are_identity_in_eval(opts):
    torch.manual_seed(0)
    plain = lstmkit.LSTM(I, H, num_layers=2)
    m = lstmkit.LSTM(I, H, num_layers=2, **opts)
    m.load_state_dict(plain.state_dict())
    m.eval()
    x = torch.randn(T, B, I)
    out, _ = m(x)
    torch.testing.assert_close(out, plain(x)[0])
    torch.testing.assert_close(m.to_torch()(x)[0], out)
    # and in eval the plain path (torch's kernel or the compiled loop) runs it
    from lstmkit import backends
    assert not m.spec.variants
    assert backends.select(m.spec, x).name in ("native", "compiled")
    m.train()
    assert not torch.allclose(m(x)[0], out)


def test_zoneout_eval_is_the_expectation():
    """For one step, each state is linear in the zoneout mask, so the mean over many
    training-mode draws converges to the eval-mode result."""
    torch.manual_seed(0)
    m = lstmkit.LSTM(I, H, zoneout=(0.3, 0.6), dtype=torch.float64)
    x = torch.randn(1, B, I, dtype=torch.float64)
    hx = (torch.randn(1, B, H, dtype=torch.float64), torch.randn(1, B, H, dtype=torch.float64))
    m.eval()
    _, (h_eval, c_eval) = m(x, hx)
    _, (h_eval2, _) = m(x, hx)
    assert torch.equal(h_eval, h_eval2), "eval must be deterministic"
    m.train()
    n = 4000
    xs = x.repeat(1, n, 1)
    _, (h_tr, c_tr) = m(xs, tuple(s.repeat(1, n, 1) for s in hx))
    h_mean = h_tr.view(1, n, B, H).mean(1)
    c_mean = c_tr.view(1, n, B, H).mean(1)
    assert (h_mean - h_eval).abs().max() < 0.03
    assert (c_mean - c_eval).abs().max() < 0.03


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_seeded_masks_reproducible_and_shared(kind):
    opts = LSTM_CASES["all"] if kind == "lstm" else GRU_CASES["all"]
    a = _forward(kind, opts, STRUCTURES["l2_bidir_lengths"], "fused", torch.float64, seed=3)
    b = _forward(kind, opts, STRUCTURES["l2_bidir_lengths"], "fused", torch.float64, seed=3)
    r = _forward(kind, opts, STRUCTURES["l2_bidir_lengths"], "reference", torch.float64, seed=3)
    assert torch.equal(a[0], b[0])
    assert_close(a[0], r[0], torch.float64, "reference with the same seed")
    c = _forward(kind, opts, STRUCTURES["l2_bidir_lengths"], "fused", torch.float64, seed=4)
    assert a[0].shape == c[0].shape and not torch.allclose(a[0], c[0])


def test_auto_picks_fused_for_variants_and_native_refuses():
    from lstmkit import backends
    m = lstmkit.LSTM(I, H, layer_norm=True)
    x = torch.zeros(T, B, I)
    expected = "compiled" if "compiled" in backends.names() and backends.get("compiled").unsupported(m.spec, x) is None else "fused"
    assert backends.select(m.spec, x).name == expected
    with pytest.raises(ValueError, match=r"backend 'native' cannot run this layer: torch's kernels run only the plain cell, not layer_norm"):
        lstmkit.LSTM(I, H, layer_norm=True, backend="native")(x)


@pytest.mark.parametrize("cls,kwargs,match", [
    (lstmkit.GRU, dict(peephole=True), r"peephole exist\(s\) only for the LSTM"),
    (lstmkit.RNN, dict(layer_norm=True), r"the Elman RNN has no variants; got layer_norm"),
    (lstmkit.LSTM, dict(zoneout=1.5), r"zoneout must be a number in \[0, 1\], got 1.5"),
    (lstmkit.LSTM, dict(recurrent_dropout=1.0), r"recurrent_dropout must be a number in \[0, 1\)"),
    (lstmkit.LSTM, dict(cell_clip=-1), r"cell_clip must be a positive number or None, got -1"),
    (lstmkit.LSTM, dict(forget_bias=1.0, bias=False), r"forget_bias needs bias=True"),
    (lstmkit.GRU, dict(zoneout=(0.1, 0.2)), r"zoneout takes a rate or, for the LSTM, a pair"),
], ids=["gru_peephole", "rnn_ln", "zoneout_range", "rd_range", "clip", "fb_nobias", "gru_pair"])
def test_bad_variant_options(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(I, H, **kwargs)


@pytest.mark.parametrize("backend", ["reference", "fused"])
def test_cells_with_variants_match_layer(backend):
    torch.manual_seed(0)
    opts = dict(layer_norm=True, peephole=True, cell_clip=0.7, zoneout=0.2)
    cell = lstmkit.LSTMCell(I, H, **opts, backend=backend, dtype=torch.float64).eval()
    layer = lstmkit.LSTM(I, H, **opts, backend=backend, dtype=torch.float64).eval()
    layer.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
    x = torch.randn(T, B, I, dtype=torch.float64)
    out, (h_n, c_n) = layer(x)
    h = c = torch.zeros(B, H, dtype=torch.float64)
    for t in range(T):
        h, c = cell(x[t], (h, c))
        assert_close(h, out[t], torch.float64, f"cell step {t}")
    assert_close(c, c_n[0], torch.float64, "final cell state")


def test_bernoulli_mask_rate_and_dtype():
    from lstmkit.variants import bernoulli_mask

    torch.manual_seed(0)
    like = torch.zeros(1, dtype=torch.float64)
    m = bernoulli_mask((400, 500), 0.7, like)
    assert m.dtype == torch.float64 and m.shape == (400, 500)
    assert set(m.unique().tolist()) == {0.0, 1.0}
    assert abs(m.mean().item() - 0.7) < 0.005  # 200,000 draws: 4.5 standard errors


def test_dropout_matches_nn_dropout_maths():
    from lstmkit.variants import Dropout

    torch.manual_seed(0)
    d = Dropout(0.25)
    x = torch.randn(300, 400, requires_grad=True)
    y = d(x)
    kept = y != 0
    assert abs(1 - kept.float().mean().item() - 0.25) < 0.006
    assert_close(y[kept], x[kept] / 0.75, torch.float32, "kept elements scaled by 1/(1-p)")
    y.sum().backward()
    assert_close(x.grad, kept.float() / 0.75, torch.float32, "gradient is the scaled mask")
    d.eval()
    assert d(x) is x
    assert Dropout(0.0).train()(x) is x
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\), got 1"):
        Dropout(1)
