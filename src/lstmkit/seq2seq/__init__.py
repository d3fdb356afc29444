"""Encoder-decoder with attention (:class:`Seq2Seq`) and the date-normalisation task.

- :mod:`~lstmkit.seq2seq.model`: :class:`Seq2Seq`, :class:`Seq2SeqConfig`
- :mod:`~lstmkit.seq2seq.attention`: Luong ("general") and Bahdanau (additive) attention
- :mod:`~lstmkit.seq2seq.decoding`: greedy and beam search
- :mod:`~lstmkit.seq2seq.training`: :func:`fit`, :func:`exact_match`, :class:`TrainConfig`
- :mod:`~lstmkit.seq2seq.dates`: human-written dates -> ISO 8601, with held-out formats
- :mod:`~lstmkit.seq2seq.plot`: the attention heat map
"""

from lstmkit.seq2seq.model import Seq2Seq, Seq2SeqConfig
from lstmkit.seq2seq.training import TrainConfig, exact_match, fit, pair_sampler
from lstmkit.seq2seq.vocab import Vocab

__all__ = ["Seq2Seq", "Seq2SeqConfig", "TrainConfig", "Vocab", "exact_match", "fit", "pair_sampler"]
