"""Randomised differential checks of the layers and cells: seeded random configurations (mode,
layers, directions, batch_first, sizes down to T = 1 and B = 1, initial states, variable
lengths, packed input, float32 and float64, train and eval mode, every CPU backend), each
against the truth: torch.nn with the same weights for the plain cells, the reference
backend for the variants. Outputs, final states and every gradient must agree.

The fixed grids elsewhere (tests/test_parity.py, tests/test_variants.py,
tests/test_tools_matrix.py) hold one shape each; these draws reach the corners between
them (eval-mode zoneout at T = 1 once returned gradients of 1e17 from memory already
freed). Cells too, with and without autograd (the compiled streaming step runs their
no_grad eval calls). The default run draws 100 cases of each kind (about 5 s); ``pytest
-m slow`` draws 900 more of each.
"""

from __future__ import annotations

import random

import pytest
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

import lstmkit
from tests.conftest import TOL, assert_close

BACKENDS = ("auto", "native", "compiled", "fused", "reference")


def _flat(obj) -> list:
    if obj is None:
        return []
    if isinstance(obj, PackedSequence):
        return [obj.data]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _flat(o)]
    return [obj]


def _compare(got, want, leaves_got, leaves_want, dtype, what: str) -> None:
    """Outputs equal, then the gradients of one random weighting of them: conftest's
    tolerance times max(1, max |truth|), ten times it for the gradients (in float32 the
    layer norm of a few values amplifies rounding by 1/std)."""
    f_got, f_want = _flat(got), _flat(want)
    assert len(f_got) == len(f_want), f"{what}: {len(f_got)} outputs, expected {len(f_want)}"
    for k, (a, b) in enumerate(zip(f_got, f_want)):
        assert a.dtype == b.dtype, f"{what}: output {k} is {a.dtype}, expected {b.dtype}"
        assert_close(a, b, dtype, f"{what}: output {k}", scaled=True)
    weights = [torch.randn_like(b) for b in f_want]
    loss_got = sum((a * w).sum() for a, w in zip(f_got, weights))
    loss_want = sum((b * w).sum() for b, w in zip(f_want, weights))
    g_got = torch.autograd.grad(loss_got, leaves_got, allow_unused=True, retain_graph=True)
    g_want = torch.autograd.grad(loss_want, leaves_want, allow_unused=True)
    for k, (a, b) in enumerate(zip(g_got, g_want)):
        if a is None or b is None:  # unused on one side: then zero on the other
            other = a if b is None else b
            assert other is None or not other.any(), f"{what}: gradient {k} missing"
            continue
        err = (a - b).abs().max().item()
        tol = 10 * TOL[dtype] * max(1.0, b.abs().max().item())
        assert err <= tol, f"{what}: gradient {k} off by {err:.3g} > {tol:.3g}"


def _plain_case(seed: int) -> None:
    """A plain layer on a random backend against torch.nn."""
    rng = random.Random(seed)
    mode = rng.choice(["LSTM", "GRU", "RNN", "RNN_relu"])
    cls = mode.split("_")[0]
    kw = {"num_layers": rng.choice([1, 1, 2, 3]), "bidirectional": rng.random() < 0.4,
          "batch_first": rng.random() < 0.5, "bias": rng.random() < 0.8}
    I, H = rng.choice([1, 3, 8]), rng.choice([1, 4, 7, 16])
    if mode == "LSTM" and H > 3 and rng.random() < 0.3:
        kw["proj_size"] = rng.choice([2, 3])
    if cls == "RNN":
        kw["nonlinearity"] = "relu" if mode == "RNN_relu" else "tanh"
    dtype = rng.choice([torch.float32, torch.float64])
    T, B = rng.choice([1, 2, 5, 9]), rng.choice([1, 2, 5])
    unbatched = rng.random() < 0.15
    packed = not unbatched and rng.random() < 0.3
    backend = rng.choice(BACKENDS)
    torch.manual_seed(seed)
    truth = getattr(torch.nn, cls)(I, H, **kw).to(dtype)
    kit = getattr(lstmkit, cls)(I, H, backend=backend, **kw).to(dtype)
    kit.load_state_dict(truth.state_dict())
    shape = (T, I) if unbatched else ((B, T, I) if kw["batch_first"] else (T, B, I))
    x = torch.randn(*shape, dtype=dtype)
    if rng.random() < 0.3 and not unbatched:  # a non-contiguous input of the same values
        x = x.transpose(0, 1).contiguous().transpose(0, 1)
    x.requires_grad_()
    hx = None
    if rng.random() < 0.5:
        D, L, P = 2 if kw["bidirectional"] else 1, kw["num_layers"], kw.get("proj_size") or H
        lead = (L * D,) if unbatched else (L * D, B)
        h0 = torch.randn(*lead, P, dtype=dtype, requires_grad=True)
        hx = (h0, torch.randn(*lead, H, dtype=dtype, requires_grad=True)) if cls == "LSTM" else h0
    inp = x
    if packed:
        lengths = torch.tensor([rng.randint(1, T) for _ in range(B)])
        lengths[rng.randrange(B)] = T
        inp = pack_padded_sequence(x, lengths, batch_first=kw["batch_first"], enforce_sorted=False)
    what = f"seed {seed}: {cls} {kw} I={I} H={H} T={T} B={B} {dtype} backend={backend}"
    leaves = [x, *_flat(hx)]
    _compare(kit(inp, hx), truth(inp, hx), leaves + list(kit.parameters()),
             leaves + list(truth.parameters()), dtype, what)


