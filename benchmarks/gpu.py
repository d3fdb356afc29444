"""The triton kernels against torch.nn (cuDNN) on a CUDA device, in the same process.

For each cell, dtype and shape (B, H, T; input size I = H), the forward pass (no_grad) and
the forward+backward pass (random upstream gradient on the output) are timed in
interleaved rounds after warm-up (which includes triton's compilation), with the device
synchronised around each call; the median over rounds is reported with the speedup
cuDNN time / triton time (> 1: triton is faster). The layer_norm LSTM on triton is timed
too and compared with cuDNN's plain LSTM on the same shape (the issue's goal: within 1.2x).

    python benchmarks/gpu.py                          # the issue's full grid -> stdout
    python benchmarks/gpu.py --out benchmarks/latest_gpu.md # replaces this script's section there
    python benchmarks/gpu.py --quick                  # a few shapes, fewer rounds
    python benchmarks/gpu.py --batch 16 --hidden 256 --seq 100 --dtype bfloat16
    python benchmarks/gpu.py --rules                  # also print auto.MEASURED entries

Without a CUDA device it says so and exits 0: nothing can be measured.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from pathlib import Path

import torch

BATCHES = [1, 16, 64, 256]
HIDDEN = [64, 128, 256, 512, 1024]
SEQ = [100, 1024]
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
BEGIN, END = "<!-- benchmarks/gpu.py: begin -->", "<!-- benchmarks/gpu.py: end -->"


def _layers(cell: str, H: int, dtype) -> dict[str, torch.nn.Module]:
    import lstmkit

    torch.manual_seed(0)
    nn_cls = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
    kit_cls = lstmkit.LSTM if cell == "lstm" else lstmkit.GRU
    ref = nn_cls(H, H).cuda().to(dtype)
    out = {"cudnn": ref, "triton": kit_cls.from_torch(ref, backend="triton")}
    if cell == "lstm":
        out["triton_ln"] = kit_cls(H, H, layer_norm=True, backend="triton").cuda().to(dtype)
    return out


def _timed(fn) -> float:
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def bench(cell: str, dtype, B: int, H: int, T: int, rounds: int, warmup: int) -> dict:
    """{name: (forward ms, forward+backward ms)} for cuDNN, triton (and triton_ln)."""
    layers = _layers(cell, H, dtype)
    x = torch.randn(T, B, H, device="cuda", dtype=dtype)
    up = torch.randn(T, B, H, device="cuda", dtype=dtype)

    def fwd(m):
        with torch.no_grad():
            m(x)

    def fwd_bwd(m):
        out, _ = m(x)
        torch.autograd.grad((out * up).sum(), list(m.parameters()))

    times = {name: ([], []) for name in layers}
    for r in range(warmup + rounds):
        for name, m in layers.items():  # interleaved: drifting clocks hit every config alike
            f, fb = _timed(lambda m=m: fwd(m)), _timed(lambda m=m: fwd_bwd(m))
            if r >= warmup:
                times[name][0].append(f)
                times[name][1].append(fb)
    return {
        n: (1e3 * statistics.median(f), 1e3 * statistics.median(fb)) for n, (f, fb) in times.items()
    }


def table(rows: list[dict]) -> str:
    head = (
        "| cell | dtype | B | H | T | cuDNN fwd ms | triton fwd ms | speedup fwd | "
        "cuDNN f+b ms | triton f+b ms | speedup f+b | LN triton f+b ms | LN / cuDNN plain |"
    )
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        c, t = r["cudnn"], r["triton"]
        ln = r.get("triton_ln")
        ln_cells = f"{ln[1]:.2f} | {ln[1] / c[1]:.2f}x" if ln else "- | -"
        lines.append(
            f"| {r['cell']} | {r['dtype']} | {r['B']} | {r['H']} | {r['T']} | {c[0]:.2f} | "
            f"{t[0]:.2f} | {c[0] / t[0]:.2f}x | {c[1]:.2f} | {t[1]:.2f} | {c[1] / t[1]:.2f}x | "
            f"{ln_cells} |"
        )
    return "\n".join(lines)


def rules(rows: list[dict], device: str) -> str:
    """The auto.MEASURED entries (plain cell vs cuDNN, at the longest T measured)."""
    longest = max(r["T"] for r in rows)
    out = []
    for r in rows:
        if r["T"] == longest:
            speed = r["cudnn"][1] / r["triton"][1]
            out.append(
                f"    Measured({device!r}, {r['cell'].upper()!r}, {r['dtype']!r}, 'native', "
                f"{r['B']}, {r['H']}, {speed:.3f}),"
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
    ap.add_argument("--quick", action="store_true", help="B 16, H 128/512, T 100; 3 rounds")
    ap.add_argument("--batch", type=int, nargs="*", default=None)
    ap.add_argument("--hidden", type=int, nargs="*", default=None)
    ap.add_argument("--seq", type=int, nargs="*", default=None)
    ap.add_argument("--dtype", nargs="*", choices=list(DTYPES), default=None)
    ap.add_argument("--cells", nargs="*", choices=["lstm", "gru"], default=["lstm", "gru"])
    ap.add_argument("--rounds", type=int, default=None)
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
    rows = []
    for cell in args.cells:
        for dt in dtypes:
            for T in seq:
                for H in hidden:
                    for B in batches:
                        res = bench(cell, DTYPES[dt], B, H, T, rounds, warmup=2)
                        rows.append(dict(cell=cell, dtype=dt, B=B, H=H, T=T, **res))
                        print(table(rows[-1:]).splitlines()[-1], flush=True)
    text = (
        f"## GPU: triton vs cuDNN ({datetime.date.today().isoformat()}, {device}, "
        f"torch {torch.__version__})\n\n`python benchmarks/gpu.py {' '.join(argv or sys.argv[1:])}`"
        f"; median of {rounds} rounds after 2 warm-up rounds; speedup = cuDNN time / "
        f"triton time.\n\n{table(rows)}"
    )
    print("\n" + text)
    if args.rules:
        print("\n" + rules(rows, device))
    if args.out:
        write_section(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
