"""lstmkit: Long Short-Term Memory networks on PyTorch.

``lstmkit.LSTM`` is a drop-in for ``torch.nn.LSTM`` (same arguments, parameter names,
initialisation and return values) with a choice of backends, variable-length batches
through ``lengths=``, the variants torch lacks, and the tasks people use LSTMs for.

The core (layers, cells, backends) needs only torch and numpy; the task classes
(``Forecaster``, ``TextGenerator``, ...) load on first use and need the ``apps`` extra.

Example:
    >>> import torch, lstmkit
    >>> lstm = lstmkit.LSTM(8, 16, batch_first=True, layer_norm=True)
    >>> out, (h, c) = lstm(torch.randn(4, 10, 8), lengths=torch.tensor([10, 7, 3, 10]))
    >>> out.shape, h.shape
    (torch.Size([4, 10, 16]), torch.Size([1, 4, 16]))
"""

__version__ = "0.1.0"

import importlib

from lstmkit.cell_layers import GRUCell, LSTMCell, RNNCell
from lstmkit.errors import InputError
from lstmkit.layers import GRU, LSTM, RNN
from lstmkit.recording import record_states
from lstmkit.xlstm import mLSTM, mLSTMCell, sLSTM, sLSTMCell

# public name -> module that defines it, imported on first access
_LAZY = {
    "Forecaster": "lstmkit.forecasting",
    "TextGenerator": "lstmkit.textgen",
    "TextClassifier": "lstmkit.classify",
    "SequenceClassifier": "lstmkit.sequences",
    "SpeechRecognizer": "lstmkit.speech",
    "Seq2Seq": "lstmkit.seq2seq",
    "Translator": "lstmkit.seq2seq",
    "ConvLSTM": "lstmkit.convlstm",
    "ConvLSTMCell": "lstmkit.convlstm",
    "VideoPredictor": "lstmkit.video",
    "VideoClassifier": "lstmkit.video",
}

# submodules reachable as attributes of the package before they are imported
_MODULES = {
    "export": "lstmkit.export",
    "experiments": "lstmkit.experiments",
    "io": "lstmkit.spine.io",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    raise AttributeError(f"module 'lstmkit' has no attribute {name!r}")


__all__ = [
    "LSTM",
    "GRU",
    "RNN",
    "LSTMCell",
    "GRUCell",
    "RNNCell",
    "record_states",
    "InputError",
    "__version__",
    "sLSTM", "sLSTMCell", "mLSTM", "mLSTMCell",
    *_LAZY,
]
