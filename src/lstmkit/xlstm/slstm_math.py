r"""The sLSTM's step and its forget-gate bias initialisations.

Beck et al. 2024, "xLSTM: Extended Long Short-Term Memory" (arXiv:2405.04517), section 2.2
and appendix A.2. Gate pre-activations (order i, f, z, o; each of width H, heads of
width d = H / NH), the recurrent matrix R block-diagonal over the NH heads::

    (\tilde i, \tilde f, \tilde z, \tilde o)_t = W x_t + R h_{t-1} + b
    log f_t = logsigmoid(\tilde f_t)   (forget_gate="sigmoid")  or  \tilde f_t  ("exp")
    m_t = max(log f_t + m_{t-1}, \tilde i_t)    (m_t = \tilde i_t where n_{t-1} = 0)
    i'_t = exp(\tilde i_t - m_t),  f'_t = exp(min(log f_t + m_{t-1} - m_t, 0))
    c_t = f'_t c_{t-1} + i'_t tanh(\tilde z_t)
    n_t = f'_t n_{t-1} + i'_t
    h_t = sigmoid(\tilde o_t) * c_t / n_t

c and n are the paper's cell and normaliser times exp(-m_t), so h is unchanged by the
stabiliser m. Where the normaliser is zero (a zero initial state) the memory is empty and
m_t starts at \tilde i_t, as the reference package's kernels do; its states then agree.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

BIAS_INITS = ("powerlaw", "small", "zeros", "uniform")

State = tuple[Tensor, Tensor, Tensor, Tensor]


def recurrent_input(h: Tensor, weight_hh: Tensor) -> Tensor:
    """The recurrent input R h, head by head.

    Args:
        h: (B, H).
        weight_hh: (4, NH, d, d) [gate, head, out, in], H = NH * d.

    Returns:
        (B, 4H), gate-major (i, f, z, o), each gate head after head.
    """
    _, NH, d, _ = weight_hh.shape
    hk = h.reshape(h.shape[0], NH, d)
    return torch.einsum("bki,gkoi->bgko", hk, weight_hh).reshape(h.shape[0], 4 * NH * d)


def step(pre: Tensor, state: State, weight_hh: Tensor, forget_gate: str = "sigmoid") -> State:
    """One sLSTM step (the module docstring's equations).

    Args:
        pre: (B, 4H), W x_t + b, gates i, f, z, o.
        state: (h, c, n, m), each (B, H).
        weight_hh: (4, NH, d, d), the block-diagonal recurrent matrix.
        forget_gate: "sigmoid" (log f = logsigmoid(f̃)) or "exp" (log f = f̃).

    Returns:
        The new (h, c, n, m), each (B, H).
    """
    h, c, n, m = state
    raw = pre + recurrent_input(h, weight_hh)
    i_raw, f_raw, z_raw, o_raw = raw.chunk(4, dim=-1)
    log_f = F.logsigmoid(f_raw) if forget_gate == "sigmoid" else f_raw
    empty = n == 0
    m_new = torch.where(empty, i_raw, torch.maximum(i_raw, log_f + m))
    i_gate = torch.exp(i_raw - m_new)
    # exp(min(., 0)): a no-op where the memory holds something (m_new >= log f + m); where it
    # is empty (m_new = ĩ) the forget gate is capped at 1, as the reference package does, and
    # the gradient stays finite however large log f + m is
    f_gate = torch.exp(torch.clamp(log_f + m - m_new, max=0.0))
    c_new = f_gate * c + i_gate * torch.tanh(z_raw)
    n_new = f_gate * n + i_gate
    h_new = torch.sigmoid(o_raw) * c_new / n_new
    return h_new, c_new, n_new, m_new


def sequence(pre: Tensor, weight_hh: Tensor, state: State, forget_gate: str = "sigmoid",
             mask: Tensor | None = None) -> tuple[Tensor, State]:
    """The reference loop: :func:`step` over T steps.

    Args:
        pre: (T, B, 4H), W x_t + b for every step.
        weight_hh: (4, NH, d, d).
        state: (h, c, n, m), each (B, H).
        forget_gate: "sigmoid" or "exp".
        mask: (T, B) bool, or None; where False the state is kept (and the step's output
            is the kept h).

    Returns:
        (outputs h_t (T, B, H), the final (h, c, n, m)).
    """
    outs = []
    # unbind, not indexing: the backward of each index would fill a full-size gradient
    for t, pre_t in enumerate(pre.unbind(0)):
        new = step(pre_t, state, weight_hh, forget_gate)
        if mask is not None:
            keep = mask[t][:, None]
            new = tuple(torch.where(keep, a, b) for a, b in zip(new, state))
        state = new
        outs.append(state[0])
    return torch.stack(outs), state


def forget_bias(kind: str, num_heads: int, head_dim: int, *, block_idx: int = 0,
                num_blocks: int = 1, hidden_size: int | None = None) -> Tensor:
    """The forget gate's bias (NH * d,), head after head.

    - ``"powerlaw"`` (the reference package's ``powerlaw_blockdependent``, its default):
      in each head, unit j of d gets ``5 - 12 * (j / (d - 1)) ** (0.3 + 1.3 * r)`` with
      ``r = block_idx / (num_blocks - 1)`` (0 for one block): from 5 (remember) down to
      -7 (forget), the deeper the block the more units remember.
    - ``"small"``: evenly from 3 to 6 across each head.
    - ``"zeros"``; ``"uniform"``: U(-1/sqrt(H), 1/sqrt(H)) as torch.nn initialises biases.

    Args:
        kind: one of :data:`BIAS_INITS`.
        num_heads: NH.
        head_dim: d.
        block_idx: the depth r of the power law counts from (0 .. num_blocks - 1).
        num_blocks: the number of blocks the power law spreads over.
        hidden_size: H for ``"uniform"`` (NH * d when None).

    Returns:
        The bias (NH * d,).
    """
    if kind == "powerlaw":
        r = block_idx / (num_blocks - 1) if num_blocks > 1 else 0.0
        pos = torch.linspace(0.0, 1.0, head_dim) if head_dim > 1 else torch.zeros(1)
        head = 5.0 - 12.0 * pos ** (0.3 + 1.3 * r)
    elif kind == "small":
        head = torch.linspace(3.0, 6.0, head_dim)
    elif kind == "zeros":
        head = torch.zeros(head_dim)
    else:
        bound = 1.0 / math.sqrt(hidden_size or num_heads * head_dim)
        return torch.empty(num_heads * head_dim).uniform_(-bound, bound)
    return head.repeat(num_heads)
