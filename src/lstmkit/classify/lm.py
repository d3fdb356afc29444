"""The sentence language model of the ULMFiT recipe: the classifier's own embedding and
bidirectional recurrent layer, read as two language models, one forward (each step
predicts the next token) and one backward (each step predicts the previous token).

Shapes: B sentences, T tokens (padded to the longest), E embedding size, H hidden size
per direction, V vocabulary size.

The decoder is tied to the embedding: each direction's state (H) is projected to E and
scored against every token's embedding, plus a bias per token. So the language model's
only weights besides the encoder's are two (H -> E) projections and a (V,) bias, and a
vocabulary change (new words in a task's texts) needs no new decoder rows. Id 0 (the
padding, never an input) stands for the sentence boundary in the targets: the forward
model predicts it after a sentence's last token, the backward one before its first.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class TiedLMHead(nn.Module):
    """The language-model decoder over a :class:`~lstmkit.classify.network.TextClassifierNet`'s
    bidirectional encoder, tied to its embedding.

    Args:
        hidden_size: H, per direction.
        embedding_dim: E.
        vocab_size: V.

    Example:
        >>> from lstmkit.classify.network import TextClassifierNet, TextClassifierNetConfig
        >>> net = TextClassifierNet(TextClassifierNetConfig(vocab_size=50, num_classes=2,
        ...                                                 embedding_dim=8, hidden_size=6))
        >>> lm = SentenceLM(net, TiedLMHead(6, 8, 50))
        >>> loss = lm(torch.randint(2, 50, (3, 7)), torch.tensor([7, 4, 1]))
        >>> loss.shape
        torch.Size([])
    """

    def __init__(self, hidden_size: int, embedding_dim: int, vocab_size: int) -> None:
        super().__init__()
        self.forward_proj = nn.Linear(hidden_size, embedding_dim)
        self.backward_proj = nn.Linear(hidden_size, embedding_dim)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def logits(self, states: Tensor, embedding: Tensor, backward: bool) -> Tensor:
        """Scores (N, V) of the tokens, from N states (N, H) of one direction and the
        embedding matrix (V, E)."""
        proj = self.backward_proj if backward else self.forward_proj
        return F.linear(proj(states), embedding, self.bias)  # (N, V)


class SentenceLM(nn.Module):
    """``forward(tokens (B, T) int64, lengths (B,) int64) -> loss``: the mean
    cross-entropy of the forward and the backward model over every valid position
    (each direction's targets shifted by one, the boundary id 0 at the ends).

    Args:
        net: a bidirectional :class:`~lstmkit.classify.network.TextClassifierNet`
            (its ``embedding``, ``drop`` and ``rnn`` are used; its head is not).
        head: the :class:`TiedLMHead`.
    """

    def __init__(self, net: nn.Module, head: TiedLMHead) -> None:
        super().__init__()
        self.net, self.head = net, head

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """The batch's mean loss (a scalar): forward and backward models averaged."""
        B, T = tokens.shape
        out, _ = self.net.rnn(self.net.inputs(tokens), lengths=lengths)  # (B, T, 2H)
        H = out.shape[-1] // 2
        out = self.net.drop(out)
        steps = torch.arange(T, device=tokens.device)
        valid = steps < lengths.to(tokens.device).unsqueeze(1)  # (B, T)
        pad = tokens.new_zeros(B, 1)
        nxt = torch.cat([tokens[:, 1:], pad], dim=1).masked_fill(~valid, 0)  # next token, 0 at the end
        nxt = torch.where(steps < (lengths.to(tokens.device) - 1).unsqueeze(1), nxt, 0)
        prv = torch.cat([pad, tokens[:, :-1]], dim=1)  # previous token, 0 before the first
        emb = self.net.embedding.weight
        fw = self.head.logits(out[..., :H][valid], emb, backward=False)  # (N, V)
        bw = self.head.logits(out[..., H:][valid], emb, backward=True)
        return 0.5 * (F.cross_entropy(fw, nxt[valid]) + F.cross_entropy(bw, prv[valid]))


def split_sentences(tokens: list[str], max_len: int = 60) -> list[list[str]]:
    """Cut a token stream into sentences after each ``.``, ``!`` or ``?`` (and after
    ``max_len`` tokens at the most).

    Args:
        tokens: the tokens of a text, in order.
        max_len: the longest sentence kept whole (default 60).

    Returns:
        The sentences, each a non-empty token list.

    Example:
        >>> split_sentences(["hi", "!", "so", "it", "goes", "."])
        [['hi', '!'], ['so', 'it', 'goes', '.']]
    """
    out, cur = [], []
    for t in tokens:
        cur.append(t)
        if t in (".", "!", "?") or len(cur) >= max_len:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out
