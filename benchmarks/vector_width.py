"""The C++ loops built for 512-bit vectors against 256-bit ones, on a CPU with AVX-512.

Both extensions (the compiled recurrence and the sLSTM's loop) are built for the vector
extension torch's own kernels use, in 256-bit vectors; ``LSTMKIT_VECTOR_WIDTH=512`` builds
512-bit code on AVX-512 (``lstmkit.backends.compiled._build.vector_flags``). Two
builds cannot share a process, so each width runs in worker processes of its own (each
build is cached in its own directory) and the workers alternate, ``--rounds`` times.

A worker times each layer on backend="compiled" and torch.nn.LSTM at the same shape,
interleaved, medians of ``--inner`` rounds, and reports the layer's time over torch.nn's:
the ratio of the two widths' ratios (512 over 256; below 1: the 512-bit build is faster)
is free of the drift between processes. Reported per layer, shape and pass: the median
ratio to torch.nn for each width over the workers, and 512 / 256.

    python benchmarks/vector_width.py                   # the grid, 1 thread
    python benchmarks/vector_width.py --threads 2 --shapes "128,100,2,32"
    python benchmarks/vector_width.py --quick           # 2 shapes, 2 rounds: a smoke run
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from _timing import (
    TORCH,
    add_grid_options,
    forward,
    forward_backward,
    grid_choice,
    grid_layers,
    interleaved,
    report,
)

import lstmkit
from lstmkit.xlstm import sLSTM

#: (name, class, keyword arguments)
LAYERS = [
    ("lstm", lstmkit.LSTM, {}),
    ("lstm layer_norm", lstmkit.LSTM, {"layer_norm": True}),
    ("gru", lstmkit.GRU, {}),
    ("slstm", sLSTM, {}),
]
PASSES = {"training": forward_backward, "inference": forward}
#: (B, T, I, H): seven of the never-slower grid's rows, small to large H (the whole grid
#: is --shapes away; four layers, two passes and two widths make each row a minute)
GRID = [(128, 100, 2, 32), (64, 100, 8, 64), (1, 1000, 10, 20), (8, 300, 32, 96),
        (32, 100, 32, 128), (256, 20, 128, 256), (16, 100, 64, 512)]
WIDTHS = ("256", "512")


def worker(a: argparse.Namespace) -> int:
    """Time every layer and pass against torch.nn.LSTM; print one JSON line per timing."""
    shapes, _, wanted = grid_choice(a, GRID)
    for name, (B, T, I, H), layer, x in grid_layers(LAYERS, wanted, shapes):
        torch.manual_seed(0)
        ref = TORCH["lstm"](I, H)
        for pname, make in PASSES.items():
            t = interleaved({"kit": make(layer, x), "torch": make(ref, x)}, a.inner, warmup=2,
                            budget_s=a.budget_ms / 1000)
            print(json.dumps({"layer": name, "shape": [B, T, I, H], "pass": pname,
                              "ratio": t["kit"].median / t["torch"].median}), flush=True)
    return 0


def run_worker(width: str, argv: list[str]) -> list[dict]:
    env = dict(os.environ, LSTMKIT_VECTOR_WIDTH=width)
    out = subprocess.run([sys.executable, __file__, "--worker", *argv], env=env, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_grid_options(ap, LAYERS, threads=1, rounds=2, budget_ms=20.0)
    ap.add_argument("--inner", type=int, default=5, help="interleaved rounds inside a worker")
    ap.add_argument("--out", type=Path, default=None, help="write the markdown report here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        return worker(a)
    if torch.backends.cpu.get_cpu_capability() != "AVX512":
        print(f"this CPU has no AVX-512 (torch: {torch.backends.cpu.get_cpu_capability()}): "
              "both widths would build the same code", file=sys.stderr)
        return 2
    args = list(sys.argv[1:] if argv is None else argv)
    if "--out" in args:  # the workers print; only the parent writes
        i = args.index("--out")
        del args[i:i + 2]
    rounds = 2 if a.quick else a.rounds
    start, load0 = datetime.datetime.now(datetime.timezone.utc), os.getloadavg()
    ratios: dict[tuple, dict[str, list[float]]] = {}
    for r in range(rounds):
        for width in WIDTHS if r % 2 == 0 else WIDTHS[::-1]:
            for row in run_worker(width, args):
                key = (row["layer"], tuple(row["shape"]), row["pass"])
                ratios.setdefault(key, {w: [] for w in WIDTHS})[width].append(row["ratio"])
            print(f"round {r + 1} of {rounds}: {width}-bit done", file=sys.stderr, flush=True)
    lines = ["", "| layer | B, T, I, H | pass | 256-bit / torch.nn | 512-bit / torch.nn | 512 / 256 |",
             "|---|---|---|---:|---:|---:|"]
    for (name, shape, pname), by in ratios.items():
        r256, r512 = (statistics.median(by[w]) for w in WIDTHS)
        lines.append(f"| {name} | {', '.join(map(str, shape))} | {pname} | {r256:.2f} | {r512:.2f} "
                     f"| {r512 / r256:.2f} |")
    what = (f"{a.threads} thread(s). Each width ran in {rounds} worker processes, alternating; a "
            f"worker times the layer (backend=\"compiled\") and torch.nn.LSTM of the same shape, "
            f"interleaved, median of {a.inner} rounds of at least {a.budget_ms:g} ms each; the "
            f"table gives the median over the workers of that ratio for each width.")
    report("512-bit against 256-bit vectors in the C++ loops", "vector_width.py", argv, start, load0,
           what, lines, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
