"""Callbacks: keep the best weights in memory, record the loss curve."""

from __future__ import annotations

import copy
import math

import lightning as L


class KeepBest(L.Callback):
    """Remember the weights of the epoch with the lowest ``monitor`` value and load them
    when training ends, so early stopping returns the best model rather than the last.
    Its state travels in checkpoints, so a resumed run still knows the best so far.

    Args:
        monitor: the logged metric to minimise (default ``"val_loss"``).
    """

    def __init__(self, monitor: str = "val_loss") -> None:
        self.monitor = monitor
        self.best = math.inf
        self.state: dict | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Copy the weights when ``monitor`` improved."""
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is not None and float(value) < self.best:
            self.best = float(value)
            self.state = copy.deepcopy({k: v.detach().cpu() for k, v in pl_module.state_dict().items()})

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Load the best weights seen."""
        if self.state is not None:
            pl_module.load_state_dict(self.state)

    def state_dict(self) -> dict:
        """The best value and its weights, for the checkpoint."""
        return {"best": self.best, "state": self.state}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the best value and weights of an interrupted run."""
        self.best, self.state = state_dict["best"], state_dict["state"]


class RunFingerprint(L.Callback):
    """Writes what a run is (its settings and a digest of its data) into every
    checkpoint, so a resume can refuse a checkpoint from another run.

    Args:
        fingerprint: the run's settings and :func:`digest` of its data.
    """

    KEY = "lstmkit_fingerprint"

    def __init__(self, fingerprint: dict) -> None:
        self.fingerprint = fingerprint

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        """Store the fingerprint under :attr:`KEY`."""
        checkpoint[self.KEY] = self.fingerprint


class RandomState(L.Callback):
    """Carries the random generators' states (torch, numpy, Python) in checkpoints and
    restores them on resume, so dropout and other draws continue where the interrupted
    run left them rather than restarting from the seed."""

    def state_dict(self) -> dict:
        """The torch, numpy and Python generators' states (plain types and tensors)."""
        import random

        import numpy as np
        import torch

        name, keys, pos, has_gauss, cached = np.random.get_state()
        # plain types and tensors only: Lightning reads checkpoints with weights_only
        return {"torch": torch.get_rng_state(), "python": random.getstate(),
                "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)]}

    def load_state_dict(self, state_dict: dict) -> None:
        """Set the three generators to the saved states."""
        import random

        import numpy as np
        import torch

        torch.set_rng_state(state_dict["torch"])
        name, keys, pos, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        random.setstate(state_dict["python"])


class Checkpointing(L.Callback):
    """Writes ``folder/last.ckpt`` every ``every_n_steps`` optimiser steps or every
    ``every_seconds`` seconds of training, whichever comes first (default steps: a
    twentieth of the planned run when it is known); one due at an epoch's last batch is
    taken at the epoch's end, after its validation and loss record. Each write goes to a temporary file
    that then replaces the last one, so a run killed while writing leaves the previous
    checkpoint whole. Under DDP rank 0 decides when, and every process takes part.

    Args:
        folder: the checkpoint directory.
        every_n_steps: optimiser steps between checkpoints (None: a twentieth of the
            planned run when known).
        every_seconds: seconds between checkpoints (default 60; None: by steps only).
    """

    FILE = "last.ckpt"

    def __init__(self, folder, every_n_steps: int | None = None, every_seconds: float | None = 60.0) -> None:
        from pathlib import Path

        self.folder = Path(folder)
        self.every_n_steps = every_n_steps
        self.every_seconds = every_seconds
        self._n: int | None = every_n_steps
        self._last_step = 0
        self._last_time = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Fix the step interval (a twentieth of the planned run when not given) and start the clock."""
        import time

        if self.every_n_steps is None:
            planned = trainer.estimated_stepping_batches
            self._n = max(1, int(planned) // 20) if math.isfinite(planned) else None
        self._last_step = trainer.global_step
        self._last_time = time.monotonic()

    def _due(self, trainer: L.Trainer) -> bool:
        import time

        due = bool(self._n and trainer.global_step - self._last_step >= self._n)
        due = due or bool(self.every_seconds and time.monotonic() - self._last_time >= self.every_seconds)
        if trainer.world_size > 1:
            due = trainer.strategy.broadcast(due)
        return due

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        """Save when due, except at an epoch's last batch (saved at the epoch's end)."""
        # at an epoch's last batch, wait for its end (validation, the epoch's losses):
        # a checkpoint taken there resumes with the whole epoch's record
        if not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch and self._due(trainer):
            self.save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Save when due."""
        if self._due(trainer):
            self.save(trainer)

    def save(self, trainer: L.Trainer) -> None:
        """Write ``folder/last.ckpt`` now, through a temporary file that replaces it."""
        import os
        import time

        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{self.FILE}.partial"
        trainer.save_checkpoint(tmp)
        if trainer.is_global_zero:
            os.replace(tmp, self.folder / self.FILE)
        self._last_step, self._last_time = trainer.global_step, time.monotonic()


