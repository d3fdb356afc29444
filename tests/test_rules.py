"""The choice ``backend="auto"`` makes and how it is explained: lstmkit.backends.rules,
``lstmkit info --explain``, the triton hook on CUDA, and the no-compiler path (a failed
or impossible build): info says why, auto takes fused, an explicit request raises."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import lstmkit
from lstmkit import backends, cli, info
from lstmkit.backends import LayerSpec, rules
from lstmkit.backends.compiled import _build

AVAILABLE = _build.reason() is None
needs_ext = pytest.mark.skipif(not AVAILABLE, reason=f"compiled backend unavailable: {_build.reason()}")


@pytest.fixture
def failed_build(monkeypatch):
    """The compiler runs and fails: load() records the error's first line as the reason."""
    monkeypatch.setattr(_build, "_tried", False)
    monkeypatch.setattr(_build, "_module", None)
    monkeypatch.setattr(_build, "_reason", None)
    monkeypatch.setattr(_build, "_precheck", lambda: None)

    def fail(verbose):
        raise RuntimeError("Error building extension 'lstmkit_compiled':\n"
                           "[1/3] c++ -c direction.cpp\n"
                           "direction.cpp:12:10: fatal error: ATen/Dispatch.h: No such file or directory\n")

    monkeypatch.setattr(_build, "_compile", fail)
    assert _build.load() is None
    return _build.reason()


def test_failed_build_is_reported_everywhere(failed_build):
    assert failed_build == ("the C++ build failed: direction.cpp:12:10: fatal error: "
                            "ATen/Dispatch.h: No such file or directory")
    text = info.report("4,10,3,8", variants="layer_norm")
    assert f"compiled   unavailable: {failed_build}" in text
    assert "auto -> fused" in text  # the rule puts compiled first; it cannot run: fused
    x = torch.randn(10, 4, 3)
    for m in (lstmkit.LSTM(3, 8, layer_norm=True), lstmkit.GRU(3, 8, zoneout=0.1)):
        assert backends.select(m.spec, x).name == "fused"
        assert m(x)[0].shape == (10, 4, 8)
    with pytest.raises(ValueError, match=r"backend 'compiled' cannot run this layer: the C\+\+ build failed"):
        lstmkit.LSTM(3, 8, backend="compiled")(x)
    cell = lstmkit.LSTMCell(3, 8, layer_norm=True).eval()
    with torch.no_grad():  # streaming: the general path, same numbers as the fused backend
        ref = lstmkit.LSTMCell(3, 8, layer_norm=True, backend="fused").eval()
        ref.load_state_dict(cell.state_dict())
        torch.testing.assert_close(cell(x[0]), ref(x[0]), rtol=0, atol=0)


@needs_ext
@pytest.mark.parametrize("shape,cell,variant,grad,chosen,why", [
    ("1,1000,10,20", "lstm", None, True, "compiled", "B=1 x H=20 <= 128, H <= 64"),
    ("64,100,8,64", "lstm", None, True, "native", "B=64 x H=64 > 128: torch's own kernel"),
    ("2,500,64,64", "lstm", None, True, "compiled", "B=2 x H=64 <= 128"),
    ("1,500,64,128", "lstm", None, True, "native", "H=128 > 64: torch's own kernel"),
    ("8,300,32,96", "lstm", None, False, "native", "H=96 > 64"),
    ("4,300,8,32", "lstm", None, False, "compiled", "B=4 x H=32 <= 128"),
    ("32,100,32,128", "lstm", "layer_norm", True, "compiled", "a variant (layer_norm)"),
    ("32,100,32,128", "gru", "zoneout,recurrent_dropout", True, "compiled", "recurrent_dropout, zoneout"),
    ("64,200,128,256", "gru", None, True, "compiled", "plain GRU"),
    ("64,200,128,256", "rnn", None, True, "compiled", "plain RNN_TANH"),
])
def test_info_explains_the_choice(shape, cell, variant, grad, chosen, why):
    _check_explained(shape, cell, variant, grad, chosen, why, lengths=False)


