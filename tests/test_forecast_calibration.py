"""Conformal calibration of the Forecaster's quantiles (lstmkit.forecasting.calibration):
the shifts, the rule that turns it on, the coverage it reaches on data with a known
distribution, and that the median forecast never moves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstmkit.errors import InputError
from lstmkit.forecasting import Forecaster, datasets, metrics
from lstmkit.forecasting.calibration import Calibration, conformal_quantile
from lstmkit.forecasting.config import CAL_MIN_SCORES, ForecasterConfig, calibration_windows

SMALL = {"hidden_size": 16, "num_layers": 1, "enable_progress_bar": False}
QS = [0.1, 0.5, 0.9]


def normal_forecasts(n, H, sd_model, rng):
    """Quantile forecasts (n, H, 3) of a N(0, sd_model) model around a known centre, and
    draws (n, H) from N(centre, 1)."""
    centre = rng.normal(0, 3, (n, H))
    z = np.array([-1.2816, 0.0, 1.2816])
    return centre[..., None] + sd_model * z, centre + rng.normal(0, 1, (n, H))


def test_shifts_bring_a_too_narrow_interval_to_its_nominal_coverage():
    rng = np.random.default_rng(0)
    pred, y = normal_forecasts(400, 4, 0.5, rng)  # the model's 80% interval is half as wide as it should be
    cal = Calibration.fit(pred, y, QS, windows=1, min_scores=CAL_MIN_SCORES, scale=np.full(400, 0.1))
    assert cal.per_step and cal.shift.shape == (4, 2) and cal.n_scores == 400
    new_pred, new_y = normal_forecasts(4000, 4, 0.5, rng)
    before = np.mean((new_y >= new_pred[..., 0]) & (new_y <= new_pred[..., 2]))
    moved = cal.apply(new_pred, QS, np.full(4000, 0.1))
    after = np.mean((new_y >= moved[..., 0]) & (new_y <= moved[..., 2]))
    assert before < 0.5 and 0.77 <= after <= 0.84, (before, after)
    np.testing.assert_array_equal(moved[..., 1], new_pred[..., 1])  # the median never moves
    assert np.all(moved[..., 0] <= moved[..., 1]) and np.all(moved[..., 1] <= moved[..., 2])
    wide = cal.apply(new_pred * 0 + new_pred[..., 1:2] + 4 * np.array([-1.28, 0, 1.28]), QS, np.full(4000, 0.1))
    assert np.all(wide[..., 2] - wide[..., 0] > 0)  # a too-wide interval narrows, still ordered


def test_few_scores_are_pooled_over_the_steps():
    rng = np.random.default_rng(1)
    pred, y = normal_forecasts(10, 6, 1.0, rng)
    cal = Calibration.fit(pred, y, QS, windows=2, min_scores=CAL_MIN_SCORES, scale=np.ones(10))
    assert not cal.per_step and cal.shift.shape == (1, 2) and cal.n_scores == 60
    assert Calibration.from_dict(cal.to_dict()).to_dict() == cal.to_dict()


def test_a_collapsed_spread_falls_back_on_the_series_scale():
    rng = np.random.default_rng(2)
    centre = rng.normal(0, 3, (300, 2))
    pred = np.repeat(centre[..., None], 3, -1)  # every quantile at the median: no spread at all
    y = centre + rng.normal(0, 1, (300, 2))
    cal = Calibration.fit(pred, y, QS, windows=1, min_scores=CAL_MIN_SCORES, scale=np.ones(300))
    moved = cal.apply(pred, QS, np.ones(300))
    cover = np.mean((y >= moved[..., 0]) & (y <= moved[..., 2]))
    assert 0.75 <= cover <= 0.85 and np.all(np.abs(cal.shift) < 3)  # about +-1.28 scales


def test_conformal_quantile_is_the_finite_sample_order_statistic():
    r = np.arange(1.0, 10.0)  # n = 9
    assert conformal_quantile(r, 0.9) == 9.0  # ceil(10 * 0.9) = 9th
    assert conformal_quantile(r, 0.1) == 1.0  # floor(10 * 0.1) = 1st
    assert conformal_quantile(r[:5], 0.9) == 5.0  # clipped to the sample
    assert conformal_quantile(r[:5], 0.1) == 1.0


@pytest.mark.parametrize("n_series, length, expected", [
    (1, 132, 0),  # one series (airline): too few scores per step, intervals as trained
    (150, 60, 1), (60, 60, 2), (40, 60, 3), (30, 60, 0),
    (150, 20, 0),  # too short to keep the lookback before a held-out horizon
])
def test_the_rule_that_turns_calibration_on(n_series, length, expected):
    cfg = ForecasterConfig(6)
    assert calibration_windows(cfg, [length] * n_series, 12) == expected


def test_padded_short_series_are_scored_down_to_the_points_a_forecast_needs():
    assert calibration_windows(ForecasterConfig(6), [20] * 150, 12, pad=8) == 1
    assert calibration_windows(ForecasterConfig(6), [20] * 150, 12) == 0  # not padded: too short


def test_calibration_settings_are_checked():
    assert calibration_windows(ForecasterConfig(6, quantiles=[]), [60] * 500, 12) == 0
    assert calibration_windows(ForecasterConfig(6, calibration=0), [60] * 500, 12) == 0
    assert calibration_windows(ForecasterConfig(6, calibration=2), [60], 12) == 2  # asked for: given
    with pytest.raises(InputError, match="calibration=3 holds out"):
        calibration_windows(ForecasterConfig(6, calibration=3), [30] * 10, 12)
    with pytest.raises(InputError, match="calibrates quantiles, found none"):
        ForecasterConfig(6, quantiles=[], calibration=2)
    with pytest.raises(InputError, match="calibration as an integer >= 0"):
        ForecasterConfig(6, calibration=-1)


def ar1_panel(n_series=300, n=48, H=6, phi=0.6, seed=0) -> pd.DataFrame:
    """Many AR(1) series around their own levels, Gaussian shocks of sd 1: the forecast
    distribution is known."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        level, e = 50 + 10 * rng.random(), np.zeros(n + H)
        for t in range(1, n + H):
            e[t] = phi * e[t - 1] + rng.normal()
        ds = pd.date_range("1900-01-01", periods=n + H, freq="QS")  # seasonal: calibration is derived
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": level + e}))
    return pd.concat(frames, ignore_index=True)


