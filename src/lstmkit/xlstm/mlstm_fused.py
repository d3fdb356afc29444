r"""The mLSTM's chunkwise form with every chunk at once: batched matmuls, linear in T.

The same recurrence and stabiliser as :mod:`lstmkit.xlstm.mlstm_math` (whose
``chunkwise`` runs the parallel form one chunk after another). Here the T steps are cut
into NC = ceil(T / L) chunks of L = ``chunk_size`` steps (the last padded with steps that
add nothing: ĩ = -inf, log f = 0) and

1. each chunk's contribution to the memory at its end is one batched matmul over all
   chunks: ``kv_c = sum_j exp(a_j - g_c) k_j v_j^T`` with ``a_j = F_L - F_j + ĩ_j`` (F the
   cumulative log forget gate within the chunk) and ``g_c = max_j a_j``;
2. the state at each chunk's start follows from a recurrence over the NC chunks only
   (``m' = max(F_L + m, g_c)``, ``C' = exp(F_L + m - m') C + exp(g_c - m') kv_c``);
3. every step's output is the parallel form inside its chunk plus the carried state's
   term, for a group of chunks in one batched matmul of (L, L) blocks (groups of about
   2^20 numbers, so the temporaries stay in cache at long T).

The stabiliser m_t is the reference's (the largest log weight over all earlier steps and
the initial state), so the outputs, states and gradients are the reference's up to
rounding. Plain torch operations: it runs on every device and dtype, under
``torch.compile``, ``torch.export``, ``torch.jit.trace`` and ``torch.func``, and
differentiates twice. (``torch.onnx.export(dynamo=False)`` writes a graph onnxruntime
rejects for more than one chunk, so ``backend="auto"`` runs the reference there.) Cost O(T L d + T d^2) per head.

Shapes: q, k, v (B, NH, T, d); log_i, log_f (B, NH, T); state (C (B, NH, d, d),
n (B, NH, d), m (B, NH)); output (B, NH, T, d).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from lstmkit.xlstm.mlstm_math import EPS, State, zero_state

#: the chunk length used when none is given: at B=8, T=256 on one CPU thread the fastest of
#: 32, 64 and 128 with d=64 and as fast as 32 with d=32; for T >= 1024 with d=32, 32 measured
#: faster (benchmarks/xlstm_speed.py --chunks 32,64,128)
DEFAULT_CHUNK = 64


def padded_chunks(q: Tensor, k: Tensor, v: Tensor, log_i: Tensor, log_f: Tensor, chunk_size: int):
    """The inputs of the chunkwise form padded to whole chunks, k scaled by 1/sqrt(d).

    Padded steps get no input (log i = -inf) and no decay (log f = 0), so they leave the
    state as it is.

    Args:
        q, k, v: (B, NH, T, d).
        log_i, log_f: (B, NH, T).
        chunk_size: steps per chunk (at most T are used).

    Returns:
        (q, k, v (B, NH, NC*L, d), log_i, log_f (B, NH, NC*L), L the chunk length, NC the
        number of chunks).
    """
    T, d = q.shape[-2:]
    L = min(int(chunk_size), T)
    NC = -(-T // L)
    pad = NC * L - T
    k = k / math.sqrt(d)
    if pad:
        q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
        log_i = F.pad(log_i, (0, pad), value=float("-inf"))
        log_f = F.pad(log_f, (0, pad))
    return q, k, v, log_i, log_f, L, NC


def chunkwise(q: Tensor, k: Tensor, v: Tensor, log_i: Tensor, log_f: Tensor,
              state: State | None = None, chunk_size: int = DEFAULT_CHUNK,
              eps: float = EPS) -> tuple[Tensor, State]:
    """The mLSTM over T steps, chunkwise with all chunks batched.

    Args:
        q, k, v: (B, NH, T, d); k unscaled (scaled by 1/sqrt(d) here).
        log_i: (B, NH, T) log input gate ĩ.
        log_f: (B, NH, T) log forget gate.
        state: (C (B, NH, d, d), n (B, NH, d), m (B, NH)), zeros when None.
        chunk_size: L, steps per chunk (T itself when larger than T: the parallel form).
        eps: added to the normaliser's denominator.

    Returns:
        (h̃ (B, NH, T, d), final state (C, n, m)).
    """
    state = zero_state(q) if state is None else state
    C, n, m = state
    B, NH, T, d = q.shape
    q, k, v, log_i, log_f, L, NC = padded_chunks(q, k, v, log_i, log_f, chunk_size)
    q, k, v = (t.reshape(B, NH, NC, L, d) for t in (q, k, v))
    log_i, log_f = log_i.reshape(B, NH, NC, L), log_f.reshape(B, NH, NC, L)

    Fc = torch.cumsum(log_f, dim=-1)                              # (B, NH, NC, L)
    Fl = Fc[..., -1]                                              # (B, NH, NC)
    # 1. each chunk's memory at its end, stabilised by its own largest log weight g
    a = Fl[..., None] - Fc + log_i
    g = a.amax(-1)                                                # -inf: a chunk with no input
    g_safe = torch.where(torch.isinf(g), torch.zeros_like(g), g)
    wk = k * torch.exp(a - g_safe[..., None])[..., None]         # (B, NH, NC, L, d)
    kv = wk.transpose(-1, -2) @ v                                 # (B, NH, NC, d, d)
    ks = wk.sum(-2)                                               # (B, NH, NC, d)
    # 2. the state at each chunk's start: a recurrence over the chunks (unbind, not
    # indexing: the backward of NC index operations would fill NC full-size gradients)
    starts_C, starts_n, starts_m = [], [], []
    for Fl_c, g_c, gs_c, kv_c, ks_c in zip(*(t.unbind(2) for t in (Fl, g, g_safe, kv, ks))):
        starts_C.append(C)
        starts_n.append(n)
        starts_m.append(m)
        decay = Fl_c + m
        m_new = torch.maximum(decay, g_c)
        wf, wi = torch.exp(decay - m_new), torch.exp(gs_c - m_new)
        C = wf[..., None, None] * C + wi[..., None, None] * kv_c
        n = wf[..., None] * n + wi[..., None] * ks_c
        m = m_new
    C0, n0, m0 = (torch.stack(s, dim=2) for s in (starts_C, starts_n, starts_m))
    # 3. the outputs: the parallel form inside each chunk plus the carried state, a group
    # of chunks at a time so the (L x L) temporaries stay about 1M numbers (in cache)
    causal = torch.ones(L, L, dtype=torch.bool, device=q.device).tril()
    group = max(1, _GROUP_ELEMENTS // (B * NH * L * L))
    groups = zip(*(t.split(group, dim=2) for t in (q, k, v, Fc, log_i, C0, n0, m0)))
    parts = [_outputs(*g, causal, eps) for g in groups]
    h = (parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)).reshape(B, NH, NC * L, d)
    if NC * L != T:  # drop the padding
        h = h[:, :, :T]
    return h, (C, n, m)


#: the (L x L) temporaries of step 3 are made for this many numbers at a time
_GROUP_ELEMENTS = 1 << 20


def _outputs(q, k, v, Fc, log_i, C0, n0, m0, causal, eps):
    """Step 3 for a group of chunks: q, k, v (B, NH, G, L, d), Fc, log_i (B, NH, G, L),
    the chunk-start states C0 (B, NH, G, d, d), n0 (B, NH, G, d), m0 (B, NH, G)."""
    log_d = torch.where(causal, Fc[..., :, None] - Fc[..., None, :] + log_i[..., None, :],
                        float("-inf"))                            # (B, NH, G, L, L)
    log_0 = Fc + m0[..., None]                                    # (B, NH, G, L)
    m_t = torch.maximum(log_0, log_d.amax(-1))
    D = torch.exp(log_d - m_t[..., None])
    w0 = torch.exp(log_0 - m_t)
    S = (q @ k.transpose(-1, -2)) * D
    num = S @ v + w0[..., None] * (q @ C0)
    qn = S.sum(-1) + w0 * (q * n0[..., None, :]).sum(-1)
    den = torch.maximum(qn.abs(), torch.exp(-m_t)) + eps
    return num / den[..., None]