def _variant_case(seed: int) -> None:
    """A layer with variants on a random backend against the reference backend."""
    rng = random.Random(seed)
    cls = rng.choice(["LSTM", "LSTM", "GRU", "RNN"])
    v = {}
    if cls != "RNN" and rng.random() < 0.5:
        v["layer_norm"] = True
    if cls == "LSTM":
        for name, p, value in (("peephole", 0.3, True), ("coupled_gates", 0.2, True),
                               ("cell_clip", 0.2, rng.choice([0.5, 3.0])), ("forget_bias", 0.2, 1.0)):
            if rng.random() < p:
                v[name] = value
    if cls != "RNN" and rng.random() < 0.4:
        v["zoneout"] = rng.choice([0.1, (0.2, 0.1)]) if cls == "LSTM" else 0.1
    if cls != "RNN" and rng.random() < 0.2:
        v["recurrent_dropout"] = 0.3
    I, H = rng.choice([1, 3, 8]), rng.choice([2, 5, 16])
    kw = dict(num_layers=rng.choice([1, 2]), bidirectional=rng.random() < 0.4,
              batch_first=rng.random() < 0.5, **v)
    if cls == "LSTM" and H > 2 and rng.random() < 0.2:
        kw["proj_size"] = 2
    training, dtype = rng.random() < 0.5, rng.choice([torch.float32, torch.float64])
    T, B = rng.choice([1, 3, 7]), rng.choice([1, 2, 5])
    backend = rng.choice(["auto", "compiled", "fused"])
    torch.manual_seed(seed)
    truth = getattr(lstmkit, cls)(I, H, backend="reference", **kw).to(dtype).train(training)
    kit = getattr(lstmkit, cls)(I, H, backend=backend, **kw).to(dtype).train(training)
    kit.load_state_dict(truth.state_dict())
    x = torch.randn(*((B, T, I) if kw["batch_first"] else (T, B, I)), dtype=dtype, requires_grad=True)
    lengths = torch.tensor([rng.randint(1, T) for _ in range(B)]) if rng.random() < 0.4 else None
    hx = None
    if rng.random() < 0.4:
        D, L, P = 2 if kw["bidirectional"] else 1, kw["num_layers"], kw.get("proj_size") or H
        h0 = torch.randn(L * D, B, P, dtype=dtype, requires_grad=True)
        hx = (h0, torch.randn(L * D, B, H, dtype=dtype, requires_grad=True)) if cls == "LSTM" else h0
    torch.manual_seed(7)  # the same masks on both sides in training
    got = kit(x, hx, lengths=lengths)
    torch.manual_seed(7)
    want = truth(x, hx, lengths=lengths)
    what = (f"seed {seed}: {cls} {kw} I={I} H={H} T={T} B={B} {dtype} training={training} "
            f"lengths={lengths is not None} backend={backend}")
    leaves = [x, *_flat(hx)]
    _compare(got, want, leaves + list(kit.parameters()), leaves + list(truth.parameters()), dtype, what)


