"""Training and scoring a character language model with truncated backpropagation
through time (TBPTT).

The training text is cut into B parallel streams, each a contiguous slice of the text;
batch k holds characters [kT, (k+1)T) of every stream, so the state at the end of batch k
is the right starting state for batch k+1 and is carried over (detached: gradients stop
at the batch boundary, the memory does not). Each new pass over the text starts the
streams at a fresh random offset, so the batch boundaries move.

The learning rate warms up linearly, then follows a cosine from ``lr`` down to
``lr * final_lr_fraction``, scheduled on the fraction of the budget used: steps out of
``max_steps`` or training seconds out of ``max_time``, whichever is further along. A
time budget therefore gets a complete schedule however fast the machine is.

Scoring: :func:`score` (the static loss, the model fixed) and :func:`score_dynamic`
(dynamic evaluation, Krause et al. 2018: a copy of the model adapts to the text as it
reads it; see :class:`DynamicEval`).

Shapes: N characters, B streams, T steps per chunk, V vocabulary size.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lstmkit.errors import InputError, TrainingInterrupted
from lstmkit.textgen.network import CharLM

LN2 = math.log(2.0)


@dataclass
class TBPTTConfig:
    """The training recipe (see the module docstring for the schedule)."""

    batch_size: int = 32
    seq_len: int = 50
    lr: float = 3e-3
    final_lr_fraction: float = 0.02
    warmup_steps: int = 50
    grad_clip: float = 1.0
    weight_decay: float = 0.0
    eval_every: float = 30.0  # seconds of training between validations
    eval_chars: int = 30000  # validation characters scored during training (all at the end)

    def __post_init__(self) -> None:
        for name in ("batch_size", "seq_len", "eval_chars"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise InputError(
                f"warmup_steps must be a non-negative integer, got {self.warmup_steps!r}"
            )
        for name in ("lr", "grad_clip", "eval_every"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)!r}")
        if not 0 <= self.final_lr_fraction <= 1:
            raise InputError(f"final_lr_fraction must be in [0, 1], got {self.final_lr_fraction!r}")
        if not self.weight_decay >= 0:
            raise InputError(f"weight_decay must be >= 0, got {self.weight_decay!r}")

    def lr_at(self, step: int, progress: float) -> float:
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        cos = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return self.lr * warm * (self.final_lr_fraction + (1.0 - self.final_lr_fraction) * cos)


def stream_batches(
    ids: Tensor, batch: int, steps: int, offset: int = 0
) -> Iterator[tuple[Tensor, Tensor]]:
    """Consecutive (x (B, T), y (B, T)) chunks of ``ids[offset:]`` cut into B streams;
    y is x shifted by one character. The last chunk may be shorter than T."""
    per = (ids.numel() - 1 - offset) // batch  # characters per stream
    x = ids[offset : offset + batch * per].view(batch, per)
    y = ids[offset + 1 : offset + 1 + batch * per].view(batch, per)
    for i in range(0, per, steps):
        yield x[:, i : i + steps], y[:, i : i + steps]


@torch.inference_mode()
def score(model: CharLM, ids: Tensor, streams: int = 8, steps: int = 512) -> tuple[float, int]:
    """(total negative log-likelihood in nats, number of predicted characters) of ``ids``
    under ``model``, predicting every character after the first. The text runs as
    ``streams`` parallel slices with the state carried along each; the tail that does not
    fill the last slice is padded and ignored."""
    n = ids.numel() - 1  # predicted characters
    if n < 1:
        raise InputError("expected at least 2 characters to score, got fewer")
    streams = max(1, min(streams, n))
    per = -(-n // streams)  # ceil
    x = torch.zeros(streams * per, dtype=torch.int64)
    y = torch.full((streams * per,), -100, dtype=torch.int64)  # -100: ignored by cross_entropy
    x[:n], y[:n] = ids[:-1], ids[1:]
    x, y = x.view(streams, per), y.view(streams, per)
    was_training = model.training
    model.eval()
    total, state = 0.0, None
    for i in range(0, per, steps):
        logits, state = model(x[:, i : i + steps], state)
        total += F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y[:, i : i + steps].reshape(-1), reduction="sum"
        ).item()
    model.train(was_training)
    return total, n


@dataclass(frozen=True)
class DynamicEval:
    """Dynamic evaluation (Krause, Kahembwe, Murray & Renals, ICML 2018, the SGD form):
    the text is read as one stream in chunks of ``steps`` characters; each chunk is
    scored first, then the weights take one gradient step on it,
    ``theta <- theta - lr * grad + decay * (theta_0 - theta)``, pulled back toward the
    trained weights theta_0 by ``decay``. Every character is still predicted before the
    model has seen it (a sequential, "prequential" log-loss), but the model adapts to the
    text read so far: its names, its style, its vocabulary. The defaults were chosen on
    the first 30,000 characters of tiny Shakespeare's validation text (docs/text.md)."""

    lr: float = 0.2
    decay: float = 1e-3
    steps: int = 50

    def __post_init__(self) -> None:
        if not (isinstance(self.lr, (int, float)) and self.lr >= 0):
            raise InputError(f"dynamic evaluation lr must be a number >= 0, got {self.lr!r}")
        if not (isinstance(self.decay, (int, float)) and 0 <= self.decay <= 1):
            raise InputError(f"dynamic evaluation decay must be in [0, 1], got {self.decay!r}")
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or self.steps <= 0:
            raise InputError(f"dynamic evaluation steps must be a positive integer, got {self.steps!r}")


