"""The saved-model format shared by every task.

A saved model is a directory::

    config.json         {"format": 1, "task": ..., "lstmkit": version, "torch": version,
                         "config": {...hyperparameters...}, "state": {...preprocessing...},
                         "tensors": {name: [shape, dtype], ...}, "sha256": weights' hash}
    model.safetensors   the weights (never a pickle)

Writes are atomic: everything is written and flushed to disk in a temporary sibling
directory, which then takes the model's place in one step (Linux ``renameat2`` exchange;
elsewhere two renames, and a model caught between them is put back by the next load). A
crash leaves the old model or the new one, never half of each. An existing directory that
is not a saved model is never replaced.

Loading reads both files whole before returning anything, and raises
:class:`~lstmkit.errors.InputError` with one clear message when the directory is not a
saved model, the task or format differs, a file is truncated or corrupted (the weights'
SHA-256 is checked), or the weights disagree with the config (names, shapes, dtypes).
:func:`load_weights` puts them into a network only if every name and shape fits, so a
failed load never leaves a half-loaded model.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from lstmkit.errors import InputError

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def _describe(tensors: dict[str, torch.Tensor]) -> dict[str, list]:
    return {k: [list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in tensors.items()}


def _jsonable(obj):
    """json.dumps fallback: numpy scalars and arrays, paths, small tensors."""
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (np.ndarray, torch.Tensor)):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"config and state must be JSON-able; found a {type(obj).__name__}: {obj!r:.80}")


def _unshare(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous, and no two tensors on one storage (safetensors refuses shared
    memory, e.g. tied embedding and output weights): later ones are copied."""
    out, seen = {}, set()
    for k, v in tensors.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            raise TypeError(f"tensors must map str names to tensors; found {k!r}: {type(v).__name__}")
        v = v.detach().cpu().contiguous()
        ptr = v.untyped_storage().data_ptr()
        if ptr in seen and v.numel():
            v = v.clone()
        seen.add(v.untyped_storage().data_ptr())
        out[k] = v
    return out


