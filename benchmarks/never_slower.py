"""Is ``backend="auto"`` ever slower than torch.nn? LSTM, GRU and RNN (tanh) on a grid of
shapes, training and inference, at each thread count, in one process.

For every (threads, cell, shape), these run in interleaved rounds after warm-up, each
timing a loop of calls calibrated once to last at least --budget-ms:

* torch.nn.X and lstmkit.X(backend=b) for b in auto, native, compiled (fused with
  --fused), training (forward + backward, the sum of the outputs as the loss, gradients
  into the parameters and the input) and inference (forward under no_grad);
* LSTM only: lstmkit.LSTM(layer_norm=True) (auto), training, against plain torch.nn.LSTM;
* LSTM only, variable lengths drawn uniformly from [T/4, T] (seeded):
  ``lstmkit.LSTM()(x, lengths=lengths)`` (auto) against torch.nn.LSTM on
  ``pack_padded_sequence(x, lengths, enforce_sorted=False)``; torch's timing includes the
  packing of the padded batch and leaves its output packed.

Each row reports the medians, the ratio to torch.nn (lower is better) and the backend
``auto`` ran, caught at ``lstmkit.backends.select`` during a call, with the rule
``lstmkit.backends.auto_rule`` gives for it. Goals: auto <= 1.05x torch.nn, layer norm
<= 1.3x plain torch.nn.LSTM, lengths <= 0.5x packed torch.nn.LSTM.

    python benchmarks/never_slower.py --out report.md --json report.json   # the full grid
    python benchmarks/never_slower.py --quick              # 3 shapes, 3 rounds: a smoke run
    python benchmarks/never_slower.py --threads 2 --cells lstm --shapes "64,100,8,64;1,1000,10,20"

The process runs with glibc's malloc keeping freed memory for reuse (``--malloc reuse``;
why: :func:`_timing.set_malloc`), so every configuration sees the same allocator and
torch.nn its fastest times; ``--malloc default`` measures glibc as it comes.

The expected duration is printed before measuring (a cost model, about +-50 %) and
refined as the groups finish. The JSON holds every timing (see ``write_json``), so the
rules in lstmkit/backends/rules.py can be fitted from it. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
import time
from pathlib import Path

import torch
from _timing import (
    CLOCKS,
    KIT,
    MALLOC,
    PASSES,
    TORCH,
    interleaved,
    machine,
    parse_shapes,
    set_malloc,
)
from torch.nn.utils.rnn import pack_padded_sequence

from lstmkit import backends

#: (B, T, I, H): the issue's five rows, then the extremes (T = 1 and 1000, B = 1 and 256,
#: I = 2 and 512, H = 20 and 1024), the rules' boundaries (no_grad B <= 4 and H <= 64,
#: narrow input I < 16 at 16 <= B <= 128, H > 512), without every combination
GRID = [
    (32, 100, 32, 128),
    (64, 200, 128, 256),
    (64, 100, 8, 64),
    (256, 50, 16, 64),
    (1, 1000, 10, 20),
    (1, 1, 2, 20),
    (256, 1, 512, 1024),
    (4, 50, 512, 1024),
    (16, 100, 64, 512),
    (128, 100, 2, 32),
    (8, 300, 32, 96),
    (256, 20, 128, 256),
    (2, 100, 256, 512),
    (16, 500, 3, 128),
]
QUICK = [(1, 1, 2, 20), (64, 100, 8, 64), (1, 1000, 10, 20)]
PASS_NAMES = {"training": "fwd+bwd", "inference": "forward"}
GOALS = {"auto": 1.05, "layer_norm": 1.3, "lengths": 0.5}


class Packed:
    """torch.nn.LSTM on the padded batch packed with ``lengths`` (unsorted); returns the
    packed output's data, so that the loss and the backward are those of the padded call."""

    def __init__(self, module, lengths):
        self.module, self.lengths = module, lengths

    def __call__(self, x):
        out, state = self.module(pack_padded_sequence(x, self.lengths, enforce_sorted=False))
        return out.data, state