def test_calibrated_80_percent_interval_covers_80_percent_of_new_points():
    H = 6
    data = ar1_panel(H=H)
    train = data.groupby("unique_id").head(48)
    test = data.groupby("unique_id").tail(H)
    model = Forecaster(H, seed=0, **SMALL).fit(train)
    assert model.plan.calibration == 1 and model.calibration.per_step  # 300 series: one window
    fc = model.predict().merge(test, on=["unique_id", "ds"])
    cover = metrics.coverage(fc["y"], fc["y_hat_q10"], fc["y_hat_q90"])
    assert 0.75 <= cover <= 0.85, cover
    plain = Forecaster(H, seed=0, calibration=0, **SMALL).fit(train).predict()
    pd.testing.assert_series_equal(plain["y_hat"], model.predict()["y_hat"])  # the median is the same


def test_forced_calibration_keeps_the_median_and_survives_save_and_load(tmp_path):
    y = datasets.airline()[:-12]
    kw = dict(max_epochs=20, seed=0, **SMALL)
    plain = Forecaster(12, **kw).fit(y)
    assert plain.plan.calibration == 0 and plain.calibration is None  # one series: off by default
    cal = Forecaster(12, calibration=2, **kw).fit(y)
    assert cal.calibration is not None and not cal.calibration.per_step  # 2 x 12 scores, pooled
    a, b = plain.predict(), cal.predict()
    pd.testing.assert_series_equal(a["y_hat"], b["y_hat"])
    assert not np.allclose(a["y_hat_q90"], b["y_hat_q90"])
    cal.save(tmp_path / "m")
    loaded = Forecaster.load(tmp_path / "m")
    pd.testing.assert_frame_equal(loaded.predict(), b)
    assert loaded.calibration.to_dict() == cal.calibration.to_dict()
