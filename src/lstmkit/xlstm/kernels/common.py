"""Small device functions shared by the sLSTM and mLSTM kernels."""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def sigmoid(x):
    """1 / (1 + exp(-x)), elementwise."""
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def tanh(x):
    """tanh in the sign-split form: exact near 0, never overflows (the interpreter has no
    libdevice)."""
    e = tl.exp(-2.0 * tl.abs(x))
    y = (1.0 - e) / (1.0 + e)
    return tl.where(x < 0, -y, y)


@triton.jit
def logsigmoid(x):
    """log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|)), elementwise, without overflow."""
    return tl.minimum(x, 0.0) - tl.log(1.0 + tl.exp(-tl.abs(x)))


@triton.jit
def mm(a, b, USE_DOT: tl.constexpr):
    """(M, K) x (K, N) -> (M, N) : tl.dot (float32 operands, exact: no TF32)
    where every side is at least 16, else a broadcast multiply and reduction."""
    if USE_DOT:
        return tl.dot(a, b, input_precision="ieee", out_dtype=tl.float32)
    return tl.sum(a[:, :, None] * b[None, :, :], axis=1)
