"""Running a fit on Lightning with lstmkit's defaults.

Every task trains through :func:`fit_module`. What it adds to ``lightning.Trainer``:
no logger directory, no model summary, no sanity validation pass; progress as a live bar
on a terminal, a line every few seconds off one, nothing with ``verbose=False``; early
stopping on ``val_loss`` and the best weights restored at the end; with
``checkpoint_dir`` a ``last.ckpt`` written every few steps or seconds (atomically), with
the run's fingerprint and the random generators' states, and ``resume`` that checks the
checkpoint against the run before continuing from it. Every other Trainer argument
(``accelerator``, ``devices``, ``strategy``, ``num_nodes``, ``precision``, ``max_time``,
``max_steps``, ...) passes through unchanged, so DDP over CPU processes, GPUs or nodes
(torchrun, SLURM) needs no task code.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import inspect
import logging
import signal
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import EarlyStopping

from lstmkit.errors import InputError, TrainingInterrupted, check_keywords
from lstmkit.spine.engine.callbacks import (
    Checkpointing,
    EpochRows,
    KeepBest,
    RandomState,
    RunFingerprint,
)
from lstmkit.spine.engine.progress import progress_callbacks

CHECKPOINT = Checkpointing.FILE
# keywords the engine takes besides lightning.Trainer's own
ENGINE_KEYWORDS = ("checkpoint_dir", "checkpoint_every_n_steps", "checkpoint_every_seconds", "verbose")


def trainer_keywords() -> set[str]:
    """Every keyword a task's ``trainer_kwargs`` may hold."""
    return {p for p in inspect.signature(L.Trainer.__init__).parameters if p != "self"} | set(ENGINE_KEYWORDS)


def split_keywords(kwargs: dict, own: set[str] | list[str], where: str,
                   extra: set[str] | list[str] = ()) -> tuple[dict, dict]:
    """Split a constructor's keywords between the estimator and the engine.

    Args:
        kwargs: the keywords given.
        own: the estimator's own names (its config's fields).
        where: the class named in error messages.
        extra: other names that stay with the own ones (e.g. recurrent layer options).

    Returns:
        ``(own, engine)``: two dicts.

    Raises:
        InputError: a keyword that is none of these, naming the closest valid one; a
            checkpoint interval without ``checkpoint_dir`` (it would be ignored).
    """
    engine = trainer_keywords()
    check_keywords(kwargs, {*own, *engine, *extra}, where)
    every = [k for k in ("checkpoint_every_n_steps", "checkpoint_every_seconds") if kwargs.get(k) is not None]
    if every and not kwargs.get("checkpoint_dir"):
        raise InputError(f"{where}: {every[0]} sets how often checkpoints are written to checkpoint_dir, "
                         "which is not given: give checkpoint_dir too (on the command line, "
                         "--checkpoint-every needs --checkpoint-dir)")
    mine = {k: v for k, v in kwargs.items() if k in own or (k in extra and k not in engine)}
    return mine, {k: v for k, v in kwargs.items() if k not in mine}


@dataclass
class FitOutcome:
    """What a fit leaves behind besides the trained module.

    Attributes:
        history: one row per epoch; ``.train`` and ``.val`` are the loss curves.
        epochs: epochs run.
        steps: optimiser steps run.
        stopped_early: whether early stopping ended the run.
        is_global_zero: whether this is the first process (the one that reports and saves).
        world_size: processes in the run.
        resumed_from: ``{"path", "epoch", "step"}`` of the checkpoint resumed, else None.
    """

    history: EpochRows  # one row per epoch; .train and .val: the loss curves
    epochs: int
    steps: int
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
            # in-memory batches need no loader workers, and a run without a validation
            # split has no validation batches: Lightning warns about both anyway
            for text in (".*does not have many workers.*", ".*smaller than the logging interval.*",
                         ".*across ranks is zero.*", ".*LeafSpec.*", ".*exists and is not empty.*",
                         ".*fault-tolerant.*", ".*resuming from a checkpoint.*mid-epoch.*"):
                warnings.filterwarnings("ignore", text)
            yield
    finally:
        for log, level in zip(logs, levels):
            log.setLevel(level)


