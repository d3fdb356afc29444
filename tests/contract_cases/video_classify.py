"""The motion-direction classifier on tiny frames (12x12, 4 channels, 3x3 kernels), a few steps."""

from __future__ import annotations

from tests.contract_cases.case import Case

SMALL = {"frame_size": 12, "frames": 4, "hidden_channels": 4, "kernel_size": 3, "batch_size": 4}


def case() -> Case:
    from lstmkit.video import VideoClassifier
    from lstmkit.video.clips import eval_clips
    from lstmkit.video.network import ClassifyConfig

    clips, labels = eval_clips(ClassifyConfig(**SMALL), 6)

    def make(**kw):
        return VideoClassifier(**{**SMALL, "max_steps": 4, **kw})

    def train_cli(tmp_path):
        return ["video", "train", "--task", "classify", "--frame-size", 12, "--frames", 4, "--hidden-channels", 4,
                "--kernel-size", 3, "--batch-size", 4, "--max-steps", 150, "--eval-clips", 8]

    return Case(task="video-classify", make=make, fit_args=(), predict_args=(clips,),
                evaluate_args=(clips, labels), train_cli=train_cli, same=lambda a, b: list(a) == list(b))
