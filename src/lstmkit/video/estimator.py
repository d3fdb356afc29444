"""The video estimators on moving digits: :class:`VideoPredictor` (the next frames of a
clip) and :class:`VideoClassifier` (the direction a digit moves in), both on the
:class:`~lstmkit.spine.estimator.Estimator` contract and trained by the engine.

Training clips are generated from the seed (an unlimited supply, :mod:`lstmkit.video.clips`):
one epoch is the planned run, ``max_steps`` steps of ``batch_size`` clips (500 steps to
predict, 300 to classify), each clip seen once. Adam with the rate decayed from ``lr``
to ``lr / 20`` on a cosine over the planned steps.
"""

from __future__ import annotations

import copy
import json
import time
from typing import ClassVar

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstmkit.errors import InputError, TrainingInterrupted
from lstmkit.spine.estimator import Estimator
from lstmkit.video.clips import (
    EVAL_CLIPS,
    TrainingClips,
    eval_clips,
    like_net,
    score_classifier,
    score_predictor,
)
from lstmkit.video.moving_digits import DIGITS_SHA256, DIRECTIONS
from lstmkit.video.network import ClassifyConfig, DirectionClassifier, FramePredictor, PredictConfig

LOG_EVERY = 50  # steps between two rows of ``history``


def cosine_adam(lr: float):
    """The optimiser recipe of :class:`lstmkit.spine.engine.TaskModule`: Adam at ``lr``,
    decayed on a cosine to ``lr / 20`` over the planned steps (a high rate early, a
    settled model at the end), stepped once per optimiser step.

    Args:
        lr: the starting learning rate.

    Returns:
        ``recipe(net, total_steps)`` -> the optimiser configuration.
    """

    def configure(net: nn.Module, total_steps: int):
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, total_steps), eta_min=lr / 20)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return configure