def auto_pick(layer, x, training: bool, **kwargs) -> dict:
    """``{"picked": backend name, "rule": why}`` for ``auto`` on this call: the backend
    ``lstmkit.backends.select`` returns during one call, and ``auto_rule``'s words."""
    picked, select = [], backends.select

    def spy(*args, **kw):
        b = select(*args, **kw)
        picked.append(getattr(b, "name", str(b)))
        return b

    backends.select = spy
    try:
        with torch.set_grad_enabled(training):
            layer(x.detach().requires_grad_(training), **kwargs)
    finally:
        backends.select = select
    try:
        with torch.set_grad_enabled(training):
            if not picked:  # a layer that chose without lstmkit.backends.select
                picked.append(select(layer.spec, x).name)
            rule = backends.auto_rule(layer.spec, x, lengths="lengths" in kwargs)
    except Exception as e:  # noqa: BLE001 - the rules' interface may change; the timing stands
        rule = f"(auto_rule unavailable: {type(e).__name__})"
    return {"picked": ",".join(dict.fromkeys(picked)) or None, "rule": rule}


def planned(cell: str, kit_backends: list[str]) -> dict[str, list[str]]:
    """``{config: passes}`` measured for ``cell``."""
    both = list(PASS_NAMES)
    out = {c: both for c in ["torch.nn", *kit_backends]}
    if cell == "lstm":
        out.update(layer_norm=["training"], packed=both, lengths=both)
    return out


