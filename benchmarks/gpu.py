"""The triton kernels against torch.nn (cuDNN) and the fused backend on a CUDA device, in
the same process.

For each cell, dtype and shape (B, H, T; input size I = H), the forward pass (no_grad) and
the forward+backward pass (random upstream gradient on the output) are timed in
interleaved rounds after warm-up (which includes triton's compilation), with the device
synchronised around each call; the median over rounds is reported with the speedup
rival time / triton time (> 1: triton is faster). Four modules per shape:

- ``cudnn``: torch.nn.LSTM / GRU (cuDNN), and ``triton``: lstmkit on the triton kernels
  with the same weights (the plain cell);
- ``triton_ln``: the layer-norm cell on triton, compared with cuDNN's plain cell (the goal:
  within 1.2x) and with ``fused_ln``, the same layer-norm cell on the fused backend (what
  ``auto`` runs a variant on without a measured rule).

A module that fails (a plan that does not fit, a launch error) is reported with its error
and the run goes on.

    python benchmarks/gpu.py                          # the full grid -> stdout
    python benchmarks/gpu.py --out benchmarks/reports/DATE-gpu.md  # replaces this script's section there
    python benchmarks/gpu.py --quick                  # a few shapes, fewer rounds
    python benchmarks/gpu.py --batch 16 --hidden 256 --seq 100 --dtype bfloat16
    python benchmarks/gpu.py --rules                  # also print auto.MEASURED entries
    python benchmarks/gpu.py --precompile 8           # compile every shape's kernels first, 8 processes
    python benchmarks/gpu.py --precompile 8 --compile-only  # only that (fills triton's cache)

Without a CUDA device it says so and exits 0: nothing can be measured.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

import torch

BATCHES = [1, 16, 64, 256]
HIDDEN = [64, 128, 256, 512, 1024]
SEQ = [100, 1024]
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
MODULES = ("cudnn", "triton", "triton_ln", "fused_ln")
BEGIN, END = "<!-- benchmarks/gpu.py: begin -->", "<!-- benchmarks/gpu.py: end -->"


def _layers(cell: str, H: int, dtype, modules=MODULES) -> dict[str, torch.nn.Module]:
    import lstmkit

    torch.manual_seed(0)
    nn_cls = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
    kit_cls = lstmkit.LSTM if cell == "lstm" else lstmkit.GRU
    ref = nn_cls(H, H).cuda().to(dtype)
    ref.flatten_parameters()  # cuDNN's one weight buffer, as torch.nn keeps it
    out = {"cudnn": ref}
    if "triton" in modules:
        out["triton"] = kit_cls.from_torch(ref, backend="triton")
    if "triton_ln" in modules or "fused_ln" in modules:
        ln = kit_cls(H, H, layer_norm=True, backend="triton").cuda().to(dtype)
        if "triton_ln" in modules:
            out["triton_ln"] = ln
        if "fused_ln" in modules:
            fused = kit_cls(H, H, layer_norm=True, backend="fused").cuda().to(dtype)
            fused.load_state_dict(ln.state_dict())
            out["fused_ln"] = fused
    return out


def _timed(fn) -> float:
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def _passes(x, up):
    def fwd(m):
        with torch.no_grad():
            m(x)

    def fwd_bwd(m):
        out, _ = m(x)
        torch.autograd.grad((out * up).sum(), list(m.parameters()))

    return fwd, fwd_bwd


def bench(cell: str, dtype, B: int, H: int, T: int, rounds: int, warmup: int,
          modules=MODULES) -> dict:
    """{name: (forward ms, forward+backward ms) or the error in words}."""
    layers = _layers(cell, H, dtype, modules)
    x = torch.randn(T, B, H, device="cuda", dtype=dtype)
    up = torch.randn(T, B, H, device="cuda", dtype=dtype)
    fwd, fwd_bwd = _passes(x, up)
    times: dict = {name: ([], []) for name in layers}
    failed: dict[str, str] = {}
    for r in range(warmup + rounds):
        for name, m in layers.items():  # interleaved: drifting clocks hit every config alike
            if name in failed:
                continue
            try:
                f, fb = _timed(lambda m=m: fwd(m)), _timed(lambda m=m: fwd_bwd(m))
            except Exception as e:  # noqa: BLE001 - reported in the table; the other modules go on
                failed[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
                continue
            if r >= warmup:
                times[name][0].append(f)
                times[name][1].append(fb)
    out: dict = dict(failed)
    for n, (f, fb) in times.items():
        if n not in failed and f:
            out[n] = (1e3 * statistics.median(f), 1e3 * statistics.median(fb))
    return out


def _compile_one(args) -> str:
    """Run one shape once in a worker process (fills triton's on-disk kernel cache)."""
    cell, dt, B, H, T = args
    try:
        bench(cell, DTYPES[dt], B, H, min(T, 8), rounds=0, warmup=1,
              modules=("cudnn", "triton", "triton_ln"))
        return f"{cell} {dt} B={B} H={H}: compiled"
    except Exception as e:  # noqa: BLE001 - the timed run reports it again
        return f"{cell} {dt} B={B} H={H}: {type(e).__name__}: {e}"


def precompile(configs: list[tuple], jobs: int) -> None:
    """Compile the kernels of ``configs`` in ``jobs`` processes at once: triton compiles on
    the CPU, one kernel at a time per process, and caches on disk for the timed run."""
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
        for line in pool.map(_compile_one, configs):
            print(f"precompile: {line}", flush=True)
    print(f"precompile: {len(configs)} shapes in {time.perf_counter() - t0:.0f} s", flush=True)


def _ms(v) -> str:
    return f"{v:.2f}" if isinstance(v, float) else "-"


def _ratio(a, b) -> str:
    return f"{a / b:.2f}x" if isinstance(a, float) and isinstance(b, float) else "-"


def table(rows: list[dict]) -> str:
    head = (
        "| cell | dtype | B | H | T | cuDNN fwd ms | triton fwd ms | speedup fwd | "
        "cuDNN f+b ms | triton f+b ms | speedup f+b | LN triton f+b ms | LN triton / cuDNN plain | "
        "LN fused f+b ms | LN fused / LN triton |"
    )
    lines = [head, "|" + "---|" * 15]
    for r in rows:
        c, t = r.get("cudnn"), r.get("triton")
        ln, fu = r.get("triton_ln"), r.get("fused_ln")
        cf, cb = (c if isinstance(c, tuple) else ("-", "-"))
        tf, tb = (t if isinstance(t, tuple) else ("-", "-"))
        lb = ln[1] if isinstance(ln, tuple) else "-"
        fb = fu[1] if isinstance(fu, tuple) else "-"
        lines.append(
            f"| {r['cell']} | {r['dtype']} | {r['B']} | {r['H']} | {r['T']} | {_ms(cf)} | "
            f"{_ms(tf)} | {_ratio(cf, tf)} | {_ms(cb)} | {_ms(tb)} | {_ratio(cb, tb)} | "
            f"{_ms(lb)} | {_ratio(lb, cb)} | {_ms(fb)} | {_ratio(fb, lb)} |"
        )
    errors = [f"{r['cell']} {r['dtype']} B={r['B']} H={r['H']} T={r['T']}, {n}: {v}"
              for r in rows for n, v in r.items() if n in MODULES and isinstance(v, str)]
    if errors:
        lines += ["", "Failed (shown as -):", ""] + [f"- {e}" for e in errors]
    return "\n".join(lines)


def rules(rows: list[dict], device: str) -> str:
    """The auto.MEASURED entries at the longest T measured: the plain cell's triton against
    cuDNN ('native'), the layer-norm cell's triton against the fused backend ('fused')."""
    longest = max(r["T"] for r in rows)
    out = []
    for r in rows:
        if r["T"] != longest:
            continue
        pairs = (("native", "cudnn", "triton"), ("fused", "fused_ln", "triton_ln"))
        for versus, rival, ours in pairs:
            a, b = r.get(rival), r.get(ours)
            if isinstance(b, str):  # triton failed here: never prefer it
                speed = 0.0
            elif isinstance(a, tuple) and isinstance(b, tuple):
                speed = a[1] / b[1]
            else:
                continue
            out.append(
                f"    Measured({device!r}, {r['cell'].upper()!r}, {r['dtype']!r}, {versus!r}, "
                f"{r['B']}, {r['H']}, {max(speed, 1e-3):.3f}),"
            )
    return "MEASURED = (\n" + "\n".join(out) + "\n)"


def write_section(path: Path, text: str) -> None:
    """Put ``text`` between this script's markers in ``path`` (appended if absent)."""
    block = f"{BEGIN}\n{text}\n{END}"
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN)] + block + old[old.index(END) + len(END) :]
    else:
        new = old + ("\n\n" if old else "") + block + "\n"
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="markdown file to write this run's section into")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    ap.add_argument("--quick", action="store_true", help="B 16, H 128/512, T 100; 3 rounds")
    ap.add_argument("--batch", type=int, nargs="*", default=None)
    ap.add_argument("--hidden", type=int, nargs="*", default=None)
    ap.add_argument("--seq", type=int, nargs="*", default=None)
    ap.add_argument("--dtype", nargs="*", choices=list(DTYPES), default=None)
    ap.add_argument("--cells", nargs="*", choices=["lstm", "gru"], default=["lstm", "gru"])
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--precompile", type=int, default=0, metavar="N",
                    help="compile every shape's kernels first in N processes")
    ap.add_argument("--compile-only", action="store_true",
                    help="with --precompile: compile, then stop without timing")
    ap.add_argument("--rules", action="store_true", help="print auto.MEASURED entries")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print(
            "benchmarks/gpu.py: no CUDA device on this machine, nothing measured "
            "(run it on a GPU; docs/gpu.md lists what is left to measure)"
        )
        return 0
    from lstmkit.backends.triton import TritonBackend

    reason = TritonBackend().unavailable()
    if reason:
        print(f"benchmarks/gpu.py: {reason}", file=sys.stderr)
        return 1
    batches = args.batch or ([16] if args.quick else BATCHES)
    hidden = args.hidden or ([128, 512] if args.quick else HIDDEN)
    seq = args.seq or ([100] if args.quick else SEQ)
    dtypes = args.dtype or list(DTYPES)
    rounds = args.rounds or (3 if args.quick else 10)
    device = torch.cuda.get_device_name()
    configs = [(c, dt, B, H, T) for c in args.cells for dt in dtypes for T in seq
               for H in hidden for B in batches]
    if args.precompile > 0:
        precompile(sorted({(c, dt, B, H, 8) for c, dt, B, H, _ in configs}), args.precompile)
    if args.compile_only:
        return 0
    rows = []
    for cell, dt, B, H, T in configs:
        res = bench(cell, DTYPES[dt], B, H, T, rounds, warmup=args.warmup)
        rows.append(dict(cell=cell, dtype=dt, B=B, H=H, T=T, **res))
        print(table(rows[-1:]).splitlines()[2], flush=True)
        if args.json:  # after every row: a run cut short keeps what it measured
            args.json.write_text(json.dumps({"device": device, "torch": torch.__version__,
                                                  "rows": rows}, indent=1))
    text = (
        f"## GPU: triton vs cuDNN and fused ({datetime.date.today().isoformat()}, {device}, "
        f"torch {torch.__version__})\n\n`python benchmarks/gpu.py {' '.join(argv or sys.argv[1:])}`"
        f"; median of {rounds} rounds after {args.warmup} warm-up rounds; speedup = rival time "
        f"/ triton time (> 1: triton is faster).\n\n{table(rows)}"
    )
    print("\n" + text)
    if args.rules:
        print("\n" + rules(rows, device))
    if args.out:
        write_section(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
