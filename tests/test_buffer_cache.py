"""The compiled loops' buffer cache (csrc/buffers.h): freed buffers are reused by the next
training step, the numbers do not depend on it, its limit bounds the idle memory, and
the tensors it backs behave as any CPU tensor."""

from __future__ import annotations

import io
import threading

import pytest
import torch

import lstmkit
from lstmkit.backends import compiled
from lstmkit.backends.compiled import _build
from tests.conftest import assert_close

REASON = _build.reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"compiled backend unavailable: {REASON}")


@pytest.fixture
def limit():
    """Put the process-wide limit back after a test that changes it."""
    before = compiled.buffer_cache()["limit_bytes"]
    yield before
    compiled.set_buffer_cache_limit(before)


def _step(layer, x):
    """One training step's gradients (parameters and input)."""
    layer.zero_grad()
    xi = x.detach().requires_grad_()
    out, (h, c) = layer(xi)
    (out.square().mean() + h.sum() + c.sum()).backward()
    return [xi.grad.clone()] + [p.grad.clone() for p in layer.parameters()]


def _layer(**kw):
    torch.manual_seed(0)
    return lstmkit.LSTM(8, 64, backend="compiled", **kw)


def test_a_second_step_reuses_the_first_steps_buffers(limit):
    layer, x = _layer(layer_norm=True), torch.randn(100, 32, 8)  # (T, B, G) blocks of 3.3 MB
    compiled.empty_buffer_cache()
    first = _step(layer, x)
    after_one = compiled.buffer_cache()
    assert after_one["idle_bytes"] >= 100 * 32 * 256 * 4  # at least one (T, B, G) block came back
    second = _step(layer, x)
    after_two = compiled.buffer_cache()
    assert after_two["allocated"] == after_one["allocated"]  # nothing new from the C library
    assert after_two["reused"] - after_one["reused"] == after_one["idle_blocks"]
    assert after_two["idle_bytes"] == after_one["idle_bytes"]
    for a, b in zip(first, second):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kw", [{}, {"layer_norm": True}, {"peephole": True}], ids=["plain", "layer_norm", "peephole"])
def test_the_numbers_do_not_depend_on_the_cache(limit, kw):
    layer, x = _layer(**kw), torch.randn(60, 16, 8)
    cached = _step(layer, x)
    compiled.set_buffer_cache_limit(0)
    assert compiled.buffer_cache()["idle_bytes"] == 0
    uncached = _step(layer, x)
    assert compiled.buffer_cache()["idle_bytes"] == 0  # off: nothing kept
    for a, b in zip(cached, uncached):
        assert torch.equal(a, b)
    # and right: a short sequence (float32 errors grow along a long one) on the reference
    compiled.set_buffer_cache_limit(limit)
    short = x[:12]
    torch.manual_seed(0)
    ref = lstmkit.LSTM(8, 64, backend="reference", **kw)
    for a, b in zip(_step(layer, short), _step(ref, short)):
        assert_close(a, b, torch.float32, "gradient", scaled=True)


