"""When should a step's small-batch GEMM of the compiled loops run on threads?

The compiled loops' per-step GEMM for batches of at most 96 rows per block is lstmkit's
own panel kernel (csrc/smallgemm.h); it splits its panels over torch's threads once a
step has at least ``gemm_thread_work`` multiply-adds (B N K). This times, in one process
and interleaved, the same layers with that threshold set to each value of
``--work`` (``set_gemm_thread_work``), and reports each time over the first value's:
the layer-norm LSTM and the plain LSTM on ``backend="compiled"``, training (forward +
backward, the sum of the outputs as the loss) and inference (no_grad).

    python benchmarks/gemm_threads.py --threads 2 --out report.md
    python benchmarks/gemm_threads.py --work 2097152,524288 --shapes "16,500,3,128"

Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

import torch
from _timing import PASSES, interleaved, parse_shapes, report, with_setting

import lstmkit
from lstmkit.backends.compiled import extension

#: batches the panel kernel serves (at most 96 rows a block), hidden sizes 32 to 512
SHAPES = [(16, 500, 3, 128), (16, 100, 64, 512), (8, 300, 32, 96), (32, 100, 32, 128),
          (4, 50, 512, 1024), (2, 100, 256, 512), (16, 200, 32, 256), (64, 100, 8, 64)]
LAYERS = {"layer_norm": {"layer_norm": True}, "plain": {}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default="2", help="torch thread counts, one pass each")
    ap.add_argument("--work", default="2097152,524288,262144",
                    help="thresholds (multiply-adds), the first the baseline")
    ap.add_argument("--shapes", type=parse_shapes, default=None, help="semicolon-separated B,T,I,H")
    ap.add_argument("--rounds", type=int, default=11, help="interleaved rounds")
    ap.add_argument("--budget-ms", type=float, default=10.0, help="least duration of one timing")
    ap.add_argument("--out", type=Path, help="the markdown report (default: stdout)")
    args = ap.parse_args(argv)
    works = [int(w) for w in args.work.split(",")]
    start, load0 = datetime.datetime.now(datetime.timezone.utc), os.getloadavg()
    lines = []
    for n in (int(v) for v in args.threads.split(",")):
        torch.set_num_threads(n)
        lines += ["", f"{n} thread{'s' if n > 1 else ''}, time over the threshold {works[0]}'s:", "",
                  "| B, T, I, H | layer | pass | ms at " + str(works[0]) + " | "
                  + " | ".join(str(w) for w in works[1:]) + " |",
                  "|---|---|---|---:|" + "---:|" * (len(works) - 1)]
        for B, T, I, H in args.shapes or SHAPES:
            torch.manual_seed(0)
            x = torch.randn(T, B, I)
            for layer, opts in LAYERS.items():
                m = lstmkit.LSTM(I, H, backend="compiled", **opts)
                for pass_name, key in (("training", "fwd+bwd"), ("inference", "forward")):
                    if layer == "layer_norm" and pass_name == "inference":
                        continue
                    fn = PASSES[key](m, x)
                    set_work = extension().set_gemm_thread_work
                    t = interleaved({w: with_setting(fn, set_work, w) for w in works}, args.rounds,
                                    budget_s=args.budget_ms / 1e3)
                    base = t[works[0]].median
                    ratios = " | ".join(f"{t[w].median / base:.2f}" for w in works[1:])
                    lines.append(f"| {B}, {T}, {I}, {H} | {layer} | {pass_name} | {base * 1e3:.2f} | {ratios} |")
                    print(lines[-1], file=sys.stderr, flush=True)
    report("The compiled loops' GEMM threading threshold", "gemm_threads.py", argv, start, load0,
           f"float32, backend compiled; median of {args.rounds} interleaved rounds after a "
           f"warm-up, each timing at least {args.budget_ms:g} ms. Ratio = time / the time at "
           "the first threshold (lower is better).", lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
