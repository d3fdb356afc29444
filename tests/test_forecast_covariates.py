"""Past-only and static covariates of the Forecaster: shapes, the checks before any
training, save/load, the CLI flags, and that each kind improves the forecast on
generated data where it carries the signal."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from lstmkit.cli import main
from lstmkit.errors import InputError
from lstmkit.forecasting import Forecaster
from lstmkit.forecasting.covariate_data import (
    leading_indicator,
    mase_with_and_without,
    static_groups,
)
from lstmkit.forecasting.network import ForecastMember, ForecastNetConfig

SMALL = {"hidden_size": 8, "num_layers": 1, "max_epochs": 3, "enable_progress_bar": False}
COLS = ["unique_id", "ds", "y", "lead", "group", "size"]


def panel(n_series: int = 4, n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Daily series with a past-only column ``lead``, a categorical ``group`` and a
    numeric ``size``."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        ds = pd.date_range("2022-01-03", periods=n, freq="D")
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": 20 + i + rng.normal(0, 1, n),
                                    "lead": rng.normal(0, 1, n), "group": "ab"[i % 2], "size": 1.5 * i}))
    return pd.concat(frames, ignore_index=True)


def model(**kw) -> Forecaster:
    return Forecaster(5, lookback=10, past_covariates=["lead"], static_covariates=["group", "size"],
                      **{**SMALL, **kw})


@pytest.fixture(scope="module")
def fitted():
    return model().fit(panel())


def test_shapes_and_kinds(fitted):
    cfg = fitted.net.cfg
    assert cfg.n_past == 1 and cfg.n_covariates == 0 and cfg.static_levels == [2]
    assert fitted.static_enc.kinds == ["categorical", "numeric"] and fitted.static_enc.levels == [["a", "b"]]
    fc = fitted.predict()  # past-only and static covariates need no future values
    assert len(fc) == 4 * 5 and list(fc["unique_id"].unique()) == ["s0", "s1", "s2", "s3"]
    assert np.isfinite(fc[["y_hat", "y_hat_q10", "y_hat_q90"]].to_numpy()).all()
    # the network's floats: calendar (week, year) 4, static numeric 1, past 1; then the
    # category index and ("es" smoothing on this small set) the series index and phase
    assert cfg.smoothing == "es" and cfg.n_features == 6
    member = fitted.net.members[0]
    feats = torch.zeros(3, 10 + 5, cfg.n_features + 1 + 2)
    assert member(torch.zeros(3, 10), feats).shape == (3, 5, 3)


def test_past_values_after_the_origin_are_never_read():
    cfg = ForecastNetConfig(4, [6], 3, [0.1, 0.5, 0.9], n_past=1, n_covariates=1, static_levels=[3])
    torch.manual_seed(0)
    member = ForecastMember(cfg, 6).eval()
    torch.nn.init.normal_(member.head.weight)  # a head that reads the future features
    torch.nn.init.normal_(member.past_effect.weight)
    x, feats = torch.randn(2, 6), torch.randn(2, 10, 4)
    feats[..., -1] = torch.tensor([0.0, 2.0])[:, None]  # category indices
    moved = feats.clone()
    moved[:, 6:, 1] += 5.0  # the past-only column after the origin
    assert torch.equal(member(x, feats), member(x, moved))
    moved[:, 6:, 2] += 5.0  # the future-known column is read
    assert not torch.allclose(member(x, feats), member(x, moved))
    other = feats.clone()
    other[..., -1] = 1.0  # another category changes the forecast
    assert not torch.allclose(member(x, feats), member(x, other))


def test_fitted_series_can_be_forecast_from_new_histories(fitted):
    df = panel()
    fc = fitted.predict(df.groupby("unique_id").head(30))
    assert len(fc) == 20 and fc["ds"].min() == pd.Timestamp("2022-02-02")


@pytest.mark.parametrize("edit, needle", [
    (lambda d: d.drop(columns="lead"), r"\['lead'\]"),
    (lambda d: d.drop(columns="group"), r"\['group'\]"),
    (lambda d: d.assign(lead=d["lead"].where(d.index != 7)), "missing covariate values, found one in 'lead'"),
    (lambda d: d.assign(group=d["group"].where(d.index != 7)), "static covariate 'group' on every row"),
    (lambda d: d.assign(group=np.where(d.index == 7, "b", d["group"])),
     "series 's0': static covariate 'group' must be constant"),
    (lambda d: d.assign(size=np.where(d.index == 45, 9.0, d["size"])),
     "series 's1': static covariate 'size' must be constant"),
])
def test_bad_input_is_refused_before_training(edit, needle):
    m = model()
    with pytest.raises(InputError, match=needle):
        m.fit(edit(panel()))
    assert m.net is None


def test_numeric_static_kind_refuses_text():
    m = Forecaster(5, lookback=10, static_covariates={"group": "numeric"}, **SMALL)
    with pytest.raises(InputError, match="expected a number in numeric static covariate 'group', found 'a'"):
        m.fit(panel()[["unique_id", "ds", "y", "group"]])


def test_a_column_in_two_roles_is_refused():
    with pytest.raises(InputError, match=r"\['lead'\] listed as both future-known"):
        Forecaster(5, covariates=["lead"], past_covariates=["lead"])
    with pytest.raises(InputError, match="listed as static and as time-varying"):
        Forecaster(5, past_covariates=["lead"], static_covariates=["lead"])
    with pytest.raises(InputError, match="static covariate kinds"):
        Forecaster(5, static_covariates={"group": "ordinal"})


def test_unknown_category_at_predict_time_names_it_and_the_series(fitted):
    df = panel()
    df.loc[df.unique_id == "s2", "group"] = "c"
    with pytest.raises(InputError, match="series 's2': unknown category 'c' of static covariate 'group'"):
        fitted.predict(df)


def test_future_values_of_a_past_covariate_are_refused(fitted):
    future = pd.DataFrame({"unique_id": "s0", "ds": pd.date_range("2022-02-12", periods=5), "lead": 1.0})
    with pytest.raises(InputError, match=r"\['lead'\] are past-only covariates"):
        fitted.predict(future=future)


def test_save_load_gives_the_same_forecast(fitted, tmp_path):
    where = fitted.save(tmp_path / "m")
    back = Forecaster.load(where)
    assert back.past_covariates == ["lead"] and back.static_covariates == ["group", "size"]
    pd.testing.assert_frame_equal(back.predict(), fitted.predict())
    df = panel().groupby("unique_id").head(33)
    pd.testing.assert_frame_equal(back.predict(df), fitted.predict(df))
    # a config that disagrees with the weights is refused
    cfg_path = tmp_path / "m" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["config"]["forecaster"]["past_covariates"] = []
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(InputError, match="disagrees with the forecaster's"):
        Forecaster.load(where)


def test_onnx_export_says_what_to_do(fitted):
    with pytest.raises(InputError, match="ONNX export does not carry past-only or static covariates"):
        fitted.export_spec()


def test_cli_flags_train_and_predict(tmp_path, capsys):
    data = tmp_path / "panel.csv"
    panel().to_csv(data, index=False)
    flags = ["--data", str(data), "--id-col", "unique_id", "--horizon", "5", "--lookback", "10",
             "--hidden-size", "8", "--num-layers", "1", "--max-epochs", "3"]
    out = tmp_path / "m"
    assert main(["forecast", "train", *flags, "--past-covariates", "lead",
                 "--static-covariates", "group,size:numeric", "--out", str(out)]) == 0
    saved = Forecaster.load(out)
    assert saved.config.static_covariates == {"group": "categorical", "size": "numeric"}
    assert main(["forecast", "predict", "--load", str(out), "--out", str(tmp_path / "p"), "--no-plot"]) == 0
    assert len(pd.read_csv(tmp_path / "p" / "m_forecast.csv")) == 20
    capsys.readouterr()
    bad = panel()
    bad.loc[3, "size"] = 7.0
    bad[["unique_id", "ds", "y", "size"]].to_csv(data, index=False)
    assert main(["forecast", "train", *flags, "--static-covariates", "size", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "series 's0': static covariate 'size' must be constant" in err
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1 and not (tmp_path / "x").exists()


def test_a_leading_indicator_improves_the_forecast():
    with_cov, without = mase_with_and_without(leading_indicator(seed=0), 12, 0, past_covariates=["indicator"])
    assert with_cov < 0.8 * without, (with_cov, without)


@pytest.mark.slow
@pytest.mark.parametrize("column", ["group", "slope"])
def test_a_static_covariate_improves_the_forecast(column):
    with_cov, without = mase_with_and_without(static_groups(seed=0), 12, 0, static_covariates=[column])
    assert with_cov < 0.95 * without, (with_cov, without)


def test_cli_holdout_with_covariates_and_a_column_in_two_roles(tmp_path, capsys):
    data = tmp_path / "panel.csv"
    panel().to_csv(data, index=False)
    flags = ["forecast", "--data", str(data), "--id-col", "unique_id", "--horizon", "5", "--lookback", "10",
             "--hidden-size", "8", "--num-layers", "1", "--max-epochs", "3", "--no-plot", "--quiet"]
    assert main([*flags, "--past-covariates", "lead", "--static-covariates", "group,size", "--holdout",
                 "--out", str(tmp_path / "ho")]) == 0  # the baselines get the target alone
    assert {"lstm", "naive", "ets"} <= set(capsys.readouterr().out.split())
    assert len(pd.read_csv(tmp_path / "ho" / "panel_forecast.csv")) == 4 * 5
    assert main([*flags, "--past-covariates", "lead", "--covariates", "lead", "--out", str(tmp_path / "x")]) == 2
    assert "['lead'] listed as both future-known" in capsys.readouterr().err


def test_the_bundled_weather_frame_has_the_other_variables_as_columns():
    from lstmkit.forecasting.covariate_data import weather

    df = weather()
    assert list(df.columns) == ["unique_id", "ds", "y", "temp_min", "precipitation", "wind"]
    assert len(df) == 1461 and not df.isna().any().any() and (df["y"] >= df["temp_min"]).all()
