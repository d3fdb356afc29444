"""The engine for a task that owns its training loop (truncated backpropagation through
time carries the recurrent state from one batch to the next, which a Trainer's batches
do not): Lightning Fabric with the same settings as :func:`~lstmkit.spine.engine.fit_module`
(``accelerator``, ``devices``, ``strategy``, ``num_nodes``, ``precision``), the same
checkpoint file and checks, and the same progress lines.

A loop uses it as::

    fabric = launch(trainer_kwargs)                      # one process per device under DDP
    model, opt = fabric.setup(model, opt)
    ckpt = LoopCheckpoints(folder, fingerprint, every_n_steps, every_seconds)
    state = {"model": model, "optimizer": opt, "step": 0, ...}
    if resume: ckpt.restore(fabric, state)                # checked, says from where
    while ...:
        ...one step...
        ckpt.maybe_save(fabric, state)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from lstmkit.errors import InputError
from lstmkit.spine.engine.callbacks import RunFingerprint
from lstmkit.spine.engine.trainer import (
    CHECKPOINT,
    _quiet_lightning,
    check_checkpoint,
    destroy_process_group_at_exit,
)

FABRIC_KEYWORDS = ("accelerator", "devices", "strategy", "num_nodes", "precision")


def launch(trainer_kwargs: dict):
    """A launched ``lightning.Fabric`` for the engine settings among ``trainer_kwargs``
    (the others, e.g. ``max_time``, are the loop's to read).

    Args:
        trainer_kwargs: the engine settings (``accelerator``, ``devices``, ``strategy``,
            ``num_nodes``, ``precision``...).

    Returns:
        The launched Fabric.

    Raises:
        InputError: settings Lightning cannot run with here.
    """
    import lightning as L
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    options = {k: trainer_kwargs[k] for k in FABRIC_KEYWORDS if trainer_kwargs.get(k) is not None}
    options.setdefault("accelerator", "auto")
    try:
        with _quiet_lightning():
            fabric = L.Fabric(**options)
            fabric.launch()
    except (MisconfigurationException, ValueError, TypeError, RuntimeError) as exc:
        raise InputError(f"lightning.Fabric cannot run with these settings here: "
                         f"{str(exc).splitlines()[0]}") from None
    destroy_process_group_at_exit()
    return fabric


class LoopCheckpoints:
    """``folder/last.ckpt`` for a Fabric loop: written every ``every_n_steps`` steps or
    ``every_seconds`` seconds (through a temporary file, so a kill while writing leaves
    the previous one whole), with the run's ``fingerprint``; :meth:`restore` checks it
    (:func:`~lstmkit.spine.engine.check_checkpoint`) before loading.

    Args:
        folder: the checkpoint directory (None: no checkpoints).
        fingerprint: the run's settings and data digest.
        every_n_steps: steps between checkpoints (None: by time only).
        every_seconds: seconds between checkpoints (default 60).
    """

    def __init__(self, folder, fingerprint: dict | None, every_n_steps: int | None = None,
                 every_seconds: float | None = 60.0) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.fingerprint = fingerprint
        self.every_n_steps, self.every_seconds = every_n_steps, every_seconds
        self._last_step, self._last_time = 0, time.monotonic()

    def restore(self, fabric, state: dict) -> dict:
        """Load the checkpoint into ``state`` (model, optimiser, counters); returns
        ``{"path", "step"}`` and says ``resumed from step N`` on stderr."""
        if self.folder is None:
            raise InputError("resume needs a checkpoint directory to resume from (checkpoint_dir)")
        model = state["model"]
        module = getattr(model, "module", model)
        shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        _, path = check_checkpoint(self.folder, self.fingerprint, shapes, state_key="model")
        rest = fabric.load(path, state)
        state.update(rest)
        self._last_step, self._last_time = int(state.get("step", 0)), time.monotonic()
        point = {"path": str(path), "step": int(state.get("step", 0))}
        if fabric.is_global_zero:
            print(f"resumed from step {point['step']} of {point['path']}", file=sys.stderr, flush=True)
        return point

    def due(self, fabric, step: int) -> bool:
        """Whether a checkpoint is due at ``step`` (never without a folder); under DDP rank 0 decides."""
        if self.folder is None:
            return False
        due = bool(self.every_n_steps and step - self._last_step >= self.every_n_steps)
        due = due or bool(self.every_seconds and time.monotonic() - self._last_time >= self.every_seconds)
        if fabric.world_size > 1:
            due = fabric.broadcast(due)
        return due

    def save(self, fabric, state: dict) -> None:
        """Write ``state`` and the fingerprint to ``folder/last.ckpt`` now."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{CHECKPOINT}.partial"
        fabric.save(tmp, {**state, RunFingerprint.KEY: self.fingerprint})
        if fabric.is_global_zero:
            os.replace(tmp, self.folder / CHECKPOINT)
        self._last_step, self._last_time = int(state.get("step", 0)), time.monotonic()

    def maybe_save(self, fabric, state: dict) -> None:
        """Save ``state`` when :meth:`due` at its ``step``."""
        if self.due(fabric, int(state.get("step", 0))):
            self.save(fabric, state)
