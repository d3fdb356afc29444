"""Airline passengers, last 12 months held out: the default Forecaster over several
seeds against naive, seasonal naive, ETS and Theta. Prints a markdown table.

    python examples/forecast_airline.py [--seeds 0,1,2] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lstmkit.forecasting import datasets, metrics
from lstmkit.forecasting.baselines import ETS, Naive, SeasonalNaive, Theta
from lstmkit.forecasting import Forecaster


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    y = datasets.airline()
    train, test = y[:-12], y[-12:]

    def row(name: str, forecast, seconds: float) -> float:
        mase = metrics.mase(test, forecast, train, 12)
        print(f"| {name} | {metrics.mae(test, forecast):.2f} | {metrics.rmse(test, forecast):.2f} | "
              f"{metrics.smape(test, forecast):.3f} | {mase:.3f} | {seconds:.1f} |", flush=True)
        return mase

    print("| model | MAE | RMSE | sMAPE | MASE | fit s |\n|---|---|---|---|---|---|")
    scores = []
    for seed in (int(s) for s in args.seeds.split(",")):
        model = Forecaster(12, seed=seed, enable_progress_bar=False).fit(train)
        scores.append(row(f"LSTM, seed {seed}", model.predict()["y_hat"], model.fit_seconds))
    print(f"| LSTM, mean of {len(scores)} seeds | | | | {np.mean(scores):.3f} | |")
    for base in (Naive, SeasonalNaive, ETS, Theta):
        t0 = time.perf_counter()
        forecast = base(12).fit(train).predict()["y_hat"]
        row(base.name, forecast, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
