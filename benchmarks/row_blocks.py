"""The compiled loops' row blocks against one block, in one process, interleaved.

With more than one thread, the compiled backend splits the batch into blocks of rows
that each run the whole time loop on a thread of their own (csrc/recurrence.h,
``row_blocks``), when every block has at least ``min_block_rows`` rows (16 by default).
With one block the threads go over the panels of each step's GEMM and the rows of each
fused pass, two or three forks per step. Blocks of fewer rows, down to 4, are used too
where a block's step GEMM (rows x P x G multiply-adds) is at most ``small_block_work``
(2^20 by default). This times ``backend="compiled"`` layers with the minimum set to 0
(one block, what the loops did before) and to each value of ``--least`` with each limit
of ``--small-work`` (0: no smaller blocks), training (forward + backward) and inference
(forward under no_grad), and reports the ratio to one block (lower is better).

    python benchmarks/row_blocks.py                      # the grid, 2 threads
    python benchmarks/row_blocks.py --least 8,16 --small-work 0 --shapes "8,100,32,128;16,100,32,128"
    python benchmarks/row_blocks.py --quick              # 2 shapes, 3 rounds: a smoke run

Run it on an idle machine (the ratios are compute-bound timings).
"""

from __future__ import annotations

import argparse
import sys

from _timing import (
    PASSES,
    add_grid_options,
    grid_choice,
    grid_layers,
    interleaved,
    machine,
    with_setting,
)

import lstmkit
from lstmkit.backends.compiled import extension

#: (B, T, I, H): the character model's layer (32, 50, 64, 384; 256 for two layers), the
#: never-slower grid's batched rows, batches from 8 to 256, and small batches of 4 to
#: 16 rows at H = 64 to 512 (where blocks of fewer than 16 rows are in question)
GRID = [
    (32, 50, 64, 384),
    (32, 50, 256, 256),
    (8, 100, 32, 128),
    (16, 100, 64, 512),
    (32, 100, 32, 128),
    (64, 100, 8, 64),
    (64, 200, 128, 256),
    (128, 100, 2, 32),
    (256, 50, 16, 64),
    (256, 20, 128, 256),
    (4, 200, 16, 64),
    (8, 300, 32, 96),
    (16, 500, 3, 128),
    (12, 100, 32, 192),
    (8, 100, 64, 256),
    (16, 100, 64, 256),
    (16, 50, 64, 384),
]
#: (name, class, keyword arguments)
LAYERS = [
    ("lstm", lstmkit.LSTM, {}),
    ("lstm layer_norm", lstmkit.LSTM, {"layer_norm": True}),
    ("gru", lstmkit.GRU, {}),
    ("rnn", lstmkit.RNN, {}),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_grid_options(ap, LAYERS, threads=2, rounds=9, budget_ms=30.0)
    ap.add_argument("--least", default="16", help="comma-separated minimum block sizes to time")
    ap.add_argument("--small-work", default="0,1048576",
                    help="comma-separated limits of a block's step GEMM (multiply-adds) under "
                         "which blocks of 4 or more rows are used too (0: off)")
    a = ap.parse_args(argv)
    shapes, rounds, wanted = grid_choice(a, GRID)
    settings = [(int(v), int(w)) for v in a.least.split(",") for w in a.small_work.split(",")]
    info = machine()
    print(f"# compiled row blocks against one block, {a.threads} threads, {info['cpu']}, torch {info['torch']}")
    print(f"# median of {rounds} interleaved rounds, each a loop of >= {a.budget_ms:g} ms; ratio = time / one block's")
    head = " | ".join(f"min {v} rows" + (f", 4 up to {w} MACs" if w else "") for v, w in settings)
    print(f"\n| layer | B, T, I, H | pass | one block ms | {head} |")
    print("|---|---|---|---:|" + "---:|" * len(settings))
    ext = extension()
    for name, (B, T, I, H), layer, x in grid_layers(LAYERS, wanted, shapes):
        for pname, make in PASSES.items():
            call = make(layer, x)
            fns = {(0, 0): with_setting(call, ext.set_min_block_rows, 0)}
            for v, w in settings:
                fns[v, w] = with_setting(with_setting(call, ext.set_small_block_work, w), ext.set_min_block_rows, v)
            res = interleaved(fns, rounds, warmup=2, budget_s=a.budget_ms / 1000)
            base = res[0, 0].median
            cells = " | ".join(f"{res[k].median / base:.2f}" for k in settings)
            print(f"| {name} | {B}, {T}, {I}, {H} | {pname} | {base * 1e3:.2f} | {cells} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
