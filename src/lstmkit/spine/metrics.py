"""Classification metrics on class indices: accuracy, the confusion matrix, macro F1."""

from __future__ import annotations

from collections.abc import Sequence


def confusion_matrix(true: Sequence[int], pred: Sequence[int], num_classes: int) -> list[list[int]]:
    """``m[i][j]``: how many items of true class i were predicted as class j."""
    m = [[0] * num_classes for _ in range(num_classes)]
    for t, p in zip(true, pred):
        m[t][p] += 1
    return m


def macro_f1(matrix: list[list[int]]) -> float:
    """The unweighted mean over classes of F1 = 2PR / (P + R); a class that is neither
    present nor predicted is left out, one that is present but never right scores 0."""
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
    """``{"accuracy", "macro_f1", "confusion_matrix", "labels", "n"}``; rows and columns
    of the matrix follow ``labels``."""
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
