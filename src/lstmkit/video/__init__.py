"""The moving-digits video task on :class:`lstmkit.ConvLSTM`: :class:`VideoPredictor`
(the next frames of a clip) and :class:`VideoClassifier` (the direction of motion), on
the estimator contract (:mod:`~lstmkit.video.estimator`); :mod:`~lstmkit.video.moving_digits`
(data), :mod:`~lstmkit.video.clips` (training and test clips, scores),
:mod:`~lstmkit.video.network` (the networks and configs), :mod:`~lstmkit.video.plot`
(the prediction strip) and the ``lstmkit video`` command, :mod:`lstmkit.video.cli`."""

from lstmkit.video.estimator import VideoClassifier, VideoPredictor

__all__ = ["VideoClassifier", "VideoPredictor"]
