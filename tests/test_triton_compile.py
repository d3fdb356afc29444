"""The kernels compile for an NVIDIA H100 (sm_90a) on a machine with no GPU (triton's
compiler and the ptxas of its wheel), fit on one multiprocessor, and keep their W_hh tiles
in shared memory from before the time loop to its end: the persistent design, checked in
the compiled code. Speed needs a GPU; this is what can be checked without one."""

from __future__ import annotations

import pytest
import torch

from lstmkit.backends.triton import TritonBackend, interpreter_on
from lstmkit.backends.triton.plan import Recurrence, choose

pytestmark = pytest.mark.skipif(
    TritonBackend().unavailable() is not None or interpreter_on(),
    reason="needs triton, with its compiler (not TRITON_INTERPRET=1)",
)

SMEM_H100 = 227 * 1024  # shared memory one block may use on sm_90
SMS_H100 = 132


def _check(cell: str, ln: bool, B: int, H: int, dtype, **opts):
    from lstmkit.backends.triton.compile_check import check

    lstm = cell == "lstm"
    rec = Recurrence(lstm=lstm, n_gates=4 if lstm else 3, ln_h=ln, ln_c=lstm and ln, **opts)
    plan = choose(B, H, rec.n_gates, dtype.itemsize, SMS_H100)
    res = check(rec, plan, B, H, dtype, masks=True)
    for r in res:
        assert r.w_resident, f"{r} ({plan})"
        assert r.shared_bytes <= SMEM_H100, f"{r} ({plan})"
    return plan, res


def test_compiles_for_h100_with_resident_weights():
    """bfloat16 LSTM with every pointwise option and two hidden tiles per batch tile: the
    grid barrier and both layer-norm exchanges are compiled in."""
    plan, _ = _check("lstm", True, 16, 128, torch.bfloat16, peephole=True, cell_clip=1.0)
    assert plan.n_hidden_tiles(128) > 1 and plan.persistent


@pytest.mark.slow
@pytest.mark.parametrize("H", [64, 256, 1024])
@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.bfloat16, torch.float16], ids=["f32", "bf16", "f16"]
)
@pytest.mark.parametrize(
    "cell,ln", [("lstm", False), ("lstm", True), ("gru", True)], ids=["lstm", "lstm_ln", "gru_ln"]
)
def test_compiles_across_sizes(cell, ln, dtype, H):
    _check(cell, ln, 64, H, dtype)
