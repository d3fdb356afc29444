"""Baseline forecasters with the same API as :class:`lstmkit.Forecaster`.

``fit(df)``, ``predict(df=None)`` and ``backtest(df, windows, step)`` take and return the
same frames, so every report can put the LSTM next to them. Each baseline is local: it
forecasts every series from that series' own history alone.

- :class:`Naive`: the last value, repeated. Interval: random walk, sigma * sqrt(h).
- :class:`SeasonalNaive`: the value one season earlier. Interval: sigma * sqrt(ceil(h/m)).
  Falls back to :class:`Naive` for a series shorter than one season plus one point.
- :class:`ETS`: exponential smoothing (statsmodels ``ETSModel``), additive errors, trend
  none or additive damped, seasonality none or additive, picked per series by AICc; on
  the log of an all-positive series (i.e. multiplicative there). Analytic intervals.
- :class:`Theta`: the Theta method (Assimakopoulos & Nikolopoulos 2000) of statsmodels'
  ``ThetaModel``, deseasonalised when the series has two whole seasons.
- :class:`Comb`: "Comb S-H-D", the M3/M4 competitions' benchmark (Makridakis &
  Hibon 2000; the M4 benchmark code): the mean of simple, Holt (linear trend) and
  damped-trend exponential smoothing (statsmodels ``ETSModel``: ETS(A,N,N), (A,A,N),
  (A,Ad,N), each fitted by maximum likelihood, as R's ``ses`` and ``holt``), on the
  seasonally adjusted series when the series is seasonal (the M4 code's 90%
  autocorrelation test at lag m, with at least three seasons), by classical
  multiplicative decomposition (additive when a value is <= 0), reseasonalised
  after. Interval: the mean of the three models' normal quantiles, reseasonalised.

Intervals of Naive and SeasonalNaive assume normal errors with the in-sample standard
deviation of their one-step (one-season) errors, as R's ``forecast`` package does.
"""

from __future__ import annotations

import math
import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd

from lstmkit.errors import InputError
from lstmkit.forecasting.frame import (
    SeriesSet,
    check_quantiles,
    forecast_frame,
    future_dates,
    season_length_for,
    to_long,
    validate,
)


def _z(quantiles: list[float]) -> np.ndarray:
    return np.array([NormalDist().inv_cdf(q) for q in quantiles])


