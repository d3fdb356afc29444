"""Bad input to the Forecaster and to `lstmkit forecast`: one clear error, nothing written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstmkit.cli import main
from lstmkit.errors import InputError
from lstmkit.forecasting import Forecaster
from lstmkit.forecasting.frame import season_length_for


def monthly(n=60, uid="a", start="2000-01-01"):
    ds = pd.date_range(start, periods=n, freq="MS")
    y = 100 + 10 * np.sin(2 * np.pi * np.arange(n) / 12) + np.arange(n)
    return pd.DataFrame({"unique_id": uid, "ds": ds, "y": y})


def broken(kind: str) -> pd.DataFrame:
    df = monthly()
    if kind == "missing":
        df.loc[7, "y"] = np.nan
    elif kind == "non-numeric":
        df["y"] = df["y"].astype(object)
        df.loc[3, "y"] = "n/a"
    elif kind == "duplicate":
        df.loc[5, "ds"] = df.loc[4, "ds"]
    elif kind == "unsorted":
        df = df.iloc[[1, 0, *range(2, len(df))]].reset_index(drop=True)
    elif kind == "irregular":
        df = df.drop(index=[10, 11]).reset_index(drop=True)
    elif kind == "short":
        df = df.iloc[:10]
    elif kind == "unknown column":
        df["extra"] = 1.0
    elif kind == "bad timestamp":
        df["ds"] = df["ds"].astype(str)
        df.loc[2, "ds"] = "not a date"
    elif kind == "mixed frequency":
        daily = monthly(uid="b")
        daily["ds"] = pd.date_range("2000-01-01", periods=len(daily), freq="D")
        df = pd.concat([df, daily], ignore_index=True)
    return df


CASES = {
    "missing": "missing target values",
    "non-numeric": "expected numeric values in the target column, found 'n/a'",
    "duplicate": "duplicate timestamp",
    "unsorted": "sorted in increasing order",
    "irregular": "found 2 missing: ",
    "short": "expected at least lookback \\+ horizon",
    "unknown column": "unknown column\\(s\\) \\['extra'\\]",
    "bad timestamp": "do not parse",
    "mixed frequency": "one frequency",
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_api_rejects_bad_data_with_one_clear_error(kind):
    model = Forecaster(horizon=6, lookback=12, max_epochs=1, enable_progress_bar=False)
    with pytest.raises(InputError, match=CASES[kind]):
        model.fit(broken(kind))
    assert model.net is None  # nothing trained


@pytest.mark.parametrize("kind", sorted(CASES))
def test_cli_rejects_bad_data_without_traceback_or_output(kind, tmp_path, capsys):
    csv, out, saved = tmp_path / "data.csv", tmp_path / "out", tmp_path / "model"
    broken(kind).to_csv(csv, index=False)
    rc = main(["forecast", "--data", str(csv), "--id-col", "unique_id", "--horizon", "6",
               "--lookback", "12", "--out", str(out), "--save", str(saved)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("lstmkit forecast: error: ") and err.count("\n") == 1
    assert "Traceback" not in err
    assert not out.exists() and not saved.exists()


def test_cli_empty_and_header_only_files(tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert main(["forecast", "--data", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "empty file" in capsys.readouterr().err
    header = tmp_path / "header.csv"
    header.write_text("ds,y\n")
    assert main(["forecast", "--data", str(header), "--out", str(tmp_path / "o")]) == 2
    assert "found an empty table" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_unknown_columns_and_paths(tmp_path, capsys):
    csv = tmp_path / "d.csv"
    monthly().drop(columns="unique_id").to_csv(csv, index=False)
    assert main(["forecast", "--data", str(csv), "--target-col", "sales"]) == 2
    assert "expected column(s) ['sales']" in capsys.readouterr().err
    assert main(["forecast", "--data", str(tmp_path / "nope.csv")]) == 2
    assert "No such file" in capsys.readouterr().err
    assert main(["forecast", "--load", str(tmp_path / "no-model"), "--data", str(csv)]) == 2
    assert "saved-model directory" in capsys.readouterr().err
    assert main(["forecast", "--data", str(csv), "--quantiles", "0.1,x"]) == 2
    assert "--quantiles" in capsys.readouterr().err
    assert main(["forecast", "--data", str(csv), "--resume"]) == 2
    assert "--checkpoint-dir" in capsys.readouterr().err
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    out = tmp_path / "o"
    assert main(["forecast", "--data", str(csv), "--save", str(precious), "--out", str(out)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert precious.read_text() == "keep me" and not out.exists()
    assert main(["forecast", "--data", str(csv), "--baselines", "naive,arima"]) == 2
    assert "expected baselines among" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs, message", [
    ({"horizon": 0}, "horizon as an integer >= 1"),
    ({"horizon": 3, "quantiles": [0.1, 1.2]}, "strictly between 0 and 1"),
    ({"horizon": 3, "cell": "transformer"}, "cell among"),
    ({"horizon": 3, "lookback": [12, 0]}, "lookback as an integer >= 1"),
    ({"horizon": 3, "transform": "sqrt"}, "transform"),
    ({"horizon": 3, "dropout": 1.0}, "dropout below 1"),
    ({"horizon": 3, "damping": 0.0}, "damping as a number in"),
    ({"horizon": 3, "damping": 1.5}, "damping as a number in"),
])
def test_bad_settings(kwargs, message):
    with pytest.raises(InputError, match=message):
        Forecaster(**kwargs)


def test_predict_before_fit_and_resume_without_checkpoints():
    with pytest.raises(InputError, match="not fitted"):
        Forecaster(horizon=3).predict()
    with pytest.raises(InputError, match="checkpoint_dir"):
        Forecaster(horizon=3).fit(monthly(), resume=True)


def test_a_series_without_datetime_index():
    with pytest.raises(InputError, match="DatetimeIndex"):
        Forecaster(horizon=3).fit(pd.Series([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("freq, m", [("MS", 12), ("ME", 12), ("QS-OCT", 4), ("YS", 1), ("W-SUN", 52),
                                     ("D", 7), ("B", 5), ("h", 24), ("30min", 48), ("15min", 96)])
def test_season_length_from_frequency(freq, m):
    assert season_length_for(freq) == m


def test_network_size_follows_the_number_of_windows():
    # one short series (fits in one batch): 1 layer; many windows: 2 layers; explicit wins
    short = Forecaster(horizon=3).check(Forecaster(horizon=3)._series_of(monthly(), "unique_id", "ds", "y"))
    assert (short.hidden_size, short.num_layers) == (64, 1)
    long = pd.Series(np.arange(1.0, 401.0), index=pd.date_range("1990-01-01", periods=400, freq="MS"))
    big = Forecaster(horizon=3).check(Forecaster(horizon=3)._series_of(long, "unique_id", "ds", "y"))
    assert (big.hidden_size, big.num_layers) == (64, 2)
    mine = Forecaster(horizon=3, hidden_size=8, num_layers=3)
    chosen = mine.check(mine._series_of(monthly(), "unique_id", "ds", "y"))
    assert (chosen.hidden_size, chosen.num_layers) == (8, 3)
