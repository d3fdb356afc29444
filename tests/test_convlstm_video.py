"""The moving-digits video task: the bundled digits, the clip generators, the two models
(trained briefly on 16x16 frames: the predictor must beat copying the last frame, the
classifier must be far above chance), save/load, the PNG strip and the CLI.

The full-size runs (32x32 frames) with the documented figures are under ``-m slow``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmkit.cli import main
from lstmkit.convlstm import ConvLSTM
from lstmkit.errors import InputError
from lstmkit.video.moving_digits import (
    DIRECTIONS,
    TEST_DIGITS,
    TRAIN_DIGITS,
    bouncing_clips,
    direction_clips,
    load_digits,
)
from lstmkit.video.network import VideoConfig
from lstmkit.video.plot import prediction_strip
from lstmkit.video.training import (
    eval_clips,
    evaluate_classifier,
    evaluate_predictor,
    load_video,
    save_video,
    train_video,
)


def test_bundled_digits_are_the_uci_set():
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8) and labels.shape == (1797,)
    assert images.min() == 0 and images.max() == 1
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def _centroids(clips: torch.Tensor) -> np.ndarray:
    f = clips[:, :, 0].numpy()  # (B, T, S, S)
    ys, xs = np.mgrid[0 : f.shape[2], 0 : f.shape[3]]
    m = f.sum((2, 3))
    return np.stack(((f * xs).sum((2, 3)) / m, (f * ys).sum((2, 3)) / m), -1)  # (B, T, 2)


def test_direction_clips_move_the_way_their_label_says():
    clips, labels = direction_clips(64, frames=8, size=32, rng=np.random.default_rng(0))
    assert clips.shape == (64, 8, 1, 32, 32) and clips.dtype == torch.float32
    moved = _centroids(clips)[:, -1] - _centroids(clips)[:, 0]  # (B, 2)
    steps = np.array(list(DIRECTIONS.values()))[labels.numpy()]
    assert np.allclose(np.sign(np.round(moved)), steps)
    # the digit stays whole in every frame (no clipping at the edges)
    assert torch.allclose(clips.sum((2, 3, 4)), clips[:, :1].sum((2, 3, 4)).expand(-1, 8))


def test_bouncing_clips_stay_in_the_frame_and_use_disjoint_digits():
    rng = np.random.default_rng(1)
    clips = bouncing_clips(32, frames=12, size=20, n_digits=1, rng=rng)
    assert clips.shape == (32, 12, 1, 20, 20)
    mass = clips.sum((2, 3, 4))
    assert torch.allclose(mass, mass[:, :1].expand(-1, 12))  # nothing leaves the frame
    # digits keep moving (a frame repeats only when a bounce lands where the step began)
    assert (clips[:, 1:] != clips[:, :-1]).any(4).any(3).any(2).float().mean() > 0.9
    assert TRAIN_DIGITS.stop <= TEST_DIGITS.start  # test clips show unseen digit images
    with pytest.raises(InputError, match="split"):
        bouncing_clips(2, split="validation")


def test_config_rejects_what_cannot_run():
    with pytest.raises(InputError, match="kernel_size must be odd"):
        VideoConfig(kernel_size=4)
    with pytest.raises(InputError, match="straight crossing"):
        VideoConfig(task="classify", frame_size=12, frames=8)
    with pytest.raises(InputError, match="task"):
        VideoConfig(task="segment")


@pytest.fixture(scope="module")
def predictor():
    # 16x16 frames, 8 channels, 100 steps: ~12 s of one core
    cfg = VideoConfig(task="predict", frame_size=16, hidden_channels=8, kernel_size=5,
                      lr=1e-2, max_steps=100, seed=0)
    return train_video(cfg)


def test_predictor_beats_copying_the_last_frame(predictor):
    clips, _ = eval_clips(predictor.config, 128)
    r = evaluate_predictor(predictor.model, clips)
    assert r["ratio"] < 0.95, f"next-frame MSE {r['mse']:.4f} vs copy-last {r['copy_last_mse']:.4f}"
    assert r["mse_all_steps"] < r["copy_last_mse_all_steps"]
    assert isinstance(predictor.model.rnn, ConvLSTM)


def test_predictor_saves_loads_and_draws_a_strip(predictor, tmp_path):
    clips, _ = eval_clips(predictor.config, 4)
    save_video(predictor, tmp_path / "m")
    loaded = load_video(tmp_path / "m")
    assert loaded.config == predictor.config
    with torch.no_grad():
        assert torch.equal(loaded(clips)[0], predictor.model(clips)[0])
    rollout = loaded.rollout(clips[:, :5], 3)
    assert rollout.shape == (4, 3, 1, 16, 16) and 0 <= rollout.min() and rollout.max() <= 1
    png = prediction_strip(loaded, clips, tmp_path / "strip.png", context=5, n_clips=2)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InputError, match="no directory"):
        load_video(tmp_path / "nothing-here")


def test_direction_classifier_is_far_above_chance():
    cfg = VideoConfig(task="classify", frame_size=16, hidden_channels=8, kernel_size=5,
                      lr=1e-2, max_steps=100, seed=0)
    run = train_video(cfg)
    clips, labels = eval_clips(cfg, 128)
    acc = evaluate_classifier(run.model, clips, labels)["accuracy"]
    assert acc >= 0.5, f"direction accuracy {acc:.3f} (chance 0.125)"


def _cli(argv: list[str]) -> int:
    return main(argv)


def test_cli_trains_saves_and_evaluates(tmp_path, capsys):
    out, strip = tmp_path / "vm", tmp_path / "s.png"
    rc = _cli(["video", "predict", "--max-steps", "3", "--frame-size", "12", "--hidden-channels", "2",
               "--kernel-size", "3", "--eval-clips", "4", "--out", str(out), "--strip", str(strip)])
    assert rc == 0 and strip.is_file() and (out / "config.json").is_file()
    assert "copying the previous frame" in capsys.readouterr().out
    assert _cli(["video", "evaluate", "--load", str(out), "--eval-clips", "4"]) == 0
    assert "next-frame MSE" in capsys.readouterr().out
    rc = _cli(["video", "classify", "--max-steps", "2", "--frame-size", "16", "--hidden-channels", "2",
               "--eval-clips", "4", "--out", ""])
    assert rc == 0 and "direction accuracy" in capsys.readouterr().out
    assert main(["video", "classify", "--frame-size", "12", "--frames", "8"]) == 2
    assert "straight crossing" in capsys.readouterr().err