class _Local:
    """Shared plumbing: validation, the loop over series, the output frame."""

    name = "baseline"
    global_model = False

    def __init__(self, horizon: int, season_length: int | None = None, quantiles=None) -> None:
        if not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise InputError(f"expected horizon as an integer >= 1, found {horizon!r}")
        if season_length is not None and (not isinstance(season_length, (int, np.integer)) or season_length < 1):
            raise InputError(f"expected season_length as an integer >= 1, found {season_length!r}")
        self.horizon = int(horizon)
        self.season_length = season_length
        self.quantiles = check_quantiles(quantiles)
        self._series: SeriesSet | None = None

    def _clone(self) -> _Local:
        return type(self)(self.horizon, self.season_length, self.quantiles or None)

    def fit(self, df, id_col: str | None = "unique_id", time_col: str = "ds", target_col: str = "y") -> _Local:
        """Keep the validated histories of ``df`` (long frame or datetime-indexed Series)."""
        return self._fit_series(validate(to_long(df, id_col, time_col, target_col), min_length=2))

    def _fit_series(self, series: SeriesSet) -> _Local:
        self._series = series
        return self

    def season(self, freq: str) -> int:
        return self.season_length or season_length_for(freq)

    def min_predict_length(self) -> int:
        return 2

    def predict(self, df=None, id_col: str | None = "unique_id", time_col: str = "ds",
                target_col: str = "y") -> pd.DataFrame:
        """Forecast ``horizon`` steps after each series of ``df`` (default: the fitted data)."""
        if df is None:
            if self._series is None:
                raise InputError(f"{self.name}: call fit(df) first, or pass the history to predict(df)")
            return self._predict_series(self._series)
        return self._predict_series(validate(to_long(df, id_col, time_col, target_col), min_length=2))

    def _predict_series(self, series: SeriesSet, future=None) -> pd.DataFrame:
        m = self.season(series.freq)
        H, Q = self.horizon, len(self.quantiles)
        point, bands = np.zeros((len(series), H)), np.zeros((len(series), H, Q))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # statsmodels' convergence chatter
            # some statsmodels fits reset the filters inside (simplefilter("always")), so
            # silence the printing too; catch_warnings restores both on exit
            warnings.showwarning = lambda *args, **kwargs: None
            for i, y in enumerate(series.y):
                point[i], bands[i] = self._forecast(y, m)
        dates = [future_dates(d[-1], series.freq, H) for d in series.ds]
        return forecast_frame(series.ids, dates, point, self.quantiles, bands)

    def backtest(self, df, windows: int = 3, step: int | None = None, **columns):
        """Rolling-origin evaluation; see :func:`lstmkit.forecasting.backtest.backtest`."""
        from lstmkit.forecasting.backtest import backtest

        return backtest(self, df, windows=windows, step=step, **columns)

    def _forecast(self, y: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


def _normal_bands(mean: np.ndarray, sd: np.ndarray, quantiles: list[float]) -> np.ndarray:
    return mean[:, None] + sd[:, None] * _z(quantiles)[None, :] if quantiles else np.zeros((len(mean), 0))


class Naive(_Local):
    """The last observed value for every future step.

    Args:
        horizon: steps to forecast (>= 1).
        season_length: the seasonal period in steps (None: from the data's frequency).
        quantiles: levels such as ``[0.1, 0.9]`` for the interval columns (None: none).

    Raises:
        InputError: a horizon or season length below 1, or a level outside (0, 1).

    Example:
        >>> from lstmkit.forecasting.datasets import airline
        >>> fc = Naive(horizon=3, quantiles=[0.1, 0.9]).fit(airline()).predict()
        >>> fc.columns.tolist(), fc["y_hat"].tolist()
        (['unique_id', 'ds', 'y_hat', 'y_hat_q10', 'y_hat_q90'], [432.0, 432.0, 432.0])
    """

    name = "naive"

    def _forecast(self, y, m):
        H = self.horizon
        mean = np.full(H, y[-1])
        sigma = float(np.sqrt(np.mean(np.diff(y) ** 2))) if len(y) > 1 else 0.0
        return mean, _normal_bands(mean, sigma * np.sqrt(np.arange(1, H + 1)), self.quantiles)


class SeasonalNaive(_Local):
    """The value one season (``season_length`` steps, default from the frequency) earlier.

    Args:
        horizon: steps to forecast (>= 1).
        season_length: the seasonal period in steps (None: from the data's frequency).
        quantiles: levels such as ``[0.1, 0.9]`` for the interval columns (None: none).

    Raises:
        InputError: a horizon or season length below 1, or a level outside (0, 1).
    """

    name = "seasonal_naive"

    def _forecast(self, y, m):
        if m <= 1 or len(y) <= m:
            return Naive(self.horizon, quantiles=self.quantiles or None)._forecast(y, 1)
        H = self.horizon
        h = np.arange(H)
        mean = y[len(y) - m + h % m]
        sigma = float(np.sqrt(np.mean((y[m:] - y[:-m]) ** 2)))
        return mean, _normal_bands(mean, sigma * np.sqrt(h // m + 1), self.quantiles)


class ETS(_Local):
    """Exponential smoothing chosen per series by AICc (statsmodels ``ETSModel``).

    Args:
        horizon: steps to forecast (>= 1).
        season_length: the seasonal period in steps (None: from the data's frequency).
        quantiles: levels such as ``[0.1, 0.9]`` for the interval columns (None: none).

    Raises:
        InputError: a horizon or season length below 1, or a level outside (0, 1).
    """

    name = "ets"

    def _forecast(self, y, m):
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        H = self.horizon
        log = bool(np.all(y > 0))
        z = pd.Series(np.log(y) if log else np.asarray(y, dtype=float))
        seasonal = [None, "add"] if m > 1 and len(y) >= 2 * m + 2 else [None]
        best = None
        for trend in (None, "add"):
            for season in seasonal:
                try:
                    res = ETSModel(z, error="add", trend=trend, damped_trend=trend is not None,
                                   seasonal=season, seasonal_periods=m if season else None).fit(disp=False)
                except (ValueError, np.linalg.LinAlgError):
                    continue
                if np.isfinite(res.aicc) and (best is None or res.aicc < best.aicc):
                    best = res
        if best is None:  # too short for any ETS: say the naive forecast instead of failing
            return Naive(H, quantiles=self.quantiles or None)._forecast(y, 1)
        pred = best.get_prediction(start=len(z), end=len(z) + H - 1)
        mean = np.asarray(pred.predicted_mean, dtype=float)
        sd = np.sqrt(np.maximum(np.asarray(pred.forecast_variance, dtype=float), 0.0))
        bands = _normal_bands(mean, sd, self.quantiles)
        if log:  # quantiles map through exp; the median of log-normal is exp(mean)
            return np.exp(mean), np.exp(bands)
        return mean, bands


class Theta(_Local):
    """The Theta method (statsmodels ``ThetaModel``).

    Args:
        horizon: steps to forecast (>= 1).
        season_length: the seasonal period in steps (None: from the data's frequency).
        quantiles: levels such as ``[0.1, 0.9]`` for the interval columns (None: none).

    Raises:
        InputError: a horizon or season length below 1, or a level outside (0, 1).
    """

    name = "theta"

    def _forecast(self, y, m):
        from statsmodels.tsa.forecasting.theta import ThetaModel

        H = self.horizon
        positive = bool(np.all(y > 0))
        deseason = m > 1 and len(y) >= 2 * m
        res = ThetaModel(np.asarray(y, dtype=float), period=m if deseason else None,
                         deseasonalize=deseason, method="auto" if positive else "additive").fit()
        mean = np.asarray(res.forecast(H), dtype=float)
        bands = np.zeros((H, len(self.quantiles)))
        for j, q in enumerate(self.quantiles):
            if math.isclose(q, 0.5):
                bands[:, j] = mean
                continue
            pi = np.asarray(res.prediction_intervals(H, alpha=2 * min(q, 1 - q)), dtype=float)
            bands[:, j] = pi[:, 0] if q < 0.5 else pi[:, 1]
        return mean, bands


def seasonality_test(y: np.ndarray, m: int) -> bool:
    """The M4 benchmarks' seasonality test: the autocorrelation at lag m exceeds its 90%
    limit, 1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / n) (Bartlett's standard error).

    Args:
        y: the series (n,).
        m: the season length.

    Returns:
        Whether the series is seasonal; False without a season (m <= 1) or with fewer
        than three seasons of data.
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    if m <= 1 or n < 3 * m:
        return False
    x = y - y.mean()
    denom = float(np.sum(x * x))
    if denom == 0:
        return False
    r = np.array([np.sum(x[k:] * x[:-k]) for k in range(1, m + 1)]) / denom  # lags 1..m
    limit = 1.645 * math.sqrt((1 + 2 * np.sum(r[:-1] ** 2)) / n)
    return bool(abs(r[-1]) > limit)


def seasonal_indices(y: np.ndarray, m: int, multiplicative: bool) -> np.ndarray:
    """Classical decomposition's seasonal figure (m,) by phase (position i mod m of the
    series): the mean per phase of the series over (or minus) its centred moving average,
    normalised to mean 1 (or 0), as R's ``decompose``.

    Args:
        y: the series (n,).
        m: the season length.
        multiplicative: ratios (mean 1) rather than differences (mean 0).

    Returns:
        (m,) the seasonal figure.
    """
    from statsmodels.tsa.seasonal import seasonal_decompose

    res = seasonal_decompose(np.asarray(y, dtype=float), model="multiplicative" if multiplicative else "additive",
                             period=m)
    return np.asarray(res.seasonal[:m], dtype=float)


SHD = (("ses", None, False), ("holt", "add", False), ("damped", "add", True))  # Comb's three models


def smoothers(z: np.ndarray, horizon: int, quantiles: list[float]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Simple, Holt and damped exponential smoothing of ``z`` (statsmodels ``ETSModel``,
    additive errors, maximum likelihood).

    Args:
        z: the (adjusted) series (n,).
        horizon: H.
        quantiles: the Q levels of the normal quantiles.

    Returns:
        ``"ses"``, ``"holt"``, ``"damped"`` -> (forecast (H,), quantiles (H, Q)); a model
        that cannot be fitted (too few points) is left out.
    """
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    out = {}
    for name, trend, damped in SHD:
        try:
            res = ETSModel(pd.Series(np.asarray(z, dtype=float)), error="add", trend=trend,
                           damped_trend=damped).fit(disp=False)
            pred = res.get_prediction(start=len(z), end=len(z) + horizon - 1)
            mean = np.asarray(pred.predicted_mean, dtype=float)
            sd = np.sqrt(np.maximum(np.asarray(pred.forecast_variance, dtype=float), 0.0))
        except (ValueError, np.linalg.LinAlgError):
            continue
        if np.all(np.isfinite(mean)) and np.all(np.isfinite(sd)):
            out[name] = (mean, _normal_bands(mean, sd, quantiles))
    return out


class Comb(_Local):
    """Comb S-H-D: the mean of simple, Holt and damped exponential smoothing on the
    seasonally adjusted series (module docstring).

    Args:
        horizon: steps to forecast (>= 1).
        season_length: the seasonal period in steps (None: from the data's frequency).
        quantiles: levels such as ``[0.1, 0.9]`` for the interval columns (None: none).

    Raises:
        InputError: a horizon or season length below 1, or a level outside (0, 1).
    """

    name = "comb"

    def _forecast(self, y, m):
        H = self.horizon
        y = np.asarray(y, dtype=float)
        mult = bool(np.all(y > 0))
        seasonal = seasonality_test(y, m)
        z = y
        if seasonal:
            si = seasonal_indices(y, m, mult)
            past, future = si[np.arange(len(y)) % m], si[np.arange(len(y), len(y) + H) % m]
            z = y / past if mult else y - past
        fits = smoothers(z, H, self.quantiles)
        if not fits:  # too short for exponential smoothing: the naive forecast instead of failing
            return Naive(H, quantiles=self.quantiles or None)._forecast(y, 1)
        mean = np.mean([f[0] for f in fits.values()], axis=0)
        band = np.mean([f[1] for f in fits.values()], axis=0)
        if seasonal and mult:
            return mean * future, band * future[:, None]
        if seasonal:
            return mean + future, band + future[:, None]
        return mean, band


BASELINES = {"naive": Naive, "seasonal_naive": SeasonalNaive, "ets": ETS, "theta": Theta, "comb": Comb}

__all__ = ["BASELINES", "ETS", "Comb", "Naive", "SeasonalNaive", "Theta", "seasonality_test", "smoothers"]
