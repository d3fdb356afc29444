r"""The mLSTM's chunkwise form with every chunk at once: batched matmuls, linear in T.

The same recurrence and stabiliser as :mod:`lstmkit.xlstm.mlstm_math` (whose
``chunkwise`` runs the parallel form one chunk after another). Here the T steps are cut
into NC = ceil(T / L) chunks of L = ``chunk_size`` steps (the last padded with steps that
add nothing: ĩ = -inf, log f = 0) and

1. each chunk's contribution to the memory at its end is one batched matmul over all
   chunks: ``kv_c = sum_j exp(a_j - g_c) k_j v_j^T`` with ``a_j = F_L - F_j + ĩ_j`` (F the
   cumulative log forget gate within the chunk) and ``g_c = max_j a_j``;
2. the state at each chunk's start follows from the recurrence over the NC chunks
   (``m' = max(F_L + m, g_c)``, ``C' = exp(F_L + m - m') C + exp(g_c - m') kv_c``),
   unrolled: one batched matmul with an (NC + 1, NC) triangular weight matrix whose
   stabilisers are running maxima (``_chunk_starts``), no loop over chunks;
3. every step's output is the parallel form inside its chunk plus the carried state's
   term, for a group of chunks in one batched matmul of (L, L) blocks (groups of about
   2^20 numbers, so the temporaries stay in cache at long T); the stabiliser of row i is
   a running maximum too, and the keys' 1/sqrt(d) is a log weight, not a pass over k.
   Its backward is written out (:class:`_ChunkOutputs`), the stabilisers' gradient left to
   autograd.

The stabiliser m_t is the reference's (the largest log weight over all earlier steps and
the initial state), so the outputs, states and gradients are the reference's up to
rounding. Torch operations only: it runs on every device and dtype, under
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


def padded_chunks(q: Tensor, k: Tensor, v: Tensor, log_i: Tensor, log_f: Tensor, chunk_size: int,
                  scale_k: bool = True):
    """The inputs of the chunkwise form padded to whole chunks, k scaled by 1/sqrt(d)
    (unless ``scale_k`` is False).

    Padded steps get no input (log i = -inf) and no decay (log f = 0), so they leave the
    state as it is.

    Args:
        q, k, v: (B, NH, T, d).
        log_i, log_f: (B, NH, T).
        chunk_size: steps per chunk (at most T are used).
        scale_k: divide k by sqrt(d) (False: the caller folds the scale in elsewhere).

    Returns:
        (q, k, v (B, NH, NC*L, d), log_i, log_f (B, NH, NC*L), L the chunk length, NC the
        number of chunks).
    """
    T, d = q.shape[-2:]
    L = min(int(chunk_size), T)
    NC = -(-T // L)
    pad = NC * L - T
    if scale_k:
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
    fresh = state is None  # a zero state adds nothing to the chunk starts
    state = zero_state(q) if state is None else state
    C, n, m = state
    B, NH, T, d = q.shape
    q, k, v, log_i, log_f, L, NC = padded_chunks(q, k, v, log_i, log_f, chunk_size,
                                                 scale_k=False)
    # contiguous once: every batched matmul below would copy a strided (B, NH) layout again
    q, k, v = (t.contiguous().view(B, NH, NC, L, d) for t in (q, k, v))
    log_i, log_f = log_i.reshape(B, NH, NC, L), log_f.reshape(B, NH, NC, L)
    # the keys' 1/sqrt(d) enters as a log weight (not a pass over k); the stabilisers, and
    # so the state's m, stay those of the unscaled weights, the reference's
    log_scale = -0.5 * math.log(d)

    Fc = torch.cumsum(log_f, dim=-1)                              # (B, NH, NC, L)
    Fl = Fc[..., -1]                                              # (B, NH, NC)
    # 1. each chunk's memory at its end, stabilised by its own largest log weight g
    a = Fl[..., None] - Fc + log_i
    g = a.amax(-1)                                                # -inf: a chunk with no input
    g_safe = torch.where(torch.isinf(g), torch.zeros_like(g), g)
    wk = k * torch.exp(a - g_safe[..., None] + log_scale)[..., None]  # (B, NH, NC, L, d)
    kv = wk.transpose(-1, -2) @ v                                 # (B, NH, NC, d, d)
    ks = wk.sum(-2)                                               # (B, NH, NC, d)
    # 2. the state at every chunk's start and at the end, all at once
    (C0, n0, m0), (C, n, m) = _chunk_starts(C, n, m, Fl, g, kv, ks, fresh)
    # 3. the outputs: the parallel form inside each chunk plus the carried state, a group
    # of chunks at a time so the (L x L) temporaries stay about 1M numbers (in cache)
    causal = torch.ones(L, L, dtype=torch.bool, device=q.device).tril()
    group = max(1, _GROUP_ELEMENTS // (B * NH * L * L))
    args = (q, k, v, Fc, log_i, C0, n0, m0)
    if group >= NC:  # one group: no split (whose backward would copy every gradient again)
        parts = [_outputs(*args, causal, eps, log_scale)]
    else:
        parts = [_outputs(*g, causal, eps, log_scale)
                 for g in zip(*(t.split(group, dim=2) for t in args))]
    h = (parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)).reshape(B, NH, NC * L, d)
    if NC * L != T:  # drop the padding
        h = h[:, :, :T]
    return h, (C, n, m)


def _chunk_starts(C: Tensor, n: Tensor, m: Tensor, Fl: Tensor, g: Tensor, kv: Tensor,
                  ks: Tensor, fresh: bool = False) -> tuple[tuple, tuple]:
    """The state at the start of each of the NC chunks and after the last, in closed form.

    The recurrence over chunks ``m' = max(Fl_c + m, g_c)``,
    ``C' = exp(Fl_c + m - m') C + exp(g_c - m') kv_c`` unrolls with S_c the sum of
    ``Fl`` over the chunks before c to ``m_c = S_c + X_c``,
    ``X_c = max(m, max_{c' < c} (g_c' - S_{c'+1}))`` (a running maximum) and
    ``C_c = exp(m - X_c) C + sum_{c' < c} exp(g_c' - S_{c'+1} - X_c) kv_c'``: one batched
    matmul with an (NC + 1, NC) lower-triangular weight matrix, every exponent at most 0.
    The chunk-level sums and differences run in float64 (they are B * NH * NC numbers), so
    a long sequence's large cumulative log forget gates lose no precision.

    Args:
        C, n, m: the state before the first chunk, (B, NH, d, d), (B, NH, d), (B, NH).
        Fl: (B, NH, NC) each chunk's total log forget gate.
        g: (B, NH, NC) each chunk's largest log input weight (-inf: no input).
        kv, ks: (B, NH, NC, d, d), (B, NH, NC, d) each chunk's memory and normaliser
            contribution, stabilised by ``g`` (by 0 where g is -inf).
        fresh: the state before the first chunk is zero (its terms are left out).

    Returns:
        ((C0 (B, NH, NC, d, d), n0 (B, NH, NC, d), m0 (B, NH, NC)) at the chunks' starts,
        (C, n, m) after the last chunk).
    """
    B, NH, NC = Fl.shape
    wide = torch.float64 if Fl.device.type in ("cpu", "cuda") else Fl.dtype
    S = F.pad(torch.cumsum(Fl.to(wide), dim=-1), (1, 0))        # (B, NH, NC+1): S_0 = 0
    b = g.to(wide) - S[..., 1:]                                   # (B, NH, NC)
    X = torch.maximum(m.to(wide)[..., None],
                      F.pad(torch.cummax(b, dim=-1).values, (1, 0), value=float("-inf")))
    strict = torch.ones(NC + 1, NC, dtype=torch.bool, device=Fl.device).tril(-1)
    W = torch.exp(torch.where(strict, b[..., None, :] - X[..., :, None],
                              float("-inf"))).to(kv.dtype)        # (B, NH, NC+1, NC)
    w_init = torch.exp(m.to(wide)[..., None] - X).to(kv.dtype)   # (B, NH, NC+1)
    d = kv.shape[-1]
    flat = kv.reshape(B, NH, NC, d * d)
    m_all = (S + X).to(m.dtype)                                   # (B, NH, NC+1)
    out = []
    for rows in (slice(0, NC), slice(NC, NC + 1)):  # the starts, then the end: no copy of a part
        Cr = (W[..., rows, :] @ flat).view(B, NH, -1, d, d)
        nr = W[..., rows, :] @ ks
        if not fresh:
            Cr = Cr + w_init[..., rows, None, None] * C[:, :, None]
            nr = nr + w_init[..., rows, None] * n[:, :, None]
        out.append((Cr, nr, m_all[..., rows]))
    (C0, n0, m0), (Ce, ne, me) = out
    return (C0, n0, m0), (Ce.squeeze(2), ne.squeeze(2), me.squeeze(2))


#: the (L x L) temporaries of step 3 are made for this many numbers at a time
_GROUP_ELEMENTS = 1 << 20


def _outputs(q, k, v, Fc, log_i, C0, n0, m0, causal, eps, log_scale=0.0):
    """Step 3 for a group of chunks: q, k, v (B, NH, G, L, d), Fc, log_i (B, NH, G, L),
    the chunk-start states C0 (B, NH, G, d, d), n0 (B, NH, G, d), m0 (B, NH, G).

    The log weight of step j <= i in output i is ``Fc_i - Fc_j + ĩ_j``, of the carried
    state ``Fc_i + m0``; their maximum m_i is ``Fc_i + M_i`` with
    ``M_i = max(m0, max_{j <= i} (ĩ_j - Fc_j))``, a running maximum (O(L), not the O(L^2)
    maximum over the weight matrix). Every weight is then ``exp(b_j - M_i)`` with
    ``b = ĩ - Fc``, an exponent at most 0; ``log_scale`` (the keys' -log sqrt(d) when k
    comes unscaled) is added to the steps' log weights, not to the stabiliser.

    The stabiliser is found here (its gradient, through the running maximum, by autograd);
    the rest is :class:`_ChunkOutputs`, whose backward is written out.
    """
    b = log_i - Fc                                                # (B, NH, G, L)
    M = torch.maximum(m0[..., None], torch.cummax(b, dim=-1).values)
    args = (q, k, v, b, M, Fc, C0, n0, m0, causal, eps, log_scale)
    if torch.jit.is_tracing() or not torch.is_grad_enabled():  # a trace records plain ops
        return _parts(*args)[0]
    return _ChunkOutputs.apply(*args)[0]


def _parts(q, k, v, b, M, Fc, C0, n0, m0, causal, eps, log_scale):
    """The outputs h and what their gradient reads: (h, D, S, qC, qn0, qn, den, e, w0)."""
    # in place on the fresh difference: one (L x L) buffer, not three
    D = ((b + log_scale)[..., None, :] - M[..., :, None]).masked_fill_(
        ~causal, float("-inf")).exp_()                             # (B, NH, G, L, L)
    w0 = torch.exp(m0[..., None] - M)                             # (B, NH, G, L)
    # in place where nothing records a graph (the Function's forward): fewer fresh buffers
    graph = torch.is_grad_enabled()
    QK = q @ k.transpose(-1, -2)
    S = QK * D if graph else QK.mul_(D)
    qC = q @ C0
    qn0 = (q @ n0[..., None]).squeeze(-1)
    Sv = S @ v
    num = torch.addcmul(Sv, w0[..., None], qC) if graph else Sv.addcmul_(w0[..., None], qC)
    qn = torch.addcmul(S.sum(-1), w0, qn0)
    e = torch.exp(-(Fc + M))
    den = torch.maximum(qn.abs(), e) + eps
    scale = (1.0 / den)[..., None]
    return num * scale if graph else num.mul_(scale), D, S, qC, qn0, qn, den, e, w0


class _ChunkOutputs(torch.autograd.Function):
    r"""The outputs of a group of chunks given the stabilisers M, with the gradient written
    out: the (L x L) weights are saved from the forward, and the backward makes three
    passes over them (``dS * D``, ``dS * S`` and its column sums) where autograd makes about
    nine; the matrix products are the same.

    With h = num / den, ``num = S v + w0 qC``, ``qn = S 1 + w0 qn0``,
    ``den = max(|qn|, e) + eps``, ``S = (q k^T) * D``, ``D_ij = exp(b_j + s - M_i)`` (j <= i),
    ``w0 = exp(m0 - M)``, ``e = exp(-(Fc + M))`` and ``γ_i = Σ_d dh_i h_i``:
    ``dnum = dh / den``, ``dden = -γ / den``, ``dqn`` and ``de`` the parts of dden through
    the larger of ``|qn|`` and ``e``; ``dS = dnum v^T + dqn 1^T``; ``dv = S^T dnum``;
    ``dq = (dS * D) k + w0 (dnum C0^T + dqn n0^T)``; ``dk = (dS * D)^T q``;
    ``dC0 = q^T (w0 dnum)``, ``dn0 = q^T (w0 dqn)``; with ``P = dS * S`` (the gradient of the
    log weights): ``db_j = Σ_i P_ij``, ``dM_i = -Σ_j P_ij - w0_i dw0_i - e_i de_i``,
    ``dm0 = Σ_i w0_i dw0_i`` (``dw0 = Σ_d dnum qC + dqn qn0``), ``dFc = -e de``.

    Under ``create_graph`` the backward recomputes what it reads from the inputs, so the
    gradient is itself differentiable (gradgradcheck in the tests).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(q, k, v, b, M, Fc, C0, n0, m0, causal, eps, log_scale):
        return _parts(q, k, v, b, M, Fc, C0, n0, m0, causal, eps, log_scale)

    @staticmethod
    def setup_context(ctx, inputs, output):
        q, k, v, b, M, Fc, C0, n0, m0, causal, eps, log_scale = inputs
        ctx.mark_non_differentiable(*output[1:])
        ctx.set_materialize_grads(False)  # no zero (L x L) gradients for the saved parts
        ctx.save_for_backward(q, k, v, b, M, Fc, C0, n0, m0, causal, *output)
        ctx.eps, ctx.log_scale = eps, log_scale

    @staticmethod
    def backward(ctx, dh, *_):
        if dh is None:  # h itself received no gradient
            return (None,) * 12
        q, k, v, b, M, Fc, C0, n0, m0, causal, *saved = ctx.saved_tensors
        if torch.is_grad_enabled():  # a gradient of the gradient: read the inputs' graph
            saved = _parts(q, k, v, b, M, Fc, C0, n0, m0, causal, ctx.eps, ctx.log_scale)
        h, D, S, qC, qn0, qn, den, e, w0 = saved
        gamma = (dh * h).sum(-1)
        dnum = dh / den[..., None]
        dden = -gamma / den
        on_qn = qn.abs() > e
        dqn = torch.where(on_qn, dden * torch.sign(qn), 0.0)
        de = torch.where(on_qn, 0.0, dden)
        dS = torch.baddbmm(dqn.flatten(0, -2)[..., None], _flat(dnum), _flat(v).transpose(1, 2))
        dS = dS.view(S.shape)
        dw0 = (dnum * qC).sum(-1) + dqn * qn0
        dqC = w0[..., None] * dnum
        dqn0 = w0 * dqn
        P = dS * S
        dP = dS * D if torch.is_grad_enabled() else dS.mul_(D)  # dS is read no more
        need = ctx.needs_input_grad
        dq = dk = dv = db = dM = dFc = dC0 = dn0 = dm0 = None
        # batched matmuls on the (N, ., .) views: a transposed 5-d operand would be copied
        if need[0]:
            dq = dqn0[..., None] * n0[..., None, :]
            flat = _flat(dq)
            flat.baddbmm_(_flat(dqC), _flat(C0).transpose(1, 2)).baddbmm_(_flat(dP), _flat(k))
        if need[1]:
            dk = torch.bmm(_flat(dP).transpose(1, 2), _flat(q)).view(k.shape)
        if need[2]:
            dv = torch.bmm(_flat(S).transpose(1, 2), _flat(dnum)).view(v.shape)
        if need[3]:
            db = P.sum(-2)
        if need[4]:
            dM = -P.sum(-1) - w0 * dw0 - e * de
        if need[5]:
            dFc = -e * de
        if need[6]:
            dC0 = torch.bmm(_flat(q).transpose(1, 2), _flat(dqC)).view(C0.shape)
        if need[7]:
            dn0 = torch.bmm(_flat(q).transpose(1, 2), dqn0.flatten(0, -2)[..., None]).view(n0.shape)
        if need[8]:
            dm0 = (w0 * dw0).sum(-1)
        return dq, dk, dv, db, dM, dFc, dC0, dn0, dm0, None, None, None


def _flat(t: Tensor) -> Tensor:
    """(..., R, C) as (N, R, C): the leading axes in one (a view of these contiguous tensors)."""
    return t.flatten(0, -3)
