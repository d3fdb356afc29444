"""Training and evaluating the video models on freshly generated moving-digit clips,
and saving/loading them in lstmkit's saved-model format.

Every training step draws a new batch of clips from the training digits (the supply is
unlimited, so there is no epoch and no overfitting to a fixed set of clips); evaluation
uses a fixed, seeded set of clips built from the test digits only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstmkit.errors import TrainingInterrupted
from lstmkit.spine.io import load_model, save_model
from lstmkit.video.moving_digits import bouncing_clips, direction_clips
from lstmkit.video.network import VideoConfig, build_model

TASK = "video"


@dataclass
class VideoRun:
    """A trained model and how its training went."""

    model: nn.Module
    config: VideoConfig
    steps: int = 0
    train_time: float = 0.0
    history: list[dict] = field(default_factory=list)  # {"step", "loss", "time"}


def _batch(config: VideoConfig, n: int, split: str, rng: np.random.Generator):
    if config.task == "predict":
        return bouncing_clips(n, config.frames, config.frame_size, config.n_digits, split=split, rng=rng), None
    return direction_clips(n, config.frames, config.frame_size, split=split, rng=rng)


def _loss(model: nn.Module, config: VideoConfig, clips: Tensor, labels: Tensor | None) -> Tensor:
    if config.task == "predict":
        # frame t+1 from frames 1..t at every step; pixels are intensities in [0, 1]
        logits, _ = model(clips[:, :-1])
        return F.binary_cross_entropy_with_logits(logits, clips[:, 1:])
    return F.cross_entropy(model(clips), labels)


def train_video(config: VideoConfig, log=None) -> VideoRun:
    """Train the model ``config.task`` names; ``log(row)`` gets a row every 50 steps."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = build_model(config)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    # cosine decay over the planned steps: a high rate early, a settled model at the end
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.max_steps, eta_min=config.lr / 20)
    run = VideoRun(model, config)
    t0 = time.perf_counter()
    model.train()
    try:
        for step in range(1, config.max_steps + 1):
            clips, labels = _batch(config, config.batch_size, "train", rng)
            loss = _loss(model, config, clips, labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            run.steps, run.train_time = step, time.perf_counter() - t0
            if step % 50 == 0 or step == config.max_steps:
                row = {"step": step, "loss": loss.item(), "time": run.train_time}
                run.history.append(row)
                if log:
                    log(row)
            if config.max_time is not None and run.train_time >= config.max_time:
                break
    except KeyboardInterrupt:
        model.eval()
        raise TrainingInterrupted(run.steps, run.history, result=run) from None
    model.eval()
    return run


def eval_clips(config: VideoConfig, n: int = 256, seed: int = 1234):
    """The fixed evaluation set: ``n`` clips of test digits (and labels for classify)."""
    return _batch(config, n, "test", np.random.default_rng(seed))


@torch.no_grad()
def evaluate_predictor(model: nn.Module, clips: Tensor) -> dict:
    """Next-frame MSE at the last step (frame T from frames 1..T-1) against the baseline
    that copies frame T-1, both per pixel, and the model's MSE over every step t >= 2
    (a single frame shows no motion, so step 1 is left out of both).

    Digits cover a small part of a black frame, so a blank prediction already has a
    low MSE, lower than copying the previous frame: ``ratio`` (against copying) can be
    below 1 for a model that draws nothing. ``baseline_mse`` is the better of copying
    and a blank frame (``blank_mse``), and ``ratio_to_baseline`` the model's MSE over
    it: a blank prediction scores 1 or more there, and only drawing the moving digit
    in its next place gets below 1."""
    model.eval()
    logits, _ = model(clips[:, :-1])
    pred = torch.sigmoid(logits)  # (B, T-1, 1, S, S): frames 2..T
    target = clips[:, 1:]
    last = F.mse_loss(pred[:, -1], target[:, -1]).item()
    copy_last = F.mse_loss(clips[:, -2], clips[:, -1]).item()
    all_steps = F.mse_loss(pred[:, 1:], target[:, 1:]).item()
    copy_all = F.mse_loss(clips[:, 1:-1], clips[:, 2:]).item()
    blank = clips[:, -1].square().mean().item()  # predicting an empty (black) frame
    best, name = min((copy_last, "copy the previous frame"), (blank, "blank frame"))
    return {"mse": last, "copy_last_mse": copy_last, "ratio": last / copy_last,
            "blank_mse": blank, "baseline_mse": best, "baseline": name,
            "ratio_to_baseline": last / best,
            "mse_all_steps": all_steps, "copy_last_mse_all_steps": copy_all}


@torch.no_grad()
def evaluate_classifier(model: nn.Module, clips: Tensor, labels: Tensor) -> dict:
    """Accuracy of the direction classifier (chance is 1/8)."""
    model.eval()
    pred = model(clips).argmax(1)
    return {"accuracy": (pred == labels).float().mean().item(), "chance": 1 / 8}


def save_video(run_or_model, path: str | Path) -> Path:
    """Save a trained video model (config + weights) with :func:`lstmkit.spine.io.save_model`."""
    model = getattr(run_or_model, "model", run_or_model)
    return save_model(path, TASK, model.config.to_dict(), dict(model.state_dict()))


def load_video(path: str | Path) -> nn.Module:
    """Load a model saved by :func:`save_video`, in eval mode."""
    cfg, tensors, _, _ = load_model(path, TASK)
    model = build_model(VideoConfig(**cfg))
    model.load_state_dict(tensors)
    return model.eval()
