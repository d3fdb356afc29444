"""The flags the tasks share, checked in one place before any command runs.

:func:`check` is called by ``lstmkit.cli.main`` on every parsed command line, whatever
the task: it checks each flag by its name (``--max-time``, ``--beam``, ``--threads``...)
against one table of bounds, the Lightning flags (``--accelerator``, ``--precision``...)
against this machine, ``--backend`` against the backends that can run here, the input
paths (``--data``, ``--load``...) for existence, and every output location (``--out``,
``--save``, ``--curve``, ``--onnx``...) for writability, all before anything is read,
trained or written. A failed check is one :class:`~lstmkit.errors.InputError` naming
the flag, so the CLI prints one line and exits 2, and nothing is created.

A parser declares what its ``--out`` is with :func:`outputs` (a saved-model directory,
a folder of files, or one file) and may narrow a bound with :func:`bounds`.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np

from lstmkit.errors import InputError

MAX_SEED = 2**32 - 1  # the largest seed numpy (and so Lightning's seed_everything) takes


def is_seed(value) -> bool:
    """Whether ``value`` is a seed every task can use: an integer in [0, MAX_SEED]."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) \
        and 0 <= value <= MAX_SEED


def check_seed(value, what: str = "seed") -> int:
    """``value`` as a seed (:func:`is_seed`), or InputError naming ``what``."""
    if not is_seed(value):
        raise InputError(f"{what} must be an integer in [0, {MAX_SEED}], got {value!r}")
    return int(value)

# flag -> (lowest, highest, lowest allowed itself); None: unbounded on that side
BOUNDS: dict[str, tuple[float | None, float | None, bool]] = {
    "max_time": (0, None, True),  # seconds; 0 is "no limit" where a task says so
    "max_steps": (1, None, True),
    "max_epochs": (1, None, True),
    "checkpoint_every": (1, None, True),
    "epochs": (1, None, True),
    "beam": (0, None, True),
    "threads": (1, None, True),
    "num_nodes": (1, None, True),
    "seed": (0, MAX_SEED, True),
    "hidden_size": (1, None, True),
    "num_layers": (1, None, True),
    "embedding_dim": (1, None, True),
    "batch_size": (1, None, True),
    "seq_len": (1, None, True),
    "horizon": (1, None, True),
    "lookback": (1, None, True),
    "season_length": (1, None, True),
    "ensemble": (1, None, True),
    "val_size": (0, None, True),
    "backtest": (1, None, True),
    "lr": (0, None, False),
    "weight_decay": (0, None, True),
    "dropout": (0, 1, True),
    "val_fraction": (0, 1, False),
    "test_fraction": (0, 1, False),
    "teacher_forcing": (0, 1, True),
    "eval_every": (0, None, False),
    "log_every": (1, None, True),
    "eval_per_format": (1, None, True),
    "eval_clips": (1, None, True),
    "sample_length": (0, None, True),
    "length": (0, None, True),
    "temperature": (0, None, True),
    "top_k": (1, None, True),
    "max_vocab": (2, None, True),
    "max_length": (1, None, True),
    "frame_size": (1, None, True),
    "frames": (1, None, True),
    "n_digits": (1, None, True),
    "hidden_channels": (1, None, True),
    "kernel_size": (1, None, True),
    "speed": (1, None, True),
    "pitch": (0, 99, True),
    "snr": (None, None, True),  # dB: any finite number
}

# flags whose highest value is not allowed itself (a split that keeps nothing to train on)
OPEN_ABOVE = {"val_fraction", "test_fraction"}

# output flags whose kind is the same in every command; --out differs per command
OUTPUT_KINDS = {
    "save": "model",
    "curve": "file",
    "plot_gates": "file",
    "onnx": "file",
    "json": "file",
    "heatmap": "file",
    "strip": "file",
    "img_dir": "dir",
    "checkpoint_dir": "dir",
}
# input flags: an existing file, or a saved-model directory
INPUT_KINDS = {"data": "file", "file": "file", "from_json": "file", "load": "model"}

PRECISIONS = ("16-true", "16-mixed", "bf16-true", "bf16-mixed", "32-true", "64-true",
              "64", "32", "16", "bf16", "transformer-engine", "transformer-engine-float16")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")


def outputs(parser, **kinds: str) -> None:
    """Declare the kind of a parser's output flags: ``outputs(p, out="model")``; kinds
    are "model" (a saved-model directory), "dir" (a folder of files) and "file".

    Args:
        parser: the command's parser.
        **kinds: flag destination -> kind.
    """
    for kind in kinds.values():
        if kind not in ("model", "dir", "file"):
            raise ValueError(f"unknown output kind {kind!r}")
    parser.set_defaults(_outputs={**(parser.get_default("_outputs") or {}), **kinds})


