r"""The mLSTM's matrix-memory recurrence in three forms that give the same numbers.

Beck et al. 2024, "xLSTM: Extended Long Short-Term Memory" (arXiv:2405.04517), section 2.3
and appendix A.3. Per head, with key k_t already scaled by 1/sqrt(d), log input gate
\tilde i_t (the input gate is exp(\tilde i_t)) and log forget gate \log f_t
(logsigmoid of the pre-activation, or the pre-activation itself for an exponential gate)::

    m_t = max(log f_t + m_{t-1}, \tilde i_t)                 stabiliser
    f'_t = exp(log f_t + m_{t-1} - m_t),  i'_t = exp(\tilde i_t - m_t)
    C_t = f'_t C_{t-1} + i'_t k_t v_t^T                      (d x d matrix memory)
    n_t = f'_t n_{t-1} + i'_t k_t                            (normaliser)
    \tilde h_t = C_t^T q_t / (max(|n_t^T q_t|, exp(-m_t)) + eps)

The stabilised C_t, n_t are the paper's unstabilised memory times exp(-m_t), so the
output is the paper's C q / max(|n^T q|, 1). Unrolled, m_t is the largest of the log
weights ``F_t - F_j + \tilde i_j`` (j <= t, F the cumulative log forget gate) and
``F_t + m_0`` (the carried state), which is what the parallel form computes:

- :func:`recurrent`: one step at a time (T steps, d x d memory per step).
- :func:`parallel`: the (T x T) stabilised log-gate matrix, quadratic in T.
- :func:`chunkwise`: the parallel form inside chunks of ``chunk_size`` steps and the
  recurrence across chunks, linear in T.

Shapes: q, k, v (B, NH, T, d); log_i, log_f (B, NH, T); state (C (B, NH, d, d),
n (B, NH, d), m (B, NH)); output (B, NH, T, d). A zero state is C = 0, n = 0, m = 0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

EPS = 1e-6

State = tuple[Tensor, Tensor, Tensor]


def zero_state(q: Tensor) -> State:
    """The empty memory: C = 0 (B, NH, d, d), n = 0 (B, NH, d), m = 0 (B, NH), of
    ``q``'s (B, NH, T, d) dtype and device."""
    B, NH, _, d = q.shape
    z = q.new_zeros
    return z(B, NH, d, d), z(B, NH, d), z(B, NH)


def step(q: Tensor, k: Tensor, v: Tensor, log_i: Tensor, log_f: Tensor, state: State,
         eps: float = EPS) -> tuple[Tensor, State]:
    """One step of the recurrence.

    Args:
        q, k, v: (B, NH, d); k unscaled (scaled by 1/sqrt(d) here).
        log_i, log_f: (B, NH), the log input and log forget gates.
        state: (C (B, NH, d, d), n (B, NH, d), m (B, NH)).
        eps: added to the normaliser's denominator.

    Returns:
        (h̃ (B, NH, d), the new state).
    """
    C, n, m = state
    k = k / math.sqrt(k.shape[-1])
    m_new = torch.maximum(log_f + m, log_i)
    fw = torch.exp(log_f + m - m_new)[..., None]
    iw = torch.exp(log_i - m_new)[..., None]
    C = fw[..., None] * C + (iw * k)[..., :, None] * v[..., None, :]
    n = fw * n + iw * k
    num = (q[..., None, :] @ C).squeeze(-2)
    qn = (q * n).sum(-1, keepdim=True)
    den = torch.maximum(qn.abs(), torch.exp(-m_new)[..., None]) + eps
    return num / den, (C, n, m_new)


def recurrent(q, k, v, log_i, log_f, state: State | None = None,
              eps: float = EPS) -> tuple[Tensor, State]:
    """The recurrent form: :func:`step` over the time axis.

    Args:
        q, k, v: (B, NH, T, d); k unscaled.
        log_i, log_f: (B, NH, T).
        state: (C, n, m) as in :func:`step`, zeros when None.
        eps: added to the normaliser's denominator.

    Returns:
        (h̃ (B, NH, T, d), the final state).
    """
    state = zero_state(q) if state is None else state
    out = []
    for qt, kt, vt, it, ft in zip(*(x.unbind(2) for x in (q, k, v, log_i, log_f))):
        h, state = step(qt, kt, vt, it, ft, state, eps)
        out.append(h)
    return torch.stack(out, dim=2), state


def _block(q, k, v, log_i, log_f, state: State, eps: float) -> tuple[Tensor, State]:
    """The parallel form over the L steps given, starting from ``state``."""
    C, n, m = state
    L = q.shape[2]
    k = k / math.sqrt(k.shape[-1])
    F = torch.cumsum(log_f, dim=-1)                                    # (B, NH, L)
    causal = torch.ones(L, L, dtype=torch.bool, device=q.device).tril()
    log_d = torch.where(causal, F[..., :, None] - F[..., None, :] + log_i[..., None, :],
                        float("-inf"))                                 # (B, NH, L, L)
    log_0 = F + m[..., None]                                           # weight of the state
    m_t = torch.maximum(log_0, log_d.amax(-1))                         # (B, NH, L)
    D = torch.exp(log_d - m_t[..., None])
    w0 = torch.exp(log_0 - m_t)
    S = (q @ k.transpose(-1, -2)) * D
    num = S @ v + w0[..., None] * (q @ C)
    qn = S.sum(-1) + w0 * (q * n[..., None, :]).sum(-1)
    den = torch.maximum(qn.abs(), torch.exp(-m_t)) + eps
    h = num / den[..., None]
    d_last, w_last = D[..., -1, :], w0[..., -1]
    C = w_last[..., None, None] * C + (k * d_last[..., None]).transpose(-1, -2) @ v
    n = w_last[..., None] * n + (k * d_last[..., None]).sum(-2)
    return h, (C, n, m_t[..., -1])


def parallel(q, k, v, log_i, log_f, state: State | None = None,
             eps: float = EPS) -> tuple[Tensor, State]:
    """The parallel form: one (T x T) log-gate matrix, quadratic in T.

    Args and returns as :func:`recurrent`.
    """
    state = zero_state(q) if state is None else state
    return _block(q, k, v, log_i, log_f, state, eps)


def chunkwise(q, k, v, log_i, log_f, state: State | None = None, chunk_size: int = 64,
              eps: float = EPS) -> tuple[Tensor, State]:
    """The chunkwise form: the parallel form within chunks of ``chunk_size`` steps (the last
    may be shorter), the state carried between them; linear in T.

    Args and returns as :func:`recurrent`, with ``chunk_size`` the steps per chunk.
    (:func:`lstmkit.xlstm.mlstm_fused.chunkwise` computes the same with all chunks batched.)
    """
    state = zero_state(q) if state is None else state
    out = []
    # split, not slicing: the backward of each slice would fill a full-size gradient
    chunks = zip(*(t.split(chunk_size, dim=2) for t in (q, k, v, log_i, log_f)))
    for qc, kc, vc, ic, fc in chunks:
        h, state = _block(qc, kc, vc, ic, fc, state, eps)
        out.append(h)
    return torch.cat(out, dim=2), state


FORMS = {"parallel": parallel, "chunkwise": chunkwise, "recurrent": recurrent}
