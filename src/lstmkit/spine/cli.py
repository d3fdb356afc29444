"""What the task commands share when they run: saving on Ctrl-C, warnings shown as one
line, thread settings."""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from collections.abc import Callable
from contextlib import contextmanager

import torch

from lstmkit.errors import InputError, TrainingInterrupted


@contextmanager
def save_on_interrupt(command: str, save: Callable[[], object | None]):
    """Run a training block; on Ctrl-C call ``save()`` (which writes what was trained,
    atomically, and returns where, or None when there is nothing to keep), say on stderr
    where it went, and exit with status 130. A second Ctrl-C while saving is ignored, so
    the save completes.

    Args:
        command: the command named in the message (``"classify train"``).
        save: ``save() -> where or None``.

    Raises:
        SystemExit: status 130 after a Ctrl-C.
    """
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
    is None until training has built it: saves to ``out`` (when given) and returns it.

    Args:
        estimator: the estimator being trained.
        out: the model directory (None or empty: nothing is saved).

    Returns:
        ``save() -> out or None``.
    """
    def save():
        if not out or getattr(estimator, "model", None) is None:
            return None
        estimator.save(out)
        return out
    return save


@contextmanager
def notes_to_stderr(command: str):
    """Show the warnings raised inside (truncated texts, unknown characters) as one line
    each on stderr, ``lstmkit <command>: note: ...``, instead of Python's two-line form."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"lstmkit {command}: note: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        yield


def add_threads_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--threads N`` (torch's CPU threads; default: torch's choice) to ``parser``."""
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for torch (default: torch's choice); on a busy machine 1 is often faster",
    )


def apply_threads(args: argparse.Namespace) -> None:
    """Set torch's CPU threads to ``args.threads`` when given; InputError when it is not
    positive."""
    if args.threads is not None:
        if args.threads <= 0:
            raise InputError(f"--threads must be a positive integer, got {args.threads}")
        torch.set_num_threads(args.threads)
