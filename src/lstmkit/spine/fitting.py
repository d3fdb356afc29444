"""Training plumbing shared by :class:`~lstmkit.sequences.SequenceClassifier` and
:class:`~lstmkit.speech.SpeechRecognizer`: splitting constructor keywords into a config
and layer options, seeding, AdamW with a one-cycle learning rate, and the epoch loop
(shuffled mini-batches, gradients clipped, a history row per epoch with optional
validation). The random draws happen in the same order as the loops these replaced,
so seeded results are unchanged."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import nn

from lstmkit.errors import TrainingInterrupted, check_estimator_keywords


def config_from_kwargs(config_cls, kwargs: dict):
    """``config_cls(...)`` from a constructor's keywords: its own fields go to it, every
    other keyword joins ``layer_options`` (default ``{"backend": "auto"}``) for the
    lstmkit layer (``backend=``, LSTM variants)."""
    fields = {f.name for f in dataclasses.fields(config_cls)}
    check_estimator_keywords(kwargs, fields, config_cls.__name__.removesuffix("Config"))
    known = {k: v for k, v in kwargs.items() if k in fields}
    options = dict(known.pop("layer_options", {"backend": "auto"}))
    options.update({k: v for k, v in kwargs.items() if k not in fields})
    return config_cls(**known, layer_options=options)


def seeded_generator(seed: int) -> torch.Generator:
    """Seed torch's global generator (weight initialisation, dropout) with ``seed`` and
    return a separate generator, seeded alike, for the shuffling (and augmentation)."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def steps_per_epoch(n_items: int, batch_size: int) -> int:
    """Optimiser updates in one epoch: the number of batches, the last one partial."""
    return -(-n_items // batch_size)


def train_one_cycle(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    pct_start: float,
    epochs: int,
    n_items: int,
    batch_size: int,
    gen: torch.Generator,
    batch_loss: Callable[[list[int]], torch.Tensor],
    history: list[dict],
    validate: Callable[[], dict] | None = None,
    log: Callable[[dict], None] | None = None,
    clip_norm: float = 5.0,
) -> None:
    """Train ``model`` for ``epochs`` with AdamW and a one-cycle learning rate peaking
    at ``lr`` (Smith & Topin 2017: it trains in a fixed budget without tuning a decay),
    stepped once per batch.

    Each epoch shuffles the ``n_items`` indices with ``gen`` and, batch by batch, takes
    ``batch_loss(indices)`` (the batch's mean loss) and steps the optimiser (gradients
    clipped at ``clip_norm``) and the schedule. After each epoch a row ``{"epoch",
    "train_loss"}``, plus what ``validate()`` returns when given, is appended to
    ``history`` and passed to ``log``. The model is left in eval mode."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * steps_per_epoch(n_items, batch_size),
        pct_start=pct_start,
    )
    updates = 0
    try:
        for epoch in range(epochs):
            model.train()
            order = torch.randperm(n_items, generator=gen).tolist()
            total = 0.0
            for i in range(0, len(order), batch_size):
                idx = order[i : i + batch_size]
                loss = batch_loss(idx)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
                opt.step()
                sched.step()
                updates += 1
                total += loss.item() * len(idx)
            row = {"epoch": epoch + 1, "train_loss": total / n_items}
            if validate is not None:
                row.update(validate())
            history.append(row)
            if log is not None:
                log(row)
    except KeyboardInterrupt:
        model.eval()
        raise TrainingInterrupted(updates, history, "update") from None
    model.eval()
