"""The clips the video estimators train and are scored on, and the scores.

Training clips are items of an unlimited supply: clip ``i`` of a run is drawn from the
training digits by its own generator, seeded with ``(seed, i)``, so a batch is the same
whatever the order the engine's sampler deals the indices in, and a resumed run sees
exactly the clips the interrupted one would have. Evaluation uses a fixed, seeded set of
clips built from the test digits only (the same set for every model and seed).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstmkit.video.moving_digits import bouncing_clips, direction_clips
from lstmkit.video.network import VideoConfig

EVAL_SEED = 1234  # the fixed test clips
EVAL_CLIPS = 256


def draw(config: VideoConfig, n: int, split: str, rng: np.random.Generator) -> tuple[Tensor, Tensor | None]:
    """Clips of the config's kind.

    Args:
        config: a :class:`~lstmkit.video.network.PredictConfig` (bouncing digits) or
            :class:`~lstmkit.video.network.ClassifyConfig` (straight crossings).
        n: clips.
        split: ``"train"`` or ``"test"`` digits.
        rng: the generator.

    Returns:
        ``(clips, labels)``: (n, T, 1, S, S) float32, and (n,) int64 directions to
        classify, None to predict.
    """
    if config.TASK == "predict":
        clips = bouncing_clips(n, config.frames, config.frame_size, config.n_digits, split=split, rng=rng)
        return clips, None
    return direction_clips(n, config.frames, config.frame_size, split=split, rng=rng)


class TrainingClips:
    """``collate(indices)`` for :class:`lstmkit.spine.engine.IndexData`: the clips
    ``indices`` of the run seeded ``seed`` (module docstring), as one batch: a clips
    tensor (predict) or a pair (clips, labels) (classify).

    Args:
        config: the estimator's config.
        seed: the run's seed; clip i is drawn from ``(seed, i)`` alone.
    """

    def __init__(self, config: VideoConfig, seed: int) -> None:
        self.config, self.seed = config, seed

    def __call__(self, indices: list[int]):
        parts = [draw(self.config, 1, "train", np.random.default_rng((self.seed, int(i)))) for i in indices]
        clips = torch.cat([c for c, _ in parts])
        if self.config.TASK == "predict":
            return clips
        return clips, torch.cat([y for _, y in parts])


def like_net(net: nn.Module, x: Tensor) -> Tensor:
    """``x`` in the dtype of ``net``'s weights (a model trained with ``precision="64-true"``
    holds float64 weights; the clips are float32)."""
    p = next(net.parameters(), None)
    return x if p is None or not x.is_floating_point() else x.to(p.dtype)


def eval_clips(config: VideoConfig, n: int = EVAL_CLIPS, seed: int = EVAL_SEED) -> tuple[Tensor, Tensor | None]:
    """The fixed evaluation set: clips of test digits (and labels for classify).

    Args:
        config: the estimator's config.
        n: clips (default 256).
        seed: the set's seed (default 1234).

    Returns:
        As :func:`draw`.
    """
    return draw(config, n, "test", np.random.default_rng(seed))


@torch.no_grad()
def score_predictor(net: nn.Module, clips: Tensor) -> dict:
    """Next-frame MSE at the last step (frame T from frames 1..T-1) against the baseline
    that copies frame T-1, both per pixel, and the model's MSE over every step t >= 2
    (a single frame shows no motion, so step 1 is left out of both).

    Digits cover a small part of a black frame, so a blank prediction already has a
    low MSE, lower than copying the previous frame: ``ratio`` (against copying) can be
    below 1 for a model that draws nothing. ``ratio_to_blank`` is the model's MSE over
    that of a blank frame; ``baseline_mse`` is the better of copying and a blank frame,
    and ``ratio_to_baseline`` the model's MSE over it: a blank prediction scores 1 or
    more there, and only drawing the moving digit in its next place gets below 1.

    Args:
        net: a :class:`~lstmkit.video.network.FramePredictor`.
        clips: (B, T, 1, S, S) with T >= 3.

    Returns:
        ``mse``, ``copy_last_mse``, ``ratio``, ``blank_mse``, ``ratio_to_blank``,
        ``baseline_mse``, ``baseline`` (its name), ``ratio_to_baseline``,
        ``mse_all_steps``, ``copy_last_mse_all_steps`` and ``n_clips``.
    """
    clips = like_net(net, clips)
    was = net.training
    net.eval()
    try:
        logits, _ = net(clips[:, :-1])
    finally:
        net.train(was)
    pred = torch.sigmoid(logits)  # (B, T-1, 1, S, S): frames 2..T
    target = clips[:, 1:]
    last = F.mse_loss(pred[:, -1], target[:, -1]).item()
    copy_last = F.mse_loss(clips[:, -2], clips[:, -1]).item()
    all_steps = F.mse_loss(pred[:, 1:], target[:, 1:]).item()
    copy_all = F.mse_loss(clips[:, 1:-1], clips[:, 2:]).item()
    blank = clips[:, -1].square().mean().item()  # predicting an empty (black) frame
    best, name = min((copy_last, "copy the previous frame"), (blank, "blank frame"))
    return {"mse": last, "copy_last_mse": copy_last, "ratio": last / copy_last,
            "blank_mse": blank, "ratio_to_blank": last / blank,
            "baseline_mse": best, "baseline": name, "ratio_to_baseline": last / best,
            "mse_all_steps": all_steps, "copy_last_mse_all_steps": copy_all, "n_clips": len(clips)}


@torch.no_grad()
def score_classifier(net: nn.Module, clips: Tensor, labels: Tensor) -> dict:
    """Accuracy of the direction classifier (chance is 1/8).

    Args:
        net: a :class:`~lstmkit.video.network.DirectionClassifier`.
        clips: (B, T, 1, S, S).
        labels: (B,) direction indices.

    Returns:
        ``{"accuracy", "chance", "n_clips"}``.
    """
    was = net.training
    net.eval()
    try:
        pred = net(like_net(net, clips)).argmax(1)
    finally:
        net.train(was)
    return {"accuracy": (pred == labels).float().mean().item(), "chance": 1 / 8, "n_clips": len(clips)}
