"""Timing helpers shared by the benchmark scripts: the clocks, the forward and
forward+backward passes of a recurrent layer, interleaved rounds with a calibrated repeat
count, and a description of the machine.

A timing repeats the call ``repeat`` times and divides; ``repeat`` is calibrated once per
call after warm-up so that one timing lasts at least ``budget_s`` (calls of a fraction of
a millisecond are otherwise dominated by the clock and the scheduler). Rounds are
interleaved, so a drift in machine load hits every configuration alike; the median over
rounds is reported.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import datetime
import math
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

import lstmkit

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
#: how the timed process's memory allocator runs (:func:`set_malloc`)
MALLOC = {
    "reuse": "glibc malloc keeps freed memory for reuse (M_MMAP_MAX 0, M_TRIM_THRESHOLD 2^31 - 1)",
    "default": "glibc malloc as it comes (large blocks mmap'd, and unmapped when freed)",
}
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt's parameters (<malloc.h>)
TORCH = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
KIT = {"lstm": lstmkit.LSTM, "gru": lstmkit.GRU, "rnn": lstmkit.RNN}


def forward(module, x, **kwargs) -> Callable[[], None]:
    """Inference: ``module(x)`` under no_grad."""

    def run():
        with torch.no_grad():
            module(x, **kwargs)

    return run


def forward_backward(module, x, **kwargs) -> Callable[[], None]:
    """Training: ``module(x)``, the sum of the outputs as the loss, backward (into the
    parameters and the input)."""

    def run():
        xi = x.detach().requires_grad_()
        module(xi, **kwargs)[0].sum().backward()

    return run


PASSES = {"forward": forward, "fwd+bwd": forward_backward}


def per_call(fn: Callable[[], None], repeat: int = 1, clock=time.perf_counter) -> float:
    """Seconds per call of ``fn``, over ``repeat`` calls in a loop."""
    t0 = clock()
    for _ in range(repeat):
        fn()
    return (clock() - t0) / repeat


def calibrate(fn: Callable[[], None], budget_s: float, clock=time.perf_counter) -> int:
    """The number of calls of ``fn`` that take at least ``budget_s`` (1 if one call does)."""
    if budget_s <= 0:
        return 1
    t = per_call(fn, 1, clock)
    if t < budget_s:  # a short call: the fastest of two loops of them, a preemption aside
        n = max(1, int(budget_s / 4 / max(t, 1e-9)))
        t = min(per_call(fn, n, clock) for _ in range(2))
    return max(1, math.ceil(1.1 * budget_s / max(t, 1e-9)))


@dataclass
class Timing:
    """Seconds per call in each round, and the repeat count of each timing."""

    times: list[float]
    repeat: int = 1
    median: float = field(init=False)

    def __post_init__(self):
        self.median = statistics.median(self.times)


def interleaved(fns: dict, rounds: int, *, warmup: int = 1, budget_s: float = 0.0,
                clock=time.perf_counter) -> dict:
    """``{key: Timing}``: each of ``fns`` warmed up ``warmup`` times, its repeat count
    calibrated to ``budget_s``, then timed once per round, the rounds interleaved."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    repeats = {k: calibrate(fn, budget_s, clock) for k, fn in fns.items()}
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            times[k].append(per_call(fn, repeats[k], clock))
    return {k: Timing(times[k], repeats[k]) for k in fns}


def parse_shapes(text: str) -> list[tuple[int, int, int, int]]:
    """``"B,T,I,H;B,T,I,H"`` -> [(B, T, I, H), ...], for the scripts' ``--shapes`` (an
    argparse type: a malformed list is a usage error)."""
    try:
        shapes = [tuple(int(v) for v in s.split(",")) for s in text.split(";") if s.strip()]
    except ValueError:
        shapes = [()]
    if not shapes or any(len(s) != 4 for s in shapes):
        raise argparse.ArgumentTypeError(f"shapes are B,T,I,H separated by ';', got {text!r}")
    return shapes


def add_grid_options(ap: argparse.ArgumentParser, layers, *, threads: int, rounds: int,
                     budget_ms: float) -> None:
    """The options of a script that times ``layers`` ((name, class, keyword arguments))
    over a grid of shapes: --threads, --shapes, --layers, --rounds, --budget-ms, --quick."""
    ap.add_argument("--threads", type=int, default=threads)
    ap.add_argument("--shapes", type=parse_shapes, default=None, help='"B,T,I,H;..." (default: the grid)')
    ap.add_argument("--layers", default=",".join(n for n, _, _ in layers))
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--budget-ms", type=float, default=budget_ms, help="the least time of one timing")
    ap.add_argument("--quick", action="store_true", help="2 shapes, 3 rounds: a smoke run")