def bounds(parser, **limits: tuple) -> None:
    """Narrow the bounds of a parser's flags: ``bounds(p, beam=(1, None, True))``.

    Args:
        parser: the command's parser.
        **limits: flag destination -> (lowest, highest, whether the lowest itself is
            allowed); None leaves an end open.
    """
    parser.set_defaults(_bounds={**(parser.get_default("_bounds") or {}), **limits})


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _check_number(dest: str, value, rule) -> None:
    low, high, inclusive = rule
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        if not (value == math.inf and high is None and dest == "max_time"):
            raise InputError(f"expected {_flag(dest)} as a finite number, found {value}")
        return
    too_low = low is not None and (value < low or (value == low and not inclusive))
    high_open = dest in OPEN_ABOVE
    if too_low or (high is not None and (value > high or (value == high and high_open))):
        def num(v) -> str:
            return str(v) if isinstance(v, int) else f"{v:g}"

        if high is None:
            want = f">= {num(low)}" if inclusive else f"> {num(low)}"
        else:
            want = f"in {'[' if inclusive else '('}{num(low)}, {num(high)}{')' if high_open else ']'}"
        raise InputError(f"expected {_flag(dest)} {want}, found {num(value)}")


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output(path: str | os.PathLike, kind: str, flag: str = "--out", task: str | None = None) -> None:
    """Raise InputError unless ``path`` can be written as ``kind`` ("model": a saved
    model directory, replaceable only when it is one, of the same ``task`` where given, or
    empty; "dir": a folder of files; "file"). Leaves nothing behind: a probe file is
    created and removed in the folder that would hold it, since permission bits alone say
    nothing to root or about file systems such as /proc.

    Args:
        path: the output.
        kind: ``"model"``, ``"dir"`` or ``"file"``.
        flag: the flag named in the error.
        task: for ``"model"``: the task whose model will be written there (a key of
            :data:`lstmkit.spine.estimator.TASKS`), or None (any saved model is replaced).

    Raises:
        InputError: ``path`` cannot be written as ``kind``.
    """
    from lstmkit.spine.io import replaceable_model_dir, saved_task

    path = Path(path)
    if not str(path).strip():
        raise InputError(f"expected {flag} as a path, found an empty string")
    if path.exists() or path.is_symlink():
        if kind == "file" and path.is_dir():
            raise InputError(f"{flag} {path}: expected a file name, found a directory")
        if kind == "dir" and not path.is_dir():
            raise InputError(f"{flag} {path}: expected a folder, found a file")
        if kind == "model" and not replaceable_model_dir(path):
            raise InputError(f"{flag} {path}: refusing to overwrite it: it exists and is not a saved "
                             "lstmkit model (choose a new directory, or remove it first)")
        other = saved_task(path) if kind == "model" and task else None
        if other is not None and other != task:
            raise InputError(f"{flag} {path}: refusing to overwrite it: it holds a saved {other} model "
                             f"and this command writes a {task} model (choose a new directory, or "
                             "remove it first)")
        target = path if path.is_dir() else path.parent
        if not os.access(target, os.W_OK | os.X_OK) or (path.is_file() and not os.access(path, os.W_OK)):
            raise InputError(f"{flag} {path}: permission denied: cannot write there")
        _probe_write(target, flag, path)
        return
    base = _nearest_existing(path)
    if not base.is_dir():
        raise InputError(f"{flag} {path}: cannot create it: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: permission denied: cannot create it in {base}")
    _probe_write(base, flag, path)


