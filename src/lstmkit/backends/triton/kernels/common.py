"""Triton helpers shared by the forward and backward recurrence kernels.

Legend: T time, B batch, H hidden, NG gates (4 LSTM, 3 coupled LSTM and GRU), G = NG*H.
A program owns BB batch rows (``rb``) and HT hidden units (``uu``) of every gate; HP is
H rounded up to a power of two (the contraction length of the recurrent matmul) and NHT
the number of hidden tiles that cooperate on one batch tile. Everything pointwise runs in
float32; matmul operands are in the weights' dtype with float32 accumulation.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def sigmoid(x):
    """The logistic function of a Triton block, elementwise."""
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def tanh(x):
    """tanh of a Triton block, elementwise, without libdevice."""
    # the sign-split form is exact near 0 and never overflows (no libdevice in the interpreter)
    e = tl.exp(-2.0 * tl.abs(x))
    y = (1.0 - e) / (1.0 + e)
    return tl.where(x < 0, -y, y)


@triton.jit
def mm(a, w, USE_DOT: tl.constexpr, DOT_F32: tl.constexpr, PREC: tl.constexpr):
    """(BB, K) x (K, N) -> (BB, N) float32. ``a`` and ``w`` share the weights' dtype.

    USE_DOT: tensor cores (every side >= 16); else a broadcast multiply and reduction,
    for tiles too small for tl.dot. DOT_F32: upcast first (the interpreter has no bf16
    matmul; bf16 values are exact in float32, so only the summation order changes)."""
    if USE_DOT:
        if DOT_F32:
            return tl.dot(a.to(tl.float32), w.to(tl.float32), input_precision="ieee")
        return tl.dot(a, w, input_precision=PREC, out_dtype=tl.float32)
    return tl.sum(a.to(tl.float32)[:, :, None] * w.to(tl.float32)[None, :, :], axis=1)


@triton.jit
def w_tile_fwd(w, k, ht, H, HP: tl.constexpr, HT: tl.constexpr):
    """(HP, HT) tile [j, u] = W_hh[k*H + u, j] for this program's units u: the columns of
    W_hh^T that produce gate k of units u from h_{t-1}."""
    j = tl.arange(0, HP)
    u = ht * HT + tl.arange(0, HT)
    m = (j[:, None] < H) & (u[None, :] < H)
    return tl.load(w + (k * H + u[None, :]) * H + j[:, None], mask=m, other=0.0)


@triton.jit
def w_tile_bwd(w, k, ht, H, HP: tl.constexpr, HT: tl.constexpr):
    """(HP, HT) tile [j, u] = W_hh[k*H + j, u]: what gate k's gradients send to dh_{t-1} of
    this program's units u."""
    j = tl.arange(0, HP)
    u = ht * HT + tl.arange(0, HT)
    m = (j[:, None] < H) & (u[None, :] < H)
    return tl.load(w + (k * H + j[:, None]) * H + u[None, :], mask=m, other=0.0)


@triton.jit
def vec(p, k, ht, H, HT: tl.constexpr):
    """(1, HT) float32 slice [k*H + u] of a per-gate (G,) or per-unit (H,) vector."""
    u = ht * HT + tl.arange(0, HT)
    return tl.load(p + k * H + u, mask=u < H, other=0.0).to(tl.float32)[None, :]


@triton.jit
def vec4(p, ht, H, HT: tl.constexpr, NG: tl.constexpr):
    """The (1, HT) slices of every gate of a (G,) vector (the fourth repeats the third
    when NG == 3)."""
    u = ht * HT + tl.arange(0, HT)
    m = u < H
    v0 = tl.load(p + u, mask=m, other=0.0).to(tl.float32)[None, :]
    v1 = tl.load(p + H + u, mask=m, other=0.0).to(tl.float32)[None, :]
    v2 = tl.load(p + 2 * H + u, mask=m, other=0.0).to(tl.float32)[None, :]
    v3 = v2
    if NG == 4:
        v3 = tl.load(p + 3 * H + u, mask=m, other=0.0).to(tl.float32)[None, :]
    return v0, v1, v2, v3


@triton.jit
def barrier(cnt, target, SYNC: tl.constexpr):
    """Wait until every program of this batch tile has arrived (``target`` = arrivals
    expected so far on the counter ``cnt``). The programs of a grid that syncs must all be
    resident at once (the launcher caps the grid at the SM count). The CTA barrier before
    the release makes every thread's stores visible first (the cooperative-groups grid
    sync pattern); readers load with cache_modifier=".cg" (L1 is not coherent)."""
    if SYNC:
        tl.debug_barrier()
        tl.atomic_add(cnt, 1, sem="release", scope="gpu")
        while tl.atomic_add(cnt, 0, sem="acquire", scope="gpu") < target:
            pass
        tl.debug_barrier()


@triton.jit
def local_mean_m2(x, umask, n):
    """Per-row mean and sum of squared deviations of (BB, HT) ``x`` over the real units
    (``umask``), ``n`` of them: (BB,), (BB,)."""
    mean = tl.sum(tl.where(umask, x, 0.0), 1) / n
    d = tl.where(umask, x - mean[:, None], 0.0)
    return mean, tl.sum(d * d, 1)


@triton.jit
def combine_mean_m2(
    st, rb, rmask, H, NG: tl.constexpr, HT: tl.constexpr, NHT: tl.constexpr, NHTP: tl.constexpr
):
    """Merge per-tile (mean, M2) pairs st[rb, tile, 0:2] (Chan et al.'s parallel variance)
    into each row's (mean, variance) over NG*H values: (BB,), (BB,)."""
    i = tl.arange(0, NHTP)
    m = rmask[:, None] & (i[None, :] < NHT)
    base = st + rb[:, None] * (NHT * 2) + i[None, :] * 2
    mean_i = tl.load(base, mask=m, other=0.0, cache_modifier=".cg")
    m2_i = tl.load(base + 1, mask=m, other=0.0, cache_modifier=".cg")
    n_i = tl.where(i < NHT, NG * tl.minimum(H - i * HT, HT), 0).to(tl.float32)[None, :]
    n = (NG * H) * 1.0
    mean = tl.sum(n_i * mean_i, 1) / n
    dev = mean_i - mean[:, None]
    m2 = tl.sum(m2_i + n_i * dev * dev, 1)
    return mean, m2 / n


@triton.jit
def sum_pairs(st, rb, rmask, NHT: tl.constexpr, NHTP: tl.constexpr):
    """Sum per-tile pairs st[rb, tile, 0:2] over the tiles: (BB,), (BB,)."""
    i = tl.arange(0, NHTP)
    m = rmask[:, None] & (i[None, :] < NHT)
    base = st + rb[:, None] * (NHT * 2) + i[None, :] * 2
    a = tl.sum(tl.load(base, mask=m, other=0.0, cache_modifier=".cg"), 1)
    b = tl.sum(tl.load(base + 1, mask=m, other=0.0, cache_modifier=".cg"), 1)
    return a, b


@triton.jit
def store_pair(st, rb, rmask, ht, a, b, NHT: tl.constexpr):
    """st[rb, ht, 0:2] = (a, b) for this program's rows."""
    base = st + rb * (NHT * 2) + ht * 2
    tl.store(base, a, mask=rmask)
    tl.store(base + 1, b, mask=rmask)