@needs_ext
@pytest.mark.parametrize("shape,grad,chosen,why", [
    ("64,100,8,64", True, "compiled", "with lengths, B=64 >= 4, T=100 > 1"),
    ("16,500,3,128", False, "compiled", "with lengths, B=16 >= 4"),
    ("2,100,256,512", True, "native", "H=512 > 64: torch's own kernel"),
    ("256,1,512,1024", True, "native", "H=1024 > 64"),
])
def test_info_explains_the_choice_with_lengths(shape, grad, chosen, why):
    """``lstmkit info --explain B,T,I,H --lengths``: the plain LSTM's variable lengths on
    the compiled loop from a batch of 4 over more than one step, else the plain rule."""
    _check_explained(shape, "lstm", None, grad, chosen, why, lengths=True)
    assert cli.main(["info", "--explain", shape, "--lengths"]) == 0


def _check_explained(shape, cell, variant, grad, chosen, why, lengths):
    text = info.report(shape, cell, variants=variant, grad=grad, lengths=lengths)
    assert f"auto -> {chosen}\n" in text
    rule = next(ln for ln in text.splitlines() if ln.strip().startswith("rule:"))
    assert why in rule
    tries = next(ln for ln in text.splitlines() if ln.strip().startswith("tries:"))
    assert tries.split(":", 1)[1].split(">")[0].strip() == chosen
    B, T, I, H = map(int, shape.split(","))
    mode = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN_TANH"}[cell]
    fields = info._parse_variants(variant, cell)
    with torch.set_grad_enabled(grad):  # what the layer itself would run
        spec = LayerSpec(mode, I, H, **fields)
        assert backends.select(spec, torch.zeros(T, B, I), lengths=lengths).name == chosen


