"""The next-frame predictor on tiny frames (12x12, 4 channels, 3x3 kernels), a few steps."""

from __future__ import annotations

from tests.contract_cases.case import Case

SMALL = {"frame_size": 12, "frames": 6, "hidden_channels": 4, "kernel_size": 3, "batch_size": 4}


def case() -> Case:
    from lstmkit.video import VideoPredictor
    from lstmkit.video.clips import eval_clips
    from lstmkit.video.network import PredictConfig

    clips, _ = eval_clips(PredictConfig(**SMALL), 6)

    def make(**kw):
        return VideoPredictor(**{**SMALL, "max_steps": 4, **kw})

    def train_cli(tmp_path):
        return ["video", "train", "--task", "predict", "--frame-size", 12, "--frames", 6, "--hidden-channels", 4,
                "--kernel-size", 3, "--batch-size", 4, "--max-steps", 150, "--eval-clips", 8]

    return Case(task="video-predict", make=make, fit_args=(), predict_args=(clips[:, :4], 2),
                evaluate_args=(clips,), train_cli=train_cli)
