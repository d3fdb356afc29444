"""CTC decoding (greedy and prefix beam search) and the character error rate.

Shapes: T time steps, V = 1 + number of characters (index 0 is the CTC blank).

A CTC output path maps to a transcript by merging repeated symbols and then dropping
blanks (Graves et al. 2006): ``a a - a b -`` -> ``a a b``. Greedy decoding takes the
most probable symbol at every step and maps that one path. Prefix beam search (Graves
& Jaitly 2014; Hannun et al. 2014, arXiv:1408.2873, algorithm 1 without a language
model) keeps the ``beam`` most probable *transcripts*, each with the total probability
of every path that ends in a blank and of every path that ends in its last symbol, so a
transcript reached by many weak paths can beat the single best path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

BLANK = 0


def greedy_decode(log_probs: torch.Tensor | np.ndarray, length: int | None = None) -> list[int]:
    """CTC best-path decoding: the most probable symbol per step, repeats merged, blanks
    dropped.

    Args:
        log_probs: (T, V) log-probabilities; column 0 is the blank.
        length: the valid steps (None: all T).

    Returns:
        The symbol ids, without blanks.

    Example:
        >>> import torch
        >>> lp = torch.tensor([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.8, 0.1, 0.1],
        ...                    [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]).log()
        >>> greedy_decode(lp)
        [1, 1, 2]
    """
    lp = torch.as_tensor(log_probs)
    best = lp[: length if length is not None else lp.shape[0]].argmax(dim=-1).tolist()
    out, prev = [], BLANK
    for s in best:
        if s != prev and s != BLANK:
            out.append(s)
        prev = s
    return out


def _logsumexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


def _add(beams: dict, prefix: tuple[int, ...], pb: float = -math.inf, pnb: float = -math.inf) -> None:
    """Add path probabilities (log) ending in a blank / in a symbol to ``prefix``."""
    cur = beams.setdefault(prefix, [-math.inf, -math.inf])
    cur[0] = _logsumexp(cur[0], pb)
    cur[1] = _logsumexp(cur[1], pnb)


def beam_search_decode(log_probs: torch.Tensor | np.ndarray, beam: int = 8, length: int | None = None,
                       prune: float = -12.0) -> list[int]:
    """The most probable transcript by CTC prefix beam search.

    Args:
        log_probs: (T, V) log-probabilities; column 0 is the blank.
        beam: prefixes kept per step (default 8).
        length: the valid steps (None: all T).
        prune: for speed, a symbol whose log probability at a step is below it (default
            -12: e^-12, about 6e-6) is not tried there; ``-inf`` tries every one.

    Returns:
        The symbol ids, without blanks.

    Raises:
        ValueError: ``beam`` not a positive integer.
    """
    if not isinstance(beam, int) or beam < 1:
        raise ValueError(f"beam must be a positive integer, got {beam!r}")
    lp = torch.as_tensor(log_probs, dtype=torch.float64)
    lp = lp[: length if length is not None else lp.shape[0]].numpy()
    # prefix -> (log P(paths ending in blank), log P(paths ending in the last symbol))
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}
    for row in lp:
        cands = [s for s in np.flatnonzero(row >= prune).tolist() if s != BLANK]
        nxt: dict[tuple[int, ...], list[float]] = {}
        for prefix, (pb, pnb) in beams.items():
            total = _logsumexp(pb, pnb)
            _add(nxt, prefix, pb=total + row[BLANK])  # a blank keeps the prefix
            if prefix:  # repeating the last symbol without a blank keeps the prefix too
                _add(nxt, prefix, pnb=pnb + row[prefix[-1]])
            for s in cands:
                if prefix and s == prefix[-1]:
                    _add(nxt, prefix + (s,), pnb=pb + row[s])  # a repeat needs a blank between
                else:
                    _add(nxt, prefix + (s,), pnb=total + row[s])
        ranked = sorted(nxt.items(), key=lambda kv: _logsumexp(*kv[1]), reverse=True)
        beams = {k: (v[0], v[1]) for k, v in ranked[:beam]}
    best = max(beams.items(), key=lambda kv: _logsumexp(*kv[1]))
    return list(best[0])


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Levenshtein distance: the fewest substitutions, insertions and deletions that
    turn ``hyp`` into ``ref``.

    Args:
        ref: the reference sequence (a string or a list).
        hyp: the hypothesis.

    Returns:
        The distance.

    Example:
        >>> edit_distance("4071", "471")
        1
    """
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def character_error_rate(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus CER: total edit distance over total reference length (so long
    transcripts weigh more, as in the usual definition).

    Args:
        refs: the true transcripts.
        hyps: the recognised ones, as many.

    Returns:
        The character error rate (0: all right; can exceed 1).

    Raises:
        ValueError: different counts.

    Example:
        >>> character_error_rate(["4071", "12"], ["4071", "1"])
        0.16666666666666666
    """
    if len(refs) != len(hyps):
        raise ValueError(f"expected as many hypotheses as references, got {len(hyps)} and {len(refs)}")
    total = sum(len(r) for r in refs)
    errors = sum(edit_distance(r, h) for r, h in zip(refs, hyps))
    return errors / max(1, total)
