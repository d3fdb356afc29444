"""The Comb S-H-D baseline: the mean of simple, Holt and damped exponential smoothing on
the seasonally adjusted series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("statsmodels")

from lstmkit.forecasting import benchmark
from lstmkit.forecasting.baselines import BASELINES, Comb, seasonality_test, smoothers


def series(values, freq="YS", start="1950-01-01") -> pd.Series:
    return pd.Series(np.asarray(values, dtype=float), index=pd.date_range(start, periods=len(values), freq=freq))


def test_linear_trend_holt_is_exact_and_comb_lies_between_ses_and_holt():
    t = np.arange(40)
    y = 10 + 2.0 * t + np.random.default_rng(0).normal(0, 0.05, 40)  # a line, barely noisy
    H = 6
    truth = 10 + 2.0 * np.arange(40, 40 + H)
    parts = smoothers(y, H, [])
    assert set(parts) == {"ses", "holt", "damped"}
    ses, holt, damped = (parts[k][0] for k in ("ses", "holt", "damped"))
    np.testing.assert_allclose(holt, truth, rtol=5e-3)  # Holt continues the line
    assert np.all(ses < holt)  # SES stays at the last level
    fc = Comb(H).fit(series(y)).predict()["y_hat"].to_numpy()
    np.testing.assert_allclose(fc, (ses + holt + damped) / 3, rtol=1e-9)
    assert np.all(fc > ses) and np.all(fc < holt)


def test_seasonal_series_is_adjusted_and_reseasonalised():
    rng = np.random.default_rng(1)
    n, m, H = 96, 12, 12
    season = 1 + 0.3 * np.sin(2 * np.pi * np.arange(n + H) / m)
    level = 100 + 0.5 * np.arange(n + H)
    y = level * season * np.exp(rng.normal(0, 0.01, n + H))
    assert seasonality_test(y[:n], m)
    fc = Comb(H, quantiles=[0.1, 0.9]).fit(series(y[:n], "MS")).predict()
    err = np.abs(fc["y_hat"].to_numpy() / y[n:] - 1)
    assert err.mean() < 0.03, err  # the seasonal shape is carried into the forecast
    assert (fc["y_hat_q10"] < fc["y_hat"]).all() and (fc["y_hat"] < fc["y_hat_q90"]).all()


def test_seasonality_test_needs_a_season_and_three_of_them():
    rng = np.random.default_rng(2)
    noise = rng.normal(10, 1, 120)
    assert not seasonality_test(noise, 12)
    periodic = 10 + np.sin(2 * np.pi * np.arange(120) / 12)
    assert seasonality_test(periodic, 12)
    assert not seasonality_test(periodic[:35], 12)  # fewer than three seasons
    assert not seasonality_test(periodic, 1)
    assert not seasonality_test(np.ones(60), 12)  # constant: no autocorrelation to test


@pytest.mark.parametrize("values", [[5.0, 6.0, 8.0], [5.0, 6.0, 8.0, 7.0], [3.0] * 10, [-1.0, 2.0, 0.0, 4.0, 3.0]])
def test_short_constant_and_nonpositive_series_still_forecast(values):
    fc = Comb(4, quantiles=[0.1, 0.9]).fit(series(values)).predict()
    assert len(fc) == 4 and np.isfinite(fc[["y_hat", "y_hat_q10", "y_hat_q90"]].to_numpy()).all()
    assert (fc["y_hat_q10"] <= fc["y_hat"]).all() and (fc["y_hat"] <= fc["y_hat_q90"]).all()


def test_comb_is_a_baseline_of_the_cli_and_the_benchmark():
    assert BASELINES["comb"] is Comb
    assert "comb" in benchmark.BASELINE_NAMES
