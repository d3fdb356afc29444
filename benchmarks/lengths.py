"""Variable lengths: which backend runs ``lstmkit.LSTM()(x, lengths=...)`` fastest?

For every (threads, shape) of ``never_slower.GRID``, lengths drawn uniformly from
[T/4, T] (seeded as never_slower draws them), in one process, interleaved rounds after
warm-up: torch.nn.LSTM on ``pack_padded_sequence(x, lengths, enforce_sorted=False)``,
and ``lstmkit.LSTM(x, lengths=lengths)`` on ``native`` (torch's kernel on the padded
batch with the padding frozen), ``compiled`` (the batch sorted by length, each
sequence's steps after its end skipped) and ``auto``, training (forward + backward, the
sum of the outputs as the loss) and inference (no_grad). Ratios are to the packed time
(lower is better); the rule of ``lstmkit.backends.rules`` for lengths is fitted on them.
The last column is the compiled loop's time over its own time on the same batch with
every sequence T long: what skipping the ended rows saves.

    python benchmarks/lengths.py --out report.md
    python benchmarks/lengths.py --threads 2 --shapes "16,500,3,128;32,100,32,128"

Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

import torch
from _timing import PASSES, interleaved, parse_shapes, report
from never_slower import GRID, PASS_NAMES, Packed, auto_pick

import lstmkit

BACKENDS = ("native", "compiled", "auto")


def measure(shape, rounds: int, budget_ms: float) -> list[dict]:
    """One row per pass: the packed time and each backend's ratio to it."""
    B, T, I, H = shape
    torch.manual_seed(0)
    x = torch.randn(T, B, I)
    ref = torch.nn.LSTM(I, H)
    lengths = torch.randint(max(1, T // 4), T + 1, (B,), generator=torch.Generator().manual_seed(0))
    mods = {"packed": Packed(ref, lengths)}
    for name in BACKENDS:
        m = lstmkit.LSTM(I, H, backend=name)
        m.load_state_dict(ref.state_dict())
        mods[name] = m
    rows = []
    for pass_name, key in PASS_NAMES.items():
        make = PASSES[key]
        fns = {k: make(m, x) if k == "packed" else make(m, x, lengths=lengths) for k, m in mods.items()}
        # the compiled loop with every sequence T long: what skipping the ended rows saves
        fns["compiled, full"] = make(mods["compiled"], x, lengths=torch.full((B,), T))
        t = interleaved(fns, rounds, budget_s=budget_ms / 1e3)
        base = t["packed"].median
        row = {"shape": shape, "pass": pass_name, "packed_ms": base * 1e3,
               **{k: t[k].median / base for k in BACKENDS},
               "saved": t["compiled"].median / t["compiled, full"].median}
        row["picked"] = auto_pick(mods["auto"], x, pass_name == "training", lengths=lengths)["picked"]
        rows.append(row)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default="1,2", help="torch thread counts, one pass each")
    ap.add_argument("--shapes", type=parse_shapes, default=None, help="semicolon-separated B,T,I,H")
    ap.add_argument("--rounds", type=int, default=11, help="interleaved rounds")
    ap.add_argument("--budget-ms", type=float, default=10.0, help="least duration of one timing")
    ap.add_argument("--out", type=Path, help="the markdown report (default: stdout)")
    args = ap.parse_args(argv)
    shapes = args.shapes or GRID
    start, load0 = datetime.datetime.now(datetime.timezone.utc), os.getloadavg()
    lines = []
    for n in (int(v) for v in args.threads.split(",")):
        torch.set_num_threads(n)
        lines += ["", f"{n} thread{'s' if n > 1 else ''}:", "",
                  "| B, T, I, H | pass | packed torch.nn.LSTM ms | native | compiled | auto | auto ran "
                  "| compiled / compiled at full length |",
                  "|---|---|---:|---:|---:|---:|---|---:|"]
        for shape in shapes:
            for r in measure(shape, args.rounds, args.budget_ms):
                best = min(BACKENDS[:2], key=lambda k: r[k])
                cells = [f"**{r[k]:.2f}**" if k == best else f"{r[k]:.2f}" for k in BACKENDS[:2]]
                lines.append(f"| {', '.join(map(str, shape))} | {r['pass']} | {r['packed_ms']:.2f} | "
                             f"{' | '.join(cells)} | {r['auto']:.2f} | {r['picked']} | {r['saved']:.2f} |")
                print(lines[-1], file=sys.stderr, flush=True)
    report("lengths=: native against compiled", "lengths.py", argv, start, load0,
           f"float32; median of {args.rounds} interleaved rounds after a warm-up, each timing "
           f"at least {args.budget_ms:g} ms. Lengths uniform in [T/4, T]. Ratio = time / "
           "torch.nn.LSTM's on the PackedSequence (lower is better); bold: the faster of "
           "native and compiled. Last column: compiled's time over its time with every "
           "sequence T long (the mean length is about 0.6 T).", lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
