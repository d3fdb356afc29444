"""The compiled CPU recurrence (backend="compiled"): the parity grid against torch.nn and
the variants grid against the reference, on float64 (1e-10) and float32 (2e-5), outputs,
states and every gradient; gradchecks; the streaming step; threads; the unavailable
path (no compiler) and the `auto` rules; and a short training run."""

from __future__ import annotations

import hashlib
import math

import pytest
import torch

import lstmkit
from lstmkit import backends
from lstmkit.backends import compiled, rules
from lstmkit.backends.compiled import _build
from tests.conftest import assert_close, gradcheck_layer
from tests.test_parity import CASES, _run_pair
from tests.test_parity import _grid as parity_grid
from tests.test_variants import GRU_CASES, LSTM_CASES, assert_matches_reference
from tests.test_variants import _grid as variants_grid

REASON = _build.reason()
needs_ext = pytest.mark.skipif(REASON is not None, reason=f"compiled backend unavailable: {REASON}")


@needs_ext
@pytest.mark.parametrize("mode,cid", list(parity_grid()))
def test_parity_with_torch(mode, cid, dtype):
    (ref_res, kit_res), (g_ref, g_kit), names = _run_pair(mode, CASES[cid], "compiled", dtype)
    assert_close(kit_res[1], ref_res[1], dtype, "output")
    for k, (a, b) in enumerate(zip(kit_res[2], ref_res[2])):
        assert_close(a, b, dtype, ["h_n", "c_n"][k])
    assert len(g_kit) == len(names)
    for name, a, b in zip(names, g_kit, g_ref):
        assert_close(a, b, dtype, f"grad of {name}")


@needs_ext
@pytest.mark.parametrize("kind,cname,sname", list(variants_grid()))
def test_variants_match_reference(kind, cname, sname, dtype):
    assert_matches_reference(kind, cname, sname, "compiled", dtype)


@needs_ext
@pytest.mark.parametrize("kind,opts", [
    ("lstm", dict(proj_size=2)), ("gru", {}), ("rnn_relu", {}),
    ("lstm", LSTM_CASES["all"]), ("lstm", LSTM_CASES["all_coupled"]), ("gru", GRU_CASES["all"]),
], ids=["lstm_proj", "gru", "rnn_relu", "lstm_all", "lstm_all_coupled", "gru_all"])
def test_gradcheck(kind, opts):
    cls = {"lstm": lstmkit.LSTM, "gru": lstmkit.GRU, "rnn_relu": lstmkit.RNN}[kind]
    extra = {"nonlinearity": "relu"} if kind == "rnn_relu" else {}
    torch.manual_seed(0)
    m = cls(2, 3, num_layers=2, bidirectional=True, **extra, **opts, dtype=torch.float64,
            backend="compiled")
    assert gradcheck_layer(m)


def _run_big(backend: str, dtype, threads: int, batch: int = 96):
    """A 2-layer projected LSTM with every variant on 30 steps x ``batch`` sequences of
    varying length: outputs, states and all gradients."""
    torch.manual_seed(0)
    opts = dict(layer_norm=True, peephole=True, cell_clip=2.0, zoneout=0.1, recurrent_dropout=0.1)
    m = lstmkit.LSTM(16, 48, num_layers=2, proj_size=24, **opts, backend=backend).to(dtype)
    x = torch.randn(30, batch, 16, dtype=dtype, requires_grad=True)
    lengths = torch.randint(1, 31, (batch,))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(1)
        out, (h, c) = m(x, lengths=lengths)
        (out.square().sum() + h.sum() + c.sum()).backward()
    finally:
        torch.set_num_threads(before)
    return [out, h, c, x.grad] + [p.grad for p in m.parameters()]