class StepLog(L.Callback):
    """``rows``: the training loss of one batch every ``every`` steps and at the end,
    ``{"step", "loss", "time"}`` (seconds of training); travels in checkpoints, so a
    resumed run keeps the rows of the interrupted one.

    Args:
        every: steps between two rows (default 50).
    """

    def __init__(self, every: int = LOG_EVERY) -> None:
        self.every = every
        self.rows: list[dict] = []
        self._offset = 0.0  # training seconds before this process (a resumed run)
        self._t0 = 0.0
        self._last: dict | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        """Start the clock."""
        self._t0 = time.perf_counter()

    def _elapsed(self) -> float:
        return self._offset + time.perf_counter() - self._t0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        """Keep the batch's loss; a row every ``every`` steps."""
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self._last = {"step": int(trainer.global_step), "loss": float(loss), "time": self._elapsed()}
        if trainer.global_step % self.every == 0:
            self.rows.append(self._last)

    def on_train_end(self, trainer, pl_module) -> None:
        """Add the last step's row."""
        if self._last is not None and (not self.rows or self.rows[-1]["step"] != self._last["step"]):
            self.rows.append(self._last)

    def state_dict(self) -> dict:
        """The rows and the training seconds so far, for the checkpoint."""
        return {"rows": list(self.rows), "time": self._elapsed() if self._t0 else self._offset}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the rows and seconds of an interrupted run."""
        self.rows, self._offset = list(state_dict["rows"]), float(state_dict["time"])


def as_clips(clips, what: str = "clips") -> Tensor:
    """Clips as float32 (B, T, 1, S, S).

    Args:
        clips: a tensor or array (B, T, S, S) or (B, T, 1, S, S) of intensities in [0, 1].
        what: the name used in error messages.

    Returns:
        (B, T, 1, S, S) float32.

    Raises:
        InputError: another shape, no clips, or values that are not floating point,
            not finite or outside [0, 1].
    """
    if not isinstance(clips, Tensor):
        clips = np.asarray(clips)
        if clips.dtype.kind not in "biuf":  # strings, objects: torch cannot hold them
            raise InputError(f"expected {what} as floating-point intensities in [0, 1], found {clips.dtype}")
    t = torch.as_tensor(clips)
    if t.dim() == 4:
        t = t.unsqueeze(2)
    if t.dim() != 5 or t.shape[2] != 1:
        raise InputError(f"expected {what} as (clips, frames, height, width) or (clips, frames, 1, height, "
                         f"width), found shape {tuple(t.shape)}")
    if not t.dtype.is_floating_point:
        raise InputError(f"expected {what} as floating-point intensities in [0, 1], found {t.dtype}")
    if t.shape[0] == 0:
        raise InputError(f"expected {what} to hold at least one clip, found none (shape {tuple(t.shape)})")
    t = t.detach().to("cpu", torch.float32)
    if not torch.isfinite(t).all():
        raise InputError(f"expected {what} as finite intensities in [0, 1], found {int((~torch.isfinite(t)).sum())} "
                         "NaN or infinite value(s)")
    low, high = float(t.min()), float(t.max())
    if low < 0 or high > 1:
        raise InputError(f"expected {what} as intensities in [0, 1], found values from {low:g} to {high:g} "
                         "(scale 0-255 images by 1/255)")
    return t


class _VideoEstimator(Estimator):
    """What both video estimators share: the network, the engine run, saving."""

    NET: ClassVar[type] = nn.Module
    DEFAULT_STEPS: ClassVar[int] = 500

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model: nn.Module | None = None
        self.steps = 0  # optimiser steps of the last fit
        self.is_global_zero = True  # False in the other processes of a DDP run
        self.train_time = 0.0

    # ---- the Estimator hooks ------------------------------------------------------------
    def _network(self):
        return self.model

    def _restore(self, state: dict) -> None:
        self.model = self._build().eval()

    def _build(self) -> nn.Module:
        # the initial weights come from the seed alone, without touching the caller's generator
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            return self.NET(self.config)

    # ---- training -----------------------------------------------------------------------
    def _loss(self, net: nn.Module, batch) -> Tensor:
        raise NotImplementedError

    def run_plan(self) -> tuple[int, dict]:
        """(clips per epoch, the engine's defaults): one epoch of ``max_steps`` steps by
        default; with ``max_epochs`` alone, that many passes over the default run's clips."""
        steps = self.trainer_kwargs.get("max_steps")
        if steps is not None and steps > 0:
            return steps * self.config.batch_size, {"max_epochs": 1}
        if self.trainer_kwargs.get("max_epochs"):
            return self.DEFAULT_STEPS * self.config.batch_size, {"max_steps": -1}
        return self.DEFAULT_STEPS * self.config.batch_size, {"max_steps": self.DEFAULT_STEPS, "max_epochs": 1}

    def fit(self, *, resume: bool = False):
        """Train on clips generated from the seed (module docstring). Whatever the
        engine's ``precision``, the trained network is kept in float32 on the CPU (what
        ``predict``, ``save`` and ``export`` use).

        Args:
            resume: continue an interrupted run from the ``checkpoint_dir`` it wrote.

        Returns:
            This estimator, trained.
        """
        from lstmkit.spine.engine import IndexData, TaskModule, fit_module

        cfg = self.config
        n_clips, defaults = self.run_plan()
        self.model = self._build()
        module = TaskModule(self.model, self._loss, cosine_adam(cfg.lr))
        data = IndexData(n_clips, TrainingClips(cfg, cfg.seed), cfg.batch_size, cfg.seed)
        log = StepLog()
        kwargs = self._engine_kwargs(**defaults)
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), log]
        fingerprint = {"task": self.TASK, **cfg.to_dict(), "clips_per_epoch": n_clips, "digits": DIGITS_SHA256}
        t0 = time.perf_counter()
        try:
            outcome = fit_module(module, data, seed=cfg.seed, has_val=False, resume=resume,
                                 fingerprint=fingerprint, **kwargs)
        except TrainingInterrupted:  # Ctrl-C: keep what was learned, usable and savable
            self.model = module.net.cpu().float().eval()
            self.history = log.rows
            raise
        self.model = module.net.cpu().float().eval()
        self.history = log.rows
        self.steps, self.train_time = outcome.steps, time.perf_counter() - t0
        self.is_global_zero = outcome.is_global_zero
        self.resumed_from = outcome.resumed_from
        return self

    def _graph_net(self) -> nn.Module:
        """A copy of the network for ONNX that runs the ConvLSTM's reference loop: plain
        tensor operations the exporter traces (the fused loop is an autograd.Function
        without a symbolic, which the exporter has to inline)."""
        self._require_fitted()
        net = copy.deepcopy(self.model).eval()
        net.rnn.backend = "reference"
        return net

    def _metadata(self, state: dict) -> dict:
        return {"lstmkit.task": self.TASK, "lstmkit.config": json.dumps(self.config.to_dict()),
                "lstmkit.state": json.dumps(state)}


class _FramesGraph(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, clips: Tensor) -> Tensor:
        logits, _ = self.net(clips)
        return torch.sigmoid(logits)


