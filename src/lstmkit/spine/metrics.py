"""Classification metrics on class indices: accuracy, the confusion matrix, macro F1."""

from __future__ import annotations

from collections.abc import Sequence


def confusion_matrix(true: Sequence[int], pred: Sequence[int], num_classes: int) -> list[list[int]]:
    """The confusion matrix of class indices.

    Args:
        true: the true class of each item.
        pred: the predicted class of each item.
        num_classes: C.

    Returns:
        C x C lists: ``m[i][j]`` items of true class i predicted as class j.
    """
    m = [[0] * num_classes for _ in range(num_classes)]
    for t, p in zip(true, pred):
        m[t][p] += 1
    return m


def macro_f1(matrix: list[list[int]]) -> float:
    """The unweighted mean over classes of F1 = 2PR / (P + R); a class that is neither
    present nor predicted is left out, one that is present but never right scores 0.

    Args:
        matrix: a confusion matrix (:func:`confusion_matrix`).

    Returns:
        The macro F1, 0 to 1.
    """
    n = len(matrix)
    scores = []
    for k in range(n):
        tp = matrix[k][k]
        predicted = sum(matrix[i][k] for i in range(n))
        actual = sum(matrix[k])
        if predicted == 0 and actual == 0:
            continue
        scores.append(2 * tp / (predicted + actual))  # = 2PR / (P + R)
    return sum(scores) / len(scores) if scores else 0.0


def classification_report(true: Sequence[int], pred: Sequence[int], labels: list[str]) -> dict:
    """Accuracy, macro F1 and the confusion matrix of class indices.

    Args:
        true: the true class index of each item.
        pred: the predicted class index of each item.
        labels: the class names, in index order.

    Returns:
        ``{"accuracy", "macro_f1", "confusion_matrix", "labels", "n"}``; rows (true) and
        columns (predicted) of the matrix follow ``labels``.

    Example:
        >>> r = classification_report([0, 0, 1, 1], [0, 1, 1, 1], ["a", "b"])
        >>> r["accuracy"], r["confusion_matrix"]
        (0.75, [[1, 1], [0, 2]])
    """
    m = confusion_matrix(true, pred, len(labels))
    n = len(true)
    correct = sum(m[k][k] for k in range(len(labels)))
    return {
        "accuracy": correct / n if n else 0.0,
        "macro_f1": macro_f1(m),
        "confusion_matrix": m,
        "labels": list(labels),
        "n": n,
    }
