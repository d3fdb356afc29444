"""Ablation on the airline series (last 12 months held out): what each part of the
forecaster's design is worth, mean MASE over seeds.

    python examples/forecast_ablation.py [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from lstmkit.forecasting import datasets, metrics
from lstmkit.forecasting import Forecaster

VARIANTS = {
    "default": {},
    "no regularisation (weight_decay=0, dropout=0)": {"weight_decay": 0.0, "dropout": 0.0},
    "no seasonal profile (deseasonalize=False)": {"deseasonalize": False},
    "no log transform (transform='none')": {"transform": "none"},
    "ensemble of 3": {"ensemble": 3},
    "GRU cell": {"cell": "gru"},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    y = datasets.airline()
    train, test = y[:-12], y[-12:]
    print("| variant | MASE per seed | mean MASE | mean fit s |\n|---|---|---|---|")
    for name, kw in VARIANTS.items():
        scores, secs = [], []
        for seed in seeds:
            model = Forecaster(12, seed=seed, enable_progress_bar=False, **kw).fit(train)
            scores.append(metrics.mase(test, model.predict()["y_hat"], train, 12))
            secs.append(model.fit_seconds)
        print(f"| {name} | {', '.join(f'{s:.3f}' for s in scores)} | {np.mean(scores):.3f} | "
              f"{np.mean(secs):.1f} |", flush=True)


if __name__ == "__main__":
    main()
