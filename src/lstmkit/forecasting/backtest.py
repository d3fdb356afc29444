"""Rolling-origin backtests for the Forecaster and the baselines alike.

Window k of ``windows`` (k = 0 first) ends its history ``horizon + (windows - 1 - k) *
step`` points before the end of each series and forecasts the next ``horizon`` points.
A local model (the baselines) is refitted on the history before every origin. A global
model (the Forecaster) is by default trained once, on the history before the first
origin, and then forecasts every origin from the actual history up to it: no target
after an origin is ever seen, and a backtest costs one fit rather than ``windows``
(``refit=True`` retrains at every origin instead).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lstmkit.errors import InputError
from lstmkit.forecasting import metrics
from lstmkit.forecasting.frame import ID, quantile_column, to_long, validate


@dataclass
class BacktestResult:
    """What :func:`backtest` measured.

    Attributes:
        model: the model's name (``"lstm"``, ``"naive"``...).
        forecasts: every forecast, columns ``unique_id``, ``cutoff`` (the origin),
            ``ds``, ``y`` (the actual value), ``y_hat`` and the quantile columns.
        per_series: metrics per series (``unique_id``, ``mae``, ``rmse``, ``smape``,
            ``mase``...), each the mean over windows.
        mean: the per-series metrics' mean over series.
        fit_seconds: time spent fitting.
        predict_seconds: time spent forecasting.
        fitted: the model fitted at the last origin (the model itself with ``fit=False``).
    """

    model: str
    forecasts: pd.DataFrame
    per_series: pd.DataFrame
    mean: pd.Series
    fit_seconds: float
    predict_seconds: float
    fitted: object = None  # the model fitted at the last origin


def _score(y, y_hat, history, m, bands: dict[float, np.ndarray]) -> dict[str, float]:
    """Point metrics; with quantile forecasts ``bands`` (level -> values), the coverage of
    the outermost pair and ``spl``, the scaled pinball loss averaged over the levels."""
    row = {name: fn(y, y_hat) for name, fn in metrics.POINT_METRICS.items()}
    row["mase"] = metrics.mase(y, y_hat, history, m)
    qs = sorted(bands)
    if len(qs) >= 2:
        row["coverage"] = metrics.coverage(y, bands[qs[0]], bands[qs[-1]])
    if qs:
        row["spl"] = float(np.mean([metrics.scaled_pinball(y, bands[q], q, history, m) for q in qs]))
    return row


def origins(lengths: np.ndarray, horizon: int, windows: int, step: int) -> list[int]:
    """Points held back at each origin, first origin first.

    Args:
        lengths: points per series (unused by the rule; kept for the callers).
        horizon: H.
        windows: origins, at least 1.
        step: points between two origins, at least 1.

    Returns:
        ``windows`` counts, the last one ``horizon``.

    Raises:
        InputError: ``windows`` or ``step`` not a positive integer.

    Example:
        >>> origins([100], horizon=12, windows=3, step=6)
        [24, 18, 12]
    """
    if not isinstance(windows, (int, np.integer)) or windows < 1:
        raise InputError(f"expected windows as an integer >= 1, found {windows!r}")
    if not isinstance(step, (int, np.integer)) or step < 1:
        raise InputError(f"expected step as an integer >= 1, found {step!r}")
    return [horizon + (windows - 1 - k) * step for k in range(windows)]


def backtest(model, df, windows: int = 3, step: int | None = None, refit: bool = False,
             id_col: str | None = "unique_id", time_col: str = "ds", target_col: str = "y",
             fit: bool = True, resume: bool = False) -> BacktestResult:
    """Evaluate ``model`` on rolling origins of ``df``: at each origin the model is fitted
    on the points before it and forecasts the next ``horizon`` points, which are compared
    with what happened.

    Args:
        model: a :class:`~lstmkit.forecasting.Forecaster` or a baseline of
            :mod:`lstmkit.forecasting.baselines` (its settings; it is cloned per fit).
        df: a long frame (``unique_id``, ``ds``, ``y``, covariates) or a Series with a
            datetime index.
        windows: origins (default 3), the last one ``horizon`` points before the end.
        step: points between two origins (None: the horizon).
        refit: fit a global model again at every origin (default: once, at the first;
            local baselines are always fitted per origin).
        id_col: the series column (None: one series).
        time_col: the timestamp column.
        target_col: the value column.
        fit: False forecasts with ``model`` as it is (a loaded model; the caller vouches
            that it never saw the evaluated periods).
        resume: continue the first fit of a global model from its checkpoint directory.

    Returns:
        A :class:`BacktestResult`.

    Raises:
        InputError: malformed data, or a series too short for the windows.

    Example:
        Two yearly windows of the airline series with two baselines:

        >>> from lstmkit.forecasting import backtest, compare
        >>> from lstmkit.forecasting.baselines import Naive, SeasonalNaive
        >>> from lstmkit.forecasting.datasets import airline
        >>> results = [backtest(m, airline(), windows=2) for m in (Naive(12), SeasonalNaive(12))]
        >>> results[0].forecasts.shape
        (24, 5)
        >>> compare(results)["mase"].round(3).to_dict()
        {'naive': 2.846, 'seasonal_naive': 1.614}
    """
    covs = list(getattr(model, "covariates", ()) or ())
    if hasattr(model, "_series_of"):  # a Forecaster: its covariates of every kind
        series = model._series_of(df, id_col, time_col, target_col, min_length=2)
    else:
        series = validate(to_long(df, id_col, time_col, target_col, covs), min_length=2)
    H = model.horizon
    step = H if step is None else step  # 0 is refused by origins(), not taken for the default
    cuts = origins(series.lengths(), H, windows, step)
    shortest = int(series.lengths().min())
    need = getattr(model, "min_train_length", lambda s: 2)(series) if fit else model.min_predict_length()
    if shortest - cuts[0] < need:
        uid = series.ids[int(series.lengths().argmin())]
        raise InputError(
            f"series {uid!r} has {shortest} points: a backtest of {windows} window(s) of {H} steps, "
            f"{step} apart, needs at least {cuts[0] + need}"
        )
    m = model.season(series.freq)
    qs = list(getattr(model, "quantiles", []) or [])
    fit_s = pred_s = 0.0
    fitted = None if fit else model
    frames, rows = [], []
    for k, n_last in enumerate(cuts):
        hist = series.head(n_last)
        if fit and (fitted is None or refit or not model.global_model):
            t0 = time.perf_counter()
            fresh = model._clone()
            first = fitted is None and model.global_model
            fitted = fresh._fit_series(hist, resume) if first and resume else fresh._fit_series(hist)
            fit_s += time.perf_counter() - t0
        future_x = [x[len(x) - n_last: len(x) - n_last + H, :len(covs)] for x in series.x]
        t0 = time.perf_counter()
        fc = fitted._predict_series(hist, future_x) if covs else fitted._predict_series(hist)
        pred_s += time.perf_counter() - t0
        truth = np.concatenate([y[len(y) - n_last: len(y) - n_last + H] for y in series.y])
        fc.insert(1, "cutoff", np.repeat([d[-1] for d in hist.ds], H))
        fc.insert(3, "y", truth)
        frames.append(fc)
        for i, uid in enumerate(series.ids):
            part = fc.iloc[i * H:(i + 1) * H]
            bands = {q: part[quantile_column(q)].to_numpy() for q in qs}
            rows.append({ID: uid, "window": k, **_score(part["y"].to_numpy(), part["y_hat"].to_numpy(),
                                                        hist.y[i], m, bands)})
    per_window = pd.DataFrame(rows)
    per_series = per_window.drop(columns="window").groupby(ID, sort=False).mean().reset_index()
    mean = per_series.drop(columns=ID).mean()
    return BacktestResult(getattr(model, "name", type(model).__name__), pd.concat(frames, ignore_index=True),
                          per_series, mean, fit_s, pred_s, fitted)


def compare(results: list[BacktestResult], columns=("mae", "rmse", "smape", "mase")) -> pd.DataFrame:
    """The mean metrics of backtests side by side.

    Args:
        results: backtests of the same data (:func:`backtest`).
        columns: the metrics to show, in order (``coverage`` and ``spl`` are added where
            present).

    Returns:
        A frame with one row per model (index ``model``): the metrics, ``fit_s`` and
        ``predict_s``.
    """
    table = pd.DataFrame({r.model: r.mean for r in results}).T
    cols = [c for c in (*columns, "coverage", "spl") if c in table.columns]
    table = table[cols]
    table["fit_s"] = [r.fit_seconds for r in results]
    table["predict_s"] = [r.predict_seconds for r in results]
    table.index.name = "model"
    return table

