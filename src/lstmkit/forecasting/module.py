"""The LightningModule that trains a window model with a quantile loss."""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor, nn

from lstmkit.forecasting.network import pinball_loss


class WindowModule(L.LightningModule):
    """Trains ``net`` (called as ``net(x, feats)`` -> (E, B, H, Q)) on batches
    ``(x, feats, target)`` with the doubled pinball loss over ``quantiles``.

    Optimiser: Adam with L2 ``weight_decay`` on all but the linear parts named in
    ``NO_DECAY``; learning rate on a one-cycle schedule
    (Smith & Topin 2017) stepped per batch over the whole run, which trains in a few
    hundred steps without tuning the rate per data set.

    Args:
        net: the network, ``net(x, feats) -> (E, B, H, Q)``.
        quantiles: the Q levels.
        lr: the peak learning rate (default 1e-2).
        weight_decay: L2 weight decay (default 1e-2).
    """

    NO_DECAY = ("season_weight", "season_slope", "last_weight", "step_effect.weight", "step_effect.bias")

    def __init__(self, net: nn.Module, quantiles: list[float], lr: float = 1e-2,
                 weight_decay: float = 1e-2) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("quantiles", torch.tensor(quantiles, dtype=torch.float32), persistent=False)
        self.lr, self.weight_decay = lr, weight_decay

    def _loss(self, batch: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        x, feats, target = batch
        return pinball_loss(self.net(x, feats), target, self.quantiles)

    def training_step(self, batch, batch_idx: int) -> Tensor:
        """The pinball loss of a batch ``(x, feats, target)``, logged as ``train_loss``."""
        loss = self._loss(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=len(batch[0]), sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> Tensor:
        """The pinball loss of a validation batch, logged as ``val_loss``."""
        loss = self._loss(batch)
        self.log("val_loss", loss, on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=len(batch[0]), sync_dist=True)
        return loss

    def configure_optimizers(self):
        """Adam with the decay groups and the one-cycle schedule of the class docstring."""
        # the seasonal and last-value weights and the covariate effect are a few numbers
        # with a meaning (how seasonal, how random-walk-like, how strong a promotion):
        # decay would bias them toward 0
        decay = [p for n, p in self.net.named_parameters() if not n.endswith(self.NO_DECAY)]
        keep = [p for n, p in self.net.named_parameters() if n.endswith(self.NO_DECAY)]
        groups = [{"params": decay, "weight_decay": self.weight_decay}, {"params": keep, "weight_decay": 0.0}]
        opt = torch.optim.Adam([g for g in groups if g["params"]], lr=self.lr)
        total = max(2, int(self.trainer.estimated_stepping_batches))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=total)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
