"""Compile the kernels for an NVIDIA GPU without one, and read what a program needs on chip.

triton's compiler and the ptxas in its wheel run on any machine: this builds the forward
and backward kernels exactly as :mod:`.launch` would specialise them for a recurrence and
plan, for a target such as sm_90a (H100), and reports each kernel's registers, spills and
shared memory, and whether the W_hh tiles are allocated in shared memory before the time
loop (resident for all T steps) rather than reloaded in it. It checks that the kernels
compile for a GPU and fit on chip; it says nothing of their speed.

    python -m lstmkit.backends.triton.compile_check --hidden 256 --dtype bfloat16
    python -m lstmkit.backends.triton.compile_check --grid   # the GPU benchmark's plans, as a table
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from lstmkit.backends.triton.kernels.backward import recurrence_bwd
from lstmkit.backends.triton.kernels.forward import recurrence_fwd
from lstmkit.backends.triton.launch import kernel_consts, launch_options
from lstmkit.backends.triton.plan import Plan, Recurrence, choose

_TY = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
# pointers holding the input's dtype; every other pointer is float32 but these two
_X_PTRS = {
    "gx",
    "w",
    "bhh",
    "lnw",
    "lnb",
    "pi",
    "pf",
    "po",
    "lncw",
    "lncb",
    "rdm",
    "zh",
    "zc",
    "out",
    "dout",
}
_INT_PTRS = {"lens": "i64", "cnt": "i32"}
_SCALARS = {"t0": "i32", "t1": "i32", "B": "i32", "H": "i32", "clip": "fp32", "eps": "fp32"}


@dataclass(frozen=True)
class Resources:
    """What one compiled kernel needs per program."""

    kernel: str
    registers: int
    spill_bytes: int
    shared_bytes: int
    w_resident: bool  # the W_hh tiles live in shared memory from before the time loop

    def __str__(self) -> str:
        return (
            f"{self.kernel}: {self.registers} registers, {self.spill_bytes} B spilled, "
            f"{self.shared_bytes} B shared, W_hh resident: {self.w_resident}"
        )


def _compile(fn, consts: dict, dtype: torch.dtype, B: int, H: int, options: dict, capability: int):
    sig, attrs = {}, {}
    for k, name in enumerate(fn.arg_names):
        if name in consts:
            sig[name] = "constexpr"
        elif name in _SCALARS:
            sig[name] = _SCALARS[name]
            value = {"B": B, "H": H}.get(name)
            if value is not None and value % 16 == 0:
                attrs[(k,)] = [["tt.divisibility", 16]]
        else:
            sig[name] = "*" + (_TY[dtype] if name in _X_PTRS else _INT_PTRS.get(name, "fp32"))
            attrs[(k,)] = [["tt.divisibility", 16]]  # torch's allocations are aligned
    src = ASTSource(fn, sig, constexprs=consts, attrs=attrs)
    return triton.compile(src, target=GPUTarget("cuda", capability, 32), options=options)


def _ptxas_usage(ptx: str, capability: int) -> tuple[int, int]:
    """(registers, spill bytes) from ptxas -v on the kernel's PTX."""
    from triton.backends.nvidia.compiler import get_ptxas

    arch = f"sm_{capability}a" if capability >= 90 else f"sm_{capability}"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "k.ptx")
        with open(path, "w") as f:
            f.write(ptx)
        res = subprocess.run(
            [
                get_ptxas(capability).path,
                f"-arch={arch}",
                "-v",
                path,
                "-o",
                os.path.join(tmp, "k.cubin"),
            ],
            capture_output=True,
            text=True,
        )
    log = res.stdout + res.stderr
    if res.returncode != 0:
        raise RuntimeError(f"ptxas failed:\n{log[-2000:]}")
    regs = int(re.search(r"Used (\d+) registers", log).group(1))
    spills = re.search(r"(\d+) bytes spill stores", log)
    return regs, int(spills.group(1)) if spills else 0


def _w_resident(ttgir: str) -> bool:
    loop = ttgir.find("scf.for")
    alloc = re.search(r"= ttg\.local_alloc %w0", ttgir)
    return alloc is not None and 0 <= alloc.start() < loop


