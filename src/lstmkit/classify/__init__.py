"""Sentence classification: :class:`TextClassifier` (token embeddings -> recurrent
layers -> pooling -> linear head), its vocabulary, the labelled-sentence files and the
bundled sentiment sentences; the ``lstmkit classify`` command is :mod:`lstmkit.classify.cli`."""

from lstmkit.classify.data import (
    read_labelled,
    sentiment_sentences,
    stratified_split,
)
from lstmkit.classify.estimator import TextClassifier, TextClassifierConfig, TruncatedTextWarning
from lstmkit.classify.vocab import TokenVocab, tokenize

__all__ = [
    "TextClassifier",
    "TextClassifierConfig",
    "TokenVocab",
    "TruncatedTextWarning",
    "read_labelled",
    "sentiment_sentences",
    "stratified_split",
    "tokenize",
]
