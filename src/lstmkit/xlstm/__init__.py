"""xLSTM's cells (Beck et al. 2024, "xLSTM: Extended Long Short-Term Memory",
arXiv:2405.04517) in plain torch: the reference the faster backends are checked against.

- :class:`sLSTM`, :class:`sLSTMCell`: scalar memory, exponential gating, a recurrence
  block-diagonal over heads (:mod:`lstmkit.xlstm.slstm_math`).
- :class:`mLSTM`, :class:`mLSTMCell`: a matrix memory per head, no hidden-to-hidden
  recurrence; parallel, chunkwise and recurrent forms (:mod:`lstmkit.xlstm.mlstm_math`).

- :class:`xLSTMStack` (:class:`xLSTMConfig`), :class:`sLSTMBlock`, :class:`mLSTMBlock`: the
  residual blocks and their stack; :func:`from_xlstm` / :func:`to_xlstm` convert the
  reference package's ``xLSTMBlockStack`` both ways.

The layers follow torch.nn.LSTM's conventions (batch_first, states in and out, unbatched
input, num_layers, dropout, bidirectional) and take ``lengths=``. See docs/xlstm.md.
"""

from lstmkit.xlstm.blocks import mLSTMBlock, sLSTMBlock, xLSTMConfig, xLSTMStack
from lstmkit.xlstm.convert import from_xlstm, to_xlstm
from lstmkit.xlstm.mlstm import mLSTM, mLSTMCell
from lstmkit.xlstm.slstm import sLSTM, sLSTMCell

__all__ = ["from_xlstm", "mLSTM", "mLSTMBlock", "mLSTMCell", "sLSTM", "sLSTMBlock", "sLSTMCell",
           "to_xlstm", "xLSTMConfig", "xLSTMStack"]