@needs_ext
def test_larger_shapes_and_threads_match_fused():
    """Longer sequences, a batch big enough for threads over rows, every LSTM variant:
    float64 compiled (1 and 2 threads) equals fused to 1e-10 (relative to the tensor's
    magnitude); in float32 (the packed-GEMM path) compiled is as close to the float64
    result as fused is, within a factor of 2."""
    truth = _run_big("fused", torch.float64, 1)
    for threads in (1, 2):
        got = _run_big("compiled", torch.float64, threads)
        for k, (a, b) in enumerate(zip(got, truth)):
            assert_close(a, b, torch.float64, f"float64, {threads} threads, tensor {k}", scaled=True)
    # float32 on 2 threads (blocks of 48 rows) and on 1 thread with 200 rows (one block):
    # both run the panel GEMM (csrc/smallgemm.h, up to small_gemm_max_rows = 256 rows)
    for batch, threads in ((96, 2), (200, 1)):
        truth = truth if batch == 96 else _run_big("fused", torch.float64, 1, batch)
        fused32 = _run_big("fused", torch.float32, 1, batch)
        comp32 = _run_big("compiled", torch.float32, threads, batch)
        for k, (a, f, t) in enumerate(zip(comp32, fused32, truth)):
            scale = max(1.0, t.abs().max().item())
            err_c = (a.double() - t).abs().max().item() / scale
            err_f = (f.double() - t).abs().max().item() / scale
            assert err_c <= max(2 * err_f, 2e-5), (
                f"float32, batch {batch}, tensor {k}: compiled {err_c:.2e}, fused {err_f:.2e}")


#: the layers of the row-block and sorted-lengths checks: every cell, and every LSTM variant at once
BLOCK_LAYERS = [
    (lstmkit.LSTM, {}),
    (lstmkit.LSTM, dict(layer_norm=True, peephole=True, cell_clip=2.0, zoneout=0.1,
                        recurrent_dropout=0.1, proj_size=4)),
    (lstmkit.GRU, dict(layer_norm=True, zoneout=0.2)),
    (lstmkit.RNN, {}),
]
BLOCK_IDS = ["lstm", "lstm_variants", "gru_variants", "rnn"]


