"""The moving-digits video task on :class:`lstmkit.ConvLSTM`: :mod:`~lstmkit.video.moving_digits`
(data), :mod:`~lstmkit.video.network` (next-frame predictor, direction classifier),
:mod:`~lstmkit.video.training` (training, evaluation, saving), :mod:`~lstmkit.video.plot`
(the prediction strip) and the ``lstmkit video`` command, :mod:`lstmkit.video.cli`."""
