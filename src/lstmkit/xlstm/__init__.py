"""xLSTM's cells (Beck et al. 2024, "xLSTM: Extended Long Short-Term Memory",
arXiv:2405.04517) in plain torch: the reference the faster backends are checked against.

- :class:`sLSTM`, :class:`sLSTMCell`: scalar memory, exponential gating, a recurrence
  block-diagonal over heads (:mod:`lstmkit.xlstm.slstm_math`).
- :class:`mLSTM`, :class:`mLSTMCell`: a matrix memory per head, no hidden-to-hidden
  recurrence; parallel, chunkwise and recurrent forms (:mod:`lstmkit.xlstm.mlstm_math`).

The layers follow torch.nn.LSTM's conventions (batch_first, states in and out, unbatched
input, num_layers, dropout, bidirectional) and take ``lengths=``. See docs/xlstm.md.
"""

from lstmkit.xlstm.mlstm import mLSTM, mLSTMCell
from lstmkit.xlstm.slstm import sLSTM, sLSTMCell

__all__ = ["mLSTM", "mLSTMCell", "sLSTM", "sLSTMCell"]
