"""What training a :class:`~lstmkit.seq2seq.Seq2Seq` through the engine
(:func:`lstmkit.spine.engine.fit_module`) needs: padded batches of (source, target)
strings, the teacher-forced cross-entropy, and the optimiser recipe (Adam, linear
warm-up then cosine decay to 5% of the peak, stepped once per optimiser step over the
planned run). Gradient clipping is the engine's ``gradient_clip_val``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstmkit.seq2seq.vocab import EOS, PAD, Vocab

Batch = tuple[Tensor, Tensor, Tensor, Tensor]  # source (B, S), lengths (B,), target in, target out (B, T)


def pair_batch(src_vocab: Vocab, tgt_vocab: Vocab, sources: Sequence[str], targets: Sequence[str]) -> Batch:
    """The tensors of a batch of pairs.

    Args:
        src_vocab: the source :class:`~lstmkit.seq2seq.Vocab`.
        tgt_vocab: the target vocabulary.
        sources: the source strings.
        targets: their target strings.

    Returns:
        ``(src, lengths, tgt_in, tgt_out)``: padded source ids (B, S) with ``</s>``
        appended, their lengths (B,), decoder inputs ``<s> y`` and targets ``y </s>``,
        both (B, T), PAD-filled.
    """
    src, lengths = src_vocab.batch(sources, eos=True)
    ids, _ = tgt_vocab.batch(targets, sos=True, eos=True)
    tgt_in = ids[:, :-1].masked_fill(ids[:, :-1] == EOS, PAD)  # </s> is never an input
    return src, lengths, tgt_in, ids[:, 1:]


def collate(src_vocab: Vocab, tgt_vocab: Vocab, sources: Sequence[str],
            targets: Sequence[str]) -> Callable[[list[int]], Batch]:
    """``collate(indices)`` for :class:`lstmkit.spine.engine.IndexData`: the batch of
    those pairs, padded to its own longest source and target.

    Args:
        src_vocab: the source :class:`~lstmkit.seq2seq.Vocab`.
        tgt_vocab: the target vocabulary.
        sources: the source strings.
        targets: their target strings.

    Returns:
        ``collate(indices)`` -> :func:`pair_batch` of those pairs.
    """
    return lambda idx: pair_batch(src_vocab, tgt_vocab, [sources[i] for i in idx], [targets[i] for i in idx])


def batch_loss(net: nn.Module, batch: Batch, teacher_forcing: float = 1.0) -> Tensor:
    """Mean cross-entropy per target token (``</s>`` included, padding excluded).

    Args:
        net: the :class:`~lstmkit.seq2seq.Seq2Seq`.
        batch: :func:`pair_batch`'s tensors.
        teacher_forcing: the probability of feeding the gold previous token (default 1).

    Returns:
        The scalar loss.
    """
    src, lengths, tgt_in, tgt_out = batch
    logits, _ = net(src, lengths, tgt_in, teacher_forcing)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=PAD)


def warmup_cosine(lr: float, warmup_steps: int) -> Callable:
    """The recipe of :class:`lstmkit.spine.engine.TaskModule`: Adam at ``lr``, the rate
    rising linearly over ``warmup_steps`` steps, then a cosine down to 5% of the peak at
    the end of the planned run.

    Args:
        lr: the peak learning rate.
        warmup_steps: steps of linear warm-up.

    Returns:
        ``recipe(net, total_steps)`` -> the optimiser configuration.
    """

    def configure(net: nn.Module, total_steps: int):
        opt = torch.optim.Adam(net.parameters(), lr=lr)

        def rate(step: int) -> float:
            if step < warmup_steps:
                return (step + 1) / warmup_steps
            frac = (step - warmup_steps) / max(1, total_steps - warmup_steps)
            return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, rate)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return configure
