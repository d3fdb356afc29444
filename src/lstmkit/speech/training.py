"""What the speech recogniser gives the training engine (:mod:`lstmkit.spine.engine`):
its optimiser recipe and the per-epoch rows of its history. Imported when a fit starts
(Lightning is slow to import; the CLI's start does not need it)."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
from torch import nn

from lstmkit.spine.engine import one_cycle

PCT_START = 0.15  # share of the run spent warming up to the peak learning rate
CLIP = 5.0  # gradient norm clipping: the engine's gradient_clip_val unless one is given


def recipe(lr: float, weight_decay: float) -> Callable:
    """AdamW (every parameter decayed) under a one-cycle learning rate peaking at ``lr``
    after ``PCT_START`` of the run. torch's OneCycleLR divides by ``pct_start x
    total_steps - 1``, zero where that product is exactly 1; there the warm-up is
    shortened by a hair."""

    def configure(net: nn.Module, total_steps: int):
        pct = PCT_START
        if float(pct * max(2, total_steps)) - 1 == 0:
            pct *= 1 - 1e-6
        return one_cycle("adamw", lr, weight_decay, pct_start=pct)(net, total_steps)

    return configure


class EpochRows(L.Callback):
    """The history of a fit, one row per epoch: ``{"epoch", "train_loss"}`` and, with a
    validation set, ``"val_cer"`` (greedy decoding); each row also goes to ``log(row)``
    on the main process. The rows travel in checkpoints, so a resumed run's history is
    whole."""

    def __init__(self, log: Callable[[dict], None] | None = None) -> None:
        self.on_row = log  # not `self.log`: Lightning sets every callback's `log` to the module's
        self.rows: list[dict] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        m = trainer.callback_metrics
        row = {"epoch": trainer.current_epoch + 1}
        for name in ("train_loss", "val_cer"):
            if name in m:
                row[name] = float(m[name])
        self.rows.append(row)
        if self.on_row is not None and trainer.is_global_zero:
            self.on_row(row)

    def state_dict(self) -> dict:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict) -> None:
        self.rows = [dict(r) for r in state_dict["rows"]]
