"""The saved-model format shared by every task.

A saved model is a directory::

    config.json         {"format": 1, "task": ..., "lstmkit": version, "torch": version,
                         "config": {...hyperparameters...}, "state": {...preprocessing...},
                         "tensors": {name: [shape, dtype], ...}}
    model.safetensors   the weights

Writes are atomic: everything goes to a temporary sibling directory which is then
renamed into place, so a crash leaves either the old model or the new one, never half
of each. Loading checks that the weights are exactly the ones the config lists (names,
shapes, dtypes) and that the task matches, and reports a truncated or corrupted file as
an :class:`~lstmkit.errors.InputError`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from lstmkit.errors import InputError

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def _describe(tensors: dict[str, torch.Tensor]) -> dict[str, list]:
    return {k: [list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in tensors.items()}


def save_model(
    path: str | os.PathLike,
    task: str,
    config: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    state: dict[str, Any] | None = None,
) -> Path:
    """Write ``config`` (JSON-able), ``state`` (JSON-able preprocessing state) and
    ``tensors`` to the directory ``path``, atomically. Returns the path."""
    from safetensors.torch import save_file

    import lstmkit

    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {
        "format": FORMAT_VERSION,
        "task": task,
        "lstmkit": lstmkit.__version__,
        "torch": torch.__version__,
        "config": config,
        "state": state or {},
        "tensors": _describe(tensors),
    }
    text = json.dumps(meta, indent=2, sort_keys=True)  # fail before touching the disk
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        save_file(tensors, str(tmp / WEIGHTS_FILE))
        (tmp / CONFIG_FILE).write_text(text, encoding="utf-8")
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.rename(path, old)
        os.rename(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_model(path: str | os.PathLike, task: str | None = None):
    """Read a saved model. Returns ``(config, tensors, state, meta)``.

    Raises :class:`InputError` when the directory is not a saved model, the task differs
    from ``task``, a file is truncated or corrupted, or the weights disagree with the
    config."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    cfg_file, w_file = path / CONFIG_FILE, path / WEIGHTS_FILE
    if not path.is_dir():
        raise InputError(f"expected a saved-model directory, found no directory at {path}")
    for f in (cfg_file, w_file):
        if not f.is_file():
            raise InputError(f"{path} is not a saved lstmkit model: {f.name} is missing")
    try:
        meta = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{cfg_file} is corrupted: not valid JSON ({exc})") from None
    for key in ("format", "task", "config", "tensors"):
        if key not in meta:
            raise InputError(f"{cfg_file} is not an lstmkit config: key {key!r} is missing")
    if meta["format"] != FORMAT_VERSION:
        raise InputError(f"{path}: saved-model format {meta['format']}, expected {FORMAT_VERSION}")
    if task is not None and meta["task"] != task:
        raise InputError(f"{path} holds a {meta['task']!r} model, expected a {task!r} model")
    try:
        tensors = load_file(str(w_file))
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise InputError(f"{w_file} is truncated or corrupted: {exc}") from None
    found = _describe(tensors)
    expected = meta["tensors"]
    if found != expected:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        differ = sorted(k for k in set(found) & set(expected) if found[k] != expected[k])
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {extra}")
        if differ:
            parts.append(
                "shape/dtype differ for "
                + ", ".join(f"{k} (config {expected[k]}, weights {found[k]})" for k in differ)
            )
        raise InputError(f"{path}: weights do not match the config: " + "; ".join(parts))
    return meta["config"], tensors, meta.get("state", {}), meta
