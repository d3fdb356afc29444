"""Classification of numeric sequences (sensors, speech features, any multivariate
series of varying length) and the bundled UCR/UEA sets.

- :class:`SequenceClassifier`: fit / predict / predict_proba / evaluate / save / load.
- :class:`ChannelScaler`: per-channel standardisation with JSON-able state.
- :func:`load_ucr`: JapaneseVowels, BasicMotions, GunPoint, ItalyPowerDemand, offline.
"""

from lstmkit.sequences.classifier import SequenceClassifier, SequenceClassifierConfig
from lstmkit.sequences.scaling import ChannelScaler
from lstmkit.sequences.ucr import DATASETS, UCRDataset, load_ucr

__all__ = [
    "DATASETS",
    "ChannelScaler",
    "SequenceClassifier",
    "SequenceClassifierConfig",
    "UCRDataset",
    "load_ucr",
]
