"""Text: a character language model (:class:`TextGenerator`), a sentence classifier
(:class:`TextClassifier`), their vocabularies and the bundled corpora."""

from lstmkit.text.corpus import (
    read_labelled,
    read_text,
    sentiment_sentences,
    shakespeare,
    split_text,
    stratified_split,
)
from lstmkit.text.generator import TextGenerator, TextGeneratorConfig, UnknownCharactersWarning
from lstmkit.text.lm_training import DynamicEval
from lstmkit.text.vocab import CharVocab, TokenVocab, tokenize

__all__ = [
    "CharVocab",
    "DynamicEval",
    "TextGenerator",
    "TextGeneratorConfig",
    "TokenVocab",
    "UnknownCharactersWarning",
    "read_labelled",
    "read_text",
    "sentiment_sentences",
    "shakespeare",
    "split_text",
    "stratified_split",
    "tokenize",
]

from lstmkit.text.classifier import TextClassifier, TextClassifierConfig, TruncatedTextWarning

__all__ += ["TextClassifier", "TextClassifierConfig", "TruncatedTextWarning"]