def make_trainer(*, has_val: bool, patience: int | None = None, checkpoint_dir: str | Path | None = None,
                 checkpoint_every_n_steps: int | None = None, checkpoint_every_seconds: float | None = 60.0,
                 fingerprint: dict | None = None, verbose: bool = True, monitor: str = "val_loss",
                 history: EpochRows | None = None, **trainer_kwargs) -> tuple[L.Trainer, EpochRows]:
    """A Trainer with lstmkit's defaults (module docstring), recording one row per epoch
    in ``history`` (a new :class:`EpochRows` when None).

    Args:
        has_val: whether the data has a validation set (early stopping and best-weight
            restore watch ``monitor``).
        patience: epochs without improvement before stopping (None: no early stopping).
        checkpoint_dir: where ``last.ckpt`` is written (None: no checkpoints).
        checkpoint_every_n_steps: steps between checkpoints (None: a twentieth of the
            planned run).
        checkpoint_every_seconds: seconds between checkpoints (default 60).
        fingerprint: written into every checkpoint.
        verbose: show progress.
        monitor: the validation metric watched (default ``"val_loss"``).
        history: the :class:`EpochRows` to record into.
        **trainer_kwargs: ``lightning.Trainer`` arguments, over lstmkit's defaults.

    Returns:
        ``(trainer, history)``.

    Raises:
        InputError: a device, strategy or precision Lightning cannot use here.
    """
    history = EpochRows() if history is None else history
    callbacks: list[L.Callback] = [history, RandomState()]
    if fingerprint is not None:
        callbacks.append(RunFingerprint(fingerprint))
    if has_val:
        callbacks.append(KeepBest(monitor))
        if patience:
            callbacks.append(EarlyStopping(monitor, patience=patience, mode="min"))
    if checkpoint_dir is not None:
        callbacks.append(Checkpointing(checkpoint_dir, checkpoint_every_n_steps, checkpoint_every_seconds))
    if trainer_kwargs.get("enable_progress_bar") is False:  # Lightning's own switch says quiet too
        verbose = False
    bar_callbacks, bar = progress_callbacks(verbose)
    callbacks += bar_callbacks
    callbacks += list(trainer_kwargs.pop("callbacks", None) or [])
    options = {
        "logger": False,
        "enable_model_summary": False,
        "enable_checkpointing": False,  # Checkpointing writes last.ckpt itself
        "enable_progress_bar": bar,
        "num_sanity_val_steps": 0,
        "log_every_n_steps": 1,
        "deterministic": False,
    }
    if not has_val:
        options["limit_val_batches"] = 0
    options.update(trainer_kwargs)
    if isinstance(options.get("max_time"), (int, float)):  # seconds, as the CLI's --max-time
        import datetime

        seconds = float(options["max_time"])
        # inf, or more than a timedelta holds (about 2.7 million years): no time limit
        longest = datetime.timedelta.max.total_seconds()
        options["max_time"] = datetime.timedelta(seconds=seconds) if seconds < longest else None
    try:
        trainer = L.Trainer(callbacks=callbacks, **options)
    except (MisconfigurationException, ValueError, TypeError, RuntimeError) as exc:
        raise InputError(f"lightning.Trainer cannot run with these settings here: "
                         f"{str(exc).splitlines()[0]}") from None
    return trainer, history