class VideoPredictor(_VideoEstimator):
    """Predicts the next frames of clips of moving digits: a ConvLSTM
    (:class:`~lstmkit.video.network.FramePredictor`) trained to predict frame t+1 from
    frames 1..t at every step, with per-pixel binary cross-entropy.

    Clips are (B, T, S, S) or (B, T, 1, S, S) intensities in [0, 1]: B clips of T frames
    of S x S pixels.

    Args:
        **kwargs: the fields of :class:`~lstmkit.video.network.PredictConfig`
            (``frame_size=32``, ``frames=10``, ``n_digits=1``, ``hidden_channels=16``,
            ``num_layers=1``, ``kernel_size=5``, ``batch_size=16``, ``lr=1e-2``,
            ``seed=0``, ``backend="auto"``) and the engine's settings (``max_steps``
            (default 500), ``max_time`` (seconds), ``max_epochs``, ``accelerator``,
            ``devices``, ``strategy``, ``precision``, ``checkpoint_dir``, ``verbose``, ...).

    Raises:
        InputError: an unknown keyword or a field out of range.

    Example:
        Two training steps on 16 x 16 clips of 4 frames (so only the call sequence is
        shown; ``lstmkit video train`` trains for real), then a 3-frame rollout:

        >>> import tempfile
        >>> import torch
        >>> from lstmkit.video import VideoPredictor
        >>> vp = VideoPredictor(frame_size=16, frames=4, hidden_channels=4, batch_size=4,
        ...                     max_steps=2, verbose=False).fit()
        >>> clips = torch.rand(2, 4, 16, 16)
        >>> vp.predict(clips, steps=3).shape
        torch.Size([2, 3, 1, 16, 16])
        >>> "ratio" in vp.evaluate(n_clips=8)
        True
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = vp.save(d)
        ...     VideoPredictor.load(d).predict(clips).shape
        torch.Size([2, 1, 1, 16, 16])
    """

    TASK = "video-predict"
    Config = PredictConfig
    NET = FramePredictor
    DEFAULT_STEPS = 500

    def _loss(self, net: nn.Module, clips: Tensor) -> Tensor:
        # frame t+1 from frames 1..t at every step; pixels are intensities in [0, 1]
        clips = like_net(net, clips)
        logits, _ = net(clips[:, :-1])
        return F.binary_cross_entropy_with_logits(logits, clips[:, 1:])

    def predict(self, clips, steps: int = 1) -> Tensor:
        """The frames after each clip. The first comes from the clip; each further one
        from the clip and the frames predicted before it (a rollout: each prediction fed
        back in).

        Args:
            clips: (B, T, S, S) or (B, T, 1, S, S), intensities in [0, 1].
            steps: frames to predict (default 1).

        Returns:
            (B, steps, 1, S, S) float32 intensities in [0, 1].

        Raises:
            InputError: ``steps`` not a positive integer, or malformed clips.
        """
        self._require_fitted()
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise InputError(f"steps must be a positive integer, got {steps!r}")
        return self.model.eval().rollout(like_net(self.model, as_clips(clips)), steps).float()

    def evaluate(self, clips=None, n_clips: int = EVAL_CLIPS) -> dict:
        """Next-frame MSE per pixel of each clip's last frame, predicted from the frames
        before it.

        Args:
            clips: (B, T, S, S) or (B, T, 1, S, S) with T >= 3; None: the fixed test
                clips of unseen digits.
            n_clips: test clips without ``clips`` (default 256: the documented figure).

        Returns:
            ``mse``, the ratios against copying the previous frame (``ratio``) and
            against a blank frame (``ratio_to_blank``), and more (see
            :func:`lstmkit.video.clips.score_predictor`).

        Raises:
            InputError: clips of fewer than 3 frames.
        """
        self._require_fitted()
        clips = eval_clips(self.config, n_clips)[0] if clips is None else as_clips(clips)
        if clips.shape[1] < 3:
            raise InputError(f"expected clips of at least 3 frames to score, found {clips.shape[1]}")
        return score_predictor(self.model, clips)

    def export_spec(self):
        """The network as an ONNX graph: ``clips`` (batch, T, 1, height, width), T the
        model's ``frames``, in; ``frames`` of the same shape out, frame t+1 predicted from
        frames 1..t (the last one: the frame after the clip). Batch and frame size are
        dynamic; the time axis is fixed (the ConvLSTM's time loop is unrolled)."""
        from lstmkit.export.tasks import ExportSpec

        cfg = self.config
        example = (eval_clips(cfg, 2)[0][:, : cfg.frames],)
        axes = {n: {0: "batch", 3: "height", 4: "width"} for n in ("clips", "frames")}
        state = {"frames": cfg.frames, "output": "sigmoid intensities of frames 2..T+1"}
        return ExportSpec(_FramesGraph(self._graph_net()), example, ["clips"], ["frames"], axes,
                          self._metadata(state))