def _fsync(path: Path) -> None:
    """Flush a file or directory to disk (directories: where the OS allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the data is still written
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE). False where
    the OS or filesystem has no such call."""
    if not sys.platform.startswith("linux"):
        return False
    fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if fn is None:
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _saved_config(path: str | os.PathLike) -> dict | None:
    """The parsed ``config.json`` of a saved model at ``path``, unchecked, or None where
    there is none (no file, unreadable, not a JSON object with a ``format``)."""
    try:
        config = json.loads((Path(path) / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) and "format" in config else None


def _is_saved_model(path: Path) -> bool:
    return _saved_config(path) is not None


def saved_task(path: str | os.PathLike) -> str | None:
    """The task of the saved model at ``path``, or None where there is none (or it cannot
    be read)."""
    task = (_saved_config(path) or {}).get("task")
    return task if isinstance(task, str) else None


def replaceable_model_dir(path: str | os.PathLike) -> bool:
    """Whether :func:`save_model` may write to ``path``: it does not exist, or it is a
    saved model or an empty directory."""
    path = Path(path)
    if not path.exists():
        return not path.is_symlink()
    return path.is_dir() and (_is_saved_model(path) or not any(path.iterdir()))


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Write one file atomically: ``write(tmp_path)`` fills a temporary sibling, which is
    then renamed onto ``path`` (with the mode a plain create would give; mkstemp's is
    0600), so a crash or an error in ``write`` never leaves half a file where a good one
    (or none) was.

    Args:
        path: the file (folders made as needed).
        write: ``write(tmp_path)`` writes the content.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _siblings(path: Path, kind: str) -> list[tuple[Path, int]]:
    """Leftovers of saves of ``path``: ``.{name}.{kind}-{pid}-...`` directories."""
    out = []
    for p in path.parent.glob(f".{path.name}.{kind}-*"):
        try:
            out.append((p, int(p.name[len(path.name) + len(kind) + 3:].split("-")[0])))
        except ValueError:
            continue
    return out


def save_model(
    path: str | os.PathLike,
    task: str,
    config: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    state: dict[str, Any] | None = None,
) -> Path:
    """Write a model to the directory ``path``, atomically: ``config.json`` and
    ``model.safetensors``. Replaces a model (or an empty directory) already there.

    Args:
        path: the model directory.
        task: the task name (a key of :data:`lstmkit.spine.estimator.TASKS` for the
            estimators), checked on load.
        config: JSON-able hyperparameters.
        tensors: the weights, name -> tensor (shared storage is copied apart).
        state: JSON-able preprocessing state (scalers, vocabulary...).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: ``path`` exists and is not a saved model or an empty directory.
        TypeError: an empty or non-string ``task``.

    Example:
        >>> import os, tempfile
        >>> import torch
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = save_model(os.path.join(d, "m"), "demo", {"hidden_size": 4},
        ...                       {"w": torch.ones(2, 3)}, {"classes": ["a", "b"]})
        ...     sorted(os.listdir(path))
        ...     config, tensors, state, meta = load_model(path, "demo")
        ...     config, tensors["w"].shape, state, read_config(path)["task"]
        ['config.json', 'model.safetensors']
        ({'hidden_size': 4}, torch.Size([2, 3]), {'classes': ['a', 'b']}, 'demo')
    """
    from safetensors.torch import save

    import lstmkit

    path = Path(path)
    if not isinstance(task, str) or not task:
        raise TypeError(f"task must be a non-empty str, got {task!r}")
    if path.exists() and not replaceable_model_dir(path):
        raise InputError(f"refusing to overwrite {path}: it exists and is not a saved lstmkit model "
                         "(choose a new directory, or remove it first)")
    tensors = _unshare(tensors)
    blob = save(tensors)  # the safetensors bytes, hashed so a load detects any corruption
    meta = {
        "format": FORMAT_VERSION,
        "task": task,
        "lstmkit": lstmkit.__version__,
        "torch": torch.__version__,
        "config": config,
        "state": state or {},
        "tensors": _describe(tensors),
        "sha256": hashlib.sha256(blob).hexdigest(),
    }
    text = json.dumps(meta, indent=2, sort_keys=True, default=_jsonable)  # fails before any write
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale, pid in _siblings(path, "tmp"):  # crashed saves' leftovers
        if not _pid_alive(pid):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a model dir is an ordinary dir
        for name, data in ((WEIGHTS_FILE, blob), (CONFIG_FILE, text.encode("utf-8"))):
            with open(tmp / name, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        _fsync(tmp)
        _install(tmp, path)
        _fsync(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _install(tmp: Path, path: Path) -> None:
    """Put the finished directory ``tmp`` at ``path`` in one step where the OS can."""
    if not path.exists():
        try:
            os.rename(tmp, path)
            return
        except OSError as exc:  # another writer created it meanwhile: replace theirs
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    if _exchange(tmp, path):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old model
        return
    old = path.with_name(f".{path.name}.old-{os.getpid()}-{os.urandom(3).hex()}")
    os.rename(path, old)  # a crash right here is repaired by the next load_model(path)
    os.rename(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def _recover(path: Path) -> None:
    """A save that crashed between its two renames left the old model aside: put it back."""
    if path.exists():
        return
    olds = [p for p, _ in _siblings(path, "old") if _is_saved_model(p)]
    if not olds:
        return
    newest = max(olds, key=lambda p: p.stat().st_mtime)
    os.rename(newest, path)
    warnings.warn(f"{path}: a save was interrupted; restored the previous model from {newest.name}",
                  stacklevel=3)


def read_config(path: str | os.PathLike, task: str | None = None) -> dict:
    """The parsed, checked ``config.json`` of the saved model at ``path`` (no weights read).

    Args:
        path: the model directory.
        task: the task the model must be (None: any).

    Returns:
        The file's dict: ``format``, ``task``, ``config``, ``state``, ``tensors`` (names,
        shapes and dtypes) and the versions that wrote it.

    Raises:
        InputError: not a saved model, an unreadable or other-format config, or another
            task than ``task``.
    """
    path = Path(path)
    _recover(path)
    cfg_file = path / CONFIG_FILE
    if not path.is_dir():
        raise InputError(f"expected a saved-model directory, found no directory at {path}")
    for f in (cfg_file, path / WEIGHTS_FILE):
        if not f.is_file():
            raise InputError(f"{path} is not a saved lstmkit model: {f.name} is missing")
    try:
        meta = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{cfg_file} is truncated or corrupted: not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise InputError(f"{cfg_file} is not an lstmkit config: expected a JSON object, found "
                         f"{type(meta).__name__}")
    for key in ("format", "task", "config", "tensors"):
        if key not in meta:
            raise InputError(f"{cfg_file} is not an lstmkit config: key {key!r} is missing")
    if meta["format"] != FORMAT_VERSION:
        newer = isinstance(meta["format"], int) and meta["format"] > FORMAT_VERSION
        raise InputError(f"{path}: saved-model format {meta['format']!r}, expected {FORMAT_VERSION}"
                         + (" (written by a newer lstmkit: upgrade to read it)" if newer else ""))
    if task is not None and meta["task"] != task:
        raise InputError(f"{path} holds a {meta['task']!r} model, expected a {task!r} model")
    if not isinstance(meta["tensors"], dict):
        raise InputError(f"{cfg_file} is corrupted: 'tensors' should list the weights, found "
                         f"{type(meta['tensors']).__name__}")
    return meta


def load_model(path: str | os.PathLike, task: str | None = None):
    """Read a saved model.

    Args:
        path: the model directory.
        task: the task the model must be (None: any).

    Returns:
        ``(config, tensors, state, meta)``: the hyperparameters, the weights (name ->
        tensor), the preprocessing state and the whole parsed ``config.json``.

    Raises:
        InputError: the directory is not a saved model, the task differs from ``task``,
            a file is truncated or corrupted, or the weights disagree with the config.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    meta = read_config(path, task)
    w_file = path / WEIGHTS_FILE
    data = w_file.read_bytes()
    digest = meta.get("sha256")  # absent in models saved before the checksum existed
    if digest is not None and hashlib.sha256(data).hexdigest() != digest:
        raise InputError(f"{w_file} is truncated or corrupted, or comes from another save: its "
                         f"SHA-256 differs from the one {CONFIG_FILE} records ({len(data)} bytes read)")
    try:
        tensors = load(data)
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise InputError(f"{w_file} is truncated or corrupted: {exc}") from None
    found, expected = _describe(tensors), meta["tensors"]
    if found != expected:
        raise InputError(f"{path}: weights do not match the config: " + _difference(expected, found))
    return meta["config"], tensors, meta.get("state", {}), meta


def _difference(expected: dict, found: dict) -> str:
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    differ = sorted(k for k in set(found) & set(expected) if found[k] != expected[k])
    parts = []
    if missing:
        parts.append(f"missing {missing}")
    if extra:
        parts.append(f"unexpected {extra}")
    if differ:
        parts.append("shape/dtype differ for "
                     + ", ".join(f"{k} (expected {expected[k]}, found {found[k]})" for k in differ))
    return "; ".join(parts)


def load_weights(module: torch.nn.Module, tensors: dict[str, torch.Tensor], where="the saved model") -> None:
    """``module.load_state_dict(tensors)``, but checked first.

    Args:
        module: the network, built from the saved config.
        tensors: the saved weights.
        where: the model named in the error message.

    Raises:
        InputError: a name or shape that does not fit the network (nothing is copied).
    """
    expected = {k: [list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in module.state_dict().items()}
    found = _describe(tensors)
    # dtypes may differ (load_state_dict casts); names and shapes must not
    if {k: v[0] for k, v in expected.items()} != {k: v[0] for k, v in found.items()}:
        shapes = {k: [v[0], "-"] for k, v in expected.items()}, {k: [v[0], "-"] for k, v in found.items()}
        raise InputError(f"{where}: the weights do not fit the network its config describes: "
                         + _difference(*shapes))
    module.load_state_dict(tensors, strict=True)


class Staged:
    """Several files that appear together or not at all: :meth:`write` fills a
    temporary sibling of each path; leaving the ``with`` block normally puts them all in
    place (one rename each), an exception removes them and any folder made for them.
    Use it where a command writes several outputs, so a failure in a later one leaves
    nothing of the earlier ones::

        with Staged() as stage:
            stage.write("out/a.csv", lambda tmp: frame.to_csv(tmp))
            stage.write("out/a.png", lambda tmp: fig.savefig(tmp, format="png"))
            model.save("out/model")        # an atomic directory of its own, last
    """

    def __init__(self) -> None:
        self._files: list[tuple[Path, Path]] = []
        self._made: list[Path] = []

    def write(self, path: str | os.PathLike, write) -> Path:
        """Stage ``path``: call ``write(tmp)`` on a temporary sibling of it (folders made as
        needed); returns ``path``, which appears at :meth:`commit`."""
        path = Path(path)
        missing = []
        p = path.parent.absolute()
        while not p.exists() and p != p.parent:
            missing.append(p)
            p = p.parent
        path.parent.mkdir(parents=True, exist_ok=True)
        self._made += missing
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        self._files.append((Path(tmp), path))
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        return path

    def commit(self) -> None:
        """Put every staged file in place (one rename each)."""
        for tmp, path in self._files:
            os.replace(tmp, path)
        self._files = []

    def discard(self) -> None:
        """Remove the staged files and the folders made for them."""
        for tmp, _ in self._files:
            tmp.unlink(missing_ok=True)
        self._files = []
        for folder in self._made:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                pass
        self._made = []

    def __enter__(self) -> Staged:
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()
