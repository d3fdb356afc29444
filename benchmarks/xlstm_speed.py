"""Speed of lstmkit's xLSTM against the reference package ``xlstm`` on the CPU, in one process.

Three tables, forward+backward (the sum of the outputs as the loss, gradients into the
input and every parameter), medians of interleaved rounds after warm-up
(benchmarks/_timing.py):

1. Stacks at B=8, T=256, width 128, 4 heads: (a) 4 blocks with an sLSTM block at position
   1, (b) 4 mLSTM blocks, (c) 2 sLSTM blocks. The reference package's ``xLSTMBlockStack``
   (sLSTM backend "vanilla", the one that runs on the CPU) against lstmkit's copy of it
   (:func:`lstmkit.xlstm.from_xlstm`, the same weights; the largest output difference is
   printed), once per lstmkit backend; ratio = reference ms / lstmkit ms (higher is better).
2. The layers alone (B=8, T=256, I=H=128, 4 heads): lstmkit's sLSTM and mLSTM per backend.
3. The mLSTM recurrence over T = 256 ... 8192 (B=8, 4 heads, d=32): the reference package's
   ``parallel_stabilized_simple`` (quadratic in T: run only up to ``--parallel-max``) and
   ``chunkwise_simple``, lstmkit's reference forms and the fused chunkwise form at each
   chunk size of ``--chunks`` (ms, and ms per 1000 steps: flat when linear in T).

    python benchmarks/xlstm_speed.py                        # everything -> stdout
    python benchmarks/xlstm_speed.py --threads 1 --out docs/xlstm_speed.md
    python benchmarks/xlstm_speed.py --quick --threads 1    # a smoke run
    python benchmarks/xlstm_speed.py --tables stacks        # table 1 only

Needs the reference package (see docs/xlstm.md); without it only lstmkit's rows are timed.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from _timing import interleaved, machine_line

import lstmkit
from lstmkit.xlstm import backend as xbackend
from lstmkit.xlstm import from_xlstm, mlstm_fused, mlstm_math

try:
    import xlstm
    from xlstm.blocks.mlstm.backends import chunkwise_simple, parallel_stabilized_simple
except ImportError:  # the reference package is a test-only dependency
    xlstm = None

STACKS = {"(a) 4 blocks, sLSTM at 1": (4, [1]), "(b) 4 mLSTM blocks": (4, []),
          "(c) 2 sLSTM blocks": (2, "all")}


def reference_stack(E: int, num_blocks: int, slstm_at, heads: int, T: int):
    cfg = xlstm.xLSTMBlockStackConfig(
        mlstm_block=xlstm.mLSTMBlockConfig(mlstm=xlstm.mLSTMLayerConfig(
            conv1d_kernel_size=4, qkv_proj_blocksize=4, num_heads=heads)),
        slstm_block=xlstm.sLSTMBlockConfig(
            slstm=xlstm.sLSTMLayerConfig(backend="vanilla", num_heads=heads, conv1d_kernel_size=4,
                                         bias_init="powerlaw_blockdependent"),
            feedforward=xlstm.FeedForwardConfig(proj_factor=1.3, act_fn="gelu")),
        context_length=T, num_blocks=num_blocks, embedding_dim=E, slstm_at=slstm_at)
    return xlstm.xLSTMBlockStack(cfg)


def output(y):
    """A module's output: the first item where it returns (output, state)."""
    return y[0] if isinstance(y, tuple) else y


def fwd_bwd(module, x):
    """forward+backward of ``module(x)``: the sum of its output as the loss."""

    def run():
        output(module(x.detach().requires_grad_())).sum().backward()

    return run


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def bench_stacks(args, backends: list[str]) -> str:
    B, T, E, heads = 8, args.T, 128, 4
    rows, notes = [], []
    for label, (blocks, at) in STACKS.items():
        torch.manual_seed(0)
        fns = {}
        if xlstm is None:
            from lstmkit.xlstm import xLSTMConfig, xLSTMStack

            ours = xLSTMStack(xLSTMConfig(embedding_dim=E, num_blocks=blocks, slstm_at=at,
                                          mlstm_num_heads=heads, slstm_num_heads=heads))
        else:
            ref = reference_stack(E, blocks, at, heads, T)
            ours = from_xlstm(ref)
        x = torch.randn(B, T, E)
        if xlstm is not None:
            fns["ref"] = fwd_bwd(ref, x)
        if xlstm is not None:
            with torch.no_grad():
                diff = (output(ours(x)) - output(ref(x))).abs().max().item()
            notes.append(f"{label}: largest output difference {diff:.1e}")
        for b in backends:
            model = copy.deepcopy(ours)
            if xbackend.use(model, b) == 0 and b != "reference":
                notes.append(f"{label}: no block takes backend= yet, so {b!r} is not timed")
                continue
            fns[b] = fwd_bwd(model, x)
        res = interleaved(fns, args.rounds, warmup=args.warmup, budget_s=args.budget_ms / 1e3)
        ref_ms = res["ref"].median * 1e3 if "ref" in res else None
        cells = [label, f"{ref_ms:.1f}" if ref_ms else "-"]
        for b in backends:
            if b in res:
                ms = res[b].median * 1e3
                cells.append(f"{ms:.1f}" + (f" ({ref_ms / ms:.2f}x)" if ref_ms else ""))
            else:
                cells.append("-")
        rows.append(cells)
        print(f"  {label} done", file=sys.stderr, flush=True)
    head = [f"stack (B=8, T={T}, width 128)", "xlstm package ms"] + [f"lstmkit {b} ms (ratio)"
                                                                       for b in backends]
    return table(head, rows) + "\n\n" + "\n".join(f"- {n}" for n in notes)


