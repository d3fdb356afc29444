"""The compiled loops' buffer cache against none: a training loop's steps, in one process.

A forward that keeps buffers for backward, and backward's own (T, B, G) gradients, are
large blocks taken and freed at every training step. Without a cache they come from the
C library each time, and glibc hands a large freed block back to the system (mmap, or
trimming the top of its heap), so the next step takes a page fault on every 4 KiB page
of them. The cache (``csrc/buffers.h``; ``lstmkit.backends.compiled.buffer_cache``)
keeps the freed blocks for the next step; the sLSTM's loop (``lstmkit/xlstm/csrc``) takes
its buffers from it too.

A timing is a loop of consecutive forward+backward calls of one layer (a training loop
without the optimiser), after one untimed call with the setting in force; the cache on
(its default limit) and off (limit 0) alternate, ``--rounds`` times. Reported: ms per
call, the ratio on / off (lower is better), and the page faults per call
(``getrusage``'s minor faults) with each setting.

    python benchmarks/buffer_cache.py                  # the grid, 1 thread
    python benchmarks/buffer_cache.py --threads 2 --shapes "16,500,3,128"
    python benchmarks/buffer_cache.py --quick          # 2 shapes, 3 rounds: a smoke run

Interleaving other calls between the timed ones (as never_slower.py does) changes what
glibc has free and so the faults: this script times the steady loop a training run is.
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import never_slower
import row_blocks
from _timing import (
    add_grid_options,
    calibrate,
    forward_backward,
    grid_choice,
    grid_layers,
    machine,
    report,
)

from lstmkit.backends.compiled import extension
from lstmkit.xlstm import sLSTM

#: (B, T, I, H): the never-slower grid's rows over one step
GRID = [shape for shape in never_slower.GRID if shape[1] > 1]
#: (name, class, keyword arguments): the LSTM, the layer-norm LSTM, the GRU and the sLSTM
#: (whose loop, an extension of its own, takes its buffers from the same cache)
LAYERS = [layer for layer in row_blocks.LAYERS if layer[0] != "rnn"] + [("slstm", sLSTM, {})]


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def steady(call, limit: int, repeat: int) -> tuple[float, float]:
    """(seconds, page faults) per call over ``repeat`` consecutive calls with the cache
    limit at ``limit``, after one untimed call; the limit is put back afterwards."""
    ext = extension()
    before = ext.set_cache_limit(limit)
    try:
        call()
        f0, t0 = faults(), time.perf_counter()
        for _ in range(repeat):
            call()
        t1, f1 = time.perf_counter(), faults()
    finally:
        ext.set_cache_limit(before)
    return (t1 - t0) / repeat, (f1 - f0) / repeat


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_grid_options(ap, LAYERS, threads=1, rounds=7, budget_ms=100.0)
    ap.add_argument("--out", type=Path, default=None, help="write the markdown report here")
    a = ap.parse_args(argv)
    shapes, rounds, wanted = grid_choice(a, GRID)
    start, load0 = datetime.datetime.now(datetime.timezone.utc), os.getloadavg()
    limit = extension().cache_info()[2]
    lines = ["", "| layer | B, T, I, H | cache ms | no cache ms | ratio | faults per call, cache | no cache |",
             "|---|---|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    for name, (B, T, I, H), layer, x in grid_layers(LAYERS, wanted, shapes):
        call = forward_backward(layer, x)
        call()
        repeat = max(2, calibrate(call, a.budget_ms / 1000))
        res = {limit: [], 0: []}
        for _ in range(rounds):
            for lim, times in res.items():
                times.append(steady(call, lim, repeat))
        (on, f_on), (off, f_off) = (
            (statistics.median(t for t, _ in res[k]), statistics.median(f for _, f in res[k])) for k in (limit, 0))
        row = (f"| {name} | {B}, {T}, {I}, {H} | {on * 1e3:.2f} | {off * 1e3:.2f} | {on / off:.2f} "
               f"| {f_on:.0f} | {f_off:.0f} |")
        lines.append(row)
        print(row, flush=True)
    what = (f"{a.threads} thread(s), {machine()['cpu']}; cache limit {limit / 2**20:.0f} MiB; median of "
            f"{rounds} rounds, each a loop of consecutive forward+backward calls lasting at least "
            f"{a.budget_ms:g} ms, the cache on and off alternating.")
    if a.out is not None:
        report("The buffer cache against none, a steady training loop", "buffer_cache.py", argv, start,
               load0, what, lines, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
