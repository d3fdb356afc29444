"""What the classifiers take as texts and labels, and how labels become class indices:
strings, or integers that stay integers (``classes`` in numeric order), as
:func:`lstmkit.spine.labels.plain_labels` reads them. Shared by :class:`~lstmkit.classify.estimator.TextClassifier` and the
TF-IDF baseline (:mod:`lstmkit.classify.baseline`), so both read labels the same way."""

from __future__ import annotations

from lstmkit.errors import InputError


def check_texts(texts, what: str = "texts") -> list[str]:
    """``texts`` as a non-empty list of str.

    Args:
        texts: a sequence of strings (not one string).
        what: the name used in error messages.

    Returns:
        The list.

    Raises:
        InputError: one string, an empty sequence, or an item that is not a string.
    """
    if isinstance(texts, str):
        raise InputError(
            f"{what} must be a list of strings, got a single string (wrap it in a list)"
        )
    texts = list(texts)
    if not texts:
        raise InputError(f"{what} is empty: expected at least one text")
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise InputError(f"{what}[{bad}] must be a str, got {type(texts[bad]).__name__}")
    return texts


def classes_of(labels: list) -> list:
    """The sorted classes of :func:`plain_labels` output.

    Args:
        labels: plain labels.

    Returns:
        Integers in numeric order when every label is an integer, else every label as a
        string in text order.
    """
    ints = all(isinstance(y, int) for y in labels)
    return sorted(set(labels)) if ints else sorted({str(y) for y in labels})


def label_ids(labels, classes: list, n: int, what: str) -> list[int]:
    """Each label's index in ``classes`` (compared as strings).

    Args:
        labels: the labels.
        classes: the known classes, in index order.
        n: the number of texts the labels belong to.
        what: the name used in error messages.

    Returns:
        n indices into ``classes``.

    Raises:
        InputError: a count other than ``n``, or a label not in ``classes``.
    """
    labels = [str(y) for y in labels]
    if len(labels) != n:
        raise InputError(f"expected one label per text, got {n} texts and {len(labels)} labels")
    index = {str(c): i for i, c in enumerate(classes)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise InputError(
            f"{what} has labels the model was not trained on: {unknown}; known: {classes}"
        )
    return [index[y] for y in labels]
