"""Sentence classification: :class:`TextClassifier` (token embeddings -> recurrent
layers -> pooling -> linear head), its vocabulary, the labelled-sentence files, the
bundled sentiment sentences and the TF-IDF + logistic regression baseline
(:class:`TfidfBaseline`); the ``lstmkit classify`` command is :mod:`lstmkit.classify.cli`."""

from lstmkit.classify.baseline import TfidfBaseline
from lstmkit.classify.data import (
    SENTIMENT_SOURCES,
    read_labelled,
    sentiment_sentences,
    stratified_split,
)
from lstmkit.classify.estimator import TextClassifier, TextClassifierConfig, TruncatedTextWarning
from lstmkit.classify.vocab import TokenVocab, tokenize

__all__ = [
    "SENTIMENT_SOURCES",
    "TextClassifier",
    "TextClassifierConfig",
    "TfidfBaseline",
    "TokenVocab",
    "TruncatedTextWarning",
    "read_labelled",
    "sentiment_sentences",
    "stratified_split",
    "tokenize",
]
