"""What the kernels compute (:class:`Recurrence`) and how a recurrence is cut into
programs (:class:`Plan`: batch tile, hidden tile, one launch or one per step).

No triton import here. The defaults below are a starting point written without a GPU to
measure on: the tile sizes and the on-chip budget are exactly what ``benchmarks/gpu.py``
has to tune (docs/gpu.md lists them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace

#: bytes of resident W_hh per program the default plan aims for (registers and shared
#: memory hold it together with the activations): a guess until measured on a GPU
W_BUDGET_BYTES = 64 * 1024
#: bytes of the (block_b, H) float32 h_{t-1} tile a program reads each step: a guess too
ACT_BUDGET_BYTES = 64 * 1024
#: tl.dot needs every side >= 16 on NVIDIA GPUs
MIN_DOT = 16
MAX_BLOCK_B = 64


def next_pow2(n: int) -> int:
    """The smallest power of two >= n, for n >= 1."""
    return 1 << max(0, (int(n) - 1).bit_length())


@dataclass(frozen=True)
class Plan:
    """The tiling of one recurrence.

    block_b: batch rows per program; hidden_tile: hidden units (of every gate) per program;
    persistent: one launch for all T steps (a grid barrier between steps when several
    hidden tiles share a batch tile), else one launch per step and exchange; num_warps:
    the warps of a program (GPU only).
    """

    block_b: int
    hidden_tile: int
    persistent: bool = True
    num_warps: int = 4

    def __post_init__(self) -> None:
        for name in ("block_b", "hidden_tile", "num_warps"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1 or v & (v - 1):
                raise ValueError(f"Plan.{name} must be a power of two >= 1, got {v!r}")

    def hidden_pad(self, H: int) -> int:
        """HP: H rounded up to a power of two, at least the hidden tile."""
        return max(next_pow2(H), self.hidden_tile)

    def n_hidden_tiles(self, H: int) -> int:
        """Hidden tiles of the grid: ceil(H / hidden_tile)."""
        return -(-H // self.hidden_tile)

    def n_batch_tiles(self, B: int) -> int:
        """Batch tiles of the grid: ceil(B / block_b)."""
        return -(-B // self.block_b)

    def use_dot(self, H: int) -> bool:
        """Whether the recurrent matmul runs as ``tl.dot``: every tile dimension at least :data:`MIN_DOT`."""
        return min(self.block_b, self.hidden_tile, self.hidden_pad(H)) >= MIN_DOT


@dataclass(frozen=True)
class Recurrence:
    """What the kernels are specialised on, besides the dtypes."""

    lstm: bool
    n_gates: int
    coupled: bool = False
    peephole: bool = False
    cell_clip: float | None = None
    ln_h: bool = False  # layer norm of h_in W_hh^T over the G gate rows
    ln_c: bool = False  # layer norm of the LSTM's c_t over H

    def __post_init__(self) -> None:
        if self.n_gates not in (3, 4):
            raise ValueError(f"the kernels run 3 or 4 gates, got {self.n_gates}")
        if not self.lstm and (
            self.coupled or self.peephole or self.cell_clip is not None or self.ln_c
        ):
            raise ValueError("coupled, peephole, cell_clip and the cell norm are LSTM options")
        if self.lstm and self.n_gates != (3 if self.coupled else 4):
            raise ValueError(
                f"an LSTM with coupled={self.coupled} has {3 if self.coupled else 4} gates"
            )


_forced: list[Plan] = []


@contextlib.contextmanager
def forced(plan: Plan) -> Iterator[Plan]:
    """Run every recurrence inside the ``with`` block with ``plan`` (tests use it to cover
    several hidden tiles at small H, and the per-step launch path)."""
    _forced.append(plan)
    try:
        yield plan
    finally:
        _forced.pop()


def choose(B: int, H: int, n_gates: int, itemsize: int, sms: int | None) -> Plan:
    """The plan for batch B, hidden H, ``n_gates`` gates of ``itemsize``-byte weights on a
    GPU with ``sms`` multiprocessors (None: the interpreter, no co-residency to rely on)."""
    if _forced:
        return resident(_forced[-1], B, H, sms)
    if sms is None:  # interpreter: small shapes, one program per batch row block
        return Plan(block_b=min(next_pow2(B), 16), hidden_tile=next_pow2(H))
    hp = max(next_pow2(H), MIN_DOT)
    tile = hp
    while tile > MIN_DOT and n_gates * hp * tile * itemsize > W_BUDGET_BYTES:
        tile //= 2
    n_ht = -(-H // tile)
    cap = max(MIN_DOT, min(MAX_BLOCK_B, ACT_BUDGET_BYTES // (4 * hp)))
    # 16 rows: the compile audit (docs/gpu.md) found 64-row float32 tiles spilling and the
    # backward over the 227 KiB of shared memory of an H100 at H = 64
    block_b = MIN_DOT
    # several hidden tiles must all be resident to sync: widen the batch tile if that fits
    wide = block_b
    while n_ht > 1 and -(-B // wide) * n_ht > sms and wide < cap:
        wide *= 2
    if -(-B // wide) * n_ht <= sms:
        block_b = wide
    warps = 8 if block_b * hp >= 16 * 1024 else 4
    return resident(Plan(block_b=block_b, hidden_tile=tile, num_warps=warps), B, H, sms)


def resident(plan: Plan, B: int, H: int, sms: int | None) -> Plan:
    """``plan``, made to launch step by step where its programs must sync but can't all be
    resident at once (a grid barrier would then wait forever): the interpreter (``sms``
    None) runs programs one after another; a GPU runs at most ``sms`` at once for sure."""
    n_ht = plan.n_hidden_tiles(H)
    if plan.persistent and n_ht > 1 and (sms is None or plan.n_batch_tiles(B) * n_ht > sms):
        return replace(plan, persistent=False)
    return plan
