"""The baseline a sentence classifier has to beat: TF-IDF of word 1- and 2-grams with
logistic regression (scikit-learn, part of the ``apps`` extra), what most users try first.
:class:`TfidfBaseline` reads and returns labels as :class:`~lstmkit.classify.TextClassifier`
does and reports the same figures, so the two can be scored on one split."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence

import numpy as np

from lstmkit.classify.data import check_labels
from lstmkit.classify.labels import check_texts, classes_of, label_ids
from lstmkit.errors import InputError
from lstmkit.spine.labels import plain_labels
from lstmkit.spine.metrics import classification_report

NAME = "TF-IDF + LR"  # its name in the tables of `lstmkit classify train`


def available() -> bool:
    """Whether scikit-learn is installed (without importing it)."""
    return importlib.util.find_spec("sklearn") is not None


def _sklearn():
    if not available():
        raise InputError("the TF-IDF baseline needs scikit-learn, which is not installed: "
                         "pip install 'lstmkit[apps]' (or 'scikit-learn>=1.3')")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    return TfidfVectorizer, LogisticRegression


class TfidfBaseline:
    """TF-IDF word n-grams and logistic regression, with scikit-learn's defaults otherwise:
    ``TfidfVectorizer(ngram_range=(1, 2))`` (lower-cased words of two or more letters or
    digits, smoothed idf, each row scaled to unit length) and
    ``LogisticRegression(C=1.0, max_iter=1000)`` (L2 penalty, lbfgs: deterministic, no seed).

    Labels as in :class:`~lstmkit.classify.TextClassifier`: any strings, or integers that
    come back from :meth:`predict` as integers; ``classes_`` is sorted (numerically for
    integers). Nothing is tuned on the data.

    Args:
        ngram_range: the shortest and longest word n-grams (default (1, 2)).
        C: inverse L2 regularisation strength of the regression (default 1.0).
        max_iter: lbfgs iterations at most (default 1000).

    Raises:
        InputError: an invalid n-gram range, ``C`` <= 0 or ``max_iter`` < 1.

    Example:

        >>> texts = ["a great phone", "awful battery", "great sound", "an awful screen"]
        >>> base = TfidfBaseline().fit(texts, ["pos", "neg", "pos", "neg"])
        >>> base.predict(["great value", "awful case"])
        ['pos', 'neg']
    """

    def __init__(self, ngram_range: tuple[int, int] = (1, 2), C: float = 1.0,
                 max_iter: int = 1000) -> None:
        lo, hi = ngram_range
        if not 1 <= lo <= hi or not C > 0 or max_iter < 1:
            raise InputError(
                f"expected 1 <= ngram_range[0] <= ngram_range[1], C > 0 and max_iter >= 1, "
                f"got ngram_range={ngram_range!r}, C={C!r}, max_iter={max_iter!r}")
        self.ngram_range, self.C, self.max_iter = (lo, hi), C, max_iter
        self.classes_: list = []
        self.fit_seconds: float | None = None  # wall-clock seconds of the last fit
        self._vectorizer = self._model = None

    def fit(self, texts: Sequence[str], labels: Sequence) -> TfidfBaseline:
        """Learn the n-gram vocabulary and idf weights of ``texts`` and fit the regression."""
        tfidf, logreg = _sklearn()
        texts = check_texts(texts)
        labels = plain_labels(labels)
        check_labels([str(y) for y in labels], "the training labels")
        self.classes_ = classes_of(labels)
        y = label_ids(labels, self.classes_, len(texts), "the training data")
        t0 = time.perf_counter()
        self._vectorizer = tfidf(ngram_range=self.ngram_range)
        features = self._vectorizer.fit_transform(texts)  # (N, n-grams), sparse
        self._model = logreg(C=self.C, max_iter=self.max_iter).fit(features, y)
        self.fit_seconds = time.perf_counter() - t0
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(N, C) class probabilities; columns follow ``classes_``."""
        if self._model is None:
            raise InputError("the baseline is not trained: call fit(texts, labels) first")
        # every class is in the training labels, so the regression's columns are 0..C-1 in order
        return self._model.predict_proba(self._vectorizer.transform(check_texts(texts)))

    def predict(self, texts: Sequence[str]) -> list:
        """The most probable label of each text: an int where the training labels were
        integers, else a str."""
        return [self.classes_[k] for k in self.predict_proba(texts).argmax(axis=1)]

    def evaluate(self, texts: Sequence[str], labels: Sequence) -> dict:
        """``{"accuracy", "macro_f1", "confusion_matrix", "labels", "n"}``, as
        :meth:`TextClassifier.evaluate <lstmkit.classify.TextClassifier.evaluate>` gives them."""
        texts = check_texts(texts)
        true = label_ids(plain_labels(labels), self.classes_, len(texts), "the evaluation data")
        pred = self.predict_proba(texts).argmax(axis=1).tolist()
        return classification_report(true, pred, [str(c) for c in self.classes_])