def _run_blocks(cls, opts: dict, min_rows: int, threads: int, backend: str = "compiled") -> list:
    """A 2-layer bidirectional layer over 7 steps (odd: the gradient rows' swaps end on
    the other buffer) x 37 sequences of varying length, given initial states that need
    gradients, run with the loops' minimum row-block size set to ``min_rows``."""
    torch.manual_seed(0)
    m = cls(5, 6, num_layers=2, bidirectional=True, **opts, backend=backend, dtype=torch.float64)
    x = torch.randn(7, 37, 5, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(4, 37, getattr(m, "proj_size", 0) or 6, dtype=torch.float64, requires_grad=True)
    state = h0
    if cls is lstmkit.LSTM:
        state = (h0, torch.randn(4, 37, 6, dtype=torch.float64, requires_grad=True))
    lengths = torch.randint(1, 8, (37,))
    ext = compiled.extension()
    before_rows, before_threads = ext.set_min_block_rows(min_rows), torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(1)
        out, hn = m(x, state, lengths=lengths)
        hn = hn if isinstance(hn, tuple) else (hn,)
        (out.square().sum() + sum(h.sum() for h in hn)).backward()
    finally:
        ext.set_min_block_rows(before_rows)
        torch.set_num_threads(before_threads)
    inputs = [x] + list(state if isinstance(state, tuple) else (state,))
    return [out, *hn] + [t.grad for t in inputs] + [p.grad for p in m.parameters()]


@needs_ext
@pytest.mark.parametrize("cls,opts", BLOCK_LAYERS, ids=BLOCK_IDS)
def test_row_blocks_equal_one_block(cls, opts):
    """The batch split into row blocks on threads of their own (csrc/recurrence.h,
    row_blocks: 37 rows -> blocks of 18 and 19 at a minimum of 16, blocks of 9 or 10 at
    4) gives what one block gives, outputs, states and every gradient, to 1e-12."""
    truth = _run_blocks(cls, opts, 0, 2)
    for min_rows, threads in ((16, 2), (4, 4)):
        got = _run_blocks(cls, opts, min_rows, threads)
        assert len(got) == len(truth)
        for k, (a, b) in enumerate(zip(got, truth)):
            assert a is not None and b is not None, f"tensor {k}: no gradient"
            err = (a - b).abs().max().item() / max(1.0, b.abs().max().item())
            assert err <= 1e-12, f"min {min_rows} rows, {threads} threads, tensor {k}: {err:.3g}"


@needs_ext
def test_small_steps_take_blocks_of_fewer_rows():
    """Row blocks (csrc/recurrence.h, row_blocks): at least 16 rows a block, or at least 4
    where a block's step GEMM (rows x P x G) is at most 2^20 multiply-adds; one block on
    one thread, inside a parallel region, or with the minimum at 0."""
    ext = compiled.extension()
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert ext.row_blocks(32, 512, 2048) == 2  # 16 rows a block
        assert ext.row_blocks(16, 128, 512) == 2  # 8 x 128 x 512 = 2^19
        assert ext.row_blocks(8, 256, 1024) == 2  # 4 x 256 x 1024 = 2^20
        assert ext.row_blocks(16, 256, 1024) == 1  # 8 x 256 x 1024 = 2^21
        assert ext.row_blocks(16, 512, 2048) == 1
        assert ext.row_blocks(7, 32, 128) == 1  # blocks of 4 rows at least
        previous = ext.set_small_block_work(0)
        try:
            assert ext.row_blocks(16, 128, 512) == 1
        finally:
            ext.set_small_block_work(previous)
        previous = ext.set_min_block_rows(0)
        try:
            assert ext.row_blocks(64, 32, 128) == 1
        finally:
            ext.set_min_block_rows(previous)
        torch.set_num_threads(1)
        assert ext.row_blocks(256, 32, 128) == 1
    finally:
        torch.set_num_threads(before)


@needs_ext
@pytest.mark.parametrize("cls,opts", BLOCK_LAYERS, ids=BLOCK_IDS)
def test_sorted_lengths_skip_ended_rows_exactly(cls, opts):
    """With lengths, the compiled backend sorts the batch by length, deals it over the
    row blocks and skips, at each step, the rows whose sequence has ended (no GEMM row,
    no cell pass): outputs, states and every gradient equal the reference loop's (which
    computes every row at every step) to 1e-10, with one block and with blocks of 9-10."""
    truth = _run_blocks(cls, opts, 0, 2, backend="reference")
    for min_rows, threads in ((0, 2), (4, 4)):
        got = _run_blocks(cls, opts, min_rows, threads)
        for k, (a, b) in enumerate(zip(got, truth, strict=True)):
            assert a is not None and b is not None, f"tensor {k}: no gradient"
            err = (a - b).abs().max().item() / max(1.0, b.abs().max().item())
            assert err <= 1e-10, f"min {min_rows} rows, {threads} threads, tensor {k}: {err:.3g}"


@needs_ext
@pytest.mark.parametrize("cls,opts", [(lstmkit.LSTM, {}), (lstmkit.LSTM, dict(layer_norm=True, recurrent_dropout=0.2)),
                                      (lstmkit.GRU, {})], ids=["lstm", "lstm_ln_recdrop", "gru"])
def test_w_hh_gradient_over_the_steps_inside_sequences(cls, opts):
    """With lengths and h of at least 256 values, W_hh's gradient is a GEMM over the
    (step, row) pairs inside a sequence only (csrc/direction.cpp; the others have a zero
    gradient): every gradient equals the reference loop's to 1e-10 in float64."""
    got, ref = [], []
    for backend, store in (("compiled", got), ("reference", ref)):
        torch.manual_seed(0)
        m = cls(3, 256, **opts, backend=backend, dtype=torch.float64)
        x = torch.randn(9, 11, 3, dtype=torch.float64, requires_grad=True)
        lengths = torch.tensor([9, 2, 5, 1, 9, 3, 3, 7, 1, 4, 6])  # 50 of 99 steps
        torch.manual_seed(1)
        out, _ = m(x, lengths=lengths)
        out.square().sum().backward()
        store += [x.grad] + [p.grad for p in m.parameters()]
    for k, (a, b) in enumerate(zip(got, ref, strict=True)):
        assert_close(a, b, torch.float64, f"gradient {k}", scaled=True)


@needs_ext
@pytest.mark.parametrize("cls,opts", [(lstmkit.LSTM, dict(zoneout=(0.2, 0.1))),
                                      (lstmkit.LSTM, dict(zoneout=0.1, layer_norm=True, proj_size=2)),
                                      (lstmkit.GRU, dict(zoneout=0.1))], ids=["lstm", "lstm_ln_proj", "gru"])
@pytest.mark.parametrize("steps", [1, 4])
def test_eval_zoneout_gradients_match_reference(cls, opts, steps):
    """Eval-mode zoneout weighs the previous state by the constant rate, a (1, 1, 1) value
    expanded to (T, B, F): at T = 1 its first stride is not 0. The backward read those
    weights through a copy freed before the loop ran (gradients of 1e17 or NaN); every
    gradient now equals the reference loop's in float64."""
    got, ref = [], []
    for backend, store in (("compiled", got), ("reference", ref)):
        torch.manual_seed(0)
        m = cls(3, 5, **opts, backend=backend, dtype=torch.float64).eval()
        x = torch.randn(steps, 4, 3, dtype=torch.float64, requires_grad=True)
        out, _ = m(x)
        out.square().sum().backward()
        store += [out, x.grad] + [p.grad for p in m.parameters()]
    for k, (a, b) in enumerate(zip(got, ref, strict=True)):
        assert_close(a, b, torch.float64, f"tensor {k}")


@needs_ext
def test_backward_reads_non_contiguous_zoneout_weights():
    """The operators take zoneout weights of any layout: a transposed (non-contiguous)
    weight gives the same output and gradients as its contiguous copy (the backward keeps
    its contiguous copy alive while the loop runs)."""
    from lstmkit.backends.compiled.function import GRAD_ARGS, TENSOR_ARGS

    torch.manual_seed(0)
    T, B, H = 3, 4, 5
    d = torch.float64
    args = dict(gx=torch.randn(T, B, 4 * H, dtype=d), h0=torch.randn(B, H, dtype=d),
                c0=torch.randn(B, H, dtype=d), w_hh=torch.randn(4 * H, H, dtype=d),
                b_hh=torch.randn(4 * H, dtype=d))
    zone = (torch.rand(B, T, H, dtype=d) < 0.3).to(d)  # (B, T, H): transposed below
    results = []
    for z in (zone.transpose(0, 1), zone.transpose(0, 1).contiguous()):
        full = [args.get(n) for n in TENSOR_ARGS]
        full[TENSOR_ARGS.index("zone_h")] = full[TENSOR_ARGS.index("zone_c")] = z
        out, hn, cn, saved = torch.ops.lstmkit.compiled_forward(*full, 0, False, False, -1.0, False, True)
        need = [TENSOR_ARGS[i] in args for i in GRAD_ARGS]
        grads = torch.ops.lstmkit.compiled_backward(*full, saved, torch.ones_like(out), None, None,
                                                     0, False, False, -1.0, False, need)
        results.append([out, hn, cn] + [g for g, n in zip(grads, need) if n])
    assert not results[0][0].isnan().any()
    for k, (a, b) in enumerate(zip(*results, strict=True)):
        assert torch.equal(a, b), f"tensor {k} differs with a non-contiguous zoneout weight"


def test_length_order_deals_sorted_rows_over_the_blocks(monkeypatch):
    """The order the compiled backend runs a batch in: longest first, dealt round-robin
    so that block k of n (``block_start`` in csrc/recurrence.h: the first B mod n blocks
    one row longer) holds ranks k, k + n, ..., each block sorted; none where nothing ends
    early or under a tool."""
    from lstmkit.backends.compiled import _length_order

    class Ext:
        @staticmethod
        def row_blocks(B, P, G):
            assert (B, P, G) == (7, 6, 24)
            return 3

    monkeypatch.setattr(compiled._build, "load", lambda *a: Ext)
    lengths = torch.tensor([3, 9, 5, 9, 1, 7, 2])
    w_hh = torch.zeros(24, 6)
    order = _length_order(torch.zeros(9, 7, 1), lengths, w_hh)
    # ranks by length: 1, 3 (9), 5 (7), 2 (5), 0 (3), 6 (2), 4 (1); dealt over 3 blocks
    assert order.tolist() == [1, 2, 4, 3, 0, 5, 6]
    sizes = [3, 2, 2]  # block_start: 7 = 3 blocks of 2, the first one row longer
    start = 0
    for k, size in enumerate(sizes):
        block = lengths[order[start:start + size]]
        assert block.tolist() == sorted(block.tolist(), reverse=True), f"block {k} not sorted"
        start += size
    assert _length_order(torch.zeros(9, 7, 1), torch.full((7,), 9), w_hh) is None
    assert _length_order(torch.zeros(9, 1, 1), torch.tensor([4]), w_hh) is None


@needs_ext
@pytest.mark.parametrize("cls,opts", [
    (lstmkit.LSTMCell, {}),
    (lstmkit.LSTMCell, dict(layer_norm=True, peephole=True, cell_clip=0.7, zoneout=0.2)),
    (lstmkit.LSTMCell, dict(coupled_gates=True, peephole=True, recurrent_dropout=0.3)),
    (lstmkit.GRUCell, dict(layer_norm=True, zoneout=0.3)),
    (lstmkit.RNNCell, {}),
], ids=["lstm", "lstm_variants", "lstm_coupled", "gru_variants", "rnn"])
def test_streaming_cell_matches_reference(cls, opts, monkeypatch):
    torch.manual_seed(0)
    fast = cls(5, 6, **opts, dtype=torch.float64).eval()
    slow = cls(5, 6, **opts, dtype=torch.float64, backend="reference").eval()
    slow.load_state_dict(fast.state_dict())
    calls = _count_steps(monkeypatch)
    x = torch.randn(7, 3, 5, dtype=torch.float64)
    lstm = cls is lstmkit.LSTMCell
    s_fast = s_slow = None
    with torch.no_grad():  # inference: no graph, so the streaming path applies
        for t in range(7):
            s_fast, s_slow = fast(x[t], s_fast), slow(x[t], s_slow)
            for a, b in zip(s_fast if lstm else [s_fast], s_slow if lstm else [s_slow]):
                assert_close(a, b, torch.float64, f"state at step {t}")
        assert calls["n"] == 7, "the streaming step did not take the compiled path"
        out = fast(x[0, 0])  # unbatched
        ref = slow(x[0, 0])
    assert_close(out[0] if lstm else out, ref[0] if lstm else ref, torch.float64, "unbatched")


@needs_ext
@pytest.mark.parametrize("cls,kw", [
    (lstmkit.LSTM, dict(num_layers=2, proj_size=3)),
    (lstmkit.LSTM, dict(num_layers=3, layer_norm=True, zoneout=(0.1, 0.2), dropout=0.3)),
    (lstmkit.GRU, dict(num_layers=2)),
], ids=["lstm_proj_l2", "lstm_ln_l3", "gru_l2"])
def test_streaming_layer_step_equals_forward(cls, kw, monkeypatch):
    torch.manual_seed(0)
    m = cls(4, 5, **kw, dtype=torch.float64).eval()
    x = torch.randn(6, 2, 4, dtype=torch.float64)
    out, state = m(x)
    calls = _count_steps(monkeypatch)
    st = None
    with torch.no_grad():
        for t in range(6):
            y, st = m.step(x[t], st)
            assert_close(y, out[t], torch.float64, f"output at step {t}")
        for a, b in zip(st if isinstance(st, tuple) else [st], state if isinstance(state, tuple) else [state]):
            assert_close(a, b, torch.float64, "final state")
        assert calls["n"] == 6 * m.num_layers
        y1, _ = m.step(x[0, 0])  # unbatched
        assert_close(y1, m(x[:1, 0])[0][0], torch.float64, "unbatched step")


@needs_ext
def test_streaming_takes_general_path_when_a_graph_is_needed(monkeypatch):
    torch.manual_seed(0)
    cell = lstmkit.LSTMCell(3, 4, zoneout=0.2).train()
    calls = _count_steps(monkeypatch)
    h, c = cell(torch.randn(2, 3))  # training with zoneout: masks drawn by the general path
    cell.eval()
    h, c = cell(torch.randn(2, 3))  # eval, parameters require grad: autograd graph
    h.sum().backward()
    assert cell.weight_hh.grad is not None
    assert calls["n"] == 0
    with torch.no_grad():
        cell(torch.randn(2, 3))
    assert calls["n"] == 1


@needs_ext
@pytest.mark.parametrize("how", ["parametrize", "prune", "weight_norm"])
@pytest.mark.parametrize("cls,name", [(lstmkit.LSTMCell, "bias_ih"), (lstmkit.LSTMCell, "weight_hh"),
                                      (lstmkit.GRUCell, "ln_hh_weight"), (lstmkit.LSTM, "weight_hh_l1"),
                                      (lstmkit.LSTM, "bias_ih_l0")])
def test_streaming_steps_aside_for_computed_weights(cls, name, how, monkeypatch):
    """A weight computed from others at each call (a parametrization, pruning, the
    weight_norm hook) is no longer the parameter registered under its name: the streaming
    step, which reads the registered parameters, leaves it to the general path, and a
    no_grad call equals the reference backend's (it ignored a parametrized bias and
    crashed on a parametrized W_hh)."""
    from torch.nn.utils import parametrize, prune

    class Double(torch.nn.Module):
        def forward(self, w):
            return 2 * w

    torch.manual_seed(0)
    layer = cls in (lstmkit.LSTM,)
    opts = dict(num_layers=2) if layer else dict(layer_norm=True)
    fast = cls(3, 4, **opts, dtype=torch.float64).eval()
    slow = cls(3, 4, **opts, dtype=torch.float64, backend="reference").eval()
    slow.load_state_dict(fast.state_dict())
    if how == "parametrize":
        for m in (fast, slow):
            parametrize.register_parametrization(m, name, Double())
    elif how == "prune":
        for m in (fast, slow):
            prune.random_unstructured(m, name, amount=0.5)
        slow.get_parameter(name + "_orig").data.copy_(fast.get_parameter(name + "_orig"))
        slow.get_buffer(name + "_mask").copy_(fast.get_buffer(name + "_mask"))
    else:
        for m in (fast, slow):
            torch.nn.utils.weight_norm(m, name)
    calls = _count_steps(monkeypatch)
    x = torch.randn(2, 3, dtype=torch.float64)
    with torch.no_grad():
        if layer:
            got, want = fast.step(x)[0], slow(x[None])[0][0]
        else:
            got, want = fast(x), slow(x)
    for a, b in zip(got if isinstance(got, tuple) else [got], want if isinstance(want, tuple) else [want]):
        assert_close(a, b, torch.float64, f"{how} {name}")
    assert calls["n"] == 0


@needs_ext
def test_streaming_reads_strided_parameters():
    """A parameter that is a strided view (here every other value of a larger tensor) is
    read as its values, not as the memory after its first one."""
    torch.manual_seed(0)
    fast = lstmkit.LSTMCell(3, 4, layer_norm=True, peephole=True, dtype=torch.float64).eval()
    slow = lstmkit.LSTMCell(3, 4, layer_norm=True, peephole=True, dtype=torch.float64,
                            backend="reference").eval()
    with torch.no_grad():
        for pname, p in list(fast.named_parameters()):
            big = torch.randn(p.shape[0], 2 * p[0].numel() if p.dim() > 1 else 2, dtype=torch.float64)
            view = big[:, ::2] if p.dim() > 1 else big[:, 0]  # (G, K) every other column; (G,) a column
            fast._parameters[pname] = torch.nn.Parameter(view.reshape(p.shape) if p.dim() > 1 else view)
        assert not all(p.is_contiguous() for p in fast.parameters())
        slow.load_state_dict({k: v.contiguous() for k, v in fast.state_dict().items()})
        x = torch.randn(2, 3, dtype=torch.float64)
        for a, b in zip(fast(x), slow(x)):
            assert_close(a, b, torch.float64, "strided parameters")


def _count_steps(monkeypatch) -> dict:
    ext = _build.load()
    calls = {"n": 0}

    class Counting:
        def step(self, *args):
            calls["n"] += 1
            return ext.step(*args)

        def __getattr__(self, name):
            return getattr(ext, name)

    proxy = Counting()
    monkeypatch.setattr(_build, "load", lambda verbose=False: proxy)
    return calls


# ---- availability and the auto rules -------------------------------------------------
def test_unavailable_backend_says_why(monkeypatch):
    reason = "no C++ compiler: 'c++' is not on PATH (install g++, or set CXX)"
    monkeypatch.setattr(_build, "_tried", True)
    monkeypatch.setattr(_build, "_module", None)
    monkeypatch.setattr(_build, "_reason", reason)
    b = backends.get("compiled")
    assert b.unavailable() == reason
    x = torch.randn(5, 2, 3)
    with pytest.raises(ValueError, match=r"backend 'compiled' cannot run this layer: no C\+\+ compiler"):
        lstmkit.LSTM(3, 4, backend="compiled")(x)
    for m in (lstmkit.LSTM(3, 4), lstmkit.LSTM(3, 4, layer_norm=True), lstmkit.GRU(3, 4)):
        assert backends.select(m.spec, x).name != "compiled"
        m(x)
    cell = lstmkit.LSTMCell(3, 4).eval()
    with torch.no_grad():
        assert cell(x[0])[0].shape == (2, 4)  # streaming falls back to the general path
    # what `lstmkit info` prints for each backend
    assert ("compiled", reason) in backends.explain(lstmkit.LSTM(3, 4).spec, x)


def test_prechecks_name_the_missing_piece(monkeypatch):
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    assert _build._precheck().startswith("no C++ compiler: '/nonexistent/c++' is not on PATH")
    monkeypatch.setenv("LSTMKIT_COMPILED", "0")
    assert _build._precheck() == "turned off by LSTMKIT_COMPILED=0"


@pytest.mark.parametrize("cap,width,has_avx2,has_512", [
    ("AVX512", None, True, False),
    ("AVX512", "256", True, False),
    ("AVX512", "512", True, True),
    ("AVX2", "512", True, False),  # no 512-bit code for a CPU without AVX-512
    ("DEFAULT", None, False, False),
])
def test_vector_flags_follow_torch_and_the_width_setting(monkeypatch, cap, width, has_avx2, has_512):
    monkeypatch.setattr(_build.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: cap)
    if width is None:
        monkeypatch.delenv("LSTMKIT_VECTOR_WIDTH", raising=False)
    else:
        monkeypatch.setenv("LSTMKIT_VECTOR_WIDTH", width)
    flags = _build.vector_flags()
    assert ("-mavx2" in flags) == has_avx2
    assert ("-mprefer-vector-width=512" in flags) == has_512
    assert ("-mavx512f" in flags) == has_512
    # the build directory changes with the flags, so both builds can be cached side by side
    assert _build._platform_dir().rsplit("-", 1)[1] == hashlib.sha256(
        " ".join(_build._flags()[0] + _build._flags()[1]).encode()).hexdigest()[:8]


def test_build_reports_instead_of_raising(monkeypatch, capsys):
    monkeypatch.setattr(_build, "_tried", False)
    monkeypatch.setattr(_build, "_module", None)
    monkeypatch.setattr(_build, "_reason", None)
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    reason = compiled.build(verbose=True)
    assert reason.startswith("no C++ compiler")
    assert "lstmkit compiled backend: not available: no C++ compiler" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="the compiled backend is unavailable: no C"):
        compiled.extension()