def grid_choice(a: argparse.Namespace, grid) -> tuple[list, int, set]:
    """(shapes, rounds, layer names) from the options of ``add_grid_options``, with
    torch's thread count set to --threads."""
    torch.set_num_threads(a.threads)
    shapes = grid if a.shapes is None else a.shapes
    rounds = a.rounds
    if a.quick:
        shapes, rounds = shapes[:2], 3
    return shapes, rounds, set(a.layers.split(","))


def grid_layers(layers, wanted: set, shapes, backend: str = "compiled"):
    """(name, (B, T, I, H), layer, x) for each of ``layers`` named in ``wanted`` and each
    shape: the layer built with seed 0 on ``backend``, x (T, B, I) drawn after it."""
    for name, cls, opts in layers:
        if name not in wanted:
            continue
        for B, T, I, H in shapes:
            torch.manual_seed(0)
            layer = cls(I, H, backend=backend, **opts)
            yield name, (B, T, I, H), layer, torch.randn(T, B, I)


def set_malloc(mode: str) -> str:
    """Set how glibc's malloc serves this process (``mode`` a key of :data:`MALLOC`) and
    return the sentence that says so for a report.

    "reuse" serves every block from the heap and never gives freed memory back, so a
    layer's large temporaries (buffers of (T, B, 4H) and more, allocated on every call)
    reuse the pages of the call before instead of being mapped in, and faulted in page
    by page, each time. torch's own CPU LSTM allocates such buffers on every training
    call, and how much that costs depends on what ran before in the process: in two
    full runs of never_slower.py on 2026-12-06, torch.nn.LSTM training on 1 thread took
    26.0 ms with "reuse" and 44.4 ms as glibc comes at (B, T, I, H) = (256, 50, 16, 64),
    308 and 432 ms at (64, 200, 128, 256) (docs/benchmarks.md). "reuse" gives every
    configuration of a run the same allocator, and torch its fastest times. Where the C
    library is not glibc, nothing is changed and the sentence says so."""
    if mode == "default":
        return MALLOC[mode]
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return f"the C library's malloc as it comes: {mode!r} needs glibc"
    mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    if not (mallopt(_M_MMAP_MAX, 0) and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)):
        raise RuntimeError(f"glibc's mallopt refused the {mode!r} settings")
    return MALLOC[mode]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """CPU model, cores, torch and Python versions, and torch's thread count now."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }


def machine_line() -> str:
    m = machine()
    return f"{m['cpu']}, {m['threads']} threads, torch {m['torch']}, Python {m['python']}"


def with_setting(fn: Callable[[], None], setter: Callable[[int], int], value: int) -> Callable[[], None]:
    """``fn`` run with a process-wide setting at ``value``: ``setter(value)`` returns the
    previous value, which is put back after each call (the compiled extension's
    ``set_min_block_rows``, ``set_gemm_thread_work``), so settings interleave in one process."""

    def run():
        before = setter(value)
        try:
            fn()
        finally:
            setter(before)

    return run


def report(title: str, script: str, argv, start, load0, what: str, lines: list[str],
           out: Path | None) -> None:
    """Write a benchmark's markdown report (to ``out``, else stdout): the title, when and
    where it ran with the load average at both ends (``start`` and ``load0`` taken when it
    began), ``what`` was measured, the command that reproduces it, then ``lines``."""
    end, load1 = datetime.datetime.now(datetime.timezone.utc), os.getloadavg()
    m = machine()
    head = [
        f"# {title}", "",
        (f"Measured {start:%Y-%m-%d %H:%M} to {end:%H:%M} (UTC) on {m['cpu']}, {m['cores']} cores, "
         f"torch {m['torch']}, Python {m['python']}; load average {load0[0]:.2f}, {load0[1]:.2f}, "
         f"{load0[2]:.2f} at the start, {load1[0]:.2f}, {load1[1]:.2f}, {load1[2]:.2f} at the end. {what}"),
        "",
        f"    python benchmarks/{script} " + shlex.join(argv if argv is not None else sys.argv[1:]),
    ]
    text = "\n".join(head + lines) + "\n"
    if out:
        out.write_text(text)
    else:
        print(text)