def check(
    rec: Recurrence,
    plan: Plan,
    B: int,
    H: int,
    dtype: torch.dtype,
    *,
    lengths: bool = True,
    masks: bool = False,
    capability: int = 90,
) -> list[Resources]:
    """Compile the forward and backward kernels of ``rec`` under ``plan`` for batch B and
    hidden H in ``dtype`` (with a length mask; with recurrent dropout and zoneout when
    ``masks``) for sm_``capability``; return their resources."""
    base = kernel_consts(rec, plan, H, dtype, interp=False)
    flags = dict(HAS_RD=masks, HAS_ZH=masks, HAS_ZC=masks and rec.lstm, HAS_LEN=lengths)
    out = []
    for name, fn, extra in (
        ("forward", recurrence_fwd, dict(HAS_BHH=True, STAGES=3)),
        ("backward", recurrence_bwd, dict(HAS_DOUT=True, STAGES=4)),
    ):
        k = _compile(
            fn, {**base, **flags, **extra}, dtype, B, H, launch_options(plan, H), capability
        )
        regs, spills = _ptxas_usage(k.asm["ptx"], capability)
        out.append(
            Resources(name, regs, spills, int(k.metadata.shared), _w_resident(k.asm["ttgir"]))
        )
    return out


def grid_table(batches, hidden, dtypes, cells, layer_norm, sms: int, capability: int) -> str:
    """A markdown table of the resources of every distinct plan of the given grid."""
    lines = [
        "| cell | LN | dtype | B | H | plan (block_b, hidden_tile, persistent, warps) | "
        "fwd regs / spill B / smem KiB | bwd regs / spill B / smem KiB | W resident |",
        "|" + "---|" * 9,
    ]
    seen = set()
    for cell in cells:
        for ln in layer_norm:
            for dt in dtypes:
                for H in hidden:
                    for B in batches:
                        lstm = cell == "lstm"
                        rec = Recurrence(
                            lstm=lstm, n_gates=4 if lstm else 3, ln_h=ln, ln_c=lstm and ln
                        )
                        dtype = getattr(torch, dt)
                        plan = choose(B, H, rec.n_gates, dtype.itemsize, sms)
                        key = (cell, ln, dt, H, plan)
                        if key in seen:
                            continue
                        seen.add(key)
                        f, b = check(rec, plan, B, H, dtype, capability=capability)
                        cols = [
                            f"{r.registers} / {r.spill_bytes} / {r.shared_bytes // 1024}"
                            for r in (f, b)
                        ]
                        lines.append(
                            f"| {cell} | {ln} | {dt} | {B} | {H} | "
                            f"{plan.block_b}, {plan.hidden_tile}, "
                            f"{plan.persistent}, {plan.num_warps} | {cols[0]} | {cols[1]} | "
                            f"{f.w_resident and b.w_resident} |"
                        )
                        print(lines[-1], flush=True)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The command line of this check (``python -m lstmkit.backends.triton.compile_check``).

    Args:
        argv: the arguments (None: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 when the check passes.
    """
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    ap.add_argument("--layer-norm", action="store_true")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="bfloat16")
    ap.add_argument(
        "--sms", type=int, default=132, help="multiprocessors of the target (H100: 132)"
    )
    ap.add_argument("--capability", type=int, default=90)
    ap.add_argument(
        "--grid",
        action="store_true",
        help="every distinct plan of B 1/16/64/256 x H 64..1024, float32 and bfloat16",
    )
    args = ap.parse_args(argv)
    if args.grid:
        grid_table(
            [1, 16, 64, 256],
            [64, 128, 256, 512, 1024],
            ["float32", "bfloat16"],
            [args.cell],
            [False, True],
            args.sms,
            args.capability,
        )
        return 0
    lstm = args.cell == "lstm"
    rec = Recurrence(
        lstm=lstm, n_gates=4 if lstm else 3, ln_h=args.layer_norm, ln_c=lstm and args.layer_norm
    )
    dtype = getattr(torch, args.dtype)
    plan = choose(args.batch, args.hidden, rec.n_gates, dtype.itemsize, args.sms)
    print(plan)
    for r in check(rec, plan, args.batch, args.hidden, dtype, capability=args.capability):
        print(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
