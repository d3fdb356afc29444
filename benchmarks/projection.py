"""The input projection of a layer's steps on the CPU: ``F.linear`` against the ``mm``
form that :func:`lstmkit.backends.base.project` uses for narrow inputs, forward and
backward (the weight's gradient and the input's), in one process, interleaved.

``F.linear``'s backward forms the weight's gradient as dgx^T x (so that it comes out in
W's layout), ``addmm(b, x, W^T made contiguous)``'s as x^T dgx and then transposes the
small result: the same numbers in another order, which MKL runs at very different
speeds when x has few columns. The input is (T, B, I) with B = 64, as a layer gets it (F.linear on a
2-d input already takes the mm form). The table gives the median ms of forward +
backward and the ratio (mm form / linear; lower is better) for I columns and T*B rows.

``--kernel`` times instead the compiled backend's one-pass kernels
(:mod:`lstmkit.backends.compiled.projection`, ``csrc/projection.cpp``) against the mm
form, the ratio being kernel / mm form. ``--layers`` times whole layers on the compiled
backend (training: forward + backward, input gradient included) with the kernels and
with the mm form (``KERNEL_INPUT`` set to 0), interleaved in one process.

    python benchmarks/projection.py [--threads 1] [--rows 12800] [--widths 2,3,8,16,32,64]
    python benchmarks/projection.py --kernel --widths 1,2,3,8,10,16,24,32
    python benchmarks/projection.py --layers --threads 1,2
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
        elif form == "kernel":
            from lstmkit.backends.compiled.projection import _NarrowProjection

            y = _NarrowProjection.apply(xi, wi, bi)
        else:
            y = torch.addmm(bi, xi.reshape(-1, wi.shape[1]), wi.t().contiguous())
        y.backward(torch.ones_like(y))

    return run


#: (cell, B, T, I, H, layer norm): the never-slower grid's narrow inputs
LAYERS = [("lstm", 128, 100, 2, 32, False), ("lstm", 128, 100, 2, 32, True),
          ("lstm", 16, 500, 3, 128, False), ("lstm", 16, 500, 3, 128, True),
          ("lstm", 64, 100, 8, 64, False), ("lstm", 64, 100, 8, 64, True),
          ("lstm", 1, 1000, 2, 20, True), ("gru", 128, 100, 2, 32, False),
          ("gru", 64, 100, 8, 64, True)]


def layers(threads: list[int], rounds: int) -> None:
    import lstmkit
    from lstmkit.backends.compiled import projection

    def timed(layer, x, limit):
        def run():
            projection.KERNEL_INPUT = limit
            try:
                layer(x.detach().requires_grad_())[0].sum().backward()
            finally:
                projection.KERNEL_INPUT = kernel_input
        return run

    kernel_input = projection.KERNEL_INPUT
    print("\n| threads | layer | B, T, I, H | mm form ms | kernel ms | kernel / mm form |")
    print("|---:|---|---|---:|---:|---:|")
    for n in threads:
        torch.set_num_threads(n)
        for cell, B, T, I, H, ln in LAYERS:
            torch.manual_seed(0)
            cls = {"lstm": lstmkit.LSTM, "gru": lstmkit.GRU}[cell]
            layer, x = cls(I, H, layer_norm=ln, backend="compiled"), torch.randn(T, B, I)
            res = interleaved({"mm": timed(layer, x, 0), "kernel": timed(layer, x, kernel_input)},
                              rounds, warmup=2, budget_s=0.02)
            mm, kern = res["mm"].median, res["kernel"].median
            name = cell + (" layer_norm" if ln else "")
            print(f"| {n} | {name} | {B}, {T}, {I}, {H} | {mm * 1e3:.2f} | {kern * 1e3:.2f} | {kern / mm:.2f} |",
                  flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1", help="a thread count (--layers: comma-separated)")
    ap.add_argument("--rows", default="3200,12800", help="T*B values")
    ap.add_argument("--widths", default="2,3,8,10,16,24,32,64,128")
    ap.add_argument("--gates", default="128,512,1536", help="G = 4H for an LSTM")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--kernel", action="store_true", help="the compiled one-pass kernels against the mm form")
    ap.add_argument("--layers", action="store_true", help="compiled layers with the kernels against the mm form")
    a = ap.parse_args(argv)
    info = machine()
    if a.layers:
        threads = [int(t) for t in str(a.threads).split(",")]
        print(f"# compiled layers, training, kernels against the mm form, {info['cpu']}, torch {info['torch']}")
        layers(threads, a.rounds)
        return 0
    torch.set_num_threads(int(a.threads))
    forms = ("mm", "kernel") if a.kernel else ("linear", "mm")
    names = {"linear": "F.linear", "mm": "mm form", "kernel": "kernel"}
    print(f"# input projection forward + backward, {a.threads} threads, {info['cpu']}, torch {info['torch']}")
    print(f"\n| rows | I | G | {names[forms[0]]} ms | {names[forms[1]]} ms | ratio |")
    print("|---:|---:|---:|---:|---:|---:|")
    grid = [(int(r), int(g), int(i)) for r in a.rows.split(",") for g in a.gates.split(",")
            for i in a.widths.split(",")]
    for rows, gates, width in grid:
        torch.manual_seed(0)
        x = torch.randn(rows // 64, 64, width)  # (T, B, I) with B = 64
        w, b = torch.randn(gates, width), torch.randn(gates)
        res = interleaved({f: step(f, x, w, b) for f in forms}, a.rounds, warmup=2, budget_s=0.02)
        base, other = res[forms[0]].median, res[forms[1]].median
        print(f"| {rows} | {width} | {gates} | {base * 1e3:.3f} | {other * 1e3:.3f} | {other / base:.2f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
