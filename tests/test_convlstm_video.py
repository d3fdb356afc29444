"""The moving-digits video task: the bundled digits, the clip generators, the two
estimators (trained briefly on 16x16 frames: the predictor must beat copying the last
frame, the classifier must be far above chance), save/load, prediction, the PNG strip
and the CLI (train, the aliases, evaluate, predict with a saved model). The estimator
contract (resume after kill -9, DDP, ONNX) is tests/contract_cases/video_*.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmkit.cli import main
from lstmkit.convlstm import ConvLSTM
from lstmkit.errors import InputError
from lstmkit.video import VideoClassifier, VideoPredictor
from lstmkit.video.clips import TrainingClips, eval_clips
from lstmkit.video.moving_digits import (
    DIRECTIONS,
    TEST_DIGITS,
    TRAIN_DIGITS,
    bouncing_clips,
    direction_clips,
    load_digits,
)
from lstmkit.video.network import ClassifyConfig, PredictConfig
from lstmkit.video.plot import prediction_strip


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
        PredictConfig(kernel_size=4)
    with pytest.raises(InputError, match="straight crossing"):
        ClassifyConfig(frame_size=12, frames=8)
    with pytest.raises(InputError, match="backend"):
        VideoPredictor(backend="native")
    with pytest.raises(TypeError, match="did you mean 'max_steps'"):
        VideoPredictor(max_step=3)
    with pytest.raises(TypeError, match="n_digits"):  # the classifier's clips hold one digit
        VideoClassifier(n_digits=2)


def test_training_clips_depend_on_their_index_alone():
    cfg = PredictConfig(frame_size=12, frames=4)
    collate = TrainingClips(cfg, seed=5)
    batch = collate([3, 9, 4])
    assert batch.shape == (3, 4, 1, 12, 12)
    assert torch.equal(collate([9])[0], batch[1])  # the same clip in any batch, any order
    assert not torch.equal(TrainingClips(cfg, seed=6)([9])[0], batch[1])
    clips, labels = TrainingClips(ClassifyConfig(frame_size=12, frames=4), seed=0)([0, 1])
    assert clips.shape == (2, 4, 1, 12, 12) and labels.dtype == torch.int64


@pytest.fixture(scope="module")
def predictor():
    # 16x16 frames, 8 channels, 100 steps: ~12 s of one core
    return VideoPredictor(frame_size=16, hidden_channels=8, kernel_size=5, lr=1e-2, max_steps=100, seed=0,
                          verbose=False).fit()


def test_predictor_beats_copying_the_last_frame(predictor):
    r = predictor.evaluate(n_clips=128)
    assert r["ratio"] < 0.95, f"next-frame MSE {r['mse']:.4f} vs copy-last {r['copy_last_mse']:.4f}"
    assert r["mse_all_steps"] < r["copy_last_mse_all_steps"]
    assert r["ratio_to_blank"] == pytest.approx(r["mse"] / r["blank_mse"])
    assert isinstance(predictor.model.rnn, ConvLSTM)
    assert predictor.steps == 100 and [row["step"] for row in predictor.history] == [50, 100]


@pytest.mark.parametrize("content, message", [
    (b"", "not a .npy array of clips"),
    (b"ds,y\n2020-01-01,1\n", "does not start with the .npy header, found b'ds,y\\n2'"),  # not "pickled data"
    (None, "floating-point intensities"),  # a saved array of strings
])
def test_cli_predict_refuses_data_that_are_not_clips(predictor, tmp_path, capsys, content, message):
    predictor.save(tmp_path / "m")
    data = tmp_path / "clips.npy"
    if content is None:
        np.save(data, np.array(["a", "b"]))
    else:
        data.write_bytes(content)
    out = tmp_path / "pred.npy"
    assert main(["video", "predict", "--load", str(tmp_path / "m"), "--data", str(data), "--npy", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_predictor_saves_loads_and_draws_a_strip(predictor, tmp_path):
    clips, _ = eval_clips(predictor.config, 4)
    predictor.save(tmp_path / "m")
    loaded = VideoPredictor.load(tmp_path / "m")
    assert loaded.config == predictor.config and loaded.history == predictor.history
    with torch.no_grad():
        assert torch.equal(loaded.model(clips)[0], predictor.model(clips)[0])
    frames = loaded.predict(clips[:, :5], steps=3)
    assert frames.shape == (4, 3, 1, 16, 16) and 0 <= frames.min() and frames.max() <= 1
    assert torch.equal(loaded.predict(clips[:, :5].squeeze(2).numpy()), frames[:, :1])  # (B, T, S, S) arrays
    png = prediction_strip(loaded.model, clips, tmp_path / "strip.png", context=5, n_clips=2)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InputError, match="no directory"):
        VideoPredictor.load(tmp_path / "nothing-here")
    with pytest.raises(InputError, match="shape"):
        loaded.predict(torch.zeros(2, 3, 16))


def test_direction_classifier_is_far_above_chance():
    clf = VideoClassifier(frame_size=16, hidden_channels=8, kernel_size=5, lr=1e-2, max_steps=100, seed=0,
                          verbose=False).fit()
    clips, labels = eval_clips(clf.config, 128)
    acc = clf.evaluate(n_clips=128)["accuracy"]
    assert acc >= 0.5, f"direction accuracy {acc:.3f} (chance 0.125)"
    names = clf.predict(clips)
    assert set(names) <= set(DIRECTIONS) and len(names) == 128
    assert clf.evaluate(clips, [list(DIRECTIONS)[i] for i in labels])["accuracy"] == acc


def _cli(argv: list[str]) -> int:
    return main(argv)


def test_cli_trains_saves_evaluates_and_predicts(tmp_path, capsys):
    out, strip = tmp_path / "vm", tmp_path / "s.png"
    tiny = ["--frame-size", "12", "--hidden-channels", "2", "--kernel-size", "3", "--eval-clips", "4", "--quiet"]
    rc = _cli(["video", "train", "--task", "predict", "--max-steps", "3", *tiny, "--out", str(out),
               "--strip", str(strip)])
    assert rc == 0 and strip.is_file() and (out / "config.json").is_file()
    assert "copying the previous frame" in capsys.readouterr().out
    assert _cli(["video", "evaluate", "--load", str(out), "--eval-clips", "4"]) == 0
    assert "next-frame MSE" in capsys.readouterr().out
    # `video predict` with --load predicts with the saved model
    npy = tmp_path / "f.npy"
    assert _cli(["video", "predict", "--load", str(out), "--steps", "2", "--npy", str(npy)]) == 0
    assert "predicted frames 9-10" in capsys.readouterr().out
    assert np.load(npy).shape == (4, 2, 1, 12, 12)
    clips = tmp_path / "clips.npy"
    np.save(clips, np.random.default_rng(0).random((3, 7, 12, 12), dtype=np.float32))
    assert _cli(["video", "predict", "--load", str(out), "--data", str(clips), "--context", "7"]) == 0
    assert "predicted frames 8-8 of" in capsys.readouterr().out
    assert _cli(["video", "predict", "--load", str(out), "--max-steps", "3"]) == 2
    assert "training flag" in capsys.readouterr().err
    # ... and without --load it trains, as `video train --task predict` (the alias of earlier versions)
    rc = _cli(["video", "predict", "--max-steps", "2", *tiny, "--out", str(tmp_path / "alias")])
    assert rc == 0 and (tmp_path / "alias" / "config.json").is_file()
    assert "video predict: 12x12 frames" in capsys.readouterr().out
    assert _cli(["video", "predict", "--max-steps", "2", "--steps", "2", "--out", ""]) == 2
    assert "--steps is a flag of `video predict --load MODEL`" in capsys.readouterr().err
    rc = _cli(["video", "classify", "--max-steps", "2", "--frame-size", "16", "--hidden-channels", "2",
               "--eval-clips", "4", "--out", str(tmp_path / "c"), "--quiet"])
    assert rc == 0 and "direction accuracy" in capsys.readouterr().out
    assert _cli(["video", "predict", "--load", str(tmp_path / "c"), "--n-clips", "3"]) == 0
    assert "clip 2: " in capsys.readouterr().out
    assert main(["video", "classify", "--frame-size", "12", "--frames", "8"]) == 2
    assert "straight crossing" in capsys.readouterr().err
    assert main(["video", "train", "--task", "classify", "--n-digits", "2", "--out", ""]) == 2
    assert "--n-digits" in capsys.readouterr().err


def test_onnx_graph_has_a_dynamic_batch_and_frame_size_and_a_fixed_time_axis(predictor, tmp_path):
    pytest.importorskip("onnxruntime")
    from lstmkit.export.api import run_onnx, session

    path = predictor.export(tmp_path / "video.onnx")
    sess = session(path)
    clips = torch.rand(3, predictor.config.frames, 1, 20, 12)
    got = run_onnx(sess, {"clips": clips})["frames"]
    with torch.no_grad():
        want = torch.sigmoid(predictor.model(clips)[0]).numpy()
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-5
    with pytest.raises(Exception, match="dimensions"):  # an unrolled loop: another length is refused
        run_onnx(sess, {"clips": clips[:, :-1]})
    assert predictor.model.rnn.backend == "auto"  # the export traced a copy on the reference loop


@pytest.mark.slow
def test_the_documented_default_runs():
    # docs/video.md: seed 0, 500 steps of 16 clips at 32x32 (about 4 min of one core):
    # MSE 0.00644, ratio 0.406 against copying, 0.431 against a blank frame; the classifier
    # (300 steps) reaches 1.000. The bounds leave room for other CPUs' float rounding.
    r = VideoPredictor(seed=0, verbose=False).fit().evaluate()
    assert r["ratio"] < 0.5 and r["ratio_to_blank"] < 0.5, r
    assert VideoClassifier(seed=0, verbose=False).fit().evaluate()["accuracy"] >= 0.95
