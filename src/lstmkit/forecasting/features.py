"""Inputs the network sees besides the target: calendar features and scaling.

Calendar features are sine/cosine pairs of the position within the day, the week and
the year, keeping only the cycles longer than two steps of the series' frequency
(monthly data gets the year, half-hourly data all three). They are computed from ``ds``
alone, so they are known for every future step.

Scaling is per series: an optional log (chosen when every training value of every
series is positive, so multiplicative seasonality and growth become additive), then
standardisation by that series' own training mean and standard deviation. The network
additionally normalises each input window (see :mod:`lstmkit.forecasting.network`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_DAY = pd.Timedelta(days=1)


def _step(freq: str) -> pd.Timedelta:
    # nominal length of one step; months and years are uneven, so measure a sample
    sample = pd.date_range("2001-01-01", periods=3, freq=freq)
    return pd.Timedelta((sample[2] - sample[0]) / 2)


def calendar_cycles(freq: str) -> list[str]:
    """The calendar cycles that vary at a frequency.

    Args:
        freq: a pandas frequency string.

    Returns:
        Among ``"day"``, ``"week"``, ``"year"``: those longer than two steps.

    Example:
        >>> calendar_cycles("MS"), calendar_cycles("D"), calendar_cycles("h")
        (['year'], ['week', 'year'], ['day', 'week', 'year'])
    """
    step = _step(freq)
    cycles = []
    if step * 2 < _DAY:
        cycles.append("day")
    if step * 2 < 7 * _DAY:
        cycles.append("week")
    if step * 2 < 365 * _DAY:
        cycles.append("year")
    return cycles


def calendar_features(ds: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """Sine/cosine features of the calendar cycles.

    Args:
        ds: the timestamps (n,).
        freq: their frequency.

    Returns:
        (n, 2 * len(calendar_cycles(freq))) float32, a sine and a cosine per cycle.
    """
    ds = pd.DatetimeIndex(ds)
    day = (ds.hour + ds.minute / 60.0 + ds.second / 3600.0) / 24.0
    phases = {
        "day": day,
        "week": (ds.dayofweek + day) / 7.0,
        "year": (ds.month - 1 + (ds.day - 1 + day) / ds.days_in_month) / 12.0,
    }
    cols = []
    for cycle in calendar_cycles(freq):
        angle = 2 * np.pi * np.asarray(phases[cycle], dtype=np.float64)
        cols += [np.sin(angle), np.cos(angle)]
    if not cols:
        return np.zeros((len(ds), 0), dtype=np.float32)
    return np.stack(cols, axis=1).astype(np.float32)


@dataclass
class Scaling:
    """Per-series (log,) mean and std; JSON-able through :meth:`to_dict`.

    Attributes:
        log: whether values are log-transformed first.
        mean: series id -> mean of its (log) values.
        std: series id -> their std (1 for a constant series).
    """

    log: bool
    mean: dict[str, float]
    std: dict[str, float]

    @classmethod
    def fit(cls, ids: list[str], values: list[np.ndarray], transform: str) -> Scaling:
        """Learn each series' scale.

        Args:
            ids: the series' names.
            values: their values, one (n_i,) array each.
            transform: ``"auto"`` (log when all values > 0), ``"log"`` or ``"none"``.

        Returns:
            The fitted :class:`Scaling`.
        """
        positive = all(np.all(v > 0) for v in values)
        log = transform == "log" or (transform == "auto" and positive)
        scaling = cls(log, {}, {})
        for uid, v in zip(ids, values):
            scaling.add(uid, v)
        return scaling

    def add(self, uid: str, values: np.ndarray) -> None:
        """Learn the scale of a series (also used for series first seen at predict time)."""
        z = self._pre(values)
        sd = float(np.std(z))
        self.mean[uid] = float(np.mean(z))
        # a constant series has std 0: keep its unit so nothing is divided by zero
        self.std[uid] = sd if sd > 1e-8 else 1.0

    def _pre(self, values: np.ndarray) -> np.ndarray:
        if not self.log:
            return np.asarray(values, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(np.asarray(values, dtype=np.float64))

    def can_take(self, values: np.ndarray) -> bool:
        """Whether ``values`` can be scaled: all positive when the scaling takes logs."""
        return not self.log or bool(np.all(np.asarray(values) > 0))

    def transform(self, uid: str, values: np.ndarray) -> np.ndarray:
        """Series ``uid``'s values (n,) on the network's scale: (log,) minus mean, over std."""
        return (self._pre(values) - self.mean[uid]) / self.std[uid]

    def inverse(self, uid: str, z: np.ndarray) -> np.ndarray:
        """Scaled values ``z`` (any shape) of series ``uid`` back on the data's scale."""
        out = np.asarray(z, dtype=np.float64) * self.std[uid] + self.mean[uid]
        return np.exp(np.clip(out, -700, 700)) if self.log else out

    def to_dict(self) -> dict:
        """The scaling as JSON-able values, read back by :meth:`from_dict`."""
        return {"log": self.log, "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, d: dict) -> Scaling:
        """The scaling written by :meth:`to_dict`."""
        return cls(bool(d["log"]), dict(d["mean"]), dict(d["std"]))


@dataclass
class ColumnScaling:
    """Mean and std of each covariate column over all training rows.

    Attributes:
        mean: per column.
        std: per column (1 for a constant column).
    """

    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, xs: list[np.ndarray]) -> ColumnScaling:
        """Mean and std per column over the rows of all ``xs`` (each (n_i, C)); a constant
        column gets std 1."""
        if not xs or xs[0].shape[1] == 0:
            return cls([], [])
        allx = np.concatenate(xs, axis=0)
        sd = allx.std(axis=0)
        return cls(allx.mean(axis=0).tolist(), np.where(sd > 1e-8, sd, 1.0).tolist())

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Standardised columns of ``x`` (n, C) as float32 (n, C); (n, 0) without columns."""
        if not self.mean:
            return np.zeros((len(x), 0), dtype=np.float32)
        return ((x - np.asarray(self.mean)) / np.asarray(self.std)).astype(np.float32)
