"""Callbacks: keep the best weights in memory, record the loss curve."""

from __future__ import annotations

import copy
import math

import lightning as L


class KeepBest(L.Callback):
    """Remember the weights of the epoch with the lowest ``monitor`` value and load them
    when training ends, so early stopping returns the best model rather than the last.
    Its state travels in checkpoints, so a resumed run still knows the best so far."""

    def __init__(self, monitor: str = "val_loss") -> None:
        self.monitor = monitor
        self.best = math.inf
        self.state: dict | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None and float(value) < self.best:
            self.best = float(value)
            self.state = copy.deepcopy({k: v.detach().cpu() for k, v in pl_module.state_dict().items()})

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.state is not None:
            pl_module.load_state_dict(self.state)

    def state_dict(self) -> dict:
        return {"best": self.best, "state": self.state}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best, self.state = state_dict["best"], state_dict["state"]


class LossHistory(L.Callback):
    """Per-epoch ``train_loss`` (and ``val_loss`` when there is a validation split)."""

    def __init__(self) -> None:
        self.train: list[float] = []
        self.val: list[float] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        m = trainer.callback_metrics
        if "train_loss" in m:
            self.train.append(float(m["train_loss"]))
        if "val_loss" in m:
            self.val.append(float(m["val_loss"]))

    def state_dict(self) -> dict:
        return {"train": self.train, "val": self.val}

    def load_state_dict(self, state_dict: dict) -> None:
        self.train, self.val = list(state_dict["train"]), list(state_dict["val"])



class RunFingerprint(L.Callback):
    """Writes what a run is (its settings and a digest of its data) into every
    checkpoint, so a resume can refuse a checkpoint from another run."""

    KEY = "lstmkit_fingerprint"

    def __init__(self, fingerprint: dict) -> None:
        self.fingerprint = fingerprint

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint[self.KEY] = self.fingerprint
