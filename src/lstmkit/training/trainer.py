"""Building a Lightning Trainer with lstmkit's defaults, and running a fit.

Defaults chosen for small in-memory models: no logger directory, no model summary, no
sanity validation pass; checkpoints only when a directory is given (``last.ckpt``, so an
interrupted run resumes with ``resume=True``). Every other Trainer argument
(``accelerator``, ``devices``, ``strategy``, ``num_nodes``, ``precision``,
``enable_progress_bar``, ...) passes through unchanged, which is what lets the same code
run on DDP across processes, GPUs or nodes under torchrun or SLURM.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from lstmkit.training.callbacks import KeepBest, LossHistory


@dataclass
class FitOutcome:
    """What a fit leaves behind besides the trained module."""

    history: LossHistory
    epochs: int
    stopped_early: bool
    is_global_zero: bool
    world_size: int


@contextlib.contextmanager
def _quiet_lightning():
    # Lightning announces devices, tips and stop reasons at INFO on every fit: during
    # our fits keep the output to what matters, then give the user's levels back
    logs = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [log.level for log in logs]
    for log in logs:
        log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # one in-memory batch needs no loader workers, and a run without a validation
            # split has no validation batches: Lightning warns about both anyway
            for text in (".*does not have many workers.*", ".*smaller than the logging interval.*",
                         ".*across ranks is zero.*", ".*LeafSpec.*", ".*exists and is not empty.*"):
                warnings.filterwarnings("ignore", text)
            yield
    finally:
        for log, level in zip(logs, levels):
            log.setLevel(level)


def make_trainer(max_epochs: int, *, has_val: bool, patience: int | None = None,
                 checkpoint_dir: str | Path | None = None, **trainer_kwargs) -> tuple[L.Trainer, LossHistory]:
    """A Trainer with early stopping on ``val_loss`` (when ``has_val`` and ``patience``),
    best-weight restore, a loss history and, with ``checkpoint_dir``, a ``last.ckpt``
    written every few epochs. ``trainer_kwargs`` override the defaults."""
    history = LossHistory()
    callbacks: list[L.Callback] = [history]
    if has_val:
        callbacks.append(KeepBest("val_loss"))
        if patience:
            callbacks.append(EarlyStopping("val_loss", patience=patience, mode="min"))
    if checkpoint_dir is not None:
        # one file, last.ckpt, overwritten every few epochs: what resume needs, no more
        callbacks.append(ModelCheckpoint(dirpath=str(checkpoint_dir), filename="last", save_top_k=1,
                                         enable_version_counter=False,
                                         every_n_epochs=max(1, max_epochs // 20)))
    callbacks += list(trainer_kwargs.pop("callbacks", None) or [])
    options = {
        "max_epochs": max_epochs,
        "logger": False,
        "enable_model_summary": False,
        "enable_checkpointing": checkpoint_dir is not None,
        "num_sanity_val_steps": 0,
        "log_every_n_steps": 1,
        "deterministic": False,
    }
    if not has_val:
        options["limit_val_batches"] = 0
    options.update(trainer_kwargs)
    return L.Trainer(callbacks=callbacks, **options), history


def fit_module(module: L.LightningModule, data: L.LightningDataModule, *, max_epochs: int,
               seed: int, has_val: bool, patience: int | None = None,
               checkpoint_dir: str | Path | None = None, resume: bool = False,
               **trainer_kwargs) -> FitOutcome:
    """Train ``module`` on ``data``; with ``resume`` continue from ``checkpoint_dir/last.ckpt``
    when it exists (else start afresh). Returns the loss history and where it stopped."""
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs a checkpoint directory to resume from")
    with _quiet_lightning():  # the Trainer's constructor announces the devices
        trainer, history = make_trainer(max_epochs, has_val=has_val, patience=patience,
                                        checkpoint_dir=checkpoint_dir, **trainer_kwargs)
    ckpt = None
    if resume:
        last = Path(checkpoint_dir) / "last.ckpt"
        ckpt = str(last) if last.is_file() else None
    with _quiet_lightning():
        L.seed_everything(seed, workers=True, verbose=False)
        trainer.fit(module, datamodule=data, ckpt_path=ckpt)
    return FitOutcome(history, trainer.current_epoch, trainer.should_stop and trainer.current_epoch < max_epochs,
                      trainer.is_global_zero, trainer.world_size)
