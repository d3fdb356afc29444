"""When ``backend="auto"`` should run the triton kernels on CUDA: a rule from measurements.

Nothing is measured yet: the kernels were written on a machine with no GPU, so
:data:`MEASURED` is empty and :func:`prefers_triton` says no everywhere. ``auto`` keeps
picking cuDNN (native) for the plain cells and the fused backend for the variants.

What has to be measured, per device (``torch.cuda.get_device_name()``), cell (LSTM,
GRU), dtype (float32, bfloat16, float16), B in {1, 16, 64, 256} and H in {64, 128,
256, 512, 1024} at T = 1024: the forward+backward time of the triton kernels against

- cuDNN (``torch.nn.LSTM`` / ``GRU``) for the plain cell, and
- the fused backend for the variants (cuDNN can't run them; the issue's goal is also the
  layer_norm LSTM within 1.2x of cuDNN's plain LSTM on the same shape).

``python benchmarks/gpu.py --rules`` measures exactly this and prints the entries of
:data:`MEASURED` to paste here; docs/gpu.md says how to read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from lstmkit.backends.base import LayerSpec


@dataclass(frozen=True)
class Measured:
    """One measurement: ``speedup`` = the other backend's time / triton's time for the
    forward+backward pass (> 1: triton is faster), against ``versus`` ("native" for the
    plain cell, "fused" for the variants)."""

    device: str
    mode: str  # LSTM or GRU
    dtype: str  # float32, bfloat16, float16
    versus: str  # native or fused
    batch: int
    hidden: int
    speedup: float

    def __post_init__(self) -> None:
        if self.versus not in ("native", "fused"):
            raise ValueError(f"versus must be 'native' or 'fused', got {self.versus!r}")
        if self.batch < 1 or self.hidden < 1 or not self.speedup > 0:
            raise ValueError(f"batch, hidden and speedup must be positive: {self}")


#: filled from ``benchmarks/gpu.py --rules`` on a GPU; empty: never measured
MEASURED: tuple[Measured, ...] = ()


def prefers_triton(
    spec: LayerSpec, x: Tensor, measured: tuple[Measured, ...] | None = None
) -> bool:
    """Whether triton should run ``spec`` on ``x`` (T, B, I) ahead of the backend it was
    measured against: the measurement at the smallest measured batch and hidden size that
    cover this layer's (same device, cell and dtype) must show a speedup above 1. Never on
    the CPU; never without a measurement."""
    table = MEASURED if measured is None else measured
    if x.device.type != "cuda" or not table:
        return False
    return lookup(
        table,
        device=torch.cuda.get_device_name(x.device),
        mode=spec.mode,
        dtype=str(x.dtype).removeprefix("torch."),
        versus="fused" if spec.variants else "native",
        batch=x.shape[1] if x.dim() == 3 else 1,
        hidden=spec.hidden_size,
    )


def lookup(
    table: tuple[Measured, ...],
    device: str,
    mode: str,
    dtype: str,
    versus: str,
    batch: int,
    hidden: int,
) -> bool:
    """The rule on a table: the entry at the smallest measured (batch, hidden) covering
    ``batch`` and ``hidden`` for this device, cell, dtype and rival must show speedup > 1."""
    covering = [
        m
        for m in table
        if (m.device, m.mode, m.dtype, m.versus) == (device, mode, dtype, versus)
        and m.batch >= batch
        and m.hidden >= hidden
    ]
    if not covering:
        return False
    return min(covering, key=lambda m: (m.batch, m.hidden)).speedup > 1.0
