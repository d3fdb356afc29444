"""lstmkit: Long Short-Term Memory networks on PyTorch.

``lstmkit.LSTM`` is a drop-in for ``torch.nn.LSTM`` (same arguments, parameter names,
initialisation and return values) with a choice of backends, variable-length batches
through ``lengths=``, and the tasks people use LSTMs for.
"""

__version__ = "0.1.0"

from lstmkit.cell_layers import GRUCell, LSTMCell, RNNCell
from lstmkit.errors import InputError
from lstmkit.layers import GRU, LSTM, RNN
from lstmkit.recording import record_states

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
]