def _cell_case(seed: int) -> None:
    """A cell (plain or with variants, batched, unbatched or an empty batch) against
    torch.nn's cell for the plain ones and the reference backend's for the variants; with
    and without autograd (the compiled streaming step runs the no_grad eval calls)."""
    rng = random.Random(seed)
    mode = rng.choice(["LSTMCell", "GRUCell", "RNNCell"])
    v = {}
    if mode != "RNNCell" and rng.random() < 0.5:
        v["layer_norm"] = True
    if mode == "LSTMCell":
        for name, p, value in (("peephole", 0.3, True), ("coupled_gates", 0.2, True), ("cell_clip", 0.2, 0.5)):
            if rng.random() < p:
                v[name] = value
    if mode != "RNNCell" and rng.random() < 0.3:
        v["zoneout"] = 0.2
    if mode != "RNNCell" and rng.random() < 0.2:
        v["recurrent_dropout"] = 0.3
    extra = {"nonlinearity": rng.choice(["tanh", "relu"])} if mode == "RNNCell" else {}
    I, H, B = rng.choice([1, 3]), rng.choice([1, 4, 9]), rng.choice([0, 1, 3])
    bias, training = rng.random() < 0.8, rng.random() < 0.5
    dtype, backend = rng.choice([torch.float32, torch.float64]), rng.choice(BACKENDS)
    if v and backend == "native":
        backend = "auto"  # torch's kernels run only the plain cells
    torch.manual_seed(seed)
    truth = (getattr(torch.nn, mode)(I, H, bias, **extra) if not v else
             getattr(lstmkit, mode)(I, H, bias, backend="reference", **v, **extra))
    truth = truth.to(dtype).train(training)
    kit = getattr(lstmkit, mode)(I, H, bias, backend=backend, **v, **extra).to(dtype).train(training)
    kit.load_state_dict(truth.state_dict())
    unbatched = rng.random() < 0.2
    x = torch.randn(*((I,) if unbatched else (B, I)), dtype=dtype)
    hx = None
    if rng.random() < 0.5:
        shape = (H,) if unbatched else (B, H)
        h0 = torch.randn(*shape, dtype=dtype)
        hx = (h0, torch.randn(*shape, dtype=dtype)) if mode == "LSTMCell" else h0
    what = f"seed {seed}: {mode} {v} I={I} H={H} B={B} {dtype} training={training} backend={backend}"
    with torch.no_grad():
        torch.manual_seed(7)
        got = kit(x, hx)
        torch.manual_seed(7)
        want = truth(x, hx)
    for k, (a, b) in enumerate(zip(_flat(got), _flat(want), strict=True)):
        assert_close(a, b, dtype, f"{what}: no_grad output {k}", scaled=True)
    if unbatched or not B:
        return
    xg = x.clone().requires_grad_()
    hg = None if hx is None else tuple(t.clone().requires_grad_() for t in _flat(hx))
    hg = hg if hg is None or mode == "LSTMCell" else hg[0]
    torch.manual_seed(7)
    got = kit(xg, hg)
    torch.manual_seed(7)
    want = truth(xg, hg)
    leaves = [xg, *_flat(hg)]
    _compare(got, want, leaves + list(kit.parameters()), leaves + list(truth.parameters()), dtype, what)


def _draws(n_default: int, n_slow: int, offset: int):
    return [pytest.param(offset + s, id=str(s)) for s in range(n_default)] + [
        pytest.param(offset + s, id=str(s), marks=pytest.mark.slow) for s in range(n_default, n_slow)]


@pytest.mark.parametrize("seed", _draws(100, 1000, 0))
def test_random_plain_layer_matches_torch_nn(seed):
    _plain_case(seed)


@pytest.mark.parametrize("seed", _draws(100, 1000, 100_000))
def test_random_variant_layer_matches_reference(seed):
    _variant_case(seed)


@pytest.mark.parametrize("seed", _draws(100, 1000, 200_000))
def test_random_cell_matches_truth(seed):
    _cell_case(seed)
