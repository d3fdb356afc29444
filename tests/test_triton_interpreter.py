"""The triton kernels' correctness on the CPU: tests/test_triton_kernels.py run in triton's
interpreter, in a subprocess.

TRITON_INTERPRET=1 has to be in the environment before the kernels are decorated, and
triton is imported early by torch itself (torch._dynamo), so setting it inside this
process would be both too late and felt by every other test: a subprocess keeps it to the
kernel tests alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lstmkit.backends.triton import TritonBackend

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    TritonBackend().unavailable() is not None, reason="triton is not installed (the 'triton' extra)"
)


def _interpreted(marker: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TRITON_INTERPRET="1")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(ROOT / "tests" / "test_triton_kernels.py"),
        "-o",
        "addopts=",
        "-q",
        "-p",
        "no:cacheprovider",
        "-m",
        marker,
    ]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    assert res.returncode == 0, (
        f"interpreted kernel tests failed:\n{(res.stdout + res.stderr)[-8000:]}"
    )
    return res


def test_kernels_in_interpreter():
    res = _interpreted("not slow")
    summary = res.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary, summary


@pytest.mark.slow
def test_kernels_in_interpreter_full_grid():
    res = _interpreted("slow")
    summary = res.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary, summary