def configs(cell: str, shape, kit_backends: list[str], seed: int = 0):
    """``(x, [(config, module, passes, forward kwargs)])`` for one cell and shape, the
    lstmkit layers holding torch.nn's weights where they have the same parameters."""
    B, T, I, H = shape
    torch.manual_seed(seed)
    x = torch.randn(T, B, I)
    ref = TORCH[cell](I, H)
    lengths = torch.randint(max(1, T // 4), T + 1, (B,), generator=torch.Generator().manual_seed(seed))

    def kit(**options):
        m = KIT[cell](I, H, **options)
        if not options.get("layer_norm"):
            m.load_state_dict(ref.state_dict())
        return m

    make = {"torch.nn": lambda: ref, "layer_norm": lambda: kit(layer_norm=True),
            "packed": lambda: Packed(ref, lengths), "lengths": kit}
    kwargs = {"lengths": {"lengths": lengths}}
    return x, [(cfg, make.get(cfg, lambda cfg=cfg: kit(backend=cfg))(), passes, kwargs.get(cfg, {}))
               for cfg, passes in planned(cell, kit_backends).items()]


AUTO = ("auto", "layer_norm", "lengths")  # the configs that run backend="auto"


def group(cell: str, shape, kit_backends: list[str]) -> tuple[dict, dict, dict]:
    """``(fns, picks, errors)`` for one cell and shape: ``fns[(config, pass)]`` the calls
    to time, ``picks[(config, pass)]`` what auto ran, ``errors[config]`` why a config
    could not run (it is left out)."""
    x, cfgs = configs(cell, shape, kit_backends)
    fns, picks, errors = {}, {}, {}
    for cfg, m, passes, kwargs in cfgs:
        try:
            for p in passes:
                fn = PASSES[PASS_NAMES[p]](m, x, **kwargs)
                fn()
                fns[cfg, p] = fn
                if cfg in AUTO:
                    picks[cfg, p] = auto_pick(m, x, p == "training", **kwargs)
        except Exception as e:  # noqa: BLE001 - a backend that cannot run here is reported, not fatal
            errors[cfg] = f"{type(e).__name__}: {e}"
            fns = {k: v for k, v in fns.items() if k[0] != cfg}
    return fns, picks, errors


def baseline(cfg: str, p: str) -> tuple[str, str]:
    """The (config, pass) a config's time is divided by."""
    if cfg == "lengths":
        return "packed", p
    return "torch.nn", "training" if cfg == "layer_norm" else p


# ---- the cost model behind the printed estimate ---------------------------------------

#: an idle machine's float32 matmul rate on one thread (flop/s); the time of one time step
#: in torch's ATen loops (GRU, RNN, packed LSTM) and in oneDNN or the compiled loop; the
#: cost of training over inference, and of torch's packed LSTM over its padded one
RATE_1 = 60e9
STEP_ATEN = {"training": 160e-6, "inference": 15e-6}
STEP_FAST = {"training": 6e-6, "inference": 2e-6}
TRAINING_FLOPS = 3.5
PACKED = {"training": 3.0, "inference": 1.0}


def call_estimate(cell: str, cfg: str, p: str, shape, threads: int) -> float:
    """Seconds for one call on an idle machine: a rough model (within about 2x)."""
    B, T, I, H = shape
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    flops = 2 * B * (I + H) * gates * H * T * (TRAINING_FLOPS if p == "training" else 1)
    aten = cfg == "packed" or (cell != "lstm" and cfg in ("torch.nn", "native"))
    step = (STEP_ATEN if aten else STEP_FAST)[p] * (10 if cfg == "fused" else 1)
    t = flops / (RATE_1 * threads**0.8) + T * step
    return t * PACKED[p] if cfg == "packed" else t


def group_estimate(cell, shape, kit_backends, threads, rounds, warmup, budget_s) -> float:
    """Seconds for one group: warm-up, calibration and the rounds of every timing."""
    total = 0.0
    for cfg, passes in planned(cell, kit_backends).items():
        for p in passes:
            t = call_estimate(cell, cfg, p, shape, threads)
            total += (warmup + 1) * t + (budget_s / 2 if t < budget_s else 0) + rounds * max(1.1 * budget_s, t)
    return total


# ---- the report -----------------------------------------------------------------------

def _ms(s: float) -> str:
    return f"{s * 1e3:.3f}" if s < 0.01 else f"{s * 1e3:.2f}"


def _ratio(r: float | None, goal: float | None = None) -> str:
    if r is None:
        return "-"
    text = f"{r:.2f}"
    return f"**{text}**" if goal is not None and r > goal else text


def _threads(n: int) -> str:
    return f"{n} thread{'s' if n > 1 else ''}"


def _shape(rec) -> str:
    return f"{rec['B']}, {rec['T']}, {rec['I']}, {rec['H']}"


def report(meta: dict, records: list[dict]) -> str:
    kit_backends = meta["backends"]
    load0, load1 = meta["load_start"], meta["load_end"]
    m = meta["machine"]
    header = (
        f"Measured {meta['started']} to {meta['finished']} (UTC) on {m['cpu']}, {m['cores']} cores, "
        f"torch {m['torch']}, Python {m['python']}; threads {', '.join(map(str, meta['threads']))}; "
        f"load average (1, 5, 15 min) {', '.join(f'{v:.2f}' for v in load0)} at the start, "
        f"{', '.join(f'{v:.2f}' for v in load1)} at the end. float32; median of {meta['rounds']} "
        f"interleaved rounds after {meta['warmup']} warm-up, each timing a loop of calls "
        f"lasting at least {meta['budget_ms']:g} ms ({meta['clock']} clock); "
        f"{meta.get('malloc', MALLOC['default'])}. Ratio = time / "
        "torch.nn's time for the same cell, shape, pass and thread count in the same run "
        "(lower is better); bold: over the goal. Training = forward + backward (sum of the "
        "outputs as the loss), inference = forward under no_grad. Expected "
        f"{meta['expected_s'] / 60:.1f} min, took {meta['elapsed_s'] / 60:.1f} min."
    )
    out = ["# auto against torch.nn", "", header, "", f"    {meta['command']}", ""]
    by = {}
    for r in records:
        by[r["threads"], r["cell"], (r["B"], r["T"], r["I"], r["H"]), r["config"], r["pass"]] = r
    out += ["## Goals", "", "| threads | check | goal | rows | over the goal | worst ratio | at |",
            "|---:|---|---:|---:|---:|---:|---|"]
    checks = [("auto", "auto / torch.nn, every cell and pass"),
              ("layer_norm", "layer-norm LSTM training / plain torch.nn.LSTM"),
              ("lengths", "lengths= / torch.nn.LSTM on a PackedSequence")]
    for n in meta["threads"]:
        for cfg, what in checks:
            rows = [r for r in records if r["threads"] == n and r["config"] == cfg and r.get("ratio")]
            if not rows:
                continue
            worst = max(rows, key=lambda r: r["ratio"])
            over = sum(r["ratio"] > GOALS[cfg] for r in rows)
            out.append(f"| {n} | {what} | {GOALS[cfg]:g} | {len(rows)} | {over} | "
                       f"{worst['ratio']:.2f} | {worst['cell']} {_shape(worst)} {worst['pass']} |")
    for n in meta["threads"]:
        out += ["", f"## {_threads(n)}", "",
                "| cell | B, T, I, H | pass | torch.nn ms | auto ms | "
                + " | ".join(kit_backends) + " | auto ran |",
                "|---|---|---|---:|---:|" + "---:|" * len(kit_backends) + "---|"]
        for cell in meta["cells"]:
            for shape in meta["shapes"]:
                for p in PASS_NAMES:
                    base = by.get((n, cell, tuple(shape), "torch.nn", p))
                    auto = by.get((n, cell, tuple(shape), "auto", p))
                    if base is None:
                        continue
                    ratios = [_ratio(by[k]["ratio"], GOALS["auto"] if b == "auto" else None)
                              if (k := (n, cell, tuple(shape), b, p)) in by else "-"
                              for b in kit_backends]
                    out.append(f"| {cell} | {_shape(base)} | {p} | {_ms(base['median_s'])} | "
                               f"{_ms(auto['median_s']) if auto else '-'} | {' | '.join(ratios)} | "
                               f"{(auto or {}).get('picked') or '-'} |")
        if "lstm" not in meta["cells"]:
            continue
        out += ["", f"Layer-norm LSTM (auto), training, against plain torch.nn.LSTM ({_threads(n)}):", "",
                "| B, T, I, H | torch.nn.LSTM ms | layer_norm ms | ratio | auto ran |",
                "|---|---:|---:|---:|---|"]
        for shape in meta["shapes"]:
            r = by.get((n, "lstm", tuple(shape), "layer_norm", "training"))
            if r:
                out.append(f"| {_shape(r)} | {_ms(r['baseline_s'])} | {_ms(r['median_s'])} | "
                           f"{_ratio(r['ratio'], GOALS['layer_norm'])} | {r.get('picked') or '-'} |")
        title = f"Variable lengths, uniform in [T/4, T], against torch.nn.LSTM on a PackedSequence ({_threads(n)}):"
        cols = ("| B, T, I, H | pass | packed torch.nn.LSTM ms | lengths= ms | ratio | auto ran | "
                "packed / padded torch.nn |")
        out += ["", title, "", cols, "|---|---|---:|---:|---:|---|---:|"]
        for shape in meta["shapes"]:
            for p in PASS_NAMES:
                r = by.get((n, "lstm", tuple(shape), "lengths", p))
                pk = by.get((n, "lstm", tuple(shape), "packed", p))
                if r and pk:
                    out.append(f"| {_shape(r)} | {p} | {_ms(pk['median_s'])} | {_ms(r['median_s'])} | "
                               f"{_ratio(r['ratio'], GOALS['lengths'])} | {r.get('picked') or '-'} | "
                               f"{_ratio(pk['ratio'])} |")
    if meta["errors"]:
        out += ["", "Could not run:", ""]
        out += [f"- {_threads(e['threads'])}, {e['cell']} {e['shape']}, {e['config']}: {e['error']}"
                for e in meta["errors"]]
    return "\n".join(out) + "\n"


def write_json(path: Path, meta: dict, records: list[dict]) -> None:
    """``{"meta": {...}, "records": [...]}``. One record per (threads, cell, shape, config,
    pass): threads, cell, B, T, I, H, config (torch.nn, auto, native, compiled, fused,
    layer_norm, packed, lengths), pass (training, inference), module, median_s, times_s
    (seconds per call in each round), repeat (calls per timing), baseline (the config
    divided by), baseline_s, ratio, and for auto, layer_norm and lengths picked (the
    backend auto ran) and rule."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "records": records}, indent=1) + "\n")


MODULES = {"torch.nn": "torch.nn.{C}", "layer_norm": "lstmkit.LSTM(layer_norm=True)",
           "packed": "torch.nn.LSTM(PackedSequence)", "lengths": "lstmkit.LSTM(x, lengths=)"}


def rows(threads: int, cell: str, shape, res: dict, picks: dict) -> list[dict]:
    """The JSON records of one group's timings ``res[(config, pass)]``."""
    B, T, I, H = shape
    out = []
    for (cfg, p), t in res.items():
        base = res.get(baseline(cfg, p))
        ratio = base is not None and base is not t
        rec = {"threads": threads, "cell": cell, "B": B, "T": T, "I": I, "H": H, "config": cfg, "pass": p,
               "module": MODULES.get(cfg, f"lstmkit.{{C}}(backend={cfg!r})").format(C=cell.upper()),
               "median_s": t.median, "times_s": t.times, "repeat": t.repeat,
               "baseline": "/".join(baseline(cfg, p)) if ratio else None,
               "baseline_s": base.median if ratio else None,
               "ratio": t.median / base.median if ratio else None}
        rec.update(picks.get((cfg, p), {}))
        out.append(rec)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", default="lstm,gru,rnn", help="comma-separated: lstm,gru,rnn")
    ap.add_argument("--threads", default="1,2", help="torch thread counts, one pass each")
    ap.add_argument("--shapes", type=parse_shapes, default=None, help="semicolon-separated B,T,I,H")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 15; --quick 3)")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up calls of each configuration")
    ap.add_argument("--budget-ms", type=float, default=10.0, help="least duration of one timing")
    ap.add_argument("--fused", action="store_true", help="time backend fused too")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    ap.add_argument("--malloc", choices=sorted(MALLOC), default="reuse",
                    help="how glibc's malloc serves the process (see _timing.set_malloc)")
    ap.add_argument("--quick", action="store_true", help=f"a smoke run: shapes {QUICK}, 3 rounds")
    ap.add_argument("--plan", action="store_true",
                    help="print the groups and the expected time of each, measure nothing")
    ap.add_argument("--out", type=Path, help="the markdown report (default: stdout)")
    ap.add_argument("--json", type=Path, help="every measurement, machine-readable")
    args = ap.parse_args(argv)
    shapes = args.shapes or (QUICK if args.quick else GRID)
    rounds = args.rounds or (3 if args.quick else 15)
    cells = args.cells.split(",")
    threads = [int(v) for v in args.threads.split(",")]
    kit_backends = ["auto", "native", "compiled"] + (["fused"] if args.fused else [])
    budget_s, clock = args.budget_ms / 1e3, CLOCKS[args.clock]

    plan = [(n, cell, shape) for n in threads for cell in cells for shape in shapes]
    est = {(n, c, s): group_estimate(c, s, kit_backends, n, rounds, args.warmup, budget_s) for n, c, s in plan}
    expected = sum(est.values())
    if args.plan:
        for (n, cell, shape), e in est.items():
            print(f"{n} thread(s) {cell} {shape}: about {e:.1f} s")
    print(f"{len(plan)} groups ({len(threads)} thread counts x {len(cells)} cells x {len(shapes)} shapes), "
          f"{rounds} rounds: expected about {expected / 60:.1f} min on an idle machine", file=sys.stderr, flush=True)
    if args.plan:
        return 0

    malloc = set_malloc(args.malloc)
    meta = {
        "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "command": "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]),
        "machine": machine(), "load_start": list(os.getloadavg()),
        "threads": threads, "cells": cells, "shapes": [list(s) for s in shapes], "backends": kit_backends,
        "rounds": rounds, "warmup": args.warmup, "budget_ms": args.budget_ms, "clock": args.clock,
        "malloc": malloc,
        "passes": {"training": "forward + backward, loss = sum of outputs, input requires grad",
                   "inference": "forward under torch.no_grad()"},
        "lengths": "uniform in [max(1, T // 4), T], torch.Generator seeded 0; packed torch time "
                   "includes pack_padded_sequence(enforce_sorted=False)",
        "goals": GOALS, "expected_s": expected, "errors": [], "complete": False,
    }
    records: list[dict] = []
    t_start, done_est = time.perf_counter(), 0.0
    for n, cell, shape in plan:
        torch.set_num_threads(n)
        t0 = time.perf_counter()
        fns, picks, errors = group(cell, shape, kit_backends)
        res = interleaved(fns, rounds, warmup=args.warmup, budget_s=budget_s, clock=clock)
        records += rows(n, cell, shape, res, picks)
        meta["errors"] += [{"threads": n, "cell": cell, "shape": list(shape), "config": c, "error": e}
                           for c, e in errors.items()]
        done_est += est[n, cell, shape]
        elapsed = time.perf_counter() - t_start
        left = (expected - done_est) * elapsed / done_est
        print(f"[{n} thr] {cell} {shape}: {time.perf_counter() - t0:.1f} s "
              f"(model {est[n, cell, shape]:.1f} s); {elapsed / 60:.1f} min so far, "
              f"about {left / 60:.1f} min left", file=sys.stderr, flush=True)
        if args.json:  # a partial file survives an interrupted run
            write_json(args.json, meta, records)
    meta.update(finished=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
                load_end=list(os.getloadavg()), elapsed_s=time.perf_counter() - t_start, complete=True)
    text = report(meta, records)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    else:
        print(text)
    if args.json:
        write_json(args.json, meta, records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
