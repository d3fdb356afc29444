"""Forecast the airline series with lstmkit.Forecaster: fit, predict with intervals,
compare with baselines in a backtest, save and load.

    python examples/forecast_quickstart.py
"""

from __future__ import annotations

import tempfile

from lstmkit.forecasting import datasets, metrics
from lstmkit.forecasting.baselines import SeasonalNaive
from lstmkit.forecasting import Forecaster

y = datasets.airline()  # a pandas Series with a monthly DatetimeIndex
train, test = y[:-12], y[-12:]

model = Forecaster(horizon=12, quantiles=[0.1, 0.9], seed=0, enable_progress_bar=False).fit(train)
fc = model.predict()  # unique_id, ds, y_hat, y_hat_q10, y_hat_q90
print(fc.head())

lstm = metrics.mase(test, fc["y_hat"], train, season_length=12)
snaive = metrics.mase(test, SeasonalNaive(12).fit(train).predict()["y_hat"], train, season_length=12)
print(f"MASE on 1960: LSTM {lstm:.3f}, seasonal naive {snaive:.3f}")
print(f"80% interval coverage: {metrics.coverage(test, fc['y_hat_q10'], fc['y_hat_q90']):.2f}")

# rolling origin: 3 windows of 12 months, trained once on the data before the first
result = Forecaster(horizon=12, enable_progress_bar=False).backtest(y, windows=3)
print(result.mean.round(3).to_dict())

with tempfile.TemporaryDirectory() as folder:
    model.save(f"{folder}/airline")
    again = Forecaster.load(f"{folder}/airline")
    assert again.predict().equals(fc)
    print("saved and loaded:", f"{folder}/airline")
