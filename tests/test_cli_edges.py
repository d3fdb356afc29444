"""The edges of a run: every flag works or gives one line and exit 2, outputs are
checked before any training and written all together or not at all, Ctrl-C keeps what
was trained, resume refuses what it cannot continue, messages name the real problem."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import lstmkit
from lstmkit.cli import main

SMALL = ["--hidden-size", "8", "--num-layers", "1"]
NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")


@pytest.fixture
def tiny_text(tmp_path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text("the quick brown fox jumps over the lazy dog. " * 80, encoding="utf-8")
    return path


@pytest.fixture
def tiny_tsv(tmp_path) -> Path:
    path = tmp_path / "tiny.tsv"
    rows = [f"good thing {i}\tpos" if i % 2 else f"bad thing {i}\tneg" for i in range(40)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def airline_csv(tmp_path) -> Path:
    from lstmkit.forecasting import datasets

    path = tmp_path / "air.csv"
    datasets.load("airline", long=True).drop(columns="unique_id").to_csv(path, index=False)
    return path


def one_line_error(capsys, code: int, *needles: str) -> str:
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return out


# ---- output locations, checked before training ----------------------------------------
@pytest.mark.parametrize("argv", [
    ["textgen", "train", "--max-steps", "2"],
    ["classify", "train", "--epochs", "1"],
    ["seq2seq", "train", "--max-steps", "2"],
    ["video", "predict", "--max-steps", "2"],
    ["video", "classify", "--max-steps", "2"],
    ["classify-series", "--epochs", "1"],
    ["speech", "train", "--epochs", "1"],
], ids=lambda a: "-".join(a[:2]))
def test_an_existing_folder_as_out_is_refused_before_training(argv, tmp_path, capsys):
    taken = tmp_path / "notes"
    taken.mkdir()
    (taken / "mine.txt").write_text("keep me")
    out = one_line_error(capsys, main([*argv, "--out", str(taken)]), "--out", "refusing to overwrite")
    assert "step" not in out and "epoch" not in out  # nothing trained
    assert sorted(p.name for p in taken.iterdir()) == ["mine.txt"]


@pytest.mark.parametrize("argv", [
    ["textgen", "train", "--max-steps", "2"],
    ["classify", "train", "--epochs", "1"],
    ["seq2seq", "train", "--max-steps", "2"],
    ["video", "train", "--task", "classify", "--max-steps", "2"],
    ["video", "classify", "--max-steps", "2"],
    ["classify-series", "train", "--epochs", "1"],
    ["speech", "train", "--epochs", "1"],
    ["forecast", "train", "--max-epochs", "1"],
], ids=lambda a: "-".join(a[:2]))
def test_another_tasks_saved_model_as_out_is_refused_before_training(argv, tmp_path, capsys):
    """A saved model may be replaced by a model of its own task, not of another one."""
    from lstmkit.spine.io import save_model

    taken = tmp_path / "model"
    task = "textgen" if argv[0] == "forecast" else "forecast"
    save_model(taken, task, {"kept": True}, {"w": torch.zeros(2)})
    before = {p.name: p.read_bytes() for p in taken.iterdir()}
    out = one_line_error(capsys, main([*argv, "--out", str(taken)]), "--out",
                         f"it holds a saved {task} model")
    assert "step" not in out and "epoch" not in out  # nothing trained
    assert {p.name: p.read_bytes() for p in taken.iterdir()} == before


@pytest.mark.parametrize("argv,flag", [
    (["textgen", "train", "--max-steps", "2", "--curve", "{file}/c.png"], "--curve"),
    (["forecast", "--max-epochs", "2", "--save", "{file}/model"], "--save"),
    (["forecast", "--max-epochs", "2", "--out", "{file}"], "--out"),
    (["experiment", "adding", "--length", "5", "--max-steps", "2", "--plot-gates", "{file}/g.png"], "--plot-gates"),
    (["speech", "say", "12", "--out", "{dir}"], "--out"),
    (["seq2seq", "train", "--max-steps", "2", "--heatmap", "{dir}"], "--heatmap"),
    (["export", "{dir}", "--onnx", "{dir}"], "--onnx"),
], ids=["curve", "save", "forecast-out", "plot-gates", "say", "heatmap", "onnx"])
def test_invalid_output_paths_give_one_line_and_write_nothing(argv, flag, tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    a_dir = tmp_path / "a-dir"
    a_dir.mkdir()
    argv = [a.format(file=a_file, dir=a_dir) for a in argv]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    one_line_error(capsys, main(argv), flag)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_folder_is_refused(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        one_line_error(capsys, main(["textgen", "train", "--out", str(locked / "m")]), "permission denied")
    finally:
        locked.chmod(0o700)


def test_forecast_writes_its_outputs_all_or_none(airline_csv, tmp_path, capsys, monkeypatch):
    """A failure writing the model (after the CSV and plot are ready) leaves neither."""
    from lstmkit.forecasting import Forecaster

    def broken_save(self, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Forecaster, "save", broken_save)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space left"):
        main(["forecast", "--data", str(airline_csv), "--holdout", "--max-epochs", "2", *SMALL,
              "--out", str(out), "--save", str(tmp_path / "model")])
    assert not out.exists() and not (tmp_path / "model").exists()


# ---- every flag works or gives one line -----------------------------------------------
@pytest.mark.parametrize("argv,needle", [
    pytest.param(["forecast", "--accelerator", "gpu"], "no GPU", marks=NO_GPU),
    pytest.param(["info", "--device", "cuda"], "no GPU", marks=NO_GPU),
    pytest.param(["textgen", "train", "--backend", "triton"], "--backend triton cannot run here", marks=NO_GPU),
    (["forecast", "--precision", "bogus"], "--precision"),
    (["forecast", "--devices", "two"], "--devices"),
    (["textgen", "train", "--max-time", "-5"], "--max-time >= 0"),
    (["seq2seq", "translate", "--load", "x", "--beam", "-1"], "--beam >= 0"),
    (["seq2seq", "evaluate", "--load", "x", "--beam", "-2"], "--beam >= 0"),
    (["speech", "transcribe", "a.wav", "--beam", "-1"], "--beam >= 0"),
    (["video", "predict", "--max-time", "-1"], "--max-time"),
    (["compare", "--quick", "--max-time", "-5", "--out", "-"], "--max-time"),
    (["textgen", "train", "--backend", "cudnn"], "unknown backend"),
    (["textgen", "train", "--val-fraction", "1.5"], "--val-fraction"),
    (["classify", "train", "--threads", "0"], "--threads"),
    (["forecast", "--horizon", "zero"], "invalid int value"),
    # a checkpoint interval with nowhere to write: refused, not ignored
    (["forecast", "--checkpoint-every", "5"], "--checkpoint-every needs --checkpoint-dir"),
    (["textgen", "train", "--checkpoint-every", "5"], "--checkpoint-every needs --checkpoint-dir"),
    (["forecast", "--seeds", "1,2"], "--seeds sets the fits of `forecast benchmark`"),
], ids=lambda v: v if isinstance(v, str) else "-".join(v[:3]))
def test_bad_flags_give_one_line_and_exit_2(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) if "invalid" in needle else _nothing() as caught:
        code = main(argv)
    one_line_error(capsys, caught.value.code if "invalid" in needle else code, needle)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("value", ["inf", "1e20"])
def test_a_time_budget_beyond_any_clock_is_no_limit(value, airline_csv, tiny_tsv, tmp_path, capsys):
    """--max-time inf (or more seconds than a timedelta holds) trains with no time limit on
    the Lightning engine rather than failing to build its timer."""
    assert main(["forecast", "train", "--data", str(airline_csv), "--max-steps", "2", *SMALL,
                 "--max-time", value, "--out", str(tmp_path / "f"), "--quiet"]) == 0
    assert main(["classify", "train", "--data", str(tiny_tsv), "--max-steps", "2", "--hidden-size", "8",
                 "--max-time", value, "--out", str(tmp_path / "c"), "--quiet"]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_export_native_on_a_layer_norm_model_gives_a_cli_hint(tmp_path, tiny_text, capsys):
    gen = lstmkit.TextGenerator(hidden_size=8, batch_size=4, seq_len=8, backend="fused", verbose=False)
    gen.fit(tiny_text.read_text(), max_steps=1)
    gen.save(tmp_path / "m")
    code = main(["export", str(tmp_path / "m"), "--onnx", str(tmp_path / "m.onnx"), "--recurrent", "native"])
    one_line_error(capsys, code, "layer_norm", "--recurrent loop")
    assert not (tmp_path / "m.onnx").exists()


# ---- Ctrl-C ---------------------------------------------------------------------------
def _interrupt_when(cmd, ready, tmp_path, timeout=120):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = open(tmp_path / "child.out", "w+")
    # a shell that ignores SIGINT in background jobs would pass that on: Ctrl-C as in a terminal
    proc = subprocess.Popen([sys.executable, "-m", "lstmkit.cli", *cmd], stdout=log,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509
    t0 = time.time()
    try:
        while not ready():
            assert proc.poll() is None, f"ended before the interrupt: {proc.stderr.read()}"
            assert time.time() - t0 < timeout, "never got ready"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    log.seek(0)
    return proc.returncode, log.read(), err


def test_ctrl_c_during_textgen_saves_what_was_trained(tmp_path, tiny_text):
    out = tmp_path / "model"
    cmd = ["textgen", "train", "--data", str(tiny_text), "--max-time", "0", "--max-steps", "1000000",
           "--hidden-size", "8", "--batch-size", "4", "--seq-len", "8", "--eval-every", "0.2",
           "--backend", "fused", "--threads", "1", "--out", str(out)]
    rc, stdout, err = _interrupt_when(cmd, lambda: " bpc" in (tmp_path / "child.out").read_text(), tmp_path)
    assert rc == 130, err
    assert f"saved what was trained to {out}" in err and "Traceback" not in err
    gen = lstmkit.TextGenerator.load(out)
    assert len(gen.generate("the", 5, seed=0)) == 5


def test_ctrl_c_during_forecast_saves_the_model_and_names_the_checkpoint(tmp_path, airline_csv):
    ckpt, save = tmp_path / "ckpt", tmp_path / "model"
    cmd = ["forecast", "--data", str(airline_csv), "--holdout", "--max-epochs", "2000", *SMALL,
           "--checkpoint-dir", str(ckpt), "--save", str(save), "--out", str(tmp_path / "out"),
           "--threads", "1"]
    rc, stdout, err = _interrupt_when(cmd, lambda: (ckpt / "last.ckpt").is_file(), tmp_path)
    assert rc == 130, err
    assert f"saved what was trained to {save}" in err and "--resume" in err
    assert "Traceback" not in err
    from lstmkit.forecasting import Forecaster

    assert len(Forecaster.load(save).predict()) == 12


# ---- resume ---------------------------------------------------------------------------
def test_resume_refuses_a_missing_or_foreign_checkpoint_and_says_where_it_resumed(tmp_path, airline_csv,
                                                                                   capsys):
    base = ["forecast", "--data", str(airline_csv), "--holdout", "--no-plot", "--out", str(tmp_path / "o")]
    ckpt = tmp_path / "ckpt"
    one_line_error(capsys, main([*base, *SMALL, "--max-epochs", "4", "--checkpoint-dir", str(ckpt),
                                 "--resume"]), "does not exist")
    ckpt.mkdir()
    one_line_error(capsys, main([*base, *SMALL, "--max-epochs", "4", "--checkpoint-dir", str(ckpt),
                                 "--resume"]), "no last.ckpt")
    assert main([*base, *SMALL, "--max-epochs", "4", "--checkpoint-dir", str(ckpt)]) == 0
    capsys.readouterr()
    one_line_error(capsys, main([*base, "--hidden-size", "12", "--num-layers", "1", "--max-epochs", "4",
                                 "--checkpoint-dir", str(ckpt), "--resume"]), "hidden_size")
    assert main([*base, *SMALL, "--max-epochs", "4", "--checkpoint-dir", str(ckpt), "--resume"]) == 0
    assert "resumed from step" in capsys.readouterr().err


# ---- constructors ---------------------------------------------------------------------
@pytest.mark.parametrize("make,near", [
    (lambda: lstmkit.Forecaster(12, max_epoch=2), "max_epochs"),
    (lambda: lstmkit.TextGenerator(hiden_size=8), "hidden_size"),
    (lambda: lstmkit.TextClassifier(epoch=1), "epochs"),
    (lambda: lstmkit.TextClassifier(layer_nrom=True), "layer_norm"),
    (lambda: __import__("lstmkit.sequences", fromlist=["_"]).SequenceClassifier(pooling_="max"), "pooling"),
    (lambda: __import__("lstmkit.speech", fromlist=["_"]).SpeechRecognizer(epoch=1), "epochs"),
    (lambda: lstmkit.Seq2Seq(6, 6, hiden_size=8), "hidden_size"),
    (lambda: lstmkit.Translator(max_step=3), "max_steps"),
    (lambda: lstmkit.VideoPredictor(max_step=3), "max_steps"),
], ids=["forecaster", "textgen", "classifier", "layer-option", "sequences", "speech", "seq2seq",
        "seq2seq-train", "video"])
def test_unknown_keywords_are_refused_at_once_naming_the_closest(make, near):
    with pytest.raises(TypeError, match=f"did you mean '{near}'"):
        make()


# ---- answers --------------------------------------------------------------------------
def test_forecast_load_without_data_refuses(tmp_path, capsys):
    model = tmp_path / "m"
    model.mkdir()
    one_line_error(capsys, main(["forecast", "--load", str(model), "--out", str(tmp_path / "o")]), "--data")


def test_integer_labels_come_back_as_integers(tmp_path):
    texts = [f"good thing {i}" if i % 2 else f"bad thing {i}" for i in range(20)]
    labels = np.array([i % 2 for i in range(20)])
    clf = lstmkit.TextClassifier(epochs=1, hidden_size=8, backend="fused").fit(texts, labels)
    pred = clf.predict(texts[:4])
    assert all(type(p) is int for p in pred) and set(pred) <= {0, 1}
    clf.save(tmp_path / "m")
    assert all(type(p) is int for p in lstmkit.TextClassifier.load(tmp_path / "m").predict(texts[:4]))
    assert clf.evaluate(texts, labels.tolist())["n"] == 20
    words = lstmkit.TextClassifier(epochs=1, hidden_size=8, backend="fused").fit(texts, ["a", "b"] * 10)
    assert all(type(p) is str for p in words.predict(texts[:2]))


def test_the_textgen_curve_keeps_every_point_on_its_axes(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from lstmkit.textgen.plot import plot_lm_curve

    seen = {}
    original = Figure.savefig

    def spy(self, *args, **kwargs):
        seen["top"] = self.axes[0].get_ylim()[1]
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    history = [{"train_time": 1.0, "train_bpc": 6.2, "val_bpc": 5.9},
               {"train_time": 60.0, "train_bpc": 2.1, "val_bpc": 2.3}]
    plot_lm_curve(history, tmp_path / "c.png", "t")
    assert seen["top"] >= 6.2 and (tmp_path / "c.png").is_file()


def test_a_blank_prediction_does_not_beat_the_video_baseline():
    from lstmkit.video.clips import eval_clips, score_predictor
    from lstmkit.video.network import PredictConfig

    class Blank(torch.nn.Module):
        def forward(self, clips):
            return torch.full_like(clips, -30.0), None

    clips, _ = eval_clips(PredictConfig(), 32)
    r = score_predictor(Blank(), clips)
    assert r["ratio_to_baseline"] >= 1.0
    assert r["baseline_mse"] == min(r["copy_last_mse"], r["blank_mse"])


# ---- messages -------------------------------------------------------------------------
def test_a_missing_month_is_named(tmp_path, capsys):
    ds = pd.date_range("2000-01-01", periods=40, freq="MS").delete(13)
    path = tmp_path / "m.csv"
    pd.DataFrame({"ds": ds, "y": np.arange(39.0) + 1}).to_csv(path, index=False)
    one_line_error(capsys, main(["forecast", "--data", str(path), "--out", str(tmp_path / "o")]),
                   "1 missing: 2001-02-01")
    from lstmkit.errors import InputError
    from lstmkit.forecasting.frame import validate

    uneven = pd.to_datetime("2000-01-01") + pd.to_timedelta([0, 1, 3, 6, 10, 15, 21], unit="D")
    with pytest.raises(InputError, match="irregular frequency"):
        validate(pd.DataFrame({"unique_id": "s", "ds": uneven, "y": np.arange(7.0)}))


def test_a_horizon_longer_than_the_series_says_so(tmp_path, capsys):
    one_line_error(capsys, main(["forecast", "--horizon", "100000", "--out", str(tmp_path / "o")]),
                   "has only 144")


def test_a_csv_that_is_not_utf8_names_the_file(tmp_path, capsys):
    path = tmp_path / "latin.csv"
    path.write_bytes("ds,y\n2020-01-01,1\n2020-02-01,caf\xe9\n".encode("latin-1"))
    one_line_error(capsys, main(["forecast", "--data", str(path), "--out", str(tmp_path / "o")]),
                   f"{path} is not UTF-8")


@pytest.mark.parametrize("argv", [["forecast"], ["textgen", "train"], ["classify", "train"],
                                  ["seq2seq", "train"]], ids=lambda a: a[0])
def test_data_given_a_directory_says_so(argv, tmp_path, capsys):
    one_line_error(capsys, main([*argv, "--data", str(tmp_path), "--out", str(tmp_path / "o")]),
                   "found a directory")


def test_compare_writes_only_under_its_out(tmp_path, monkeypatch, capsys):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    doc = tmp_path / "report" / "exp.md"
    assert main(["compare", "--quick", "--task", "temporal_order=10", "--cells", "lstm", "--max-steps", "2",
                 "--out", str(doc)]) in (0, 1)
    assert list(work.iterdir()) == []
    assert doc.is_file() and any((doc.parent / "img").glob("*.png"))
