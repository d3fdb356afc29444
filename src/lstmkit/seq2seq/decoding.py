"""Decoding a trained :class:`~lstmkit.seq2seq.Seq2Seq`: greedy and beam search
(strings in and out: :meth:`lstmkit.seq2seq.Translator.predict`).

Both run whole batches; beam search keeps ``beam_size`` hypotheses per source as rows of
one (B*K) batch, so each step is one decoder call. A hypothesis that has emitted ``</s>``
stays in its slot with its score frozen (it can only continue with ``<pad>`` at no cost).
The winner maximises ``log p(y | x) / len(y)^length_penalty`` (``</s>`` counted in the
length); ``length_penalty`` 0 ranks by the plain log-probability.

Shapes: B batch, K beam size, S source length, T output steps, V target vocabulary.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lstmkit.errors import InputError
from lstmkit.seq2seq.vocab import EOS, PAD, SOS


@torch.no_grad()
def greedy_search(model, src: Tensor, lengths: Tensor, max_len: int) -> tuple[Tensor, Tensor, Tensor]:
    """Greedy decoding: the likeliest token at every step.

    Args:
        model: a :class:`~lstmkit.seq2seq.Seq2Seq`.
        src: (B, S) source ids, ``</s>`` appended, padded.
        lengths: (B,) source lengths.
        max_len: T, steps at most.

    Returns:
        ``(tokens, attention, log_prob)``: (B, T) ids, (B, T, S) weights, and the
        log-probability of each output (B,) (``</s>`` included).
    """
    mem, state = model.encode(src, lengths)
    B = src.shape[0]
    y = torch.full((B,), SOS, dtype=torch.long, device=src.device)
    done = torch.zeros(B, dtype=torch.bool, device=src.device)
    score = torch.zeros(B, dtype=torch.float64, device=src.device)
    toks, alphas = [], []
    for _ in range(max_len + 1):  # + 1: room for </s> after max_len characters
        logits, a, state = model.step(y, state, mem)
        logp = torch.log_softmax(logits.double(), -1)  # scores add up in float64
        y = logp.argmax(-1)
        score = score + torch.where(done, 0.0, logp.gather(1, y[:, None])[:, 0])
        y = y.masked_fill(done, PAD)
        toks.append(y)
        alphas.append(a)
        done = done | (y == EOS)
        if bool(done.all()):
            break
    return torch.stack(toks, 1), torch.stack(alphas, 1), score


@torch.no_grad()
def beam_search(model, src: Tensor, lengths: Tensor, beam_size: int, max_len: int,
                length_penalty: float = 0.0) -> tuple[Tensor, Tensor, Tensor]:
    """Beam search: the best of ``beam_size`` hypotheses per source.

    Args:
        model: a :class:`~lstmkit.seq2seq.Seq2Seq`.
        src: (B, S) source ids, ``</s>`` appended, padded.
        lengths: (B,) source lengths.
        beam_size: hypotheses kept per source.
        max_len: T, steps at most.
        length_penalty: hypotheses rank by ``log p / len^length_penalty`` (default 0).

    Returns:
        ``(tokens, attention, log_prob)``: (B, T) ids, (B, T, S) weights and (B,).
    """
    mem, (h, c) = model.encode(src, lengths)
    B, K, V = src.shape[0], beam_size, model.target_size
    dev = src.device
    mem = mem.repeat(K)
    h, c = h.repeat_interleave(K, 1), c.repeat_interleave(K, 1)  # (L, B*K, H)
    scores = torch.zeros(B, K, dtype=torch.float64, device=dev)  # sums of log-probabilities
    scores[:, 1:] = float("-inf")  # all beams start identical: keep one until the first step
    y = torch.full((B * K,), SOS, dtype=torch.long, device=dev)
    done = torch.zeros(B * K, dtype=torch.bool, device=dev)
    finished_row = torch.full((V,), float("-inf"), dtype=torch.float64, device=dev)
    finished_row[PAD] = 0.0
    toks = torch.zeros(B * K, 0, dtype=torch.long, device=dev)
    atts = mem.memory.new_zeros(B * K, 0, src.shape[1])
    base = torch.arange(B, device=dev).unsqueeze(1) * K  # (B, 1) first row of each source
    for _ in range(max_len + 1):
        logits, a, (h, c) = model.step(y, (h, c), mem)
        logp = torch.log_softmax(logits.double(), -1)  # (B*K, V)
        logp = torch.where(done.unsqueeze(1), finished_row, logp)
        scores, idx = (scores.view(-1, 1) + logp).view(B, K * V).topk(K, dim=1)  # (B, K)
        rows = (base + idx // V).view(-1)  # the hypothesis each new one extends
        y = (idx % V).view(-1)
        toks = torch.cat((toks[rows], y.unsqueeze(1)), 1)
        atts = torch.cat((atts[rows], a[rows].unsqueeze(1)), 1)
        h, c = h[:, rows], c[:, rows]
        done = done[rows] | (y == EOS)
        if bool(done.all()):
            break
    T = toks.shape[1]
    is_eos = toks == EOS
    first = torch.where(is_eos.any(1), is_eos.float().argmax(1) + 1, torch.full_like(y, T))
    ranked = scores.view(-1) / first.float().pow(length_penalty) if length_penalty else scores.view(-1)
    best = (base.view(-1) + ranked.view(B, K).argmax(1))  # (B,)
    return toks[best], atts[best], scores.view(-1)[best]


def decode(model, src_vocab, tgt_vocab, texts: list[str], beam_size: int = 1, max_len: int = 40,
           length_penalty: float = 0.0, batch_size: int = 256) -> tuple[list[str], list[Tensor]]:
    """Translate ``texts`` with the network ``model`` and its vocabularies.

    Args:
        model: a :class:`~lstmkit.seq2seq.Seq2Seq`.
        src_vocab: the source :class:`~lstmkit.seq2seq.Vocab`.
        tgt_vocab: the target vocabulary.
        texts: the sources.
        beam_size: 0 or 1: greedy; more: beam search keeping that many hypotheses.
        max_len: the longest output (default 40).
        length_penalty: beam search ranks by ``log p / len^length_penalty``.
        batch_size: sources decoded together (default 256).

    Returns:
        ``(outputs, attentions)``: the strings, and for each its attention weights
        (len(output) + 1, len(text) + 1): rows are the output characters and ``</s>``,
        columns the source characters and the source's ``</s>``.
    """
    if not isinstance(beam_size, int) or isinstance(beam_size, bool) or beam_size < 0:
        raise InputError(f"beam must be a non-negative integer (0 or 1: greedy), got {beam_size!r}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    outs, alphas = [], []
    try:
        with torch.no_grad():
            for i in range(0, len(texts), batch_size):
                chunk = texts[i : i + batch_size]
                src, lengths = src_vocab.batch(chunk, eos=True)
                src = src.to(device)
                if beam_size <= 1:
                    toks, att, _ = greedy_search(model, src, lengths, max_len)
                else:
                    toks, att, _ = beam_search(model, src, lengths, beam_size, max_len, length_penalty)
                for b in range(len(chunk)):
                    ids = toks[b].tolist()
                    rows = ids.index(EOS) + 1 if EOS in ids else len(ids)  # through </s>
                    outs.append(tgt_vocab.decode(ids))
                    alphas.append(att[b, :rows, : int(lengths[b])].cpu())
    finally:
        model.train(was_training)
    return outs, alphas