def _probe_write(folder: Path, flag: str, path: Path) -> None:
    """InputError unless a file can be created (and is then removed) in ``folder``."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".lstmkit-probe-", dir=folder)
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot write in {folder}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)


def check_input(path: str, kind: str, flag: str) -> None:
    """Raise InputError unless ``path`` exists as ``kind``.

    Args:
        path: the input.
        kind: ``"file"`` or ``"model"``.
        flag: the flag named in the error.

    Raises:
        InputError: ``path`` is missing or not a ``kind``.
    """
    p = Path(path)
    if not p.exists():
        if kind == "file":
            raise InputError(f"{flag} {path}: No such file or directory")
        raise InputError(f"{flag}: expected a saved-model directory, found no directory at {path}")
    if kind == "file" and p.is_dir():
        raise InputError(f"{flag} {path}: expected a file, found a directory")
    if kind == "model" and not p.is_dir():
        raise InputError(f"{flag} {path}: expected a saved-model directory, found a file")
    if not os.access(p, os.R_OK):
        raise InputError(f"{flag} {path}: permission denied: cannot read it")


def _check_lightning(args) -> None:
    precision = getattr(args, "precision", None)
    if precision is not None and str(precision) not in PRECISIONS:
        raise InputError(f"expected --precision among {', '.join(PRECISIONS)}, found {precision!r}")
    accelerator = getattr(args, "accelerator", None)
    if accelerator is not None:
        if accelerator not in ACCELERATORS:
            raise InputError(f"expected --accelerator among {', '.join(ACCELERATORS)}, found {accelerator!r}")
        _check_device_available(accelerator, "--accelerator")
    for name in ("devices", "num_nodes"):
        value = getattr(args, name, None)
        if value is None or value in ("auto",):
            continue
        text = str(value)
        parts = [v for v in text.strip("[]").split(",") if v.strip()]
        ok = all(v.strip().lstrip("-").isdigit() for v in parts) and parts
        if not ok or (len(parts) == 1 and int(parts[0]) < (-1 if name == "devices" else 1)):
            raise InputError(f"expected {_flag(name)} as a count, a list of indices or 'auto', found {text!r}")


def _check_device_available(device: str, flag: str) -> None:
    import torch

    if flag == "--device":  # a torch device string (--accelerator has its own list)
        try:
            torch.device(device)
        except (RuntimeError, ValueError):
            raise InputError(f"expected {flag} as a torch device (cpu, cuda, cuda:1, mps...), found {device!r}") \
                from None
    kind = str(device).split(":")[0].lower()
    if kind in ("gpu", "cuda") and not torch.cuda.is_available():
        why = "this torch has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise InputError(f"{flag} {device}: no GPU here ({why}); use cpu")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError(f"{flag} {device}: no Apple MPS device here; use cpu")
    if kind == "tpu":
        try:
            import torch_xla  # noqa: F401
        except ModuleNotFoundError:
            raise InputError(f"{flag} {device}: no TPU support here (torch_xla is not installed); use cpu") from None


def _check_backend(name: str) -> None:
    """The backend exists and runs on this machine's CPU (the device the tasks'
    own loops use): a one-step probe of a small LSTM, forward and backward."""
    import torch

    from lstmkit import backends

    if name == "auto":
        return
    try:
        backends.get(name)
    except ValueError as exc:
        raise InputError(f"--backend: {exc}") from None
    import lstmkit

    try:
        layer = lstmkit.LSTM(2, 2, backend=name)
        x = torch.zeros(1, 1, 2, requires_grad=True)
        layer(x)[0].sum().backward()
    except Exception as exc:  # whatever stops the probe stops the task: say so now
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"--backend {name} cannot run here: {reason}") from None


def check(args) -> None:
    """Check every flag of a parsed command line (see the module docstring)."""
    limits = {**BOUNDS, **(getattr(args, "_bounds", None) or {})}
    for dest, rule in limits.items():
        value = getattr(args, dest, None)
        if value is not None:
            _check_number(dest, value, rule)
    _check_lightning(args)
    device = getattr(args, "device", None)
    if isinstance(device, str):
        _check_device_available(device, "--device")
    backend = getattr(args, "backend", None)
    if isinstance(backend, str) and getattr(args, "_probe_backend", True):
        _check_backend(backend)
    for dest, kind in INPUT_KINDS.items():
        value = getattr(args, dest, None)
        if isinstance(value, str) and value:
            check_input(value, kind, _flag(dest))
    if getattr(args, "resume", False) and getattr(args, "checkpoint_dir", None):
        ckpt = Path(args.checkpoint_dir)
        if not ckpt.is_dir():
            raise InputError(f"--resume: the checkpoint directory {ckpt} does not exist "
                             "(drop --resume to start a new run)")
    kinds = {**OUTPUT_KINDS, **(getattr(args, "_outputs", None) or {})}
    task = command_task(args)
    for dest, kind in kinds.items():
        value = getattr(args, dest, None)
        if isinstance(value, str) and value not in ("", "-"):
            check_output(value, kind, _flag(dest), task)


def command_task(args) -> str | None:
    """The task whose saved model a parsed ``lstmkit`` command line writes (a key of
    :data:`lstmkit.spine.estimator.TASKS`: the command's name), or None where the name
    is not one (``video``, whose action picks the task, checks its ``--out`` itself)."""
    from lstmkit.spine.estimator import TASKS

    command = getattr(args, "command", None)
    return command if command in TASKS else None
