"""When ``backend="auto"`` should run the triton kernels on CUDA: a rule from measurements.

:data:`MEASURED` holds what ``benchmarks/gpu.py`` measured on an NVIDIA H200 (2026-12-04,
torch 2.11.0+cu130, triton 3.6.0; benchmarks/reports/2026-12-04-gpu.md): the LSTM at
B in {1, 16, 64, 256}, H in {64 ... 1024} (bfloat16 up to H=512), the GRU at B in {1, 64},
H in {128, 512}, float32 and bfloat16, T = 1024. On another GPU, for float16, or beyond
the measured batch and hidden sizes, nothing covers the layer and ``auto`` keeps cuDNN
(native) for the plain cells and the fused backend for the variants. The variants' entries
were measured on the layer-norm cell (the costliest one on triton) and stand for every
variant.

What is measured, per device (``torch.cuda.get_device_name()``), cell (LSTM,
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


#: ``python benchmarks/gpu.py --rules`` on an NVIDIA H200 (speedup 0.001: triton could not
#: run the shape, float32 at H=1024 does not fit in shared memory)
MEASURED: tuple[Measured, ...] = (
    Measured("NVIDIA H200", "GRU", "float32", "native", 1, 128, 0.304),
    Measured("NVIDIA H200", "GRU", "float32", "fused", 1, 128, 62.981),
    Measured("NVIDIA H200", "GRU", "float32", "native", 64, 128, 0.467),
    Measured("NVIDIA H200", "GRU", "float32", "fused", 64, 128, 44.375),
    Measured("NVIDIA H200", "GRU", "float32", "native", 1, 512, 2.290),
    Measured("NVIDIA H200", "GRU", "float32", "fused", 1, 512, 41.573),
    Measured("NVIDIA H200", "GRU", "float32", "native", 64, 512, 1.855),
    Measured("NVIDIA H200", "GRU", "float32", "fused", 64, 512, 25.401),
    Measured("NVIDIA H200", "GRU", "bfloat16", "native", 1, 128, 5.880),
    Measured("NVIDIA H200", "GRU", "bfloat16", "fused", 1, 128, 70.866),
    Measured("NVIDIA H200", "GRU", "bfloat16", "native", 64, 128, 3.851),
    Measured("NVIDIA H200", "GRU", "bfloat16", "fused", 64, 128, 43.258),
    Measured("NVIDIA H200", "GRU", "bfloat16", "native", 1, 512, 3.711),
    Measured("NVIDIA H200", "GRU", "bfloat16", "fused", 1, 512, 42.694),
    Measured("NVIDIA H200", "GRU", "bfloat16", "native", 64, 512, 2.099),
    Measured("NVIDIA H200", "GRU", "bfloat16", "fused", 64, 512, 22.423),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 1, 64, 0.423),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 1, 64, 87.604),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 16, 64, 0.369),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 16, 64, 59.840),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 64, 64, 0.417),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 64, 64, 54.598),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 256, 64, 0.662),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 256, 64, 44.947),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 1, 128, 0.474),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 1, 128, 43.621),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 16, 128, 0.403),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 16, 128, 36.397),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 64, 128, 0.425),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 64, 128, 29.475),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 256, 128, 0.776),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 256, 128, 26.131),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 1, 256, 2.214),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 1, 256, 32.688),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 16, 256, 1.877),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 16, 256, 25.997),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 64, 256, 1.701),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 64, 256, 23.927),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 256, 256, 1.172),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 256, 256, 14.403),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 1, 512, 1.449),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 1, 512, 24.336),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 16, 512, 1.349),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 16, 512, 20.083),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 64, 512, 1.214),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 64, 512, 15.565),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 256, 512, 0.242),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 256, 512, 2.330),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 1, 1024, 0.001),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 1, 1024, 0.001),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 16, 1024, 0.001),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 16, 1024, 0.001),
    Measured("NVIDIA H200", "LSTM", "float32", "native", 64, 1024, 0.001),
    Measured("NVIDIA H200", "LSTM", "float32", "fused", 64, 1024, 0.001),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "native", 1, 64, 8.880),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "fused", 1, 64, 115.043),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "native", 16, 64, 8.591),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "fused", 16, 64, 106.164),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "native", 64, 64, 6.962),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "fused", 64, 64, 76.426),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "native", 256, 64, 6.957),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "fused", 256, 64, 94.887),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "native", 1, 128, 5.034),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "fused", 1, 128, 53.028),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "native", 16, 128, 3.750),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "fused", 16, 128, 44.432),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "native", 64, 128, 3.265),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "fused", 64, 128, 37.120),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "native", 256, 128, 3.129),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "fused", 256, 128, 40.858),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "native", 1, 256, 4.484),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "fused", 1, 256, 57.688),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "native", 16, 256, 2.920),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "fused", 16, 256, 37.631),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "native", 64, 256, 2.362),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "fused", 64, 256, 39.857),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "native", 256, 256, 2.447),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "fused", 256, 256, 31.360),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "native", 1, 512, 3.381),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "fused", 1, 512, 46.868),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "native", 16, 512, 2.390),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "fused", 16, 512, 33.021),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "native", 64, 512, 1.357),
    Measured("NVIDIA H200", "LSTM", "bfloat16", "fused", 64, 512, 18.201),
)


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
