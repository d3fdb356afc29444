"""Progress of a fit: Lightning's live bar on a terminal, a compact line every few
seconds when the output is a log file or a pipe, nothing with ``verbose=False``.

A log of a non-interactive run then grows by one short line per ``every`` seconds
instead of one redrawn bar per batch (a bar written into a file repeats itself on
every refresh)."""

from __future__ import annotations

import sys
import time

import lightning as L
from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar

LINE_EVERY = 10.0  # seconds between two progress lines off a terminal


def _metrics(trainer: L.Trainer) -> str:
    out = []
    for name in ("train_loss", "val_loss"):
        value = trainer.callback_metrics.get(name)
        if value is not None:
            out.append(f"{name} {float(value):.4g}")
    return " · ".join(out)


class LineProgress(ProgressBar):
    """One line on stderr every ``every`` seconds of training and one when it ends:
    epoch, step (of the planned total when known), the latest losses and the time.

    Args:
        every: seconds between two lines (default 10).
        stream: where to write (None: stderr).
    """

    def __init__(self, every: float = LINE_EVERY, stream=None) -> None:
        super().__init__()
        self.every = every
        self.stream = stream
        self._enabled = True
        self._start = self._last = 0.0

    def disable(self) -> None:
        """Stop writing lines."""
        self._enabled = False

    def enable(self) -> None:
        """Write lines again."""
        self._enabled = True

    def _write(self, trainer: L.Trainer, tag: str = "", epoch: int | None = None) -> None:
        if not self._enabled or not trainer.is_global_zero:
            return
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        epochs = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        step = f"step {trainer.global_step}" + (f"/{total}" if total else "")
        epoch = trainer.current_epoch + 1 if epoch is None else epoch
        parts = [f"epoch {epoch}{epochs}", step, _metrics(trainer),
                 f"{time.monotonic() - self._start:.0f} s"]
        print(f"{tag}{' · '.join(p for p in parts if p)}", file=self.stream or sys.stderr, flush=True)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Start the clock."""
        self._start = self._last = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        """Write a line when ``every`` seconds have passed since the last."""
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._write(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Write the ``done:`` line."""
        # the epoch counter has moved past the last epoch when a run ends at an epoch's end
        done = trainer.current_epoch if trainer.fit_loop.epoch_loop.done else trainer.current_epoch + 1
        self._write(trainer, "done: ", max(1, done))


def progress_callbacks(verbose: bool, stream=None) -> tuple[list[L.Callback], bool]:
    """The progress display of a Trainer: the live bar on a terminal, the line progress
    elsewhere, nothing when not ``verbose``.

    Args:
        verbose: show progress.
        stream: where to write (None: stderr).

    Returns:
        ``(callbacks, enable_progress_bar)`` for the Trainer.
    """
    if not verbose:
        return [], False
    out = stream or sys.stderr
    if hasattr(out, "isatty") and out.isatty():
        return [TQDMProgressBar(refresh_rate=1, leave=False)], True
    return [LineProgress(stream=stream)], True


class LoopProgress:
    """Progress of a loop that is not a Trainer's (a Fabric loop): the same line every
    ``every`` seconds off a terminal, a live bar on one (tqdm), nothing when not
    ``verbose``. Call :meth:`update` after each step and :meth:`close` at the end.

    Args:
        verbose: show progress.
        total: the planned steps (None: unknown).
        every: seconds between two lines (default 10).
        stream: where to write (None: stderr).
        enabled: False shows nothing (e.g. on processes other than the first).
    """

    def __init__(self, verbose: bool, total: int | None = None, every: float = LINE_EVERY,
                 stream=None, enabled: bool = True) -> None:
        out = stream or sys.stderr
        self.stream, self.every, self.total = out, every, total
        self.on = verbose and enabled
        self.bar = None
        if self.on and hasattr(out, "isatty") and out.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, file=out, leave=False, unit="step")
        self._start = self._last = time.monotonic()
        self._step = 0

    def update(self, step: int, **metrics: float) -> None:
        """Report ``step`` (optimiser steps so far) and its ``metrics`` (name -> value)."""
        if not self.on:
            return
        if self.bar is not None:
            self.bar.update(step - self._step)
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)
        elif time.monotonic() - self._last >= self.every:
            self._last = time.monotonic()
            self._line(step, metrics)
        self._step = step

    def _line(self, step: int, metrics: dict, tag: str = "") -> None:
        total = f"/{self.total}" if self.total else ""
        parts = [f"step {step}{total}", *(f"{k} {v:.4g}" for k, v in metrics.items()),
                 f"{time.monotonic() - self._start:.0f} s"]
        print(f"{tag}{' · '.join(parts)}", file=self.stream, flush=True)

    def close(self, **metrics: float) -> None:
        """End the progress with a ``done:`` line carrying ``metrics``."""
        if not self.on:
            return
        if self.bar is not None:
            self.bar.close()
        self._line(self._step, metrics, "done: ")