class VideoClassifier(_VideoEstimator):
    """Tells the direction a digit crosses the frame in (8 compass directions: an
    action-recognition stand-in): a ConvLSTM whose last hidden state is pooled over space
    (:class:`~lstmkit.video.network.DirectionClassifier`), trained with cross-entropy.

    Args:
        **kwargs: the fields of :class:`~lstmkit.video.network.ClassifyConfig` (as
            :class:`VideoPredictor`'s without ``n_digits``; ``frames=8``) and the
            engine's settings (``max_steps`` default 300, ...).

    Raises:
        InputError: an unknown keyword or a field out of range.

    Example:
        >>> import torch
        >>> from lstmkit.video import VideoClassifier
        >>> vc = VideoClassifier(frame_size=16, frames=4, hidden_channels=4, batch_size=4,
        ...                      max_steps=2, verbose=False).fit()
        >>> len(vc.predict(torch.rand(3, 4, 16, 16)))
        3
        >>> sorted(vc.evaluate(n_clips=8))
        ['accuracy', 'chance', 'n_clips']
    """

    TASK = "video-classify"
    Config = ClassifyConfig
    NET = DirectionClassifier
    DEFAULT_STEPS = 300
    classes_: ClassVar[list[str]] = list(DIRECTIONS)

    def _loss(self, net: nn.Module, batch) -> Tensor:
        clips, labels = batch
        return F.cross_entropy(net(like_net(net, clips)), labels)

    def predict(self, clips) -> list[str]:
        """The direction of motion of each clip.

        Args:
            clips: (B, T, S, S) or (B, T, 1, S, S), intensities in [0, 1].

        Returns:
            B names of :data:`~lstmkit.video.moving_digits.DIRECTIONS` ("E", "NE", ...).
        """
        self._require_fitted()
        with torch.no_grad():
            index = self.model.eval()(like_net(self.model, as_clips(clips))).argmax(1)
        return [self.classes_[i] for i in index.tolist()]

    def _labels(self, labels) -> Tensor:
        values = list(labels.tolist() if hasattr(labels, "tolist") else labels)
        out = []
        for v in values:
            if isinstance(v, str):
                if v not in DIRECTIONS:
                    raise InputError(f"unknown direction {v!r}; expected one of {', '.join(DIRECTIONS)}")
                out.append(self.classes_.index(v))
            elif isinstance(v, (int, np.integer)) and 0 <= int(v) < len(DIRECTIONS):
                out.append(int(v))
            else:
                raise InputError(f"expected labels as direction names or indices 0-7, found {v!r}")
        return torch.tensor(out, dtype=torch.int64)

    def evaluate(self, clips=None, labels=None, n_clips: int = EVAL_CLIPS) -> dict:
        """Accuracy on labelled clips, or on the fixed test clips of unseen digits.

        Args:
            clips: (B, T, S, S) or (B, T, 1, S, S); None: the test clips.
            labels: B direction names or indices 0-7 (with ``clips`` only).
            n_clips: test clips without ``clips`` (default 256: the documented figure).

        Returns:
            ``{"accuracy", "chance", "n_clips"}``.

        Raises:
            InputError: only one of ``clips``/``labels``, an unknown label, or counts that
                differ.
        """
        self._require_fitted()
        if (clips is None) != (labels is None):
            raise InputError("evaluate takes clips and their labels together, or neither (the test clips)")
        if clips is None:
            clips, y = eval_clips(self.config, n_clips)
        else:
            clips, y = as_clips(clips), self._labels(labels)
            if len(y) != len(clips):
                raise InputError(f"expected one label per clip: {len(clips)} clips, {len(y)} labels")
        return score_classifier(self.model, clips, y)

    def export_spec(self):
        """The network as an ONNX graph: ``clips`` (batch, T, 1, height, width), T the
        model's ``frames``, in; ``logits`` (batch, 8) over the directions (names in the
        metadata) out. Batch and frame size are dynamic; the time axis is fixed (the
        ConvLSTM's time loop is unrolled)."""
        from lstmkit.export.tasks import ExportSpec

        cfg = self.config
        example = (eval_clips(cfg, 2)[0],)
        axes = {"clips": {0: "batch", 3: "height", 4: "width"}, "logits": {0: "batch"}}
        return ExportSpec(self._graph_net(), example, ["clips"], ["logits"], axes,
                          self._metadata({"frames": cfg.frames, "classes": self.classes_}))
