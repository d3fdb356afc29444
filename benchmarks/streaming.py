"""Streaming latency: one batch-1 step at a time, the state carried between calls, under
torch.no_grad(), against torch.nn.LSTMCell (and torch.nn.LSTM called on one step).

Rows: lstmkit.LSTMCell (auto: the compiled streaming path), the same cell on the fused
and native backends (the general path), lstmkit.LSTM.step (auto), and a variant cell
(layer_norm=True) on the compiled path. Median over rounds of the mean latency of
--steps calls, interleaved, after warm-up.

    python benchmarks/streaming.py                          # B=1, I=32, H=128
    python benchmarks/streaming.py --input 128 --clock cpu --threads 1
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys

import torch
from _timing import CLOCKS

import lstmkit


def runners(I: int, H: int) -> dict:
    torch.manual_seed(0)
    ref = torch.nn.LSTMCell(I, H)
    ref_layer = torch.nn.LSTM(I, H)
    out = {
        "torch.nn.LSTMCell": lambda x, s: ref(x, s),
        "torch.nn.LSTM, one step": lambda x, s: ref_layer(x.unsqueeze(0), s)[1],
    }
    for backend in ("auto", "compiled", "fused", "native"):
        cell = lstmkit.LSTMCell(I, H, backend=backend)
        cell.load_state_dict(ref.state_dict())
        out[f"lstmkit.LSTMCell {backend}"] = lambda x, s, c=cell: c(x, s)
    layer = lstmkit.LSTM(I, H)
    layer.load_state_dict(ref_layer.state_dict())
    out["lstmkit.LSTM.step auto"] = lambda x, s: layer.step(x, s)[1]
    ln = lstmkit.LSTMCell(I, H, layer_norm=True).eval()
    out["lstmkit.LSTMCell layer_norm auto"] = lambda x, s: ln(x, s)
    return out


def latency(fn, x, steps: int, clock) -> float:
    state = None
    t0 = clock()
    for _ in range(steps):
        state = fn(x, state)
    return (clock() - t0) / steps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    clock = CLOCKS[args.clock]
    x = torch.randn(1, args.input)
    fns = runners(args.input, args.hidden)
    times = {k: [] for k in fns}
    with torch.no_grad():
        for fn in fns.values():
            latency(fn, x, 50, clock)
        for _ in range(args.rounds):
            for k, fn in fns.items():
                times[k].append(latency(fn, x, args.steps, clock))
    base = statistics.median(times["torch.nn.LSTMCell"])
    print(f"Streaming step, B=1, I={args.input}, H={args.hidden}, float32, no_grad, "
          f"{args.threads} thread(s), {args.clock} clock, median of {args.rounds} rounds of "
          f"{args.steps} steps; measured {datetime.date.today().isoformat()}, torch {torch.__version__}.\n")
    print("| configuration | latency us | ratio to torch.nn.LSTMCell |")
    print("|---|---:|---:|")
    for k, v in times.items():
        m = statistics.median(v)
        print(f"| {k} | {m * 1e6:.1f} | {m / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
