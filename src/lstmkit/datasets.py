"""Bundled time series, loaded offline from the package's own data.

Each loader returns a ``pandas.Series`` with a regular ``DatetimeIndex`` (its ``freq``
set) and the series name; :func:`load` gives any of them by name, as a Series or in the
long format (``unique_id``, ``ds``, ``y``) that :class:`lstmkit.Forecaster` takes.
Where each file comes from, and its licence: ``data/files/series/PROVENANCE.md``.

>>> from lstmkit import datasets
>>> y = datasets.airline()
>>> len(y), y.index.freqstr
(144, 'MS')
"""

from __future__ import annotations

from importlib import resources

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
    """Daily Seattle weather 2012-2015; ``column`` one of temp_max (default, deg C),
    temp_min, precipitation (mm), wind (m/s); 1,461 points."""
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
    """The bundled series ``name`` (see :func:`names`), as a Series with a datetime
    index, or with ``long=True`` as a DataFrame with columns ``unique_id``, ``ds``, ``y``."""
    if name not in _LOADERS:
        raise InputError(f"expected a bundled data set among {names()}, found {name!r}")
    s = _LOADERS[name]()
    if not long:
        return s
    return pd.DataFrame({"unique_id": name, "ds": s.index, "y": s.to_numpy()})


__all__ = ["airline", "co2", "electricity", "load", "names", "stock", "sunspots", "weather"]
