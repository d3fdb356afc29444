"""Check and convert what users pass as a set of numeric sequences.

Two forms are accepted everywhere in :mod:`lstmkit.sequences`:

- a list of arrays, one per sequence, each (T_i, C) (or (T_i,) for one channel);
  lengths may differ;
- one padded array (N, T, C) (or (N, T) for one channel), with ``lengths`` (N,) giving
  each sequence's true length (default: all T). Values past a length are ignored.

Either way the result is a list of (T_i, C) float32 arrays; every problem is an
:class:`~lstmkit.errors.InputError` naming what was expected and what was found.
"""

from __future__ import annotations

import numpy as np
import torch

from lstmkit.errors import InputError
from lstmkit.spine.labels import plain_labels


def _as_array(x, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be numeric, got {type(x).__name__} ({exc})") from None
    return arr


def _check_lengths(lengths, n: int, T: int) -> np.ndarray:
    if isinstance(lengths, torch.Tensor):
        lengths = lengths.detach().cpu().numpy()
    lengths = np.asarray(lengths)
    if lengths.shape != (n,):
        raise InputError(f"lengths must have one entry per sequence, shape ({n},); got shape {lengths.shape}")
    if not np.issubdtype(lengths.dtype, np.integer):
        raise InputError(f"lengths must be integers, got dtype {lengths.dtype}")
    if n and (lengths.min() < 1 or lengths.max() > T):
        raise InputError(f"lengths must lie in 1..{T} (the padded length); "
                         f"got {lengths.min()}..{lengths.max()}")
    return lengths.astype(np.int64)


def as_sequences(X, lengths=None, n_channels: int | None = None, what: str = "X") -> list[np.ndarray]:
    """``X`` (and ``lengths``) as a list of (T_i, C) float32 arrays, checked.

    Args:
        X: a list of (T_i, C) arrays (or (T_i,) for one channel), or a padded (N, T, C)
            array or tensor.
        lengths: (N,) true lengths of a padded ``X`` in 1..T (None: all T).
        n_channels: the channel count every sequence must have (e.g. the count the
            model was trained on; None: any, the same for all).
        what: the name used in error messages.

    Returns:
        N (T_i, C) float32 arrays.

    Raises:
        InputError: no sequence, an empty one, channel counts that differ (or differ
            from ``n_channels``), values that are not finite numbers, or bad ``lengths``.

    Example:
        >>> import numpy as np
        >>> [s.shape for s in as_sequences(np.zeros((2, 5, 3)), lengths=[5, 2])]
        [(5, 3), (2, 3)]
    """
    if isinstance(X, (list, tuple)):
        if lengths is not None:
            raise InputError(f"lengths is only for a padded array; {what} is a list of sequences, "
                             "which carry their own lengths")
        seqs = []
        for i, s in enumerate(X):
            a = _as_array(s, f"{what}[{i}]")
            if a.ndim == 1:
                a = a[:, None]  # one channel
            if a.ndim != 2:
                raise InputError(f"{what}[{i}] must be a (T, C) array, got shape {a.shape}")
            seqs.append(a)
    else:
        a = _as_array(X, what)
        if a.ndim == 2:
            a = a[:, :, None]  # (N, T) -> one channel
        if a.ndim != 3:
            raise InputError(f"{what} must be a list of (T, C) arrays or a padded (N, T, C) array, "
                             f"got an array of shape {a.shape}")
        n, T = a.shape[0], a.shape[1]
        lens = np.full(n, T, dtype=np.int64) if lengths is None else _check_lengths(lengths, n, T)
        seqs = [a[i, : lens[i]] for i in range(n)]
    if not seqs:
        raise InputError(f"{what} is empty: expected at least one sequence")
    for i, s in enumerate(seqs):
        if s.shape[0] == 0:
            raise InputError(f"{what}[{i}] is empty: every sequence needs at least one time step")
    channels = {s.shape[1] for s in seqs}
    if len(channels) != 1:
        raise InputError(f"every sequence in {what} must have the same number of channels, "
                         f"found {sorted(channels)}")
    found = channels.pop()
    if n_channels is not None and found != n_channels:
        raise InputError(f"{what} has {found} channel(s); the model was trained on {n_channels}")
    bad = next((i for i, s in enumerate(seqs) if not np.isfinite(s).all()), None)
    if bad is not None:
        raise InputError(f"{what}[{bad}] has NaN or infinite values; expected finite numbers "
                         "(fill or drop missing values first)")
    return seqs


def pad(seqs: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch sequences.

    Args:
        seqs: B (T_i, C) arrays.

    Returns:
        ``(x, lengths)``: (B, T, C) float32 zero-padded to the longest, and (B,) int64.
    """
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)  # (B,)
    x = torch.zeros(len(seqs), int(lengths.max()), seqs[0].shape[1])  # (B, T, C)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = torch.from_numpy(np.ascontiguousarray(s))
    return x, lengths


def check_labels(y, n: int, what: str = "y") -> list:
    """``y`` as a list of plain Python labels (int or str, so they survive JSON).

    Args:
        y: n labels: a list, array or tensor of ints or strings.
        n: the number of sequences.
        what: the name used in error messages.

    Returns:
        The n labels as Python ints or strs.

    Raises:
        InputError: one string, a count other than ``n``, or a label that is neither an
            integer nor a string.
    """
    out = plain_labels(y, what)
    if len(out) != n:
        raise InputError(f"expected one label per sequence: {n} sequences, {len(out)} labels")
    return out
