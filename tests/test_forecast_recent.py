"""Recent windows: without a season, on many series, each series trains on its latest
windows only (config.py's rule; ``recent_windows`` sets it)."""

import numpy as np
import pandas as pd
import pytest

from lstmkit import Forecaster
from lstmkit.cli import main
from lstmkit.errors import InputError
from lstmkit.forecasting.config import MAX_BATCH, RECENT_WINDOWS, ForecasterConfig, plan
from lstmkit.forecasting.windows import count_windows, make_windows


def test_make_windows_keeps_the_latest_windows_of_each_series():
    zs = [np.arange(10.0), 100 + np.arange(7.0)]
    fs = [np.zeros((10, 1)), np.ones((7, 1))]
    (x, f, y), (_, _, vy) = make_windows(zs, fs, L=3, H=2, val=1, recent=2)
    # the first series' training windows end at points 5 to 9 (its last point is held
    # out): the latest two start at 3 and 4; the second series has two, both kept
    assert x.tolist() == [[3, 4, 5], [4, 5, 6], [100, 101, 102], [101, 102, 103]]
    assert y.tolist() == [[6, 7], [7, 8], [103, 104], [104, 105]]
    assert f[:, 0, 0].tolist() == [0, 0, 1, 1]
    assert vy.tolist() == [[8, 9], [105, 106]]  # validation windows are not limited
    assert len(x) == count_windows([10, 7], 3, 2, 1, recent=2) == 4
    everything, _ = make_windows(zs, fs, L=3, H=2, val=1)
    assert len(everything[0]) == count_windows([10, 7], 3, 2, 1) == 5 + 2


def test_the_rule_keeps_the_latest_windows_of_many_series_without_a_season():
    def windows(lengths):
        return lambda L, val, pad, recent=0: count_windows(np.asarray(lengths) + pad, L, 6, val, recent)

    many = MAX_BATCH // RECENT_WINDOWS  # 128 series: their latest windows fill a batch
    p = plan(ForecasterConfig(6), 1, 40, windows([40] * many), n_series=many)
    assert p.recent == RECENT_WINDOWS == 2 and p.lookbacks == [12]  # the floor of 12 (2H = 12)
    assert (p.batch_size, p.num_layers, p.max_epochs) == (256, 1, 300)  # sized on the 256 windows it trains on
    p = plan(ForecasterConfig(6), 1, 40, windows([40] * 200), n_series=200)
    assert (p.recent, p.batch_size, p.num_layers, p.max_epochs) == (2, 256, 2, 150)  # 400 windows
    # fewer series, a season, or a setting: all windows, or what is set
    assert plan(ForecasterConfig(6), 1, 40, windows([40] * (many - 1)), n_series=many - 1).recent == 0
    assert plan(ForecasterConfig(6), 12, 40, windows([40] * 500), n_series=500).recent == 0
    assert plan(ForecasterConfig(6, recent_windows=0), 1, 40, windows([40] * 500), n_series=500).recent == 0
    p = plan(ForecasterConfig(6, recent_windows=3), 12, 80, windows([80] * 500), n_series=500)
    assert p.recent == 3 and p.batch_size == MAX_BATCH and p.max_epochs == 50  # 1,500 windows: 6 steps an epoch
    # no series has more windows than asked for: all are kept, and the plan says so
    assert plan(ForecasterConfig(6, recent_windows=50), 1, 40, windows([40] * 500), n_series=500).recent == 0
    with pytest.raises(InputError, match="recent_windows as an integer >= 0, found -1"):
        ForecasterConfig(6, recent_windows=-1)


def yearly(n_series: int, n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frames = [pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range("1980-01-01", periods=n, freq="YS"),
                            "y": 100 * np.exp(np.cumsum(rng.normal(0.03, 0.05, n)))}) for i in range(n_series)]
    return pd.concat(frames, ignore_index=True)


def test_a_fit_trains_on_the_latest_windows_and_saves_the_plan(tmp_path, monkeypatch):
    import lstmkit.forecasting.forecaster as fmod

    seen = []
    real = fmod.make_windows
    monkeypatch.setattr(fmod, "make_windows", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    df = yearly(130)
    model = Forecaster(4, hidden_size=8, max_steps=2, calibration=0, verbose=False).fit(df)
    assert model.plan.recent == 2 and model.plan.lookbacks == [12]
    assert len(seen[0][0][0]) == 130 * 2  # (train (x, feats, target), val): two windows per series
    model.save(tmp_path / "m")
    assert Forecaster.load(tmp_path / "m").plan.recent == 2
    assert len(Forecaster.load(tmp_path / "m").predict(df)) == 130 * 4


def test_the_cli_flag_sets_it_and_refuses_a_negative_count(tmp_path, capsys):
    path = tmp_path / "y.csv"
    yearly(3).to_csv(path, index=False)
    out = tmp_path / "out"
    assert main(["forecast", "train", "--data", str(path), "--id-col", "unique_id", "--horizon", "4",
                 "--recent-windows", "-1", "--out", str(out)]) == 2
    assert "recent_windows as an integer >= 0, found -1" in capsys.readouterr().err
    assert not out.exists()
