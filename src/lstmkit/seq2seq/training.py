"""Training a :class:`~lstmkit.seq2seq.Seq2Seq`: cross-entropy on teacher-forced targets,
Adam with warm-up and cosine decay, gradient clipping, a step or time budget; and the
exact-match metric.

A ``sampler(n, rng)`` supplies each batch as a list of (source, target) strings, so a
generator (the date task draws fresh dates every step) and a fixed list of pairs
(:func:`pair_sampler`) train the same way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lstmkit.errors import InputError, TrainingInterrupted, strict_keywords
from lstmkit.seq2seq.vocab import PAD

Pairs = list[tuple[str, str]]
Sampler = Callable[[int, np.random.Generator], Pairs]


@strict_keywords
@dataclass
class TrainConfig:
    """How a Seq2Seq trains."""

    batch_size: int = 64
    lr: float = 3e-3
    max_steps: int = 3000
    max_time: float | None = None  # seconds; None: all max_steps
    warmup_steps: int = 100
    teacher_forcing: float = 1.0  # probability of feeding the gold previous token
    clip_norm: float = 1.0
    seed: int = 0
    log_every: int = 100

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_steps", "log_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise InputError(f"warmup_steps must be a non-negative integer, got {self.warmup_steps!r}")
        if not self.lr > 0 or not self.clip_norm > 0:
            raise InputError(f"lr and clip_norm must be positive, got {self.lr!r}, {self.clip_norm!r}")
        if not 0 <= self.teacher_forcing <= 1:
            raise InputError(f"teacher_forcing must be in [0, 1], got {self.teacher_forcing!r}")
        if self.max_time is not None and not self.max_time > 0:
            raise InputError(f"max_time must be positive seconds or None, got {self.max_time!r}")


def pair_sampler(pairs: Sequence[tuple[str, str]]) -> Sampler:
    """A sampler drawing uniformly (with replacement) from a fixed list of pairs."""
    if not pairs:
        raise InputError("no training pairs")
    return lambda n, rng: [pairs[i] for i in rng.integers(0, len(pairs), size=n)]


def batch_loss(model, pairs: Pairs, teacher_forcing: float = 1.0) -> torch.Tensor:
    """Mean cross-entropy per target token (``</s>`` included, padding excluded)."""
    src, lengths = model.source_batch([s for s, _ in pairs])
    tgt_in, tgt_out = model.target_batch([t for _, t in pairs])
    logits, _ = model(src, lengths, tgt_in, teacher_forcing)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=PAD)


def fit(model, sampler: Sampler, config: TrainConfig | None = None,
        log: Callable[[dict], None] | None = None) -> list[dict]:
    """Train ``model`` in place; returns the history, one row per ``log_every`` steps:
    {"step", "loss" (mean over those steps), "time" (seconds of training)}."""
    config = config or TrainConfig()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)

    def rate(step: int) -> float:  # linear warm-up, then cosine down to 5% of the peak
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        frac = (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, rate)
    history: list[dict] = []
    model.train()
    t0, running, count = time.perf_counter(), 0.0, 0
    done = 0
    try:
        for step in range(1, config.max_steps + 1):
            loss = batch_loss(model, sampler(config.batch_size, rng), config.teacher_forcing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            opt.step()
            sched.step()
            done = step
            running, count = running + loss.item(), count + 1
            elapsed = time.perf_counter() - t0
            out_of_time = config.max_time is not None and elapsed >= config.max_time
            if step % config.log_every == 0 or step == config.max_steps or out_of_time:
                history.append({"step": step, "loss": running / count, "time": elapsed})
                running, count = 0.0, 0
                if log:
                    log(history[-1])
            if out_of_time:
                break
    except KeyboardInterrupt:
        model.eval()
        raise TrainingInterrupted(done, history, result=model) from None
    model.eval()
    return history


def exact_match(model, pairs: Pairs, beam_size: int = 1) -> float:
    """Fraction of pairs whose decoded output equals the target exactly."""
    if not pairs:
        raise InputError("no pairs to evaluate")
    outs = model.translate([s for s, _ in pairs], beam_size=beam_size)
    return sum(o == t for o, (_, t) in zip(outs, pairs)) / len(pairs)