def test_builds_where_a_compiler_is_present():
    """Where the build can start (compiler, ninja, Python headers: what CI's machine has),
    it must succeed: a broken build fails the suite instead of skipping every test here."""
    if _build._precheck() is not None:
        pytest.skip(f"no build possible here: {_build._precheck()}")
    assert REASON is None, f"the compiled backend failed to build: {REASON}"
    assert "compiled" in backends.names()


@needs_ext
def test_build_is_idempotent_and_cached():
    assert compiled.build() is None
    assert compiled.build() is None
    assert compiled.extension().uses_blas() in (True, False)


@needs_ext
@pytest.mark.parametrize("kw,grad,expected", [
    (dict(layer_norm=True), True, "compiled"),
    (dict(peephole=True), False, "compiled"),
    (dict(zoneout=0.1), True, "compiled"),
])
def test_auto_takes_compiled_for_variants(kw, grad, expected):
    m = lstmkit.LSTM(8, 16, **kw)
    x = torch.zeros(20, 4, 8)
    with torch.set_grad_enabled(grad):
        assert backends.select(m.spec, x).name == expected


def test_rules_order_is_a_permutation_and_respects_devices():
    from lstmkit.backends.base import LayerSpec

    names = backends.names()
    for mode in ("LSTM", "GRU", "RNN_TANH"):
        for B, T, H in ((1, 1000, 20), (32, 100, 128), (16, 500, 512), (1, 1, 128)):
            spec = LayerSpec(mode, 8, H)
            order = rules.auto_order(spec, torch.zeros(T, B, 8), names)
            assert sorted(order) == sorted(names)
    x64 = torch.zeros(5, 2, 3, dtype=torch.float64)
    assert rules.auto_order(LayerSpec("LSTM", 3, 4), x64, names)[-1] == "reference"


