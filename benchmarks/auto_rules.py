"""The measurements behind lstmkit.backends.rules: native vs compiled (vs fused) for the
plain LSTM, GRU and RNN over a grid of batch and hidden sizes, forward (no_grad) and
forward+backward, float32, at --threads torch threads (default 2, the issue's setting).

Time is the median of interleaved rounds after warm-up, by the wall clock (default) or
the process's CPU time (``--clock cpu``, meaningful with ``--threads 1`` on a machine
shared with other work, where wall-clock time mostly measures the neighbours).

    python benchmarks/auto_rules.py                 # the grid -> stdout (markdown)
    python benchmarks/auto_rules.py --cells lstm --batches 1,16 --hidden 20,128
    python benchmarks/auto_rules.py --threads 1 --clock cpu
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time

import torch
from _timing import CLOCKS, KIT, PASSES, interleaved


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def measure(cell: str, B: int, H: int, T: int, I: int, backends: list[str], rounds: int,
            clock=time.perf_counter, budget_s: float = 0.0):
    """``{pass: {backend: median s}}``, each pass's backends in interleaved rounds."""
    torch.manual_seed(0)
    x = torch.randn(T, B, I)
    mods = {b: KIT[cell](I, H, backend=b) for b in backends}
    res = {}
    for name, run in PASSES.items():
        times = interleaved({b: run(m, x) for b, m in mods.items()}, rounds, budget_s=budget_s,
                            clock=clock)
        res[name] = {b: t.median for b, t in times.items()}
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", default="lstm,gru,rnn")
    ap.add_argument("--batches", default="1,4,16,64")
    ap.add_argument("--hidden", default="20,64,128,256,512")
    ap.add_argument("--steps", type=int, default=0, help="T (default: 20000 / B, between 50 and 500)")
    ap.add_argument("--input", type=int, default=32)
    ap.add_argument("--backends", default="native,compiled,fused")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    ap.add_argument("--budget-ms", type=float, default=10.0,
                    help="repeat a call in a loop so that one timing lasts at least this long")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    backends = args.backends.split(",")
    print(f"Measured {datetime.date.today().isoformat()}, torch {torch.__version__}, "
          f"{platform.machine()}, {args.threads} thread(s), {args.clock} clock, median of "
          f"{args.rounds} interleaved rounds (calls repeated to at least {args.budget_ms:g} ms per "
          f"timing); float32; I={args.input}.\n")
    print("| cell | B | T | H | pass | " + " | ".join(f"{b} ms" for b in backends) + " | fastest | compiled / native |")
    print("|---|---:|---:|---:|---|" + "---:|" * len(backends) + "---|---:|")
    for cell in args.cells.split(","):
        for B in _ints(args.batches):
            for H in _ints(args.hidden):
                T = args.steps or max(50, min(500, 20000 // max(B, 1) // 4))
                res = measure(cell, B, H, T, args.input, backends, args.rounds, CLOCKS[args.clock],
                              args.budget_ms / 1e3)
                for name, r in res.items():
                    best = min(r, key=r.get)
                    ratio = r["compiled"] / r["native"] if "compiled" in r and "native" in r else float("nan")
                    cols = " | ".join(f"{r[b] * 1e3:.2f}" for b in backends)
                    print(f"| {cell} | {B} | {T} | {H} | {name} | {cols} | {best} | {ratio:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