def test_the_limit_bounds_the_idle_bytes(limit):
    layer, x = _layer(), torch.randn(100, 32, 8)
    _step(layer, x)
    idle = compiled.buffer_cache()["idle_bytes"]
    assert idle > 0
    assert compiled.set_buffer_cache_limit(idle // 2) == limit
    assert compiled.buffer_cache()["idle_bytes"] <= idle // 2  # lowering it frees the excess
    _step(layer, x)
    assert compiled.buffer_cache()["idle_bytes"] <= idle // 2
    assert compiled.empty_buffer_cache() > 0 or compiled.buffer_cache()["idle_bytes"] == 0
    assert compiled.buffer_cache()["idle_bytes"] == 0


@pytest.mark.parametrize("bad", [-1, True, 1.5, "1GB", None])
def test_a_bad_limit_is_refused(bad):
    with pytest.raises(ValueError, match="bytes >= 0"):
        compiled.set_buffer_cache_limit(bad)


def test_an_integer_like_limit_is_taken(limit):
    import numpy as np

    assert compiled.set_buffer_cache_limit(np.int64(1 << 20)) == limit
    assert compiled.buffer_cache()["limit_bytes"] == 1 << 20


def test_a_cached_output_is_an_ordinary_tensor():
    layer, x = _layer(), torch.randn(100, 32, 8)
    with torch.no_grad():
        out = layer(x)[0]
    assert out.numel() * 4 >= 1 << 18  # large enough to come from the cache
    buf = io.BytesIO()
    torch.save(out, buf)
    buf.seek(0)
    assert torch.equal(torch.load(buf), out)
    copy = out.clone()
    out.resize_(200, 32, 64)  # the storage grows through the cache's allocator
    assert torch.equal(out[:100], copy)
    shared = copy.clone().share_memory_()
    assert shared.is_shared() and torch.equal(shared, copy)


def test_steps_on_two_threads_at_once_match_one_at_a_time():
    layers = [_layer(layer_norm=True), _layer(peephole=True)]
    xs = [torch.randn(80, 24, 8), torch.randn(50, 40, 8)]
    alone = [_step(m, x) for m, x in zip(layers, xs)]
    results = [None, None]

    def work(k):
        for _ in range(5):
            results[k] = _step(layers[k], xs[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, alone):
        for a, b in zip(got, want):
            assert torch.equal(a, b)


def _child_step(queue):
    layer, x = _layer(layer_norm=True), torch.randn(100, 32, 8, generator=torch.Generator().manual_seed(1))
    grads = _step(layer, x)
    queue.put([g.numpy() for g in grads])


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_trains_with_the_cache_it_inherits():
    import multiprocessing as mp

    layer, x = _layer(layer_norm=True), torch.randn(100, 32, 8, generator=torch.Generator().manual_seed(1))
    want = _step(layer, x)  # the parent's cache now holds idle blocks the child inherits
    assert compiled.buffer_cache()["idle_bytes"] > 0
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_step, args=(queue,))
    child.start()
    got = queue.get(timeout=120)
    child.join(timeout=60)
    assert child.exitcode == 0
    for a, b in zip(got, want):  # the child may run another thread count: sums in another order
        assert_close(torch.from_numpy(a), b, torch.float32, "gradient", scaled=True)


def test_info_reports_the_cache(limit):
    from lstmkit.info import report

    compiled.set_buffer_cache_limit(256 << 20)
    assert "MiB idle, at most 256 MiB (set_buffer_cache_limit)" in report()


@pytest.mark.parametrize("threads,explain,cell,variants,blocks", [
    (1, "64,10,8,32", "lstm", None, 1),
    (2, "64,10,8,32", "lstm", None, 2),  # 32 rows a block
    (2, "8,10,8,96", "gru", None, 2),  # 4 x 96 x 288 multiply-adds a step
    (2, "16,10,8,512", "lstm", "layer_norm", 1),  # 8 x 512 x 2048
    (2, "8,10,8,128", "lstm", "coupled_gates", 2),  # 4 x 128 x 384
])
def test_info_reports_the_row_blocks(threads, explain, cell, variants, blocks):
    from lstmkit.info import report

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        text = report(explain=explain, cell=cell, variants=variants)
    finally:
        torch.set_num_threads(before)
    assert f"row blocks: {blocks} for this batch on {threads} thread(s)" in text



@pytest.mark.parametrize("explain,how", [("8,10,2,32", "one-pass kernel for 2 input column(s)"),
                                         ("8,10,6,32", "one-pass kernel for 6 input column(s)"),
                                         ("8,10,7,32", "torch's GEMM for 7 input column(s)")])
def test_info_reports_the_input_projection(explain, how):
    from lstmkit.info import report

    assert f"input projection: {how} (kernel up to 6;" in report(explain=explain)

def test_the_slstm_loop_shares_the_cache(limit):
    """The sLSTM's C++ loop (its own extension) takes its large buffers from the same
    cache: a second training step allocates nothing new, and the numbers are those with
    the cache off."""
    from lstmkit.xlstm import sLSTM, slstm_compiled

    if slstm_compiled.reason() is not None:
        pytest.skip(f"compiled sLSTM unavailable: {slstm_compiled.reason()}")
    torch.manual_seed(0)
    layer, x = sLSTM(8, 64, num_heads=4, backend="compiled"), torch.randn(100, 32, 8)

    def step():
        layer.zero_grad()
        xi = x.detach().requires_grad_()
        out, state = layer(xi)
        (out.square().mean() + state[0].sum()).backward()
        return [xi.grad.clone()] + [p.grad.clone() for p in layer.parameters()]

    compiled.empty_buffer_cache()
    first = step()
    after_one = compiled.buffer_cache()
    assert after_one["idle_bytes"] >= 100 * 32 * 256 * 4  # its (T, B, 4H) blocks came back
    second = step()
    after_two = compiled.buffer_cache()
    assert after_two["allocated"] == after_one["allocated"]
    assert after_two["reused"] > after_one["reused"]
    compiled.set_buffer_cache_limit(0)
    uncached = step()
    for a, b, c in zip(first, second, uncached, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)
