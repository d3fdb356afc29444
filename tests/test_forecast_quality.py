"""Longer quality checks at the default configuration (``pytest -m slow``): the numbers
docs/forecasting.md reports."""

from __future__ import annotations

import numpy as np
import pytest

from lstmkit import datasets, metrics
from lstmkit.baselines import SeasonalNaive
from lstmkit.forecasting import Forecaster

pytestmark = pytest.mark.slow

HORIZONS = {"airline": 12, "co2": 12, "sunspots": 11, "stock": 5, "weather": 14, "electricity": 48}


def test_airline_default_config_three_seeds():
    y = datasets.airline()
    train, test = y[:-12], y[-12:]
    scores = []
    for seed in range(3):
        fc = Forecaster(12, seed=seed, enable_progress_bar=False).fit(train).predict()
        scores.append(metrics.mase(test, fc["y_hat"], train, 12))
    assert max(scores) < 1.0 and np.mean(scores) <= 0.6, scores  # seasonal naive: 1.571


@pytest.mark.parametrize("name", sorted(HORIZONS))
def test_backtest_beats_seasonal_naive_on_each_bundled_series(name):
    data = datasets.load(name, long=True)
    H = HORIZONS[name]
    lstm = Forecaster(H, enable_progress_bar=False).backtest(data, windows=3).mean["mase"]
    base = SeasonalNaive(H).backtest(data, windows=3).mean["mase"]
    assert lstm < base, f"{name}: LSTM MASE {lstm:.3f}, seasonal naive {base:.3f}"
