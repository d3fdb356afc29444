"""Convolutional LSTMs for video frames.

:class:`ConvLSTM` / :class:`ConvLSTMCell` (Shi et al. 2015) run on two loops: the
``reference`` loop (plain autograd on NCHW images, the truth, and what ``auto`` runs)
and the ``fused`` loop (the input convolution of all steps at once, a hand-written
backward). The moving-digits video task
built on them is :mod:`lstmkit.video`.
"""

from lstmkit.convlstm.layer import ConvLSTM, ConvLSTMCell

__all__ = ["ConvLSTM", "ConvLSTMCell"]
