"""Text generation: :class:`TextGenerator`, a character language model trained by
truncated backpropagation through time, its vocabulary and the bundled corpus; the
``lstmkit textgen`` command is :mod:`lstmkit.textgen.cli`."""

from lstmkit.textgen.data import shakespeare, split_text
from lstmkit.textgen.estimator import TextGenerator, TextGeneratorConfig, UnknownCharactersWarning
from lstmkit.textgen.scoring import DynamicEval
from lstmkit.textgen.vocab import CharVocab

__all__ = [
    "CharVocab",
    "DynamicEval",
    "TextGenerator",
    "TextGeneratorConfig",
    "UnknownCharactersWarning",
    "shakespeare",
    "split_text",
]
