"""The two video networks, a next-frame predictor and a motion-direction classifier, each
a :class:`~lstmkit.convlstm.ConvLSTM` with a small head, and their configs.

Shapes: B batch, T time, Y = X = S frame side, K hidden channels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from lstmkit.convlstm.common import BACKENDS
from lstmkit.convlstm.layer import ConvLSTM
from lstmkit.errors import InputError, strict_keywords
from lstmkit.spine.flags import check_seed
from lstmkit.video.moving_digits import DIGIT, DIRECTIONS


@dataclass
class VideoConfig:
    """The hyperparameters both video estimators share (the engine's settings, such as
    ``max_steps`` and ``max_time``, are not among them: they are never saved).

    Attributes:
        frame_size: S, pixels per side (default 32; at least the digit's size plus 2).
        frames: T, frames per clip (default 10; at least 3).
        hidden_channels: of each ConvLSTM layer (default 16).
        num_layers: ConvLSTM layers (default 1).
        kernel_size: odd convolution size (default 5).
        batch_size: clips per training step (default 16).
        lr: Adam's rate at the start, decayed on a cosine to lr / 20 (default 1e-2).
        seed: seeds the weights and the generated clips (default 0).
        backend: the ConvLSTM's loop: ``"auto"`` (= reference), ``"fused"`` or
            ``"reference"``.

    Raises:
        InputError: a field out of range.
    """

    TASK: ClassVar[str] = ""
    frame_size: int = 32
    frames: int = 10  # frames per clip
    hidden_channels: int = 16
    num_layers: int = 1
    kernel_size: int = 5
    batch_size: int = 16  # clips per training step
    lr: float = 1e-2  # Adam's rate at the start; cosine decay to lr / 20 over the run
    seed: int = 0
    backend: str = "auto"  # the ConvLSTM's loop: auto (= reference), fused or reference

    def __post_init__(self) -> None:
        for name in ("frame_size", "frames", "hidden_channels", "num_layers", "kernel_size", "batch_size",
                     *(("n_digits",) if hasattr(self, "n_digits") else ())):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        check_seed(self.seed)
        if self.kernel_size % 2 == 0:
            raise InputError(f"kernel_size must be odd (the frame keeps its size), got {self.kernel_size}")
        if self.frames < 3:
            raise InputError(f"frames must be at least 3 (two to see motion, one to predict), got {self.frames}")
        if self.frame_size < DIGIT + 2:
            raise InputError(f"frame_size must be at least {DIGIT + 2} pixels (digits are {DIGIT}), "
                             f"got {self.frame_size}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise InputError(f"lr must be positive, got {self.lr!r}")
        if self.backend != "auto" and self.backend not in BACKENDS:
            raise InputError(f"backend must be 'auto', {', '.join(map(repr, BACKENDS))}, got {self.backend!r}")

    def to_dict(self) -> dict:
        """The config as a JSON-able dict (saved with the model)."""
        return asdict(self)


@strict_keywords
@dataclass
class PredictConfig(VideoConfig):
    """:class:`VideoConfig` of the next-frame predictor.

    Attributes:
        n_digits: digits bouncing in each clip (default 1).
    """

    TASK: ClassVar[str] = "predict"
    n_digits: int = 1


@strict_keywords
@dataclass
class ClassifyConfig(VideoConfig):
    """:class:`VideoConfig` of the direction classifier: 8-frame clips by default.

    Attributes:
        frames: T, frames per clip (default 8); a straight crossing needs
            ``frame_size`` >= ``frames`` + the digit's size - 1.

    Raises:
        InputError: frames too small for a ``frames``-step crossing.
    """

    TASK: ClassVar[str] = "classify"
    frames: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.frames - 1 > self.frame_size - DIGIT:
            raise InputError(f"a {self.frames}-frame straight crossing needs frames of at least "
                             f"{self.frames + DIGIT - 1} pixels, got {self.frame_size}")


class FramePredictor(nn.Module):
    """Predicts frame t+1 from frames 1..t at every step: a ConvLSTM, then a 1x1
    convolution to one channel of logits (sigmoid gives pixel intensities).
    ``forward(clips (B, T, 1, S, S)) -> (logits (B, T, 1, S, S), state)``.

    Args:
        config: a :class:`VideoConfig` (``hidden_channels``, ``num_layers``,
            ``kernel_size``, ``backend``).

    Example:
        >>> import torch
        >>> net = FramePredictor(PredictConfig(frame_size=16, frames=4, hidden_channels=4))
        >>> logits, state = net(torch.rand(2, 4, 1, 16, 16))
        >>> logits.shape, net.rollout(torch.rand(2, 3, 1, 16, 16), 2).shape
        (torch.Size([2, 4, 1, 16, 16]), torch.Size([2, 2, 1, 16, 16]))
    """

    def __init__(self, config: VideoConfig) -> None:
        super().__init__()
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
    the last step's hidden state pooled over space (mean and max) and a linear layer.
    ``forward(clips (B, T, 1, S, S)) -> logits (B, 8)``.

    Args:
        config: a :class:`ClassifyConfig`.
    """

    def __init__(self, config: VideoConfig) -> None:
        super().__init__()
        self.rnn = ConvLSTM(1, config.hidden_channels, config.kernel_size, config.num_layers,
                            forget_bias=1.0, backend=config.backend)
        self.out = nn.Linear(2 * config.hidden_channels, len(DIRECTIONS))

    def forward(self, clips: Tensor) -> Tensor:
        """clips (B, T, 1, S, S) -> logits (B, 8)."""
        _, (h, _) = self.rnn(clips)
        last = h[-1]  # (B, K, S, S) top layer at the last step
        pooled = torch.cat((last.mean((2, 3)), last.amax((2, 3))), 1)  # (B, 2K)
        return self.out(pooled)
