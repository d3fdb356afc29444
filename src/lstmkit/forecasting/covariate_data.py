"""Generated series whose covariates carry a known signal, for tests and the
demonstration in docs/forecasting.md ("Covariates"): nothing is downloaded.

- :func:`leading_indicator`: the bundled airline series times ``exp(effect * z[t - lag])``,
  with ``z`` a standardised AR(1) indicator given as the past-only column ``indicator``
  (value ``z[t]`` at ``t``): at a forecast origin the indicator already holds the values
  that move the next ``lag`` steps.
- :func:`static_groups`: monthly series whose trend follows a categorical column
  ``group`` (``"up"``, ``"flat"``, ``"down"``) under noise that hides it in a short
  window; the numeric column ``slope`` holds the same trend per series.

- :func:`weather`: a real multi-variable bundled series, Seattle's daily maximum
  temperature as ``y`` with the day's minimum temperature, precipitation and wind.

``python -m lstmkit.forecasting.covariate_data [--seeds 0,1,2]`` prints the
demonstration: the default Forecaster's MASE on the last horizon held out, with and
without each covariate; ``--weather`` the weather backtest (:func:`weather_backtest`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    e = rng.normal(0.0, np.sqrt(1 - phi ** 2), n)
    z = np.empty(n)
    z[0] = rng.normal()
    for t in range(1, n):
        z[t] = phi * z[t - 1] + e[t]
    return z


def leading_indicator(lag: int = 12, effect: float = 0.15, phi: float = 0.8, seed: int = 0) -> pd.DataFrame:
    """Airline passengers (144 months) moved by a leading indicator: columns
    ``unique_id``, ``ds``, ``y``, ``indicator``; ``y[t] = airline[t] * exp(effect *
    indicator[t - lag])`` (the first ``lag`` months use the indicator's earlier draws).

    Args:
        lag: months the indicator leads by (default 12).
        effect: its effect on the log scale (default 0.15).
        phi: the indicator's AR(1) coefficient (default 0.8).
        seed: seeds the indicator (default 0).

    Returns:
        The long frame.
    """
    from lstmkit.forecasting import datasets

    air = datasets.load("airline", long=True)
    n = len(air)
    rng = np.random.default_rng(seed)
    z = _ar1(rng, n + lag, phi)  # z[k] is the indicator at month k - lag
    y = air["y"].to_numpy() * np.exp(effect * z[:n])
    return pd.DataFrame({"unique_id": "airline", "ds": air["ds"].to_numpy(), "y": y, "indicator": z[lag:]})


def static_groups(n_series: int = 30, length: int = 96, slope: float = 0.6, noise: float = 3.0,
                  seed: int = 0) -> pd.DataFrame:
    """``n_series`` monthly series of ``length`` points: ``100 + s * t + 5 sin(2 pi t / 12)
    + AR(1) noise`` (sd ``noise``), with s = +slope, 0 or -slope by the series' ``group``
    (``"up"``, ``"flat"``, ``"down"``, in turn).

    Args:
        n_series: series (default 30).
        length: points per series (default 96).
        slope: s of the ``"up"`` group (default 0.6).
        noise: the AR(1) noise's sd (default 3).
        seed: seeds the noise (default 0).

    Returns:
        The long frame: ``unique_id``, ``ds``, ``y``, ``group``, ``slope`` (s as a number).
    """
    rng = np.random.default_rng(seed)
    groups = {"up": slope, "flat": 0.0, "down": -slope}
    names = list(groups)
    ds = pd.date_range("2000-01-01", periods=length, freq="MS")
    t = np.arange(length)
    frames = []
    for i in range(n_series):
        g = names[i % 3]
        y = 100 + groups[g] * t + 5 * np.sin(2 * np.pi * t / 12) + noise * _ar1(rng, length, 0.5)
        frames.append(pd.DataFrame({"unique_id": f"s{i:02d}", "ds": ds, "y": y, "group": g,
                                    "slope": groups[g]}))
    return pd.concat(frames, ignore_index=True)


def weather() -> pd.DataFrame:
    """The bundled Seattle weather (daily, 1,461 days) as one series: columns
    ``unique_id``, ``ds``, ``y`` (temp_max), ``temp_min``, ``precipitation``, ``wind``."""
    from lstmkit.forecasting import datasets

    cols = ["temp_max", "temp_min", "precipitation", "wind"]
    frame = pd.concat([datasets.weather(c).rename(c) for c in cols], axis=1).reset_index()
    frame = frame.rename(columns={"temp_max": "y", frame.columns[0]: "ds"})
    frame.insert(0, "unique_id", "seattle")
    return frame


def weather_backtest(seed: int, windows: int = 8, horizon: int = 7) -> tuple[float, float]:
    """The default Forecaster's mean MASE over ``windows`` weekly origins at the end of
    :func:`weather`, with the other three variables as past-only covariates and without.

    Args:
        seed: the fits' seed.
        windows: weekly origins (default 8).
        horizon: days forecast (default 7).

    Returns:
        (MASE with the covariates, MASE without).
    """
    from lstmkit.forecasting import Forecaster

    df, past = weather(), ["temp_min", "precipitation", "wind"]
    opts = {"seed": seed, "enable_progress_bar": False}
    with_cov = Forecaster(horizon, past_covariates=past, **opts).backtest(df, windows=windows).mean["mase"]
    without = Forecaster(horizon, **opts).backtest(df[["unique_id", "ds", "y"]], windows=windows).mean["mase"]
    return float(with_cov), float(without)


def mase_with_and_without(df: pd.DataFrame, horizon: int, seed: int, **covariates) -> tuple[float, float]:
    """The default Forecaster's MASE on the last ``horizon`` points of every series of
    ``df``, trained on the points before, with the ``covariates`` and without them.

    Args:
        df: the long frame.
        horizon: H.
        seed: the fits' seed.
        **covariates: Forecaster keywords (``covariates=``, ``past_covariates=``,
            ``static_covariates=``).

    Returns:
        (MASE with, MASE without).
    """
    from lstmkit.forecasting import Forecaster

    base = ["unique_id", "ds", "y"]
    used = base + [c for v in covariates.values() for c in v]
    n = int(df.groupby("unique_id").size().min())
    hist = df.groupby("unique_id").head(n - horizon)
    opts = {"seed": seed, "enable_progress_bar": False}
    with_cov = Forecaster(horizon, **covariates, **opts).fit(hist[used]).evaluate(df[used])["mase"]
    without = Forecaster(horizon, **opts).fit(hist[base]).evaluate(df[base])["mase"]
    return float(with_cov), float(without)


def demo(seeds=(0, 1, 2)) -> pd.DataFrame:
    """One row per (covariate, seed): MASE with and without it (the data's seed is the
    training seed).

    Args:
        seeds: the seeds (default 0, 1, 2).

    Returns:
        The table.
    """
    runs = [("past-only: indicator (leading, lag 12)", lambda s: leading_indicator(seed=s),
             {"past_covariates": ["indicator"]}),
            ("static categorical: group", lambda s: static_groups(seed=s), {"static_covariates": ["group"]}),
            ("static numeric: slope", lambda s: static_groups(seed=s), {"static_covariates": ["slope"]})]
    rows = []
    for name, data, kw in runs:
        for seed in seeds:
            w, wo = mase_with_and_without(data(seed), 12, seed, **kw)
            rows.append({"covariate": name, "seed": seed, "mase_with": w, "mase_without": wo})
            print(f"{name:42s} seed {seed}: MASE {w:.3f} with, {wo:.3f} without", flush=True)
    return pd.DataFrame(rows)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="MASE with and without each covariate kind on generated data")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--weather", action="store_true", help="the weather backtest instead")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.weather:
        for seed in seeds:
            w, wo = weather_backtest(seed)
            print(f"weather, past-only temp_min, precipitation, wind, seed {seed}: MASE {w:.3f} with, "
                  f"{wo:.3f} without", flush=True)
        raise SystemExit(0)
    table = demo(seeds)
    print(table.groupby("covariate", sort=False)[["mase_with", "mase_without"]].mean().round(3).to_string())
