"""The two video models: a next-frame predictor and a motion-direction classifier, each a
:class:`~lstmkit.convlstm.ConvLSTM` with a small head, and the config they share.

Shapes: B batch, T time, Y = X = S frame side, K hidden channels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from lstmkit.convlstm.layer import ConvLSTM
from lstmkit.errors import InputError, strict_keywords
from lstmkit.video.moving_digits import DIRECTIONS


@strict_keywords
@dataclass
class VideoConfig:
    """Hyperparameters of a video model and of its training run."""

    task: str = "predict"  # "predict" (next frame) or "classify" (motion direction)
    frame_size: int = 32
    frames: int | None = None  # frames per clip; None: 10 to predict, 8 to classify
    n_digits: int = 1  # digits per clip (predict only)
    hidden_channels: int = 16
    num_layers: int = 1
    kernel_size: int = 5
    batch_size: int = 16
    lr: float = 1e-2
    max_steps: int = 500
    max_time: float | None = None  # seconds of training; None: run all max_steps
    seed: int = 0
    backend: str = "auto"

    def __post_init__(self) -> None:
        if self.task not in ("predict", "classify"):
            raise InputError(f"task must be 'predict' or 'classify', got {self.task!r}")
        if self.frames is None:
            self.frames = 10 if self.task == "predict" else 8
        for name in ("frame_size", "frames", "n_digits", "hidden_channels", "num_layers",
                     "kernel_size", "batch_size", "max_steps"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        if self.kernel_size % 2 == 0:
            raise InputError(f"kernel_size must be odd (the frame keeps its size), got {self.kernel_size}")
        if self.frames < 3:
            raise InputError(f"frames must be at least 3 (two to see motion, one to predict), got {self.frames}")
        if self.frame_size < 10:
            raise InputError(f"frame_size must be at least 10 pixels (digits are 8), got {self.frame_size}")
        if self.task == "classify" and self.frames - 1 > self.frame_size - 8:
            raise InputError(
                f"a {self.frames}-frame straight crossing needs frames of at least "
                f"{self.frames + 7} pixels, got {self.frame_size}"
            )
        if not self.lr > 0:
            raise InputError(f"lr must be positive, got {self.lr!r}")
        if self.max_time is not None and not self.max_time > 0:
            raise InputError(f"max_time must be positive seconds or None, got {self.max_time!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class FramePredictor(nn.Module):
    """Predicts frame t+1 from frames 1..t at every step: a ConvLSTM, then a 1x1
    convolution to one channel of logits (sigmoid gives pixel intensities)."""

    def __init__(self, config: VideoConfig) -> None:
        super().__init__()
        self.config = config
        self.rnn = ConvLSTM(1, config.hidden_channels, config.kernel_size, config.num_layers,
                            forget_bias=1.0, backend=config.backend)
        self.head = nn.Conv2d(config.hidden_channels, 1, kernel_size=1)

    def forward(self, clips: Tensor, state=None) -> tuple[Tensor, tuple]:
        """clips (B, T, 1, S, S) -> logits (B, T, 1, S, S) of frames 2..T+1, final state."""
        out, state = self.rnn(clips, state)  # (B, T, K, S, S)
        B, T = out.shape[:2]
        logits = self.head(out.reshape(B * T, *out.shape[2:]))
        return logits.view(B, T, *logits.shape[1:]), state

    @torch.no_grad()
    def rollout(self, context: Tensor, steps: int) -> Tensor:
        """Given context frames (B, Tc, 1, S, S), predict the next ``steps`` frames by
        feeding each prediction back in: (B, steps, 1, S, S) in [0, 1]."""
        logits, state = self(context)
        frame = torch.sigmoid(logits[:, -1:])
        preds = [frame]
        for _ in range(steps - 1):
            logits, state = self(frame, state)
            frame = torch.sigmoid(logits)
            preds.append(frame)
        return torch.cat(preds, 1)


class DirectionClassifier(nn.Module):
    """Classifies a clip's motion direction (8 classes): a ConvLSTM over the clip, then
    the last step's hidden state pooled over space (mean and max) and a linear layer."""

    def __init__(self, config: VideoConfig) -> None:
        super().__init__()
        self.config = config
        self.rnn = ConvLSTM(1, config.hidden_channels, config.kernel_size, config.num_layers,
                            forget_bias=1.0, backend=config.backend)
        self.out = nn.Linear(2 * config.hidden_channels, len(DIRECTIONS))

    def forward(self, clips: Tensor) -> Tensor:
        """clips (B, T, 1, S, S) -> logits (B, 8)."""
        _, (h, _) = self.rnn(clips)
        last = h[-1]  # (B, K, S, S) top layer at the last step
        pooled = torch.cat((last.mean((2, 3)), last.amax((2, 3))), 1)  # (B, 2K)
        return self.out(pooled)


def build_model(config: VideoConfig) -> nn.Module:
    return FramePredictor(config) if config.task == "predict" else DirectionClassifier(config)