def bench_layers(args) -> str:
    B, T, H, heads = 8, args.T, 128, 4
    torch.manual_seed(0)
    x = torch.randn(T, B, H)
    fns = {}
    for b in ("reference", "compiled"):
        fns["sLSTM", b] = fwd_bwd(lstmkit.sLSTM(H, H, num_heads=heads, backend=b), x)
    for b, form in (("reference", "parallel"), ("reference", "chunkwise"), ("fused", "chunkwise")):
        layer = lstmkit.mLSTM(H, H, num_heads=heads, backend=b, form=form)
        fns["mLSTM", f"{b} ({form})"] = fwd_bwd(layer, x)
    res = interleaved(fns, args.rounds, warmup=args.warmup, budget_s=args.budget_ms / 1e3)
    rows = []
    for kind in ("sLSTM", "mLSTM"):
        keys = [k for k in fns if k[0] == kind]
        base = res[keys[0]].median
        for k in keys:
            ms = res[k].median * 1e3
            rows.append([kind, k[1], f"{ms:.1f}", f"{base / res[k].median:.2f}x"])
    return table([f"layer (B=8, T={T}, I=H=128, 4 heads)", "backend", "ms",
                  "vs its reference"], rows)


def bench_sweep(args) -> str:
    B, NH, d = 8, 4, 32
    chunks = [int(c) for c in args.chunks.split(",")]
    rows = []
    for T in [int(t) for t in args.sweep.split(",")]:
        torch.manual_seed(0)
        q, k, v = (torch.randn(B, NH, T, d) for _ in range(3))
        i_pre, f_pre = torch.randn(B, NH, T), torch.randn(B, NH, T) + 3

        def run(fn, data=(q, k, v, i_pre, f_pre)):
            def go():
                fn(*[t.detach().requires_grad_() for t in data]).sum().backward()
            return go

        fns = {}
        if xlstm is not None:
            if T <= args.parallel_max:
                fns["xlstm parallel"] = run(lambda q, k, v, i, f: parallel_stabilized_simple(
                    q, k, v, i[..., None], f[..., None]))
            fns["xlstm chunkwise (64)"] = run(lambda q, k, v, i, f: chunkwise_simple(
                q, k, v, i, f, chunk_size=64))
        if T <= args.parallel_max:
            fns["lstmkit reference parallel"] = run(lambda q, k, v, i, f: mlstm_math.parallel(
                q, k, v, i, F.logsigmoid(f))[0])
        fns["lstmkit reference chunkwise (64)"] = run(lambda q, k, v, i, f: mlstm_math.chunkwise(
            q, k, v, i, F.logsigmoid(f), chunk_size=64)[0])
        for c in chunks:
            fns[f"lstmkit fused ({c})"] = run(lambda q, k, v, i, f, c=c: mlstm_fused.chunkwise(
                q, k, v, i, F.logsigmoid(f), chunk_size=c)[0])
        res = interleaved(fns, args.rounds, warmup=args.warmup, budget_s=args.budget_ms / 1e3)
        for key, timing in res.items():
            ms = timing.median * 1e3
            rows.append([str(T), key, f"{ms:.1f}", f"{ms / T * 1000:.1f}"])
        print(f"  T={T} done", file=sys.stderr, flush=True)
    note = (f"\nThe quadratic forms run up to T={args.parallel_max} (--parallel-max) only."
            + ("" if xlstm is not None else " The xlstm package is not installed: lstmkit only."))
    return table(["T", "mLSTM recurrence (B=8, 4 heads, d=32)", "ms", "ms per 1000 steps"],
                 rows) + "\n" + note


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="reference,auto", help="lstmkit backends for the stacks")
    ap.add_argument("--T", type=int, default=256, help="sequence length of tables 1 and 2")
    ap.add_argument("--sweep", default="256,512,1024,2048,4096,8192")
    ap.add_argument("--chunks", default="32,64,128", help="chunk sizes of the fused mLSTM")
    ap.add_argument("--parallel-max", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--budget-ms", type=float, default=0.0)
    ap.add_argument("--quick", action="store_true",
                    help="3 rounds, 1 warm-up, sweep 256..2048, chunk 64 only")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--out", type=Path, help="write the markdown report here")
    ap.add_argument("--tables", default="stacks,layers,sweep",
                    help="which tables to time (comma-separated: stacks, layers, sweep)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.rounds, args.warmup, args.budget_ms = 3, 1, 0.0
        args.sweep, args.chunks, args.parallel_max = "256,512,1024,2048", "64", 1024
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cmd = "python benchmarks/xlstm_speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    parts = [f"# xLSTM speed on the CPU ({when})", "", f"{machine_line()}; `{cmd.strip()}`", "",
             "Forward+backward, median ms of interleaved rounds.", ""]
    tables = {t.strip() for t in args.tables.split(",")}
    unknown = tables - {"stacks", "layers", "sweep"}
    if unknown:
        ap.error(f"--tables takes stacks, layers and sweep, got {', '.join(sorted(unknown))}")
    if "stacks" in tables:
        parts += [bench_stacks(args, backends), ""]
    if "layers" in tables:
        parts += [bench_layers(args), ""]
    if "sweep" in tables:
        parts += [bench_sweep(args), ""]
    text = "\n".join(parts)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
