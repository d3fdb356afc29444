"""What the task commands share when they run: saving on Ctrl-C."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from contextlib import contextmanager

from lstmkit.errors import TrainingInterrupted


@contextmanager
def save_on_interrupt(command: str, save: Callable[[], object | None]):
    """Run a training block; on Ctrl-C call ``save()`` (which writes what was trained,
    atomically, and returns where, or None when there is nothing to keep), say on stderr
    where it went, and exit with status 130. A second Ctrl-C while saving is ignored, so
    the save completes."""
    try:
        yield
    except KeyboardInterrupt as exc:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            done = f" after {exc.what} {exc.step}" if isinstance(exc, TrainingInterrupted) else ""
            trained = not isinstance(exc, TrainingInterrupted) or exc.step > 0
            where = save() if trained else None
        finally:
            signal.signal(signal.SIGINT, previous)
        if where is None:
            print(f"lstmkit {command}: interrupted{done}; nothing trained yet, nothing saved",
                  file=sys.stderr, flush=True)
        else:
            print(f"lstmkit {command}: interrupted{done}; saved what was trained to {where}",
                  file=sys.stderr, flush=True)
        raise SystemExit(130) from None


def estimator_saver(estimator, out) -> Callable[[], object | None]:
    """The ``save`` of :func:`save_on_interrupt` for an estimator with a ``model`` that
    is None until training has built it: saves to ``out`` (when given) and returns it."""
    def save():
        if not out or getattr(estimator, "model", None) is None:
            return None
        estimator.save(out)
        return out
    return save
