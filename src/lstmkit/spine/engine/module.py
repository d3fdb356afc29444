"""The LightningModule every task trains through: a network, the task's loss, its
validation metrics and its optimiser recipe."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
from torch import Tensor, nn


def _batch_len(batch) -> int:
    first = batch
    while isinstance(first, (tuple, list)) and first:
        first = first[0]
    if isinstance(first, dict):
        first = next(iter(first.values()))
    return len(first) if hasattr(first, "__len__") else 1


def one_cycle(optimizer: str = "adamw", lr: float = 3e-3, weight_decay: float = 0.0,
              pct_start: float = 0.3, no_decay: Callable[[str, nn.Parameter], bool] | None = None,
              betas: tuple[float, float] = (0.9, 0.999)) -> Callable:
    """A recipe for :class:`TaskModule`: Adam or AdamW with the one-cycle learning rate
    (Smith & Topin 2017) peaking at ``lr``, stepped once per optimiser step over the
    planned run.

    Args:
        optimizer: ``"adamw"`` (default) or ``"adam"``.
        lr: the peak learning rate (default 3e-3).
        weight_decay: default 0.
        pct_start: the share of the run spent warming up (default 0.3).
        no_decay: parameters for which ``no_decay(name, p)`` holds get no weight decay.
        betas: Adam's (default (0.9, 0.999)).

    Returns:
        ``recipe(net, total_steps)`` -> Lightning's optimizer configuration.

    Raises:
        ValueError: an optimizer other than ``"adam"`` or ``"adamw"``.
    """
    if optimizer not in ("adam", "adamw"):
        raise ValueError(f"optimizer must be 'adam' or 'adamw', got {optimizer!r}")

    def configure(net: nn.Module, total_steps: int):
        named = list(net.named_parameters())
        keep = [p for n, p in named if no_decay is not None and no_decay(n, p)]
        decay = [p for n, p in named if no_decay is None or not no_decay(n, p)]
        groups = [g for g in ({"params": decay, "weight_decay": weight_decay},
                              {"params": keep, "weight_decay": 0.0}) if g["params"]]
        cls = torch.optim.AdamW if optimizer == "adamw" else torch.optim.Adam
        opt = cls(groups, lr=lr, betas=betas)
        total = max(2, total_steps)
        # torch's OneCycleLR divides by pct_start x total - 1, zero for a warm-up of exactly
        # one step (e.g. 10 steps at 0.1): shorten it by a hair, so that such a run starts
        # at the peak as every shorter one does
        pct = pct_start * (1 - 1e-6) if float(pct_start * total) - 1 == 0 else pct_start
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=pct)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return configure


class TaskModule(L.LightningModule):
    """Trains ``net`` on ``loss(net, batch) -> Tensor`` (the batch's mean loss) with the
    optimiser ``recipe(net, total_steps)`` (e.g. :func:`one_cycle`). ``validate(net,
    batch) -> {name: value}`` gives metrics averaged over the validation batches and
    logged as ``val_<name>`` (``val_loss`` among them is what early stopping and
    best-weight restore watch). ``batch_size(batch)`` weighs the averages (default: the
    length of the batch's first tensor).

    Args:
        net: the network to train.
        loss: ``loss(net, batch) -> Tensor``, the batch's mean loss.
        recipe: ``recipe(net, total_steps)`` -> the optimiser configuration.
        validate: ``validate(net, batch) -> {name: value}`` (None: the loss alone).
        batch_size: ``batch_size(batch) -> int``.
    """

    def __init__(self, net: nn.Module, loss: Callable[[nn.Module, object], Tensor], recipe: Callable,
                 validate: Callable[[nn.Module, object], dict] | None = None,
                 batch_size: Callable[[object], int] | None = None) -> None:
        super().__init__()
        self.net = net
        self._loss, self._recipe, self._validate = loss, recipe, validate
        self._batch_size = batch_size or _batch_len

    def training_step(self, batch, batch_idx: int) -> Tensor:
        """The batch's loss, logged as ``train_loss``."""
        loss = self._loss(self.net, batch)
        self.log("train_loss", loss.detach(), on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=self._batch_size(batch), sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        """Log the batch's ``val_*`` metrics (``val_loss`` without ``validate``)."""
        if self._validate is None:
            values = {"loss": self._loss(self.net, batch)}
        else:
            values = self._validate(self.net, batch)
        n = self._batch_size(batch)
        for name, value in values.items():
            self.log(f"val_{name}", torch.as_tensor(value, dtype=torch.float32), on_step=False, on_epoch=True,
                     prog_bar=name == "loss", batch_size=n, sync_dist=True)

    def configure_optimizers(self):
        """The recipe's optimiser and schedule over the planned steps; InputError when the
        run has no planned length (``max_time`` alone)."""
        total = self.trainer.estimated_stepping_batches
        if total == float("inf"):
            from lstmkit.errors import InputError

            raise InputError("the learning-rate schedule needs the planned number of steps: give "
                             "max_epochs or max_steps (max_time alone only caps the run)")
        return self._recipe(self.net, int(total))