# ---- something real ------------------------------------------------------------------
@needs_ext
def test_trains_a_layer_norm_lstm_to_predict_a_sine():
    """A layer-norm LSTM on the compiled backend learns a noisy sine's next value (scored
    after 5 warm-up steps), and its first steps of training follow the fused backend's
    to 1e-9 (float64)."""
    torch.manual_seed(0)
    t = torch.arange(0, 64 * 40 + 1, dtype=torch.float64) * 0.5
    series = torch.sin(t) + 0.05 * torch.randn_like(t)
    windows = series.unfold(0, 41, 40)[:64]  # (64, 41)
    x, y = windows[:, :-1].T.unsqueeze(-1), windows[:, 1:].T.unsqueeze(-1)  # (T, B, 1)

    def train(backend, steps):
        torch.manual_seed(1)
        lstm = lstmkit.LSTM(1, 16, layer_norm=True, dtype=torch.float64, backend=backend)
        head = torch.nn.Linear(16, 1, dtype=torch.float64)
        opt = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=0.03)
        losses = []
        for _ in range(steps):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(head(lstm(x)[0])[5:], y[5:])
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    fused = train("fused", 5)
    comp = train("compiled", 100)
    for a, b in zip(comp[:5], fused):
        assert math.isclose(a, b, rel_tol=1e-9), (comp[:5], fused)
    persistence = torch.nn.functional.mse_loss(x[5:], y[5:]).item()  # "next = now": 0.13
    assert comp[-1] < 0.1 * persistence, f"final MSE {comp[-1]:.4f}, persistence {persistence:.4f}"