def check_checkpoint(checkpoint_dir, fingerprint: dict | None, shapes: dict[str, tuple] | None,
                     state_key: str = "state_dict") -> tuple[dict, Path]:
    """The checkpoint ``checkpoint_dir/last.ckpt`` read and checked.

    Args:
        checkpoint_dir: the run's checkpoint directory.
        fingerprint: the run's settings and data digest (None: not checked).
        shapes: weight name -> shape of the network about to be trained (None: not
            checked).
        state_key: where the checkpoint keeps the weights (``"state_dict"`` for
            Lightning's, ``"model"`` for a Fabric loop's).

    Returns:
        ``(checkpoint, path)``: the loaded dict and the file.

    Raises:
        InputError: one line, when the directory or the file is missing, the file is
            not a checkpoint, it was written by a run of another fingerprint, or its
            weights have other shapes.
    """
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
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file, whatever unpickling raises
        raise InputError(f"cannot resume from {path}: not a readable checkpoint ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(ckpt, dict) or state_key not in ckpt:
        raise InputError(f"cannot resume from {path}: not an lstmkit training checkpoint")
    saved = ckpt.get(RunFingerprint.KEY)
    if fingerprint is not None and saved is not None and saved != fingerprint:
        keys = sorted(k for k in set(saved) | set(fingerprint) if saved.get(k) != fingerprint.get(k))
        raise InputError(f"cannot resume from {path}: it was written by a run with other settings or "
                         f"data (differs in: {', '.join(keys)}); use the same settings and data, or a "
                         "new checkpoint directory")
    if shapes is not None:
        theirs = {k: tuple(v.shape) for k, v in ckpt[state_key].items() if hasattr(v, "shape")}
        if shapes != theirs:
            differ = sorted(k for k in set(shapes) | set(theirs) if shapes.get(k) != theirs.get(k))
            raise InputError(f"cannot resume from {path}: it was written by a run with another network "
                             f"(weights differ: {', '.join(differ[:3])}{' ...' if len(differ) > 3 else ''}); "
                             "use the same settings and data, or a new checkpoint directory")
    return ckpt, path


def destroy_process_group_at_exit() -> None:
    """Where DDP's process group is up, destroy it when the interpreter exits, while the
    interpreter is still whole (registered once per process; the group stays up for
    whatever the task does after the fit).

    Lightning leaves the group up after ``fit``; a process that then exits with it alive
    can abort in interpreter finalisation ("terminate called without an active
    exception", exit status -6: Gloo's worker threads outlive the interpreter; PyTorch
    issue 190489), after the run's work is done."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        _register_destroy()


@functools.cache
def _register_destroy() -> None:
    def destroy() -> None:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    atexit.register(destroy)


def fit_module(module: L.LightningModule, data: L.LightningDataModule, *, seed: int, has_val: bool,
               patience: int | None = None, checkpoint_dir: str | Path | None = None, resume: bool = False,
               fingerprint: dict | None = None, verbose: bool = True, history: EpochRows | None = None,
               **trainer_kwargs) -> FitOutcome:
    """Train ``module`` on ``data`` with lstmkit's Trainer (:func:`make_trainer`).

    Args:
        module: the LightningModule (e.g. a :class:`TaskModule`).
        data: the LightningDataModule (e.g. an :class:`IndexData`).
        seed: seeds everything the run draws.
        has_val: whether ``data`` has a validation set (early stopping and best-weight
            restore watch ``val_loss``).
        patience: epochs without a better validation loss before stopping (None: no
            early stopping).
        checkpoint_dir: where ``last.ckpt`` is written (None: no checkpoints).
        resume: continue from ``checkpoint_dir/last.ckpt`` (checked by
            :func:`check_checkpoint`), saying so on stderr.
        fingerprint: the run's settings and data digest, written into checkpoints.
        verbose: show progress.
        history: the :class:`EpochRows` to record into (None: a new one).
        **trainer_kwargs: ``lightning.Trainer`` arguments (``max_epochs``,
            ``max_steps``, ``max_time``, ``accelerator``, ``precision``...).

    Returns:
        A :class:`FitOutcome`: the history, where it stopped and where it resumed from.

    Raises:
        InputError: settings Lightning cannot use here, or a checkpoint that does not
            fit the run.
        TrainingInterrupted: on Ctrl-C (``step``: optimiser steps done), the module
            keeping what it learned.
    """
    if resume and checkpoint_dir is None:
        raise InputError("resume needs a checkpoint directory to resume from (checkpoint_dir)")
    point = None
    if resume:
        shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        ckpt, path = check_checkpoint(checkpoint_dir, fingerprint, shapes)
        point = {"path": str(path), "epoch": int(ckpt.get("epoch", 0)), "step": int(ckpt.get("global_step", 0))}
    with _quiet_lightning():  # the Trainer's constructor announces the devices
        trainer, history = make_trainer(has_val=has_val, patience=patience, checkpoint_dir=checkpoint_dir,
                                        fingerprint=fingerprint, verbose=verbose, history=history,
                                        **trainer_kwargs)
    if point is not None and trainer.is_global_zero:  # said even when quiet: where the run went on from
        print(f"resumed from step {point['step']} (epoch {point['epoch']}) of {point['path']}",
              file=sys.stderr, flush=True)
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
    destroy_process_group_at_exit()
    max_epochs = trainer.max_epochs if trainer.max_epochs is not None else -1
    early = trainer.should_stop and (max_epochs < 0 or trainer.current_epoch < max_epochs)
    return FitOutcome(history, trainer.current_epoch, trainer.global_step, early, trainer.is_global_zero,
                      trainer.world_size, point)
