"""`lstmkit forecast` end to end: the demo, training on a CSV, saving, loading, backtests."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lstmkit.cli import main

SMALL = ["--hidden-size", "16", "--num-layers", "1"]


def table_rows(stdout: str) -> dict[str, dict[str, float]]:
    lines = stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("model"))
    cols = lines[head].split()[1:]
    rows = {}
    for line in lines[head + 2:]:
        parts = line.split()
        if len(parts) != len(cols) + 1:
            break
        rows[parts[0]] = dict(zip(cols, map(float, parts[1:])))
    return rows


def test_demo_style_run_prints_the_table_and_writes_csv_and_png(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["forecast", "--out", str(out), "--max-epochs", "100", *SMALL]) == 0
    stdout = capsys.readouterr().out
    rows = table_rows(stdout)
    assert {"lstm", "naive", "seasonal_naive"} <= set(rows)
    assert {"mae", "rmse", "smape", "mase"} <= set(rows["lstm"])
    assert rows["seasonal_naive"]["mase"] == pytest.approx(1.571, abs=1e-3)
    assert rows["lstm"]["mase"] < rows["seasonal_naive"]["mase"]
    fc = pd.read_csv(out / "airline_forecast.csv", parse_dates=["ds", "cutoff"])
    assert list(fc.columns) == ["unique_id", "cutoff", "ds", "y", "y_hat", "y_hat_q10", "y_hat_q90"]
    assert len(fc) == 12 and fc["ds"].iloc[0] == pd.Timestamp("1960-01-01")
    assert (out / "airline_forecast.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def store_csv(path):
    rng = np.random.default_rng(1)
    frames = []
    for store in ("north", "south"):
        date = pd.date_range("2022-01-03", periods=120, freq="D")
        sales = 200 + 30 * (date.dayofweek >= 5) + rng.normal(0, 5, len(date)) + (50 if store == "south" else 0)
        frames.append(pd.DataFrame({"store": store, "date": date.strftime("%Y-%m-%d"), "sales": sales}))
    pd.concat(frames).to_csv(path, index=False)


def test_train_on_a_csv_save_and_predict_with_the_saved_model(tmp_path, capsys):
    csv, out, model = tmp_path / "sales.csv", tmp_path / "out", tmp_path / "model"
    store_csv(csv)
    cols = ["--data", str(csv), "--time-col", "date", "--target-col", "sales", "--id-col", "store"]
    assert main(["forecast", *cols, "--horizon", "7", "--max-epochs", "30", *SMALL,
                 "--save", str(model), "--out", str(out)]) == 0
    first = pd.read_csv(out / "sales_forecast.csv")
    assert len(first) == 14 and set(first["unique_id"]) == {"north", "south"}
    assert first["ds"].iloc[0] == "2022-05-03"
    assert (model / "config.json").is_file() and (model / "model.safetensors").is_file()
    capsys.readouterr()
    out2 = tmp_path / "out2"
    assert main(["forecast", "--load", str(model), *cols, "--out", str(out2), "--no-plot"]) == 0
    again = pd.read_csv(out2 / "sales_forecast.csv")
    pd.testing.assert_frame_equal(first, again)
    assert not (out2 / "sales_forecast.png").exists()
    # the saved model knows its horizon and refuses another
    assert main(["forecast", "--load", str(model), *cols, "--horizon", "3"]) == 2
    assert "forecasts 7 steps" in capsys.readouterr().err


def test_backtest_on_a_bundled_series(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["forecast", "--dataset", "co2", "--backtest", "2", "--max-epochs", "20", *SMALL,
                 "--baselines", "naive,seasonal_naive", "--out", str(out), "--no-plot"]) == 0
    stdout = capsys.readouterr().out
    assert "2 rolling origins" in stdout
    rows = table_rows(stdout)
    assert set(rows) == {"lstm", "naive", "seasonal_naive"}
    fc = pd.read_csv(out / "co2_forecast.csv")
    assert fc["cutoff"].nunique() == 2 and len(fc) == 24


def test_resume_continues_an_interrupted_run_from_its_checkpoint(tmp_path, capsys):
    import shutil

    from test_forecast import Interrupt

    from lstmkit.forecasting import Forecaster, datasets

    frame = datasets.load("airline", long=True)
    csv, ckpt = tmp_path / "air.csv", tmp_path / "ckpt"
    frame.to_csv(csv, index=False)
    # the CLI's settings for these flags, interrupted at epoch 5 of 8
    kw = {"quantiles": [0.1, 0.9], "max_epochs": 8, "hidden_size": 16, "num_layers": 1,
          "enable_progress_bar": False}
    with pytest.raises(RuntimeError, match="simulated crash"):
        Forecaster(12, checkpoint_dir=ckpt, callbacks=[Interrupt(5)], **kw).fit(frame)
    api_ckpt = tmp_path / "ckpt-api"
    shutil.copytree(ckpt, api_ckpt)
    api = Forecaster(12, checkpoint_dir=api_ckpt, **kw).fit(frame, resume=True)
    fresh = Forecaster(12, **kw).fit(frame)
    out = tmp_path / "out"
    assert main(["forecast", "--data", str(csv), "--id-col", "unique_id", "--horizon", "12",
                 "--max-epochs", "8", *SMALL, "--checkpoint-dir", str(ckpt), "--resume",
                 "--out", str(out), "--no-plot"]) == 0
    assert "(8 epochs" in capsys.readouterr().out
    cli = pd.read_csv(out / "air_forecast.csv")
    # the same checkpoint and seed: the CLI lands where the API's resumed run does, and
    # (the checkpoint carrying the random generators' states) where an uninterrupted run does
    np.testing.assert_allclose(cli["y_hat"], api.predict()["y_hat"], rtol=1e-4)
    np.testing.assert_allclose(cli["y_hat"], fresh.predict()["y_hat"], rtol=1e-4)


@pytest.mark.slow
def test_make_demo_command(tmp_path):
    """`lstmkit forecast` with no arguments, as `make demo` runs it (default model)."""
    run = subprocess.run([sys.executable, "-m", "lstmkit.cli", "forecast", "--out", str(tmp_path)],
                         check=False, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = table_rows(run.stdout)
    assert rows["lstm"]["mase"] < 1.0 < rows["seasonal_naive"]["mase"]
    assert (tmp_path / "airline_forecast.csv").is_file() and (tmp_path / "airline_forecast.png").is_file()


def test_smoothing_and_damping_flags_reach_the_saved_model(tmp_path, capsys):
    import json

    csv, model = tmp_path / "sales.csv", tmp_path / "model"
    store_csv(csv)
    cols = ["--data", str(csv), "--time-col", "date", "--target-col", "sales", "--id-col", "store"]
    assert main(["forecast", *cols, "--horizon", "7", "--max-epochs", "3", *SMALL, "--no-plot",
                 "--smoothing", "profile", "--damping", "0.8", "--save", str(model),
                 "--out", str(tmp_path / "out")]) == 0
    saved = json.loads((model / "config.json").read_text())["config"]
    assert saved["forecaster"]["smoothing"] == "profile" and saved["forecaster"]["damping"] == 0.8
    capsys.readouterr()
    assert main(["forecast", *cols, "--horizon", "7", "--damping", "2", "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "damping" in err and err.count("\n") == 1 and not (tmp_path / "o2").exists()


def test_train_evaluate_predict_and_export_a_saved_model(tmp_path, capsys):
    from lstmkit.forecasting import datasets

    csv, model = tmp_path / "air.csv", tmp_path / "model"
    datasets.load("airline", long=True).to_csv(csv, index=False)
    assert main(["forecast", "train", "--data", str(csv), "--id-col", "unique_id", "--horizon", "12",
                 "--max-epochs", "20", *SMALL, "--out", str(model), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "(20 epochs" in out and (model / "config.json").is_file()

    assert main(["forecast", "evaluate", "--load", str(model), "--data", str(csv), "--id-col", "unique_id",
                 "--out", str(tmp_path / "eval"), "--no-plot"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert {"lstm", "seasonal_naive"} <= set(rows) and rows["lstm"]["mase"] > 0

    assert main(["forecast", "predict", "--load", str(model), "--out", str(tmp_path / "pred"), "--no-plot"]) == 0
    fc = pd.read_csv(tmp_path / "pred" / "model_forecast.csv")
    assert len(fc) == 12 and fc["ds"].iloc[0].startswith("1961-01")

    pytest.importorskip("onnxruntime")
    assert main(["export", "--load", str(model), "--onnx", str(tmp_path / "m.onnx"), "--check"]) == 0
    assert "onnxruntime vs PyTorch" in capsys.readouterr().out


@pytest.mark.parametrize("argv, needle", [
    (["forecast", "evaluate"], "give --load DIR"),
    (["forecast", "predict", "--resume"], "give --load DIR"),
    (["forecast", "train", "--load", "x"], "--load and --save belong to the other actions"),
])
def test_actions_refuse_flags_they_do_not_take(argv, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if "--load" in argv:
        (tmp_path / "x").mkdir()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and len([ln for ln in err.splitlines() if ln.strip()]) == 1