@needs_ext
@pytest.mark.parametrize("dtype_", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("rows,width,gates", [(1, 1, 15), (7, 3, 128), (2500, 8, 40), (3000, 2, 512)])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_narrow_projection_kernels_match_torch(dtype_, rows, width, gates, bias):
    """csrc/projection.cpp: x W^T + b and its gradients (dx, dW, db) against torch's, for
    row counts below, at and across the backward's blocks of 1024 rows and G not a
    multiple of the vector width; dx is skipped where not asked for."""
    ext = _build.load()
    torch.manual_seed(0)
    x, w = torch.randn(rows, width, dtype=dtype_), torch.randn(gates, width, dtype=dtype_)
    b = torch.randn(gates, dtype=dtype_) if bias else None
    d = torch.randn(rows, gates, dtype=dtype_)
    tol = 1e-12 if dtype_ == torch.float64 else 2e-5
    want = x.double() @ w.double().t() + (b.double() if bias else 0)
    got = ext.narrow_project(x, w, b)
    assert got.dtype == dtype_ and got.shape == (rows, gates)
    assert (got.double() - want).abs().max() <= tol * max(1.0, want.abs().max().item())
    dx, dw, db = ext.narrow_project_backward(d, x, w, True)
    for name, a, ref in (("dx", dx, d.double() @ w.double()), ("dW", dw, d.double().t() @ x.double()),
                         ("db", db, d.double().sum(0))):
        assert a.dtype == dtype_ and a.shape == ref.shape, name
        err = (a.double() - ref).abs().max().item()
        assert err <= tol * max(1.0, ref.abs().max().item()), f"{name}: {err:.3g}"
    assert ext.narrow_project_backward(d, x, w, False)[0] is None


@needs_ext
def test_narrow_projection_weight_gradient_does_not_depend_on_threads():
    """The weight's and the bias's gradients are summed over fixed blocks of rows in a
    fixed order: the same bits on one thread and on two."""
    ext = _build.load()
    torch.manual_seed(0)
    x, w, d = torch.randn(5000, 3), torch.randn(64, 3), torch.randn(5000, 64)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = ext.narrow_project_backward(d, x, w, True)
        torch.set_num_threads(2)
        two = ext.narrow_project_backward(d, x, w, True)
    finally:
        torch.set_num_threads(before)
    for a, b in zip(one, two, strict=True):
        assert torch.equal(a, b)


@needs_ext
def test_narrow_inputs_take_the_projection_kernels_in_eager_mode_only(monkeypatch):
    """A layer with a narrow input projects through the kernels in eager mode, with the
    reference backend's outputs and gradients (a gradient penalty too: the backward is
    differentiable); under a trace it takes torch's projection."""
    from lstmkit.backends.compiled import projection

    calls = {"n": 0}
    real = projection._NarrowProjection.apply

    def counting(*args):
        calls["n"] += 1
        return real(*args)

    monkeypatch.setattr(projection._NarrowProjection, "apply", counting)
    torch.manual_seed(0)
    for opts in ({}, {"layer_norm": True}):
        m = lstmkit.LSTM(3, 5, num_layers=2, bidirectional=True, **opts, backend="compiled",
                         dtype=torch.float64)
        ref = lstmkit.LSTM(3, 5, num_layers=2, bidirectional=True, **opts, backend="reference",
                           dtype=torch.float64)
        ref.load_state_dict(m.state_dict())
        x = torch.randn(6, 4, 3, dtype=torch.float64, requires_grad=True)
        calls["n"] = 0
        got = []
        for net in (m, ref):
            out = net(x)[0]
            g = torch.autograd.grad(out.square().sum(), [x, *net.parameters()], create_graph=True)
            pen = sum(t.square().sum() for t in g)
            got.append([out, *g, *torch.autograd.grad(pen, [x, *net.parameters()])])
        assert calls["n"] == 2, "the first layer's two directions (its input is 3 wide)"
        for k, (a, b) in enumerate(zip(*got, strict=True)):
            assert_close(a, b, torch.float64, f"{opts} tensor {k}", scaled=True)
        calls["n"] = 0
        with torch.no_grad():
            torch.jit.trace(m, (x.detach(),), check_trace=False)
        assert calls["n"] == 0
