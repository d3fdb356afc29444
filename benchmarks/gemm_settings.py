"""The compiled loops' per-step GEMM: which settings are fastest, measured in one process.

Two settings of the C++ extension, each timed at every value of ``--values``, in one
process and interleaved, for the same layers, reporting each time over the first value's:

* ``thread_work`` (``set_gemm_thread_work``): the least multiply-adds (B N K) at which a
  step's small-batch GEMM (lstmkit's own panel kernel, csrc/smallgemm.h) splits its
  panels over torch's threads;
* ``small_rows`` (``set_small_gemm_max_rows``): the most rows of a row block for which
  the loops use that panel kernel rather than MKL's packed GEMM.

The layers: the layer-norm LSTM and the plain LSTM on ``backend="compiled"``, training
(forward + backward, the sum of the outputs as the loss) and inference (no_grad).

    python benchmarks/gemm_settings.py --threads 2 --out report.md
    python benchmarks/gemm_settings.py --setting small_rows --values 96,256 --shapes "128,100,2,32"

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

#: per setting: the extension's setter, the default values (the first: today's), the
#: shapes (thread_work: batches the panel kernel serves; small_rows: blocks of 96 to 256 rows)
SETTINGS = {
    "thread_work": ("set_gemm_thread_work", "2097152,524288,262144",
                    [(16, 500, 3, 128), (16, 100, 64, 512), (8, 300, 32, 96), (32, 100, 32, 128),
                     (4, 50, 512, 1024), (2, 100, 256, 512), (16, 200, 32, 256), (64, 100, 8, 64)]),
    "small_rows": ("set_small_gemm_max_rows", "96,256",
                   [(128, 100, 2, 32), (256, 50, 16, 64), (256, 20, 128, 256), (128, 100, 32, 128),
                    (256, 100, 8, 64), (256, 50, 64, 256)]),
}
LAYERS = {"layer_norm": {"layer_norm": True}, "plain": {}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default="2", help="torch thread counts, one pass each")
    ap.add_argument("--setting", choices=sorted(SETTINGS), default="thread_work")
    ap.add_argument("--values", default=None, help="comma-separated values, the first the baseline")
    ap.add_argument("--shapes", type=parse_shapes, default=None, help="semicolon-separated B,T,I,H")
    ap.add_argument("--rounds", type=int, default=11, help="interleaved rounds")
    ap.add_argument("--budget-ms", type=float, default=10.0, help="least duration of one timing")
    ap.add_argument("--out", type=Path, help="the markdown report (default: stdout)")
    args = ap.parse_args(argv)
    setter_name, default_values, default_shapes = SETTINGS[args.setting]
    works = [int(w) for w in (args.values or default_values).split(",")]
    start, load0 = datetime.datetime.now(datetime.timezone.utc), os.getloadavg()
    lines = []
    for n in (int(v) for v in args.threads.split(",")):
        torch.set_num_threads(n)
        lines += ["", f"{n} thread{'s' if n > 1 else ''}, time over the time at {args.setting} = {works[0]}:", "",
                  "| B, T, I, H | layer | pass | ms at " + str(works[0]) + " | "
                  + " | ".join(str(w) for w in works[1:]) + " |",
                  "|---|---|---|---:|" + "---:|" * (len(works) - 1)]
        for B, T, I, H in args.shapes or default_shapes:
            torch.manual_seed(0)
            x = torch.randn(T, B, I)
            for layer, opts in LAYERS.items():
                m = lstmkit.LSTM(I, H, backend="compiled", **opts)
                for pass_name, key in (("training", "fwd+bwd"), ("inference", "forward")):
                    if layer == "layer_norm" and pass_name == "inference":
                        continue
                    fn = PASSES[key](m, x)
                    set_work = getattr(extension(), setter_name)
                    t = interleaved({w: with_setting(fn, set_work, w) for w in works}, args.rounds,
                                    budget_s=args.budget_ms / 1e3)
                    base = t[works[0]].median
                    ratios = " | ".join(f"{t[w].median / base:.2f}" for w in works[1:])
                    lines.append(f"| {B}, {T}, {I}, {H} | {layer} | {pass_name} | {base * 1e3:.2f} | {ratios} |")
                    print(lines[-1], file=sys.stderr, flush=True)
    report(f"The compiled loops' GEMM: {args.setting}", "gemm_settings.py", argv, start, load0,
           f"float32, backend compiled; median of {args.rounds} interleaved rounds after a "
           f"warm-up, each timing at least {args.budget_ms:g} ms. Ratio = time / the time at "
           "the first value (lower is better).", lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
