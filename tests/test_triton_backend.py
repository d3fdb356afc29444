"""The triton backend's place among the backends, without running a kernel: what it
refuses and why, that ``auto`` never picks it on the CPU, that lstmkit runs without
triton installed, the plans it would launch on a GPU, the measured-rule lookup, and the
GPU benchmark's clean exit on a machine with no GPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import lstmkit
from lstmkit import backends
from lstmkit.backends.triton import TritonBackend
from lstmkit.backends.triton.auto import Measured, lookup, prefers_triton
from lstmkit.backends.triton.plan import MIN_DOT, Plan, Recurrence, choose, forced

ROOT = Path(__file__).resolve().parents[1]
MISSING = TritonBackend().unavailable()


def _reason(spec, x) -> str | None:
    return backends.get("triton").unsupported(spec, x)


def test_registered_below_fused():
    assert "triton" in backends.names()
    assert backends.get("triton").priority < backends.get("fused").priority


@pytest.mark.parametrize(
    "cls,kw,dtype,expected",
    [
        (
            lstmkit.RNN,
            {},
            torch.float32,
            "the triton kernels run the LSTM and the GRU, not RNN_TANH",
        ),
        (lstmkit.LSTM, dict(proj_size=2), torch.float32, "the triton kernels have no projection"),
        (
            lstmkit.GRU,
            {},
            torch.float64,
            "the triton kernels run float32, bfloat16 and float16, not torch.float64",
        ),
    ],
    ids=["rnn", "proj", "float64"],
)
def test_unsupported_configurations(cls, kw, dtype, expected):
    m = cls(3, 4, **kw)
    reason = _reason(m.spec, torch.zeros(5, 2, 3, dtype=dtype))
    assert reason is not None and reason.startswith(MISSING or expected), reason


def test_cpu_refused_without_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ValueError, match=r"backend 'triton' cannot run this layer: ") as err:
        lstmkit.LSTM(3, 4, backend="triton")(torch.randn(5, 2, 3))
    expected = MISSING or "the triton kernels run on CUDA tensors, not on cpu"
    assert expected in str(err.value)


@pytest.mark.parametrize(
    "opts",
    [{}, dict(layer_norm=True), dict(zoneout=0.1, recurrent_dropout=0.2)],
    ids=["plain", "layer_norm", "masks"],
)
@pytest.mark.parametrize("cls", [lstmkit.LSTM, lstmkit.GRU], ids=["lstm", "gru"])
@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.bfloat16, torch.float16], ids=["f32", "bf16", "f16"]
)
def test_auto_never_picks_triton_on_cpu(monkeypatch, cls, opts, dtype):
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # even where the interpreter would run it
    for train in (True, False):
        m = cls(3, 4, **opts).train(train)
        assert backends.select(m.spec, torch.zeros(5, 2, 3, dtype=dtype)).name != "triton"


def test_lstmkit_runs_without_triton():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'triton' or name.startswith('triton.'):\n"
        "            raise ModuleNotFoundError(\"No module named 'triton'\")\n"
        "sys.meta_path.insert(0, Block())\n"
        "import torch, lstmkit\n"
        "from lstmkit import backends\n"
        "assert 'triton' in backends.names()\n"
        "print(backends.get('triton').unavailable())\n"
        "out, _ = lstmkit.LSTM(3, 4, layer_norm=True)(torch.randn(5, 2, 3))\n"
        "assert out.shape == (5, 2, 4) and 'triton' not in sys.modules\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "triton is not installed (the extra: pip install 'lstmkit[triton]')" in res.stdout


def test_plan_and_recurrence_validation():
    with pytest.raises(ValueError, match=r"Plan.block_b must be a power of two >= 1, got 3"):
        Plan(block_b=3, hidden_tile=4)
    with pytest.raises(
        ValueError, match=r"coupled, peephole, cell_clip and the cell norm are LSTM options"
    ):
        Recurrence(lstm=False, n_gates=3, peephole=True)
    with pytest.raises(ValueError, match=r"an LSTM with coupled=True has 3 gates"):
        Recurrence(lstm=True, n_gates=4, coupled=True)


@pytest.mark.parametrize("itemsize", [2, 4], ids=["16bit", "f32"])
@pytest.mark.parametrize("n_gates", [3, 4])
def test_gpu_plans_can_run(n_gates, itemsize):
    """On a GPU of 132 SMs (an H100), every plan of the benchmark grid uses tl.dot, and a
    persistent plan whose hidden tiles must sync fits on the device at once."""
    for B in (1, 16, 64, 256):
        for H in (64, 128, 256, 512, 1024):
            p = choose(B, H, n_gates, itemsize, sms=132)
            n_ht = p.n_hidden_tiles(H)
            assert p.use_dot(H), (B, H, p)
            assert p.hidden_tile >= MIN_DOT and p.block_b >= MIN_DOT
            if p.persistent and n_ht > 1:
                assert p.n_batch_tiles(B) * n_ht <= 132, (B, H, p)
            if n_ht == 1:
                assert p.hidden_tile == p.hidden_pad(H) and p.persistent


def test_forced_plan_never_waits_forever():
    """A forced persistent plan with several hidden tiles is launched step by step where
    its programs could not all be resident: in the interpreter, and on a small GPU."""
    with forced(Plan(block_b=2, hidden_tile=4)):
        assert not choose(3, 6, 4, 4, sms=None).persistent
        assert not choose(64, 6, 4, 4, sms=8).persistent  # 32 batch tiles x 2 hidden tiles
        assert choose(4, 6, 4, 4, sms=8).persistent
        assert choose(64, 4, 4, 4, sms=None).persistent  # one hidden tile: no barrier


def test_measured_rule_lookup():
    x = torch.zeros(5, 2, 3)
    spec = lstmkit.LSTM(3, 4).spec
    assert not prefers_triton(spec, x)  # on the CPU, never
    table = (
        Measured("GPU", "LSTM", "float32", "native", 16, 128, 1.6),
        Measured("GPU", "LSTM", "float32", "native", 64, 128, 0.9),
        Measured("GPU", "LSTM", "float32", "fused", 256, 1024, 3.0),
    )
    assert not prefers_triton(spec, x, table)
    rule = dict(device="GPU", mode="LSTM", dtype="float32", versus="native")
    assert lookup(table, **rule, batch=8, hidden=100)  # covered by (16, 128): 1.6
    assert not lookup(table, **rule, batch=32, hidden=128)  # covered by (64, 128): 0.9
    assert not lookup(table, **rule, batch=128, hidden=64)  # nothing measured covers it
    assert not lookup(table, **{**rule, "dtype": "bfloat16"}, batch=1, hidden=64)
    assert lookup(table, **{**rule, "versus": "fused"}, batch=256, hidden=512)
    with pytest.raises(ValueError, match=r"versus must be 'native' or 'fused', got 'cudnn'"):
        Measured("GPU", "LSTM", "float32", "cudnn", 1, 1, 1.0)


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="a CUDA device is present: the benchmark would run"
)
def test_gpu_benchmark_says_no_gpu_and_exits_0():
    res = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "no CUDA device on this machine, nothing measured" in res.stdout
