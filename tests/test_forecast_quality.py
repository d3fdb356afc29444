"""Longer quality checks at the default configuration (``pytest -m slow``): the numbers
docs/forecasting.md reports."""

from __future__ import annotations

import numpy as np
import pytest

from lstmkit.forecasting import Forecaster, datasets, metrics
from lstmkit.forecasting.baselines import SeasonalNaive

pytestmark = pytest.mark.slow

HORIZONS = {"airline": 12, "co2": 12, "sunspots": 11, "stock": 5, "weather": 14, "electricity": 48}


def test_airline_default_config_three_seeds():
    y = datasets.airline()
    train, test = y[:-12], y[-12:]
    scores = []
    for seed in range(3):
        model = Forecaster(12, seed=seed, enable_progress_bar=False).fit(train)  # the Python default
        assert model.plan.smoothing == "es"  # a single short seasonal series
        scores.append(metrics.mase(test, model.predict()["y_hat"], train, 12))
    # issue 19's goal for the Python default (quantiles 0.1/0.9), as `lstmkit forecast
    # benchmark --dataset airline` measures it (seasonal naive: 1.571); docs/forecasting.md
    # reports 0.419 / 0.384 / 0.426
    assert max(scores) < 0.5 and np.mean(scores) <= 0.45, scores


@pytest.mark.parametrize("name", sorted(HORIZONS))
def test_backtest_beats_seasonal_naive_on_each_bundled_series(name):
    data = datasets.load(name, long=True)
    H = HORIZONS[name]
    lstm = Forecaster(H, enable_progress_bar=False).backtest(data, windows=3).mean["mase"]
    base = SeasonalNaive(H).backtest(data, windows=3).mean["mase"]
    assert lstm < base, f"{name}: LSTM MASE {lstm:.3f}, seasonal naive {base:.3f}"