def score_dynamic(model: CharLM, ids: Tensor, dyn: DynamicEval) -> tuple[float, int]:
    """(total negative log-likelihood in nats, predicted characters) of ``ids`` under
    dynamic evaluation (:class:`DynamicEval`). ``model`` is left untouched: a copy adapts."""
    n = ids.numel() - 1
    if n < 1:
        raise InputError("expected at least 2 characters to score, got fewer")
    work = copy.deepcopy(model).eval()  # eval: no dropout while adapting
    params = [p for p in work.parameters() if p.requires_grad]
    theta0 = [p.detach().clone() for p in params]
    x, y = ids[:-1].view(1, -1), ids[1:].view(1, -1)
    total, state = 0.0, None
    with torch.enable_grad():
        for i in range(0, n, dyn.steps):
            logits, state = work(x[:, i : i + dyn.steps], state)
            target = y[:, i : i + dyn.steps].reshape(-1)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target, reduction="sum")
            total += loss.item()
            if dyn.lr > 0:
                grads = torch.autograd.grad(loss / target.numel(), params)
                with torch.no_grad():
                    for p, g, p0 in zip(params, grads, theta0):
                        p.add_(g, alpha=-dyn.lr).add_(p0 - p, alpha=dyn.decay)
            state = CharLM.detach_state(state)
    return total, n


def bits_per_char(model: CharLM, ids: Tensor, streams: int = 8) -> float:
    total, n = score(model, ids, streams)
    return total / n / LN2


def _adamw(groups: list[dict], lr: float) -> torch.optim.Optimizer:
    """AdamW, fused into one kernel where this torch has it for the parameters' device
    (CPU since torch 2.4: 0.7 ms a step instead of 1.8 ms for the default model), else
    torch's default implementation."""
    try:
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99), fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))


def train_tbptt(
    model: CharLM,
    train_ids: Tensor,
    val_ids: Tensor | None,
    cfg: TBPTTConfig,
    max_steps: int | None,
    max_time: float | None,
    seed: int,
    log: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Train ``model`` in place; returns the history, one dict per validation:
    ``step, chars, train_time, lr, train_bpc`` (mean since the last record) and ``val_bpc``
    (on the first ``eval_chars`` validation characters; the last record on all of them)."""
    B, T = cfg.batch_size, cfg.seq_len
    if (train_ids.numel() - 1) // B < 2:
        raise InputError(
            f"the training text is too short for batch_size={B}: {train_ids.numel()} characters, "
            f"expected at least {2 * B + 1} (use a smaller batch_size or more text)"
        )
    if max_steps is None and max_time is None:  # one pass over the text
        max_steps = math.ceil(((train_ids.numel() - 1) // B) / T)
    if max_steps is not None and max_steps <= 0:
        raise InputError(f"max_steps must be positive, got {max_steps}")
    if max_time is not None and not max_time > 0:
        raise InputError(f"max_time must be positive seconds, got {max_time}")

    gen = torch.Generator().manual_seed(seed)
    decay, no_decay = [], []
    for name, p in model.named_parameters():  # no decay on biases and embeddings
        (decay if p.dim() > 1 and not name.startswith("embedding") else no_decay).append(p)
    opt = _adamw(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        cfg.lr,
    )
    V = model.config.vocab_size
    history: list[dict] = []
    step, chars, train_time = 0, 0, 0.0
    loss_sum, loss_n, last_eval = 0.0, 0, 0.0

    def progress() -> float:
        p = 0.0
        if max_steps is not None:
            p = max(p, step / max_steps)
        if max_time is not None:
            p = max(p, train_time / max_time)
        return p

    def record(final: bool) -> None:
        nonlocal loss_sum, loss_n
        row = {
            "step": step,
            "chars": chars,
            "train_time": round(train_time, 2),
            "lr": opt.param_groups[0]["lr"],
            "train_bpc": loss_sum / max(loss_n, 1) / LN2 if loss_n else float("nan"),
        }
        if val_ids is not None:
            part = val_ids if final else val_ids[: cfg.eval_chars + 1]
            row["val_bpc"] = bits_per_char(model, part)
        row["final"] = final
        history.append(row)
        loss_sum, loss_n = 0.0, 0
        if log is not None:
            log(row)

    model.train()
    epoch = 0
    try:
        while progress() < 1.0:
            offset = 0 if epoch == 0 else int(torch.randint(0, T, (1,), generator=gen))
            state = None  # a new pass starts every stream afresh
            for x, y in stream_batches(train_ids, B, T, offset):
                if progress() >= 1.0:
                    break
                t0 = time.perf_counter()
                lr = cfg.lr_at(step, progress())
                for group in opt.param_groups:
                    group["lr"] = lr
                logits, state = model(x, state)
                loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                state = CharLM.detach_state(state)
                train_time += time.perf_counter() - t0
                step += 1
                chars += y.numel()
                loss_sum += loss.item() * y.numel()
                loss_n += y.numel()
                if train_time - last_eval >= cfg.eval_every:
                    last_eval = train_time
                    record(final=False)
            epoch += 1
    except KeyboardInterrupt:
        model.eval()
        raise TrainingInterrupted(step, history) from None
    record(final=True)
    model.eval()
    return history
