"""Classification of numeric sequences (sensors, speech features, any multivariate
series of varying length) and the bundled UCR/UEA sets.

- :class:`SequenceClassifier`: fit / predict / predict_proba / evaluate / save / load.
- :class:`ChannelScaler`: per-channel standardisation with JSON-able state.
- :func:`load_ucr`: JapaneseVowels, BasicMotions, GunPoint, ItalyPowerDemand, offline;
  :func:`read_ts`: any ``.ts`` file in sktime's format.
"""

from lstmkit.sequences.classifier import SequenceClassifier, SequenceClassifierConfig
from lstmkit.sequences.scaling import ChannelScaler
from lstmkit.sequences.ucr import DATASETS, UCRDataset, load_ucr, read_ts

__all__ = [
    "DATASETS",
    "ChannelScaler",
    "SequenceClassifier",
    "SequenceClassifierConfig",
    "UCRDataset",
    "load_ucr",
    "read_ts",
]