class EpochRows(L.Callback):
    """The history of a fit as one row per epoch: ``{"epoch", "train_loss", ...}`` with
    every ``train_*`` and ``val_*`` metric the module logged, each row also passed to
    ``log(row)`` on the main process. The rows travel in checkpoints, so a resumed run's
    history is whole (the epoch a mid-epoch checkpoint interrupted averages only the
    batches after the resume).

    Args:
        log: called with each row on the main process (None: not called).
    """

    def __init__(self, log=None) -> None:
        self.on_row = log  # not `self.log`: Lightning sets every callback's `log` to the module's
        self.rows: list[dict] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Add the epoch's row and pass it to ``log``."""
        row = {"epoch": trainer.current_epoch + 1}
        for name, value in sorted(trainer.callback_metrics.items()):
            if name.startswith(("train_", "val_")) and getattr(value, "numel", lambda: 1)() == 1:
                row[name] = float(value)
        self.rows.append(row)
        if self.on_row is not None and trainer.is_global_zero:
            self.on_row(row)

    @property
    def train(self) -> list[float]:
        """``train_loss`` of every epoch that logged one."""
        return [r["train_loss"] for r in self.rows if "train_loss" in r]

    @property
    def val(self) -> list[float]:
        """``val_loss`` of every epoch that had a validation pass."""
        return [r["val_loss"] for r in self.rows if "val_loss" in r]

    def state_dict(self) -> dict:
        """The rows so far, for the checkpoint."""
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the rows of an interrupted run."""
        self.rows = [dict(r) for r in state_dict["rows"]]


def digest(*parts) -> str:
    """SHA-256 of what a run trains on, for its fingerprint (:class:`RunFingerprint`):
    arrays and tensors by shape, dtype and bytes, strings as UTF-8, lists and tuples item
    by item, anything else as JSON. Two runs on the same data give the same digest.

    Args:
        *parts: the data.

    Returns:
        The hex digest.
    """
    import hashlib
    import json

    import numpy as np
    import torch

    h = hashlib.sha256()

    def feed(x) -> None:
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu()
            x = (x.float() if x.dtype == torch.bfloat16 else x).contiguous().numpy()
        if isinstance(x, np.ndarray):
            h.update(f"a{x.shape}{x.dtype.str}".encode())
            h.update(np.ascontiguousarray(x).tobytes())
        elif isinstance(x, str):
            h.update(b"s" + x.encode("utf-8", "surrogatepass") + b"\x00")
        elif isinstance(x, (list, tuple)):
            h.update(f"l{len(x)}".encode())
            for item in x:
                feed(item)
        else:
            h.update(b"j" + json.dumps(x, ensure_ascii=False, default=str).encode() + b"\x00")

    for part in parts:
        feed(part)
    return h.hexdigest()
