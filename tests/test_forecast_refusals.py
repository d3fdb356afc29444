"""`lstmkit forecast` refuses bad input in one line with exit status 2, before training and
without writing anything: numeric or mixed-zone timestamps, a column named twice,
non-finite covariates, data at another frequency than a saved model's, a covariate that is
also the target, conflicting flags, unwritable outputs, out-of-range seeds; and the season
rule for data too short to show its calendar season."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmkit.cli import main
from lstmkit.errors import InputError
from lstmkit.forecasting import Forecaster
from lstmkit.forecasting.frame import to_long, validate

TINY = ["--hidden-size", "8", "--num-layers", "1", "--max-epochs", "1"]


def panel(freq: str = "MS", n: int = 48, ds=None, **columns) -> pd.DataFrame:
    """Three series a, b, c of ``n`` points (trend and a yearly wave) at ``freq``."""
    rng = np.random.default_rng(0)
    frames = []
    for uid in "abc":
        t = np.arange(n)
        frames.append(pd.DataFrame({"id": uid, "ds": pd.date_range("2020-01-01", periods=n, freq=freq),
                                    "y": 100 + t + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, n)}))
    frame = pd.concat(frames, ignore_index=True)
    if ds is not None:
        frame["ds"] = ds
    for name, values in columns.items():
        frame[name] = values
    return frame


def refused(tmp_path: Path, capsys, argv: list[str], message: str) -> str:
    """Run ``lstmkit forecast ARGV``: exit 2, ``message`` in the one error line, no
    training, and nothing new under ``tmp_path`` but the input files."""
    before = set(tmp_path.iterdir())
    assert main(["forecast", *argv]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and message in err, err
    assert "done:" not in out + err  # refused before any training
    assert set(tmp_path.iterdir()) == before
    return err


@pytest.fixture
def csv(tmp_path):
    def write(frame: pd.DataFrame, name: str = "data.csv") -> str:
        path = tmp_path / name
        frame.to_csv(path, index=False)
        return str(path)
    return write


def test_integer_timestamps_are_refused_but_yyyy_yyyymm_yyyymmdd_are_read_as_dates(tmp_path, capsys, csv):
    steps = csv(panel(ds=np.tile(np.arange(48), 3)))
    refused(tmp_path, capsys, ["train", "--data", steps, "--id-col", "id", "--horizon", "6", *TINY,
                               "--out", str(tmp_path / "m")], "found numbers (0, ...)")
    years = validate(to_long(panel(ds=np.tile(np.arange(1950, 1998), 3)), "id"))
    assert years.freq.startswith("YS") and years.ds[0][0] == pd.Timestamp("1950-01-01")
    months = pd.date_range("2020-01-01", periods=48, freq="MS")
    for fmt in ("%Y%m", "%Y%m%d"):  # 202001 and 20200101 as integers
        as_ints = validate(to_long(panel(ds=np.tile(months.strftime(fmt).astype(int), 3)), "id"))
        assert as_ints.freq == "MS" and list(as_ints.ds[0]) == list(months)


def test_timestamps_with_several_utc_offsets_are_refused(tmp_path, capsys, csv):
    frame = panel()
    offset = np.where(frame["id"] == "a", "+05:00", "+00:00")
    frame["ds"] = frame["ds"].dt.strftime("%Y-%m-%dT00:00:00") + offset
    refused(tmp_path, capsys, ["train", "--data", csv(frame), "--id-col", "id", "--horizon", "6", *TINY,
                               "--out", str(tmp_path / "m")], "several UTC offsets")


def test_a_column_named_twice_is_refused_under_its_own_name(tmp_path, capsys):
    path = tmp_path / "data.csv"
    rows = "".join(f"2020-01-{d:02d},{d},{d}\n" for d in range(1, 29))
    path.write_bytes(("\ufeffds,y,y\n" + rows).encode())  # pandas would call the second 'y.1'
    err = refused(tmp_path, capsys, ["train", "--data", str(path), "--horizon", "3", *TINY,
                                     "--out", str(tmp_path / "m")], "column(s) ['y'] more than once")
    assert "y.1" not in err


@pytest.mark.parametrize("flag, column, message", [
    ("--covariates", "x", "expected finite covariate values, found inf in 'x'"),
    ("--past-covariates", "x", "expected finite covariate values, found -inf in 'x'"),
    ("--static-covariates", "x", "expected a finite number in numeric static covariate 'x'"),
])
def test_non_finite_covariates_are_refused(tmp_path, capsys, csv, flag, column, message):
    frame = panel(x=1.0)
    if flag == "--static-covariates":
        frame.loc[frame["id"] == "a", "x"] = np.inf
    else:
        frame.loc[7, "x"] = np.inf if flag == "--covariates" else -np.inf
    refused(tmp_path, capsys, ["train", "--data", csv(frame), "--id-col", "id", flag, column, "--horizon", "6",
                               *TINY, "--out", str(tmp_path / "m")], message)


def test_a_saved_model_refuses_data_at_another_frequency(tmp_path, capsys, csv):
    model = tmp_path / "model"
    assert main(["forecast", "train", "--data", csv(panel()), "--id-col", "id", "--horizon", "6", *TINY,
                 "--out", str(model)]) == 0
    capsys.readouterr()
    daily = csv(panel(freq="D"), "daily.csv")
    for action in ("predict", "evaluate"):
        refused(tmp_path, capsys, [action, "--data", daily, "--id-col", "id", "--load", str(model),
                                   "--out", str(tmp_path / "out")], "expected data at the model's frequency MS, found D")
    loaded = Forecaster.load(model)
    with pytest.raises(InputError, match="frequency MS, found D"):
        loaded.predict(to_long(panel(freq="D"), "id"))


@pytest.mark.parametrize("extra, message", [
    (["--covariates", "y"], "column 'y' is the target column and is also given as a covariate"),
    (["--covariates", "ds"], "column 'ds' is the time column"),
    (["--covariates", "x,x"], "covariates lists ['x'] more than once"),
    (["--past-covariates", "x,x"], "past_covariates lists ['x'] more than once"),
    (["--holdout"], "--holdout and --backtest belong to evaluate"),
    (["--backtest", "2"], "--holdout and --backtest belong to evaluate"),
    (["--seed", str(2**32)], "expected --seed in [0, 4294967295], found 4294967296"),
])
def test_conflicting_or_out_of_range_flags_are_refused(tmp_path, capsys, csv, extra, message):
    refused(tmp_path, capsys, ["train", "--data", csv(panel(x=1.0)), "--id-col", "id", "--horizon", "6", *TINY,
                               "--out", str(tmp_path / "m"), *extra], message)


def test_an_empty_out_is_refused_rather_than_replaced_by_the_default(tmp_path, capsys, csv, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(tmp_path, capsys, ["train", "--data", csv(panel()), "--id-col", "id", "--horizon", "6", *TINY,
                               "--out", ""], "expected --out as a path, found an empty string")


def test_model_flags_with_load_are_refused(tmp_path, capsys, csv):
    model = tmp_path / "model"
    data = csv(panel())
    assert main(["forecast", "train", "--data", data, "--id-col", "id", "--horizon", "6", *TINY,
                 "--out", str(model)]) == 0
    capsys.readouterr()
    err = refused(tmp_path, capsys, ["predict", "--data", data, "--id-col", "id", "--load", str(model),
                                     "--out", str(tmp_path / "out"), "--quantiles", "0.3", "--cell", "gru"],
                  "--load forecasts with the saved model's own settings")
    assert "--cell" in err and "--quantiles" in err


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("action", ["train", "benchmark"])
def test_an_out_that_cannot_be_written_is_refused_before_training(tmp_path, capsys, csv, action):
    # permission bits do not show it (root may write anywhere): the check writes a probe file
    data = ["--dataset", "airline", "--seeds", "0", "--baselines", "naive"] if action == "benchmark" else \
        ["--data", csv(panel()), "--id-col", "id", "--horizon", "6"]
    refused(tmp_path, capsys, [action, *data, *TINY, "--out", "/proc/lstmkit-out"], "cannot write in /proc")


def test_benchmark_refuses_seeds_numpy_cannot_take(tmp_path, capsys):
    refused(tmp_path, capsys, ["benchmark", "--dataset", "airline", "--seeds", f"0,{2**32}", *TINY,
                               "--out", str(tmp_path / "b")], "integers in [0, 4294967295]")
    with pytest.raises(InputError, match=r"seed must be an integer in \[0, 4294967295\], got 4294967296"):
        Forecaster(6, seed=2**32)


def test_a_season_no_series_shows_twice_is_not_used():
    # 48 points a second apart: the calendar season (one day, 86,400 steps) would ask
    # for a lookback of 172,800 points; the rule uses no season instead
    frame = panel(freq="s")
    series = validate(to_long(frame, "id"))
    plan = Forecaster(4).check(series)
    assert plan.season_length == 1 and max(plan.lookbacks) == 12
    assert Forecaster(4, season_length=24).check(series).season_length == 24  # a set season is kept
    hourly = validate(to_long(panel(freq="h"), "id"))  # two days: the daily season of 24 stays
    assert Forecaster(4).check(hourly).season_length == 24
