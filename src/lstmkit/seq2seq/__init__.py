"""Encoder-decoder with attention: :class:`Translator` (strings in and out) and the
date-normalisation task.

- :mod:`~lstmkit.seq2seq.estimator`: :class:`Translator`, :class:`TranslatorConfig`
- :mod:`~lstmkit.seq2seq.model`: the network, :class:`Seq2Seq`, :class:`Seq2SeqConfig`
- :mod:`~lstmkit.seq2seq.attention`: Luong ("general") and Bahdanau (additive) attention
- :mod:`~lstmkit.seq2seq.decoding`: greedy and beam search
- :mod:`~lstmkit.seq2seq.training`: batches, loss and optimiser recipe for the engine
- :mod:`~lstmkit.seq2seq.onnx_graphs`: the encoder and one decoder step as ONNX graphs,
  and the greedy loop over them in onnxruntime
- :mod:`~lstmkit.seq2seq.dates`: human-written dates -> ISO 8601, with held-out formats
- :mod:`~lstmkit.seq2seq.tasks`: the date task's training data and evaluation
- :mod:`~lstmkit.seq2seq.plot`: the attention heat map
"""

from lstmkit.seq2seq.estimator import Translator, TranslatorConfig
from lstmkit.seq2seq.model import Seq2Seq, Seq2SeqConfig
from lstmkit.seq2seq.vocab import Vocab

__all__ = ["Seq2Seq", "Seq2SeqConfig", "Translator", "TranslatorConfig", "Vocab"]
