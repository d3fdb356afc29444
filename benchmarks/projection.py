"""The input projection of a layer's steps on the CPU: ``F.linear`` against the ``mm``
form that :func:`lstmkit.backends.base.project` uses for narrow inputs, forward and
backward (the weight's gradient and the input's), in one process, interleaved.

``F.linear``'s backward forms the weight's gradient as dgx^T x (so that it comes out in
W's layout), ``addmm(b, x, W^T made contiguous)``'s as x^T dgx and then transposes the
small result: the same numbers in another order, which MKL runs at very different
speeds when x has few columns. The input is (T, B, I) with B = 64, as a layer gets it (F.linear on a
2-d input already takes the mm form). The table gives the median ms of forward +
backward and the ratio (mm form / linear; lower is better) for I columns and T*B rows.

    python benchmarks/projection.py [--threads 1] [--rows 12800] [--widths 2,3,8,16,32,64]
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F
from _timing import interleaved, machine


def step(form: str, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor):
    def run():
        xi, wi, bi = (t.detach().requires_grad_() for t in (x, w, b))
        if form == "linear":
            y = F.linear(xi, wi, bi)  # (T, B, G), as the layers call it
        else:
            y = torch.addmm(bi, xi.reshape(-1, wi.shape[1]), wi.t().contiguous())
        y.backward(torch.ones_like(y))

    return run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rows", default="3200,12800", help="T*B values")
    ap.add_argument("--widths", default="2,3,8,10,16,24,32,64,128")
    ap.add_argument("--gates", default="128,512,1536", help="G = 4H for an LSTM")
    ap.add_argument("--rounds", type=int, default=9)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    info = machine()
    print(f"# input projection forward + backward, {a.threads} threads, {info['cpu']}, torch {info['torch']}")
    print("\n| rows | I | G | F.linear ms | mm form ms | ratio |")
    print("|---:|---:|---:|---:|---:|---:|")
    grid = [(int(r), int(g), int(i)) for r in a.rows.split(",") for g in a.gates.split(",")
            for i in a.widths.split(",")]
    for rows, gates, width in grid:
        torch.manual_seed(0)
        x = torch.randn(rows // 64, 64, width)  # (T, B, I) with B = 64
        w, b = torch.randn(gates, width), torch.randn(gates)
        res = interleaved({f: step(f, x, w, b) for f in ("linear", "mm")}, a.rounds, warmup=2,
                          budget_s=0.02)
        lin, mm = res["linear"].median, res["mm"].median
        print(f"| {rows} | {width} | {gates} | {lin * 1e3:.3f} | {mm * 1e3:.3f} | {mm / lin:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
