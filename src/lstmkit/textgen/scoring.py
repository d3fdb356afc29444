"""Scoring a character language model: :func:`score` (the static loss, the model fixed)
and :func:`score_dynamic` (dynamic evaluation, Krause et al. 2018: a copy of the model
adapts to the text as it reads it; see :class:`DynamicEval`).

Shapes: N characters, B streams, T steps per chunk, V vocabulary size.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from lstmkit.errors import InputError
from lstmkit.textgen.network import CharLM

LN2 = math.log(2.0)


@torch.inference_mode()
def score(model: CharLM, ids: Tensor, streams: int = 8, steps: int = 512) -> tuple[float, int]:
    """The static loss of ``ids`` under ``model``, predicting every character after the
    first. The text runs as ``streams`` parallel slices with the state carried along
    each; the tail that does not fill the last slice is padded and ignored. Runs on the
    device of ``ids``.

    Args:
        model: a :class:`~lstmkit.textgen.network.CharLM`.
        ids: (N,) int64 character ids.
        streams: parallel slices of the text.
        steps: characters per forward call.

    Returns:
        (total negative log-likelihood in nats, number of predicted characters N-1).

    Raises:
        InputError: fewer than 2 characters.
    """
    n = ids.numel() - 1  # predicted characters
    if n < 1:
        raise InputError("expected at least 2 characters to score, got fewer")
    streams = max(1, min(streams, n))
    per = -(-n // streams)  # ceil
    x = torch.zeros(streams * per, dtype=torch.int64, device=ids.device)
    y = torch.full((streams * per,), -100, dtype=torch.int64, device=ids.device)  # -100: ignored
    x[:n], y[:n] = ids[:-1], ids[1:]
    x, y = x.view(streams, per), y.view(streams, per)
    was_training = model.training
    model.eval()
    total, state = 0.0, None
    for i in range(0, per, steps):
        logits, state = model(x[:, i : i + steps], state)
        total += F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), y[:, i : i + steps].reshape(-1), reduction="sum"
        ).item()
    model.train(was_training)
    return total, n


def bits_per_char(model: CharLM, ids: Tensor, streams: int = 8) -> float:
    """The static loss of ``ids`` (N,) under ``model`` in bits per predicted character
    (:func:`score`)."""
    total, n = score(model, ids, streams)
    return total / n / LN2


@dataclass(frozen=True)
class DynamicEval:
    """Dynamic evaluation (Krause, Kahembwe, Murray & Renals, ICML 2018, the SGD form):
    the text is read as one stream in chunks of ``steps`` characters; each chunk is
    scored first, then the weights take one gradient step on it,
    ``theta <- theta - lr * grad + decay * (theta_0 - theta)``, pulled back toward the
    trained weights theta_0 by ``decay``. Every character is still predicted before the
    model has seen it (a sequential, "prequential" log-loss), but the model adapts to the
    text read so far: its names, its style, its vocabulary. The defaults were chosen on
    the first 30,000 characters of tiny Shakespeare's validation text (docs/text.md).

    Args:
        lr: the SGD step size (>= 0; 0 scores statically).
        decay: the pull back toward the trained weights, in [0, 1].
        steps: characters per adaptation step.

    Raises:
        InputError: a value outside those ranges.
    """

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
    """The loss of ``ids`` under dynamic evaluation (:class:`DynamicEval`); ``model`` is
    left untouched: a copy adapts.

    Args:
        model: a :class:`~lstmkit.textgen.network.CharLM`.
        ids: (N,) int64 character ids, read as one stream.
        dyn: the settings.

    Returns:
        (total negative log-likelihood in nats, number of predicted characters N-1).

    Raises:
        InputError: fewer than 2 characters.
    """
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