def test_info_cli_errors_are_one_line(capsys):
    assert cli.main(["info", "--explain", "1,1000,10"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "lstmkit info: error: --explain expects B,T,I,H (four integers), got '1,1000,10'"
    assert cli.main(["info", "--explain", "1,5,3,4", "--cell", "gru", "--variant", "peephole"]) == 2
    assert "--variant peephole is an LSTM option, got --cell gru" in capsys.readouterr().err
    assert cli.main(["info", "--explain", "1,5,3,4", "--variant", "layernorm"]) == 2
    assert "--variant expects names from layer_norm, peephole" in capsys.readouterr().err
    assert cli.main(["info", "--explain", "0,5,3,4"]) == 2


def _cuda_input(dtype=torch.float32):
    # the rule reads only the device type, dtype and shape: a stand-in for a CUDA tensor
    return SimpleNamespace(device=SimpleNamespace(type="cuda"), dtype=dtype, shape=(50, 16, 8),
                           dim=lambda: 3)


def test_cuda_puts_triton_first_only_where_measured(monkeypatch):
    from lstmkit.backends.triton import auto as triton_auto

    names = ["native", "compiled", "fused", "triton", "reference"]
    spec = LayerSpec("LSTM", 8, 128)
    monkeypatch.setattr(triton_auto, "MEASURED", ())
    order, why = rules.decide(spec, _cuda_input(), names)
    assert order == names and "priority order" in why  # nothing measured: cuDNN first
    seen = []
    monkeypatch.setattr(triton_auto, "prefers_triton", lambda s, x: seen.append((s, x)) or True)
    order, why = rules.decide(spec, _cuda_input(), names)
    assert order[0] == "triton" and sorted(order) == sorted(names) and order[-1] == "reference"
    assert "triton measured faster" in why and seen[0][0] is spec
    # not registered (a build without triton): the order is left alone
    assert rules.auto_order(spec, _cuda_input(), [n for n in names if n != "triton"])[0] == "native"


def test_cuda_rules_follow_the_h200_measurements(monkeypatch):
    """The measured table on the GPU it was measured on: at B=16, H=128 triton is slower than
    cuDNN in float32 (0.40x) and faster in bfloat16 (3.75x); the layer-norm cell beats the
    fused backend; another GPU has no measurement and keeps the priority order."""
    names = ["native", "compiled", "fused", "triton", "reference"]
    plain, ln = LayerSpec("LSTM", 8, 128), LayerSpec("LSTM", 8, 128, layer_norm=True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    assert rules.auto_order(plain, _cuda_input(), names)[0] == "native"
    assert rules.auto_order(plain, _cuda_input(torch.bfloat16), names)[0] == "triton"
    assert rules.auto_order(ln, _cuda_input(), names)[0] == "triton"
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "another GPU")
    assert rules.auto_order(plain, _cuda_input(torch.bfloat16), names) == names


def test_cpu_rules_by_configuration():
    names = backends.names()
    H = rules.LSTM_COMPILED_MAX_H
    B = rules.LSTM_COMPILED_MAX_BH // H               # the widest batch compiled runs at H
    x, wide_batch = torch.zeros(20, B, 4), torch.zeros(20, B + 1, 4)
    small, big = LayerSpec("LSTM", 4, H), LayerSpec("LSTM", 4, 2 * H)
    for grad in (True, False):                        # the same rule for training and inference
        with torch.set_grad_enabled(grad):
            assert rules.auto_order(small, x, names)[:2] == ["compiled", "native"]
            assert rules.auto_order(small, wide_batch, names)[:2] == ["native", "compiled"]
            assert rules.auto_order(big, torch.zeros(20, 1, 4), names)[:2] == ["native", "compiled"]
    # variable lengths: the compiled loops skip each sequence's steps after its end, from
    # a batch of 4 on, with grad or without; torch's kernel runs the whole padded batch
    least = rules.LENGTHS_COMPILED_MIN_B
    for grad in (True, False):
        with torch.set_grad_enabled(grad):
            assert rules.auto_order(big, torch.zeros(20, least, 4), names, lengths=True)[:2] == ["compiled", "native"]
            assert rules.auto_order(big, torch.zeros(20, least - 1, 4), names, lengths=True)[:2] == ["native", "compiled"]
    assert "with lengths" in rules.decide(big, torch.zeros(20, least, 4), names, lengths=True)[1]
    assert rules.auto_order(big, torch.zeros(1, 256, 4), names, lengths=True)[0] == "native"  # one step
    one_step = torch.zeros(1, 1, 4)                   # a single step at B=1, H=20: compiled
    assert rules.auto_order(LayerSpec("LSTM", 4, 20), one_step, names)[0] == "compiled"
    assert "B=1 x H=20 <= 128" in rules.decide(LayerSpec("LSTM", 4, 20), one_step, names)[1]
    assert "H=128 > 64" in rules.decide(big, x, names)[1]
    for mode in ("GRU", "RNN_TANH"):
        cell = LayerSpec(mode, 4, 64)
        assert rules.auto_order(cell, wide_batch, names)[0] == "compiled"
        for batch in (1, B, B + 1):  # one step, any batch: torch's kernel
            order, why = rules.decide(cell, torch.zeros(1, batch, 4), names)
            assert order[:2] == ["native", "compiled"] and "one step" in why
    ln = LayerSpec("LSTM", 4, 512, layer_norm=True)
    assert rules.auto_order(ln, x, names)[:2] == ["compiled", "fused"]
    half = rules.decide(small, x.to(torch.bfloat16), names)
    assert half == (names, "cpu, bfloat16: priority order")
    # the registry order without rules: compiled between native and fused
    assert names.index("native") < names.index("compiled") < names.index("fused")


def test_the_choice_depends_on_the_configuration_only():
    """Under DDP every rank must take the same backend for the same configuration: the
    rules read the layer, the input's shape, dtype and device, the grad mode, lengths and
    the active tools, and nothing a rank may have differently (threads, timings, call
    history)."""
    cases = [(mode, variants, (T, B, I), grad, lengths)
             for mode in ("LSTM", "GRU", "RNN_TANH")
             for variants in ({}, {"layer_norm": True})
             if not (variants and mode != "LSTM")
             for T, B, I in ((1, 1, 2), (100, 8, 32), (50, 256, 16))
             for grad in (False, True)
             for lengths in (False, True)]
    names = backends.names()

    def decisions():
        out = []
        for mode, variants, (T, B, I), grad, lengths in cases:
            spec = LayerSpec(mode, I, 64, **variants)
            with torch.set_grad_enabled(grad):
                out.append(rules.decide(spec, torch.zeros(T, B, I), names, lengths))
        return out

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        first = decisions()
        torch.set_num_threads(2)
        again = decisions()
    finally:
        torch.set_num_threads(threads)
    assert first == again
    assert decisions() == first  # and the same on every call
