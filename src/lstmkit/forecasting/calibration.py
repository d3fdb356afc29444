"""Conformal calibration of the Forecaster's quantiles on rolling-origin windows.

Conformalized quantile regression (CQR; Romano, Patterson, Candes, NeurIPS 2019), each
level calibrated on its own (the asymmetric variant of their section 4), on the last
windows of the training data, as neuralforecast's ``PredictionIntervals`` does:

1. a copy of the model (same settings and plan) is trained on every series without its
   last K horizons, and forecasts those K windows from the actual history before each
   (rolling origin, one fit, as :func:`lstmkit.forecasting.backtest.backtest` does);
2. at each calibration point (series i, window k, step h) and level tau, on the model's
   scaled axis (per-series log and standardisation), the nonconformity score is the
   residual over a scale d::

       r = (y - q_tau) / d,   d = max(q_max - q_min, s_i)

   with q_max - q_min the spread of the network's quantiles at that point (the
   outermost trained levels and the median) and s_i the series' in-sample seasonal
   naive MAE on the same axis (lag m, lag 1 when too short; at least EPS), the scale of
   MASE: series of different scale and steps of different uncertainty share one scale
   of scores, and a spread the network has shrunk to nothing (M1 quarterly: 10% of the
   test points inside the 10-90% interval) cannot make a score explode;
3. the shift c_tau is the conformal quantile of the scores at level tau: the
   ceil((n + 1) tau)-th smallest of n for tau > 0.5, the floor((n + 1) tau)-th for tau
   < 0.5 (clipped to the sample), per horizon step when every step has at least
   :data:`~lstmkit.forecasting.config.CAL_MIN_SCORES` scores, else pooled over the steps;
4. the final model (trained on all of the data, exactly as without calibration) moves
   each quantile forecast to q_tau + c_tau d, with its own d (s_i from its training
   series; from the given history for a series it was not trained on); the lower levels are then
   kept at or below the median and the upper ones at or above it, sorted. The median,
   the point forecast, never moves.

The fraction of calibration points below the moved q_tau is then tau (up to the
finite-sample rounding), so the interval between two levels covers their difference
there; on new data it does as far as the last windows resemble the future.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

EPS = 1e-3  # the smallest quantile spread, in units of a series' standard deviation (scaled axis)


def spread(out: np.ndarray) -> np.ndarray:
    """The spread of quantile forecasts.

    Args:
        out: (..., Q) quantile forecasts.

    Returns:
        (...): max minus min over Q, at least EPS.
    """
    return np.maximum(out.max(-1) - out.min(-1), EPS)


def naive_scale(z: np.ndarray, m: int) -> float:
    """s_i of one series' scaled history.

    Args:
        z: the scaled history (n,).
        m: the season length.

    Returns:
        mean |z_t - z_(t-m)| (lag 1 when the history is not longer than m), at least
        EPS; 1 (the scaled unit) under two points.
    """
    z = np.asarray(z, dtype=np.float64)
    if len(z) < 2:
        return 1.0
    k = m if len(z) > m else 1
    return max(float(np.mean(np.abs(z[k:] - z[:-k]))), EPS)


def conformal_quantile(scores: np.ndarray, tau: float) -> float:
    """The conformal quantile of scores (module docstring, step 3).

    Args:
        scores: (n,) conformity scores.
        tau: the level in (0, 1).

    Returns:
        The ceil((n + 1) tau)-th smallest score above the median level (the
        floor((n + 1) tau)-th below), clipped to the scores' range.

    Example:
        >>> conformal_quantile([3, 1, 2, 5, 4], 0.8)
        5.0
    """
    r = np.sort(np.asarray(scores, dtype=np.float64))
    n = len(r)
    k = math.ceil((n + 1) * tau) if tau > 0.5 else math.floor((n + 1) * tau)
    return float(r[min(max(k, 1), n) - 1])


@dataclass
class Calibration:
    """The shifts of a calibrated Forecaster: ``shift`` (H, Q') in units of d, one row
    per horizon step (or one row for all, ``per_step`` False), one column per calibrated
    level ``levels`` (the trained levels but the median); ``windows`` K and
    ``n_scores`` (scores behind each shift) say what they rest on; ``series_scale``
    holds s_i of the final model's training series.

    Attributes:
        levels: the calibrated levels.
        shift: (H, Q') or (1, Q') shifts in units of the spread.
        windows: K, calibration windows per series.
        n_scores: scores behind each shift.
        per_step: one row per horizon step (else one for all).
        series_scale: series id -> s_i.
    """

    levels: list[float]
    shift: np.ndarray
    windows: int
    n_scores: int
    per_step: bool
    series_scale: dict | None = None

    @classmethod
    def fit(cls, pred: np.ndarray, y: np.ndarray, quantiles: list[float], windows: int,
            min_scores: int, scale: np.ndarray) -> Calibration:
        """Shifts from the calibration forecasts ``pred`` (N, H, Q) of the levels
        ``quantiles`` (sorted, with 0.5) and the actual values ``y`` (N, H), both on the
        scaled axis, with each row's series scale s_i ``scale`` (N,); per step when
        N >= ``min_scores``."""
        levels = [q for q in quantiles if q != 0.5]
        cols = [quantiles.index(q) for q in levels]
        d = np.maximum(spread(pred), np.asarray(scale, dtype=np.float64)[:, None])  # (N, H)
        r = (y[..., None] - pred[..., cols]) / d[..., None]  # (N, H, Q')
        N, H = y.shape
        per_step = N >= min_scores
        groups = [r[:, h] for h in range(H)] if per_step else [r.reshape(N * H, -1)]
        shift = np.array([[conformal_quantile(g[:, j], q) for j, q in enumerate(levels)] for g in groups])
        return cls(levels, shift, int(windows), int(N if per_step else N * H), per_step)

    def apply(self, out: np.ndarray, quantiles: list[float], scale: np.ndarray) -> np.ndarray:
        """Calibrated quantile forecasts of ``out`` (S, H, Q) (scaled axis, levels
        ``quantiles`` with the median; ``scale`` (S,) the series' s_i); the median column
        is returned unchanged."""
        mi = quantiles.index(0.5)
        w = np.maximum(spread(out), np.asarray(scale, dtype=np.float64)[:, None])[..., None]  # (S, H, 1)
        moved = out.copy()
        cols = [quantiles.index(q) for q in self.levels]
        moved[..., cols] = out[..., cols] + self.shift[None] * w
        med = out[..., mi:mi + 1]
        moved[..., :mi] = np.minimum(np.sort(moved[..., :mi], -1), med)
        moved[..., mi + 1:] = np.maximum(np.sort(moved[..., mi + 1:], -1), med)
        moved[..., mi] = out[..., mi]
        return moved

    def to_dict(self) -> dict:
        """The calibration as JSON-able values, read back by :meth:`from_dict`."""
        return {"levels": list(self.levels), "shift": self.shift.tolist(), "windows": self.windows,
                "n_scores": self.n_scores, "per_step": self.per_step,
                "series_scale": dict(self.series_scale or {})}

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        """The calibration written by :meth:`to_dict`."""
        return cls([float(q) for q in d["levels"]], np.asarray(d["shift"], dtype=np.float64),
                   int(d["windows"]), int(d["n_scores"]), bool(d["per_step"]),
                   {str(k): float(v) for k, v in dict(d["series_scale"]).items()})


__all__ = ["EPS", "Calibration", "conformal_quantile", "naive_scale", "spread"]
