"""Class labels as the classifiers take them (integers or strings, one kind per call), and
the batch size of their predictions.

Shared by the text classifier (and its TF-IDF baseline) and the sequence classifier, so
every task reads labels the same way and none turns a label it cannot tell apart into
a class of its own (1 and "1" merged, None or NaN as a class, a one-hot row as text).
"""

from __future__ import annotations

import numpy as np
import torch

from lstmkit.errors import InputError


def plain_labels(labels, what: str = "labels") -> list:
    """``labels`` as a list of Python ints or of Python strs (so they survive JSON).

    Args:
        labels: a list, array or tensor of integer or string labels (not one string).
        what: the name used in error messages.

    Returns:
        The labels, integers (Python, numpy or tensor elements) as int, strings as str.

    Raises:
        InputError: one string, a label that is neither an integer nor a string (a bool,
            a float, None, NaN, a row of a one-hot array), or integers and strings mixed.

    Example:
        >>> plain_labels(np.array([2, 0, 1])), plain_labels(["pos", "neg"])
        ([2, 0, 1], ['pos', 'neg'])
    """
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().tolist()
    elif isinstance(labels, np.ndarray):
        labels = labels.tolist()
    elif isinstance(labels, str):
        raise InputError(f"{what} must be a list of labels, got a single string")
    out = []
    for i, v in enumerate(labels):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, str, np.integer, np.str_)):
            raise InputError(f"{what}[{i}] must be an int or str label, got {type(v).__name__} {v!r}")
        out.append(int(v) if isinstance(v, (int, np.integer)) else str(v))
    if len({type(v) for v in out}) > 1:
        raise InputError(f"{what} mixes int and str labels; use one kind")
    return out


def check_batch_size(batch_size) -> int:
    """``batch_size`` of a prediction, a positive integer (InputError otherwise: a
    negative one would leave the result unfilled)."""
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InputError(f"expected batch_size as a positive integer, found {batch_size!r}")
    return int(batch_size)


__all__ = ["check_batch_size", "plain_labels"]
