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
import signal
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning as L
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from lstmkit.errors import InputError, TrainingInterrupted
from lstmkit.training.callbacks import KeepBest, LossHistory, RunFingerprint

CHECKPOINT = "last.ckpt"


@dataclass
class FitOutcome:
    """What a fit leaves behind besides the trained module."""

    history: LossHistory
    epochs: int
    stopped_early: bool
    is_global_zero: bool
    world_size: int
    resumed_from: dict | None = None  # {"path", "epoch", "step"} of the checkpoint resumed


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
                 checkpoint_dir: str | Path | None = None, fingerprint: dict | None = None,
                 **trainer_kwargs) -> tuple[L.Trainer, LossHistory]:
    """A Trainer with early stopping on ``val_loss`` (when ``has_val`` and ``patience``),
    best-weight restore, a loss history and, with ``checkpoint_dir``, a ``last.ckpt``
    written every few epochs (carrying ``fingerprint``, what the run was: its settings
    and data, checked when it is resumed). ``trainer_kwargs`` override the defaults; a
    device, strategy or precision Lightning cannot use here raises InputError."""
    history = LossHistory()
    callbacks: list[L.Callback] = [history]
    if fingerprint is not None:
        callbacks.append(RunFingerprint(fingerprint))
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
    try:
        trainer = L.Trainer(callbacks=callbacks, **options)
    except (MisconfigurationException, ValueError, TypeError) as exc:
        raise InputError(f"lightning.Trainer cannot run with these settings here: "
                         f"{str(exc).splitlines()[0]}") from None
    return trainer, history


def _resume_point(checkpoint_dir, module: L.LightningModule, fingerprint: dict | None) -> dict:
    """The checkpoint to resume from, checked: it exists, and it was written by a run of
    the same settings on the same data (its fingerprint, else its weights' shapes)."""
    import torch

    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        raise InputError(f"cannot resume: the checkpoint directory {folder} does not exist")
    path = folder / CHECKPOINT
    if not path.is_file():
        raise InputError(f"cannot resume: {folder} holds no {CHECKPOINT} (the interrupted run had written "
                         "none yet); start again without resume")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated or foreign file
        raise InputError(f"cannot resume from {path}: not a readable checkpoint ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise InputError(f"cannot resume from {path}: not a Lightning checkpoint")
    saved = ckpt.get(RunFingerprint.KEY)
    if fingerprint is not None and saved is not None and saved != fingerprint:
        keys = sorted(k for k in set(saved) | set(fingerprint) if saved.get(k) != fingerprint.get(k))
        raise InputError(f"cannot resume from {path}: it was written by a run with other settings or "
                         f"data (differs in: {', '.join(keys)}); use the same settings and data, or a "
                         "new checkpoint directory")
    ours = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in ckpt["state_dict"].items() if hasattr(v, "shape")}
    if ours != theirs:
        differ = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
        raise InputError(f"cannot resume from {path}: it was written by a run with another network "
                         f"(weights differ: {', '.join(differ[:3])}{' ...' if len(differ) > 3 else ''}); "
                         "use the same settings and data, or a new checkpoint directory")
    return {"path": str(path), "epoch": int(ckpt.get("epoch", 0)), "step": int(ckpt.get("global_step", 0))}


def fit_module(module: L.LightningModule, data: L.LightningDataModule, *, max_epochs: int,
               seed: int, has_val: bool, patience: int | None = None,
               checkpoint_dir: str | Path | None = None, resume: bool = False,
               fingerprint: dict | None = None, **trainer_kwargs) -> FitOutcome:
    """Train ``module`` on ``data``; with ``resume`` continue from ``checkpoint_dir/last.ckpt``
    (InputError when there is none, or when it comes from a run whose ``fingerprint``
    or network differs). Returns the loss history, where it stopped and where it
    resumed from. Ctrl-C raises :class:`~lstmkit.errors.TrainingInterrupted` (``step``:
    optimiser steps done), the module keeping what it learned."""
    if resume and checkpoint_dir is None:
        raise InputError("resume=True needs a checkpoint directory to resume from")
    point = _resume_point(checkpoint_dir, module, fingerprint) if resume else None
    with _quiet_lightning():  # the Trainer's constructor announces the devices
        trainer, history = make_trainer(max_epochs, has_val=has_val, patience=patience,
                                        checkpoint_dir=checkpoint_dir, fingerprint=fingerprint,
                                        **trainer_kwargs)
    handler = signal.getsignal(signal.SIGINT)
    with _quiet_lightning():
        L.seed_everything(seed, workers=True, verbose=False)
        try:
            trainer.fit(module, datamodule=data, ckpt_path=point["path"] if point else None)
        except SystemExit:
            # Lightning turns Ctrl-C into a shutdown and sys.exit(1), leaving SIGINT ignored
            if not trainer.interrupted:
                raise
            signal.signal(signal.SIGINT, handler)
            raise TrainingInterrupted(trainer.global_step, history) from None
    return FitOutcome(history, trainer.current_epoch, trainer.should_stop and trainer.current_epoch < max_epochs,
                      trainer.is_global_zero, trainer.world_size, point)
