"""Forecast accuracy metrics.

Every function takes array-likes of equal shape (the actual values ``y`` and the
forecast ``y_hat``) and returns one float, the mean over all points given. Pass one
series' forecast horizon to score a series; the per-series tables of
:mod:`lstmkit.forecasting.backtest` average those scores over series.

Definitions (``e = y - y_hat``, means over the points scored):

- ``mae``   = mean |e|
- ``rmse``  = sqrt(mean e^2)
- ``mape``  = 100 * mean |e| / |y|                      (percent; undefined where y = 0)
- ``smape`` = mean 200 |e| / (|y| + |y_hat|)             (percent, 0..200; a point where
  both y and y_hat are 0 scores 0). This is the M3/M4 competitions' definition.
- ``mase``  = mae / mean |y_t - y_{t-m}| over the in-sample history (Hyndman & Koehler
  2006, seasonal version): below 1 the forecast beats the in-sample seasonal naive.
- ``coverage`` = share of points with lower <= y <= upper (an interval's empirical
  coverage; an 80% interval should give about 0.8).
- ``pinball``  = mean of max(q e, (q - 1) e), the quantile loss at level q.
- ``scaled_pinball`` = pinball / the MASE denominator (the in-sample seasonal naive MAE):
  scale-free, so it can be averaged over series (as the M4 competition's scaled
  interval scores are); the backtests report its mean over the model's levels as ``spl``.
"""

from __future__ import annotations

import numpy as np

from lstmkit.errors import InputError


def _pair(y, y_hat) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    y_hat = np.asarray(y_hat, dtype=np.float64)
    if y.shape != y_hat.shape:
        raise InputError(f"expected y and y_hat of the same shape, found {y.shape} and {y_hat.shape}")
    if y.size == 0:
        raise InputError("expected at least one point to score, found none")
    return y, y_hat


def mae(y, y_hat) -> float:
    """Mean absolute error, mean |y - y_hat|.

    Args:
        y: the actual values (any shape).
        y_hat: the forecast, the same shape.

    Returns:
        The MAE.

    Raises:
        InputError: shapes that differ, or no point.

    Example:
        >>> mae([1, 2, 3], [1, 2, 5])
        0.6666666666666666
    """
    y, y_hat = _pair(y, y_hat)
    return float(np.mean(np.abs(y - y_hat)))


def rmse(y, y_hat) -> float:
    """Root mean squared error, sqrt(mean (y - y_hat)^2).

    Args:
        y: the actual values (any shape).
        y_hat: the forecast, the same shape.

    Returns:
        The RMSE.

    Raises:
        InputError: shapes that differ, or no point.
    """
    y, y_hat = _pair(y, y_hat)
    return float(np.sqrt(np.mean((y - y_hat) ** 2)))


def mape(y, y_hat) -> float:
    """Mean absolute percentage error, 100 mean |y - y_hat| / |y|.

    Args:
        y: the actual values (any shape).
        y_hat: the forecast, the same shape.

    Returns:
        The MAPE in percent; ``nan`` when any ``y`` is 0.

    Raises:
        InputError: shapes that differ, or no point.
    """
    y, y_hat = _pair(y, y_hat)
    if np.any(y == 0):
        return float("nan")
    return float(100.0 * np.mean(np.abs(y - y_hat) / np.abs(y)))


def smape(y, y_hat) -> float:
    """Symmetric MAPE, ``mean(200 |y - y_hat| / (|y| + |y_hat|))`` (the M3/M4 definition).

    Args:
        y: the actual values (any shape).
        y_hat: the forecast, the same shape.

    Returns:
        The sMAPE in percent, 0 to 200 (a point where both are 0 scores 0).

    Raises:
        InputError: shapes that differ, or no point.
    """
    y, y_hat = _pair(y, y_hat)
    denom = np.abs(y) + np.abs(y_hat)
    err = np.abs(y - y_hat)
    # 0/0 (both zero) is a perfect forecast: score it 0 rather than nan
    ratio = np.divide(err, denom, out=np.zeros_like(err), where=denom > 0)
    return float(200.0 * np.mean(ratio))


def mase_scale(insample, season_length: int = 1) -> float:
    """The MASE denominator: the in-sample seasonal naive MAE.

    Args:
        insample: the series' history (n,).
        season_length: m (default 1); m = 1 is used when the history is shorter than
            one season plus one point.

    Returns:
        mean |y_t - y_(t-m)| over the history.
    """
    x = np.asarray(insample, dtype=np.float64)
    m = int(season_length) if season_length and season_length >= 1 else 1
    if len(x) <= m:
        m = 1
    if len(x) < 2:
        raise InputError(f"expected an in-sample history of at least 2 points for MASE, found {len(x)}")
    return float(np.mean(np.abs(x[m:] - x[:-m])))


def mase(y, y_hat, insample, season_length: int = 1) -> float:
    """Mean absolute scaled error: MAE divided by the in-sample seasonal naive MAE
    (Hyndman & Koehler 2006); below 1 the forecast beats the seasonal naive in sample.

    Args:
        y: the actual values (any shape).
        y_hat: the forecast, the same shape.
        insample: the series' history before the forecast (n,).
        season_length: m of the seasonal naive (default 1).

    Returns:
        The MASE; ``nan`` when the history is constant (the scale is 0).

    Raises:
        InputError: shapes that differ, or no point.

    Example:
        >>> mase([10, 12], [11, 12], insample=[8, 9, 10, 9])
        0.5
    """
    scale = mase_scale(insample, season_length)
    if scale == 0:
        return float("nan")
    return mae(y, y_hat) / scale


def coverage(y, lower, upper) -> float:
    """An interval's empirical coverage (an 80% interval should give about 0.8).

    Args:
        y: the actual values.
        lower: the interval's lower ends, the same shape.
        upper: its upper ends, the same shape.

    Returns:
        The share of points with lower <= y <= upper, 0 to 1.
    """
    y, lower = _pair(y, lower)
    _, upper = _pair(y, upper)
    return float(np.mean((y >= lower) & (y <= upper)))


def pinball(y, y_hat, q: float) -> float:
    """Quantile (pinball) loss, mean max(q e, (q - 1) e) with e = y - y_hat.

    Args:
        y: the actual values (any shape).
        y_hat: the forecast, the same shape.
        q: the level of the quantile ``y_hat`` forecasts, in (0, 1).

    Returns:
        The mean loss.
    """
    if not 0.0 < q < 1.0:
        raise InputError(f"expected a quantile level in (0, 1), found {q}")
    y, y_hat = _pair(y, y_hat)
    e = y - y_hat
    return float(np.mean(np.maximum(q * e, (q - 1.0) * e)))


def scaled_pinball(y, y_hat, q: float, insample, season_length: int = 1) -> float:
    """Pinball loss at level ``q`` divided by the in-sample seasonal naive MAE
    (:func:`mase_scale`): scale-free, so it can be averaged over series.

    Args:
        y: the actual values (any shape).
        y_hat: the forecast, the same shape.
        q: the level of the quantile ``y_hat`` forecasts, in (0, 1).
        insample: the series' history before the forecast (n,).
        season_length: m of the seasonal naive (default 1).

    Returns:
        The scaled loss; ``nan`` when the history is constant.
    """
    scale = mase_scale(insample, season_length)
    if scale == 0:
        return float("nan")
    return pinball(y, y_hat, q) / scale


POINT_METRICS = {"mae": mae, "rmse": rmse, "mape": mape, "smape": smape}

__all__ = ["coverage", "mae", "mape", "mase", "mase_scale", "pinball", "rmse", "scaled_pinball", "smape"]
