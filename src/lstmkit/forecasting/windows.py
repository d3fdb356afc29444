"""Cutting scaled series into (input window, features, target) training examples.

Shapes: N windows, L lookback, H horizon, F features per step.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view


def count_windows(lengths, L: int, H: int, val: int, recent: int = 0) -> int:
    """Training windows the rule of :func:`make_windows` gives (validation excluded).

    Args:
        lengths: points per series.
        L: lookback.
        H: horizon.
        val: points per series held out.
        recent: the most recent windows kept per series (0: all).

    Returns:
        The count, sum of max(0, n - val - L - H + 1), each term at most ``recent``.

    Example:
        >>> count_windows([20, 30], L=8, H=4, val=0)
        28
        >>> count_windows([20, 30], L=8, H=4, val=0, recent=2)
        4
    """
    return int(sum(min(max(0, n - val - L - H + 1), recent or n) for n in lengths))


def make_windows(zs: list[np.ndarray], fs: list[np.ndarray], L: int, H: int, val: int = 0,
                 recent: int = 0):
    """Every window of L + H consecutive steps of every series, as tensors
    ``(x (N, L), feats (N, L + H, F), target (N, H))``. Windows whose target ends in the
    last ``val`` points of a series form the validation set (second tuple); the rest,
    the training set, of which each series keeps its ``recent`` latest (0: all).

    Args:
        zs: each series' scaled values (n_i,).
        fs: each series' features (n_i, F).
        L: lookback.
        H: horizon.
        val: points per series whose windows go to validation (default 0).
        recent: training windows kept per series, its latest (default 0: all).

    Returns:
        ``(train, val)``, each ``(x, feats, target)``; a series shorter than L + H gives
        none.
    """
    parts: dict[bool, list[tuple[np.ndarray, np.ndarray]]] = {True: [], False: []}
    for z, f in zip(zs, fs):
        n = len(z)
        if n < L + H:
            continue
        wz = sliding_window_view(z, L + H)  # (n - L - H + 1, L + H)
        wf = sliding_window_view(f, L + H, axis=0).transpose(0, 2, 1)  # (count, L + H, F)
        end = np.arange(len(wz)) + L + H  # one past each window's last target step
        is_val = end > n - val
        train = ~is_val
        if recent:
            train &= end > n - val - recent  # the last `recent` training windows end there
        parts[False].append((wz[train], wf[train]))
        parts[True].append((wz[is_val], wf[is_val]))

    def stack(chunks, F: int):
        if not chunks:
            return (torch.zeros(0, L), torch.zeros(0, L + H, F), torch.zeros(0, H))
        wz = np.concatenate([c[0] for c in chunks]).astype(np.float32)
        wf = np.concatenate([c[1] for c in chunks]).astype(np.float32)
        return (torch.from_numpy(wz[:, :L].copy()), torch.from_numpy(wf.copy()),
                torch.from_numpy(wz[:, L:].copy()))

    F = fs[0].shape[1] if fs else 0
    return stack(parts[False], F), stack(parts[True], F)
