"""Backtest the LSTM forecaster against the baselines on every bundled series.

Rolling origin, 3 windows of one horizon each; the horizon per series follows its
frequency (monthly 12, half-hourly 48 = one day, daily 14, business-daily 5, yearly 11).
Prints one markdown table per series and a summary; ``--out FILE`` also writes it.

    python examples/forecast_bundled_backtest.py [--series airline,co2] [--seeds 0] [--out FILE]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from lstmkit.forecasting import datasets
from lstmkit.forecasting.baselines import ETS, Naive, SeasonalNaive, Theta
from lstmkit.forecasting import Forecaster, compare

HORIZONS = {"airline": 12, "co2": 12, "electricity": 48, "weather": 14, "stock": 5, "sunspots": 11}


def run(name: str, seeds: list[int], windows: int = 3) -> tuple[pd.DataFrame, float]:
    data = datasets.load(name, long=True)
    H = HORIZONS[name]
    results = []
    for seed in seeds:
        r = Forecaster(H, seed=seed, quantiles=[0.1, 0.9], enable_progress_bar=False).backtest(data, windows=windows)
        r.model = f"lstm (seed {seed})"
        results.append(r)
    for base in (Naive(H, quantiles=[0.1, 0.9]), SeasonalNaive(H, quantiles=[0.1, 0.9]),
                 ETS(H, quantiles=[0.1, 0.9]), Theta(H, quantiles=[0.1, 0.9])):
        results.append(base.backtest(data, windows=windows))
    table = compare(results)
    lstm_mase = table.loc[[r.model for r in results[:len(seeds)]], "mase"].mean()
    return table, lstm_mase


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", default=",".join(HORIZONS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--out")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (small LSTMs gain little from more)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    lines, summary = [], []
    for name in args.series.split(","):
        t0 = time.perf_counter()
        table, lstm = run(name, seeds)
        snaive = table.loc["seasonal_naive", "mase"]
        text = f"### {name} (horizon {HORIZONS[name]}, 3 windows)\n\n" + table.round(3).to_string() + "\n"
        print(text, flush=True)
        lines.append(text)
        summary.append({"series": name, "lstm_mase": lstm, "seasonal_naive_mase": snaive,
                        "best_baseline": table.iloc[len(seeds):]["mase"].idxmin(),
                        "best_baseline_mase": table.iloc[len(seeds):]["mase"].min(),
                        "lstm_beats_snaive": bool(lstm < snaive), "seconds": time.perf_counter() - t0})
    summ = pd.DataFrame(summary).round(3).to_string(index=False)
    print(summ)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n### summary\n\n" + summ + "\n")


if __name__ == "__main__":
    main()
