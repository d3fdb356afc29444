"""Speed of every lstmkit backend against torch.nn in the same process.

For each shape (B, T, I, H) and each configuration, the forward pass (no_grad) and the
forward+backward pass are timed in interleaved rounds after warm-up; the median over
rounds is reported, with its ratio to torch.nn's module of the same cell (lower is
better, 1.00 = as fast as torch). Writes a markdown table with the date and machine.

    python benchmarks/speed.py                      # the full table -> stdout
    python benchmarks/speed.py --out benchmarks/latest.md
    python benchmarks/speed.py --quick              # fewer rounds, for a smoke run
    python benchmarks/speed.py --threads 1 --clock cpu --cells lstm,gru --no-variants \
        --backends auto,native,compiled,reference   # on a machine shared with other work

With the auto rows of LSTM and GRU and the layer_norm row, a second table lists the goals
of the compiled recurrence (benchmarks/reports/2026-11-24-compiled-recurrence.md) with their measured ratios.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import torch
from _timing import CLOCKS, KIT, PASSES, TORCH, interleaved, machine_line, parse_shapes

import lstmkit

SHAPES = [(32, 100, 32, 128), (64, 200, 128, 256), (16, 500, 64, 512), (1, 1000, 10, 20)]


def configs(cells: list[str], backends: list[str], variants: dict[str, dict]) -> list[tuple]:
    """(label, cell, factory(I, H)) for torch.nn and for each backend and variant."""
    out = []
    for cell in cells:
        out.append((f"torch.nn.{cell.upper()}", cell, lambda I, H, c=cell: TORCH[c](I, H)))
        for b in backends:
            out.append((f"{cell} {b}", cell, lambda I, H, c=cell, b=b: KIT[c](I, H, backend=b)))
        if cell == "lstm":
            for name, opts in variants.items():
                out.append((f"lstm {name}", cell, lambda I, H, o=opts: lstmkit.LSTM(I, H, **o)))
    return out


def bench_shape(shape, cfgs, rounds: int, warmup: int, budget_s: float = 0.0,
                clock=None) -> dict[str, tuple[float, float]]:
    """``{label: (forward s, fwd+bwd s)}``: medians of interleaved rounds."""
    B, T, I, H = shape
    torch.manual_seed(0)
    x = torch.randn(T, B, I)
    fns = {}
    for label, _, make in cfgs:
        m = make(I, H)
        m.train()
        for p, run in PASSES.items():
            fns[label, p] = run(m, x)
    res = interleaved(fns, rounds, warmup=warmup, budget_s=budget_s, clock=clock or CLOCKS["wall"])
    return {label: (res[label, "forward"].median, res[label, "fwd+bwd"].median) for label, _, _ in cfgs}


def table(results, cfgs) -> str:
    lines = [
        "| B, T, I, H | configuration | forward ms | ratio | fwd+bwd ms | ratio |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for shape, res in results.items():
        for label, cell, _ in cfgs:
            base = res[f"torch.nn.{cell.upper()}"] if cell != "lstm" or "torch.nn" in label else res["torch.nn.LSTM"]
            if label.startswith("lstm ") and " " in label and label.split(" ", 1)[1] not in ("auto", "native", "fused", "reference", "compiled", "triton"):
                base = res["torch.nn.LSTM"]  # variants are compared with the plain torch LSTM
            f, fb = res[label]
            lines.append(
                f"| {', '.join(map(str, shape))} | {label} | {f * 1e3:.2f} | {f / base[0]:.2f} "
                f"| {fb * 1e3:.2f} | {fb / base[1]:.2f} |"
            )
    return "\n".join(lines)


# issue 4's goals: (row, pass, baseline, limit at the three large shapes, limit at B=1, H=20)
GOALS = [
    ("lstm auto", 0, "torch.nn.LSTM", 1.0, 1.0),
    ("lstm auto", 1, "torch.nn.LSTM", 1.0, 1.0),
    ("gru auto", 0, "torch.nn.GRU", 1.0, 1.0),
    ("gru auto", 1, "torch.nn.GRU", 1.0, 1.0),
    ("lstm layer_norm", 1, "torch.nn.LSTM", 1.5, 2.0),
]


def goal_table(results) -> str:
    """The goals of the compiled-recurrence issue as measured in this run (the rows that
    were measured), with the ratio and whether it holds."""
    lines = ["| goal | B, T, I, H | ratio | limit | holds |", "|---|---|---:|---:|---|"]
    for label, k, base, big, small in GOALS:
        for shape, res in results.items():
            if label not in res or base not in res:
                continue
            limit = small if shape[0] == 1 and shape[3] <= 32 else big
            ratio = res[label][k] / res[base][k]
            what = f"{label} {('forward', 'fwd+bwd')[k]} / {base}"
            lines.append(f"| {what} | {', '.join(map(str, shape))} | {ratio:.2f} | {limit:.1f} "
                         f"| {'yes' if ratio <= limit else 'no'} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", default="lstm,gru", help="comma-separated: lstm,gru,rnn")
    ap.add_argument("--backends", default="auto,native,compiled,fused")
    ap.add_argument("--variants", action=argparse.BooleanOptionalAction, default=True,
                    help="the LSTM variants (issue 3) with backend auto (default on)")
    ap.add_argument("--shapes", type=parse_shapes, default=None, help="semicolon-separated B,T,I,H")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--budget-ms", type=float, default=10.0,
                    help="repeat a call in a loop so that one timing lasts at least this long")
    ap.add_argument("--quick", action="store_true", help="3 rounds, 1 warm-up")
    ap.add_argument("--out", type=Path, help="write the markdown report here")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's; use 1 on a machine shared with other "
                         "work, where OpenMP barriers across busy cores cost 100x)")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                    help="wall: perf_counter; cpu: the process's CPU time, which on a machine "
                         "shared with other work measures the work rather than the neighbours "
                         "(meaningful with --threads 1)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.rounds, args.warmup = 3, 1
    shapes = SHAPES if not args.shapes else args.shapes
    variants = VARIANTS if args.variants else {}
    cfgs = configs(args.cells.split(","), args.backends.split(","), variants)
    results = {}
    for shape in shapes:
        print(f"shape {shape} ...", file=sys.stderr, flush=True)
        results[shape] = bench_shape(shape, cfgs, args.rounds, args.warmup, args.budget_ms / 1e3,
                                      CLOCKS[args.clock])
    report = (
        f"Measured {datetime.date.today().isoformat()} on {machine_line()}; median of "
        f"{args.rounds} interleaved rounds after {args.warmup} warm-up ({args.clock} clock; calls "
        f"repeated to at least {args.budget_ms:g} ms per timing); "
        f"float32, training mode. "
        f"Ratio = time / torch.nn's time for the same cell in the same run (lower is better).\n\n"
        + table(results, cfgs)
        + "\n"
    )
    goals = goal_table(results)
    if goals:
        report += "\nGoals (ratios from the table above):\n\n" + goals + "\n"
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
    return 0


# the variants issue's rows: forward+backward against plain torch.nn.LSTM, backend auto
VARIANTS: dict[str, dict] = {
    "layer_norm": {"layer_norm": True},
    "peephole": {"peephole": True},
    "recurrent_dropout=0.25": {"recurrent_dropout": 0.25},
    "zoneout=0.1": {"zoneout": 0.1},
}

if __name__ == "__main__":
    sys.exit(main())
