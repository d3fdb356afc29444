"""Convolutional LSTMs for video frames, and the moving-digits video task.

:class:`ConvLSTM` / :class:`ConvLSTMCell` (Shi et al. 2015) run on two loops: the
``reference`` loop (plain autograd, the truth) and the ``fused`` loop (the input
convolution of all steps at once, a hand-written backward). The video task lives in
:mod:`lstmkit.convlstm.moving_digits` (data), :mod:`lstmkit.convlstm.video_models`
(next-frame predictor, direction classifier) and :mod:`lstmkit.convlstm.video_training`.
"""

from lstmkit.convlstm.layer import ConvLSTM, ConvLSTMCell

__all__ = ["ConvLSTM", "ConvLSTMCell"]
