r"""Attention over the encoder's outputs: Luong's "general" score and Bahdanau's additive one.

With encoder outputs m_1..m_S (the memory) and a decoder state s::

    Luong et al. 2015, "general":  e_j = s^T W_a m_j
    Bahdanau et al. 2015, additive: e_j = v^T tanh(W_q s + W_k m_j)
    alpha = softmax(e) over the true (unpadded) source positions,  context = sum_j alpha_j m_j

The memory-side projection (W_a m_j, or W_k m_j) does not depend on the decoder step, so
it is computed once per source (:meth:`keys`) and reused at every step and beam.

Shapes: B batch, S source length, T target steps, H decoder hidden size (= memory width).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the last dim where ``mask`` is True; padded positions get 0.

    Args:
        scores: (B, T, S) attention scores.
        mask: (B, S) bool, True at real source positions.

    Returns:
        (B, T, S) weights summing to 1 over the real positions.

    Example:
        >>> import torch
        >>> masked_softmax(torch.zeros(1, 1, 3), torch.tensor([[True, True, False]]))
        tensor([[[0.5000, 0.5000, 0.0000]]])
    """
    return torch.softmax(scores.masked_fill(~mask.unsqueeze(-2), float("-inf")), dim=-1)


class LuongAttention(nn.Module):
    """Multiplicative ("general") attention, score(s_t, m_j) = s_t^T W_a m_j; queries are
    the decoder's current output s_t.

    Args:
        hidden_size: H, of the queries and the memory.
    """

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.w_a = nn.Linear(hidden_size, hidden_size, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        """(B, S, H) -> (B, S, H): W_a m_j for every source position."""
        return self.w_a(memory)

    def forward(self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """query (B, T, H) -> context (B, T, H), weights (B, T, S)."""
        alpha = masked_softmax(query @ keys.transpose(1, 2), mask)  # (B, T, S)
        return alpha @ memory, alpha


class BahdanauAttention(nn.Module):
    """Additive attention, score(s, m_j) = v^T tanh(W_q s + b + W_k m_j); the query is the
    decoder's previous state s_{t-1}.

    Args:
        hidden_size: H, of the queries, the memory and the hidden layer of the score.
    """

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.w_k = nn.Linear(hidden_size, hidden_size, bias=False)
        self.w_q = nn.Linear(hidden_size, hidden_size)
        self.v = nn.Linear(hidden_size, 1, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        """(B, S, H) -> (B, S, H): W_k m_j for every source position, computed once per source."""
        return self.w_k(memory)

    def forward(self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """query (B, T, H) -> context (B, T, H), weights (B, T, S)."""
        e = self.v(torch.tanh(self.w_q(query).unsqueeze(2) + keys.unsqueeze(1))).squeeze(-1)  # (B, T, S)
        alpha = masked_softmax(e, mask)
        return alpha @ memory, alpha


def make_attention(kind: str, hidden_size: int) -> nn.Module:
    """The attention module of a kind.

    Args:
        kind: ``"luong"`` (general score) or ``"bahdanau"`` (additive score).
        hidden_size: H, the width of the queries and the memory.

    Returns:
        A module with ``keys(memory (B, S, H))`` and ``forward(query (B, T, H), keys,
        memory, mask (B, S)) -> (context (B, T, H), weights (B, T, S))``.

    Raises:
        ValueError: an unknown ``kind``.
    """
    if kind == "luong":
        return LuongAttention(hidden_size)
    if kind == "bahdanau":
        return BahdanauAttention(hidden_size)
    raise ValueError(f"attention must be 'luong' or 'bahdanau', got {kind!r}")
