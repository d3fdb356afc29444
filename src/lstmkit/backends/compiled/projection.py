"""The input projection of a narrow input on the compiled backend: ``x W^T (+ b)`` for
inputs of at most :data:`KERNEL_INPUT` columns, forward and backward in one pass each
over the (T, B, G) projection (``csrc/projection.cpp``).

With so few columns the product is a stream of its result, which MKL writes in several
passes, and the weight's gradient reads the result's gradient with a stride; these
kernels write and read each row once. Eager mode only: under a tool (trace, export,
compile, torch.func) the projection is torch's own
(:func:`lstmkit.backends.base.project`), which every tool follows.

Shapes: T time, B batch, I input columns, G = n_gates * H.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.backends.base import project
from lstmkit.backends.compiled import _build

#: Inputs at most this wide take the kernels. Forward + backward against
#: :func:`~lstmkit.backends.base.project`'s mm form, 1 thread, 3,200 and 12,800 rows, G =
#: 128, 512, 1536: 0.22 to 0.99 of its time for I = 1 to 6 (30 cases), 0.45 to 1.22 at
#: I = 8 and 0.64 to 0.93 at 10, 0.60 to 1.97 from 16 on (``python
#: benchmarks/projection.py --kernel``; benchmarks/reports/2026-12-05-projection-kernel.md).
#: The backward's one pass per input column is what loses as the input widens.
KERNEL_INPUT = 6


class _NarrowProjection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, w)
        ctx.has_b = b is not None
        flat = x.reshape(-1, x.shape[-1])
        return _build.load().narrow_project(flat, w, b).view(*x.shape[:-1], w.shape[0])

    @staticmethod
    def backward(ctx, d: Tensor):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        flat_d = d.reshape(-1, w.shape[0])
        flat_x = x.reshape(-1, x.shape[-1])
        if torch.is_grad_enabled():  # create_graph: a differentiable gradient
            dx = (flat_d @ w).view(x.shape) if need_x else None
            dw = flat_d.t() @ flat_x if need_w else None
            db = flat_d.sum(0) if need_b and ctx.has_b else None
            return dx, dw, db
        dx, dw, db = _build.load().narrow_project_backward(flat_d, flat_x, w, need_x)
        return (dx.view(x.shape) if need_x else None, dw if need_w else None,
                db if need_b and ctx.has_b else None)


def narrow_project(x: Tensor, w: Tensor, b: Tensor | None = None, *, eager: bool = True) -> Tensor:
    """``x W^T (+ b)`` over the last dimension of ``x`` (T, B, I): the one-pass kernels
    where the input is narrow, float32 or float64 on the CPU and ``eager`` (no tool
    records the forward), else :func:`~lstmkit.backends.base.project`."""
    if (not eager or w.shape[1] > KERNEL_INPUT or x.device.type != "cpu" or x.dim() < 2
            or x.dtype not in (torch.float32, torch.float64) or w.dtype != x.dtype
            or (b is not None and b.dtype != x.dtype)):
        return project(x, w, b)
    return _NarrowProjection.apply(x, w, b)
