"""Checking and reshaping the user's data: long frames in, one array per series out.

Everything a user can get wrong is caught here, before any training starts or any file
is written, and reported as one :class:`~lstmkit.errors.InputError` naming what was
expected and what was found: an empty frame, missing or unknown columns, non-numeric
or missing values, unparseable, duplicate or unsorted timestamps, an irregular or mixed
frequency.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lstmkit.errors import InputError

ID, DS, Y = "unique_id", "ds", "y"
DEFAULT_ID = "series"


@dataclass
class SeriesSet:
    """Validated series: ``ids[i]`` has timestamps ``ds[i]`` (regular, ``freq``),
    values ``y[i]`` (float64, shape (n_i,)) and time-varying covariates ``x[i]`` (shape
    (n_i, C), columns ``covariates``); ``static[i]`` holds the series' value of each column
    of ``static_names`` (a float or a category, as given).

    Attributes:
        ids: series ids.
        ds: each series' timestamps.
        y: each series' values, (n_i,) float64.
        x: each series' time-varying covariates, (n_i, C).
        freq: the common frequency.
        covariates: the C covariate columns.
        static_names: the static columns.
        static: each series' static values.
    """

    ids: list[str]
    ds: list[pd.DatetimeIndex]
    y: list[np.ndarray]
    x: list[np.ndarray]
    freq: str
    covariates: list[str] = field(default_factory=list)
    static_names: list[str] = field(default_factory=list)
    static: list[list] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.static:
            self.static = [[] for _ in self.ids]

    def subset(self, keep: list[int]) -> SeriesSet:
        """The series at positions ``keep``."""
        return SeriesSet([self.ids[i] for i in keep], [self.ds[i] for i in keep], [self.y[i] for i in keep],
                         [self.x[i] for i in keep], self.freq, self.covariates, self.static_names,
                         [self.static[i] for i in keep])

    def __len__(self) -> int:
        return len(self.ids)

    def lengths(self) -> np.ndarray:
        """Points per series, (S,) int."""
        return np.array([len(v) for v in self.y])

    def to_frame(self) -> pd.DataFrame:
        """Back to the long format (``unique_id``, ``ds``, ``y``, covariates)."""
        parts = []
        for uid, ds, y, x, static in zip(self.ids, self.ds, self.y, self.x, self.static):
            part = pd.DataFrame({ID: uid, DS: ds, Y: y})
            for j, c in enumerate(self.covariates):
                part[c] = x[:, j]
            for c, v in zip(self.static_names, static):
                part[c] = v
            parts.append(part)
        return pd.concat(parts, ignore_index=True)

    def head(self, n_last: np.ndarray | int) -> SeriesSet:
        """Each series cut to its first ``len - n_last`` points (``n_last`` per series or one int)."""
        cut = np.broadcast_to(np.asarray(n_last), (len(self),))
        return SeriesSet(
            self.ids,
            [d[: len(d) - k] for d, k in zip(self.ds, cut)],
            [v[: len(v) - k] for v, k in zip(self.y, cut)],
            [v[: len(v) - k] for v, k in zip(self.x, cut)],
            self.freq,
            self.covariates,
            self.static_names,
            self.static,
        )


def to_long(
    data: pd.DataFrame | pd.Series,
    id_col: str | None = ID,
    time_col: str = DS,
    target_col: str = Y,
    covariates: list[str] | tuple[str, ...] = (),
) -> pd.DataFrame:
    """Rename the user's columns to ``unique_id``, ``ds``, ``y`` (+ covariates).

    Columns other than these are refused, so a stray column is never silently taken as
    an input.

    Args:
        data: a long frame, or a Series with a datetime index (one series).
        id_col: the series column; a frame without it (``id_col`` left at its default
            or None) is one series.
        time_col: the timestamp column.
        target_col: the value column.
        covariates: further columns to keep.

    Returns:
        A long frame with columns ``unique_id``, ``ds``, ``y`` and the covariates.

    Raises:
        InputError: a missing or unexpected column, or a Series without a datetime
            index.
    """
    if isinstance(data, pd.Series):
        if not isinstance(data.index, pd.DatetimeIndex):
            raise InputError(
                f"expected a Series with a DatetimeIndex, found an index of type {type(data.index).__name__}"
            )
        frame = pd.DataFrame({ID: data.name if isinstance(data.name, str) else DEFAULT_ID,
                              DS: data.index, Y: data.to_numpy()})
        return frame
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame or Series, found {type(data).__name__}")
    if len(data) == 0:
        raise InputError("expected at least one row of data, found an empty table")
    covariates = list(covariates)
    for role, col in (("series id", id_col), ("time", time_col), ("target", target_col)):
        if col is not None and col in covariates:
            raise InputError(f"column {col!r} is the {role} column and is also given as a covariate: "
                             "give each column one role")
    twice = sorted({str(c) for c in covariates if covariates.count(c) > 1})
    if twice:
        raise InputError(f"covariate column(s) {twice} given more than once: give each column once")
    wanted = [c for c in (id_col, time_col, target_col, *covariates) if c is not None]
    missing = [c for c in wanted if c not in data.columns and not (c == id_col and id_col == ID)]
    if missing:
        raise InputError(f"expected column(s) {missing}, found columns {list(map(str, data.columns))}")
    unknown = [str(c) for c in data.columns if c not in wanted]
    if unknown:
        raise InputError(
            f"unknown column(s) {unknown}: expected only {wanted}; declare inputs as covariates "
            "(future-known, past-only or static) or drop the columns"
        )
    frame = pd.DataFrame({DS: data[time_col].to_numpy(), Y: data[target_col].to_numpy()})
    frame.insert(0, ID, data[id_col].astype(str).to_numpy() if id_col in data.columns else DEFAULT_ID)
    for c in covariates:
        frame[c] = data[c].to_numpy()
    return frame


def _numeric(values: pd.Series, what: str) -> np.ndarray:
    num = pd.to_numeric(values, errors="coerce")
    bad = num.isna() & values.notna()
    if bad.any():
        first = values[bad].iloc[0]
        raise InputError(f"expected numeric values in {what}, found {first!r} ({int(bad.sum())} such)")
    return num.to_numpy(dtype=np.float64)


def _timestamps(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    if pd.api.types.is_numeric_dtype(values):  # pandas would read numbers as nanoseconds since 1970
        ints = values.dropna()
        ints = ints if pd.api.types.is_integer_dtype(values) else ints.iloc[:0]
        for low, high, fmt in ((1000, 9999, "%Y"), (100001, 999912, "%Y%m"), (10000101, 99991231, "%Y%m%d")):
            if len(ints) and ints.between(low, high).all():  # years, 202001 or 20200131
                text = values.astype("Int64").astype(str).where(values.notna())
                parsed = pd.to_datetime(text, format=fmt, errors="coerce")
                if not (parsed.isna() & values.notna()).any():
                    return parsed
        raise InputError(f"expected timestamps in the time column, found numbers ({values.iloc[0]}, ...): give "
                         "dates or times (2020-01-31, 2020-01-31 12:00), or integers as YYYY, YYYYMM or YYYYMMDD")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' "could not infer format" notice
        try:
            parsed = pd.to_datetime(values, errors="coerce")
        except (ValueError, TypeError):
            try:
                parsed = pd.to_datetime(values, errors="coerce", format="mixed")
            except (ValueError, TypeError) as exc:  # e.g. several UTC offsets
                found = "several UTC offsets" if "timezone" in str(exc).lower() else \
                    f"values that do not parse together ({str(exc).splitlines()[0]})"
                raise InputError(f"expected timestamps in one time zone in the time column, found {found}: "
                                 "convert them to one UTC offset (or to UTC)") from None
    bad = parsed.isna() & values.notna()
    if bad.any():
        raise InputError(f"expected timestamps in the time column, found {values[bad].iloc[0]!r} "
                         f"({int(bad.sum())} value(s) that do not parse as dates)")
    return parsed


def _freq_of(uid: str, ds: pd.DatetimeIndex) -> str:
    if len(ds) < 3:
        raise InputError(f"series {uid!r}: expected at least 3 timestamps to tell the frequency, found {len(ds)}")
    freq = pd.infer_freq(ds)
    if freq is None:
        _missing_steps(uid, ds)
        gaps = pd.Series(ds[1:] - ds[:-1])
        common = gaps.mode().iloc[0]
        where = int(np.argmax(gaps.to_numpy() != common))
        raise InputError(
            f"series {uid!r}: expected regularly spaced timestamps, found an irregular frequency "
            f"(steps of {common} but {gaps.iloc[where]} between {ds[where]} and {ds[where + 1]})"
        )
    return freq


def _missing_steps(uid: str, ds: pd.DatetimeIndex) -> None:
    """Where the timestamps are a regular calendar with some steps left out (a missing
    month), raise InputError naming the gap rather than the uneven step it makes."""
    candidates = {}
    for k in range(len(ds) - 2):  # the frequency each run of three points shows
        f = pd.infer_freq(ds[k:k + 3])
        if f is not None:
            candidates[f] = candidates.get(f, 0) + 1
    for f in sorted(candidates, key=candidates.get, reverse=True):
        try:
            full = pd.date_range(ds[0], ds[-1], freq=f)
        except (ValueError, TypeError):
            continue
        if len(full) > 4 * len(ds) or not ds.isin(full).all():
            continue
        missing = full.difference(ds)
        if len(missing):
            shown = ", ".join(str(d.date()) if d == d.normalize() else str(d) for d in missing[:3])
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise InputError(f"series {uid!r}: expected one row per step at frequency {f}, found "
                             f"{len(missing)} missing: {shown}{more} (fill or interpolate them)")


def _static_value(uid: str, name: str, values: pd.Series):
    """The one value of static column ``name`` in series ``uid`` (InputError where it is
    missing or varies)."""
    if values.isna().any():
        raise InputError(f"series {uid!r}: expected a value of static covariate {name!r} on every row, "
                         f"found {int(values.isna().sum())} missing")
    distinct = pd.unique(values)
    if len(distinct) > 1:
        raise InputError(f"series {uid!r}: static covariate {name!r} must be constant within a series, "
                         f"found {len(distinct)} values ({distinct[0]!r}, {distinct[1]!r}, ...)")
    v = distinct[0]
    return v.item() if isinstance(v, np.generic) else v


def validate(frame: pd.DataFrame, min_length: int = 3, static=()) -> SeriesSet:
    """Check a long frame from :func:`to_long` and split it into a :class:`SeriesSet`.

    Args:
        frame: columns ``unique_id``, ``ds``, ``y`` and covariates.
        min_length: points each series needs (default 3).
        static: columns that are per-series constants; the others besides
            ``unique_id``, ``ds`` and ``y`` are the time-varying covariates.

    Returns:
        The :class:`SeriesSet`, series in order of first appearance.

    Raises:
        InputError: an empty table, missing timestamps or values, duplicate, unsorted
            or irregular timestamps, series at different frequencies, a series shorter
            than ``min_length``, or a static column that varies within a series.
    """
    if len(frame) == 0:
        raise InputError("expected at least one row of data, found an empty table")
    static = [str(c) for c in static]
    covariates = [str(c) for c in frame.columns if c not in (ID, DS, Y) and str(c) not in static]
    y_all = _numeric(frame[Y], "the target column")
    ds_all = _timestamps(frame[DS])
    if getattr(ds_all.dt, "tz", None) is not None:
        ds_all = ds_all.dt.tz_localize(None)
    x_all = np.column_stack([_numeric(frame[c], f"covariate {c!r}") for c in covariates]) \
        if covariates else np.zeros((len(frame), 0))
    ids_all = frame[ID].astype(str).to_numpy()
    order = pd.unique(ids_all)  # keep the user's order of series
    ids, dss, ys, xs, ss, freqs = [], [], [], [], [], {}
    for uid in order:
        rows = np.flatnonzero(ids_all == uid)
        ds = pd.DatetimeIndex(ds_all.iloc[rows])
        y, x = y_all[rows], x_all[rows]
        if ds.isna().any():
            raise InputError(f"series {uid!r}: expected a timestamp on every row, found {int(ds.isna().sum())} missing")
        if ds.has_duplicates:
            dup = ds[ds.duplicated()][0]
            raise InputError(f"series {uid!r}: expected one row per timestamp, found duplicate timestamp {dup}")
        if not ds.is_monotonic_increasing:
            k = int(np.argmax(ds[1:] < ds[:-1]))
            raise InputError(
                f"series {uid!r}: expected timestamps sorted in increasing order, found {ds[k + 1]} after {ds[k]}"
            )
        if np.isnan(y).any():
            k = int(np.argmax(np.isnan(y)))
            raise InputError(
                f"series {uid!r}: expected no missing target values, found {int(np.isnan(y).sum())} "
                f"(first at {ds[k]}); fill or drop them first"
            )
        if x.size and np.isnan(x).any():
            r, c = np.argwhere(np.isnan(x))[0]
            raise InputError(f"series {uid!r}: expected no missing covariate values, found one in "
                             f"{covariates[c]!r} at {ds[r]}")
        if not np.all(np.isfinite(y)):
            raise InputError(f"series {uid!r}: expected finite target values, found inf")
        if x.size and not np.all(np.isfinite(x)):
            r, c = np.argwhere(~np.isfinite(x))[0]
            raise InputError(f"series {uid!r}: expected finite covariate values, found {x[r, c]} in "
                             f"{covariates[c]!r} at {ds[r]}")
        if len(y) < min_length:
            raise InputError(f"series {uid!r}: expected at least {min_length} points, found {len(y)}")
        freqs[uid] = _freq_of(uid, ds)
        ss.append([_static_value(uid, c, frame[c].iloc[rows]) for c in static])
        ids.append(str(uid)), dss.append(ds), ys.append(y), xs.append(x)
    distinct = sorted(set(freqs.values()))
    if len(distinct) > 1:
        raise InputError(f"expected every series at one frequency, found several: {distinct}")
    return SeriesSet(ids, dss, ys, xs, distinct[0], covariates, static, ss)


def season_length_for(freq: str) -> int:
    """The main seasonal period of a frequency.

    Args:
        freq: a pandas frequency string.

    Returns:
        Steps per season: monthly 12, quarterly 4, weekly 52, daily 7, business-daily 5,
        sub-daily one day, yearly 1.

    Example:
        >>> season_length_for("MS"), season_length_for("D"), season_length_for("h")
        (12, 7, 24)
    """
    offset = pd.tseries.frequencies.to_offset(freq)
    name = offset.name.upper()
    if name.startswith(("MS", "ME", "M", "BMS", "BME", "SMS", "SME")) and not name.startswith("MIN"):
        return 12 if offset.n == 1 else max(1, 12 // offset.n)
    if name.startswith(("QS", "QE", "Q", "BQ")):
        return 4 if offset.n == 1 else 1
    if name.startswith(("YS", "YE", "A", "Y", "BY", "BA")):
        return 1
    if name.startswith("W"):
        return 52 if offset.n == 1 else 1
    if name.startswith(("B", "C")):
        return 5 if offset.n == 1 else 1
    step = pd.Timedelta(offset)
    if step < pd.Timedelta(days=1):
        return max(1, int(pd.Timedelta(days=1) / step))
    if step == pd.Timedelta(days=1):
        return 7
    return 1


def pad_front(ds: pd.DatetimeIndex, y: np.ndarray, x: np.ndarray, p: int, freq: str, m: int):
    """One series extended ``p`` steps into the past, for a lookback longer than it.

    The made-up values repeat the series' first season backwards (its first value when
    it is shorter than a season, or without a season), so the window's level, spread and
    seasonal profile stay those of the real points; the covariates repeat their first
    row; the timestamps continue the calendar backwards.

    Args:
        ds: the timestamps (n,).
        y: the values (n,).
        x: the time-varying covariates (n, C).
        p: steps to add (>= 0).
        freq: the frequency.
        m: the season length.

    Returns:
        ``(ds, y, x, observed)`` of length n + p; ``observed`` (n + p,) float is 0 on
        the added steps and 1 on the real ones.

    Example:
        >>> ds = pd.date_range("2000-01-01", periods=3, freq="QS")
        >>> out = pad_front(ds, np.array([1.0, 2.0, 3.0]), np.zeros((3, 0)), 2, "QS", 2)
        >>> out[1].tolist(), out[3].tolist(), str(out[0][0].date())
        ([1.0, 2.0, 1.0, 2.0, 3.0], [0.0, 0.0, 1.0, 1.0, 1.0], '1999-07-01')
    """
    observed = np.concatenate([np.zeros(p), np.ones(len(y))])
    if p <= 0:
        return ds, y, x, observed
    q = m if len(y) >= m else 1
    back = y[np.mod(np.arange(-p, 0), q)]
    before = pd.date_range(end=ds[0], periods=p + 1, freq=freq)[:-1]
    return (before.append(ds), np.concatenate([back, y]),
            np.concatenate([np.repeat(x[:1], p, axis=0), x]), observed)


def future_dates(last: pd.Timestamp, freq: str, horizon: int) -> pd.DatetimeIndex:
    """The timestamps after ``last``.

    Args:
        last: the last observed timestamp.
        freq: the frequency.
        horizon: H.

    Returns:
        The H timestamps after ``last``.
    """
    return pd.date_range(last, periods=horizon + 1, freq=freq)[1:]


def quantile_column(q: float) -> str:
    """Column name of quantile ``q``.

    Example:
        >>> quantile_column(0.1), quantile_column(0.025)
        ('y_hat_q10', 'y_hat_q2.5')
    """
    return f"y_hat_q{round(q * 100, 6):g}"


def check_quantiles(quantiles) -> list[float]:
    """Quantile levels, checked.

    Args:
        quantiles: levels, or None.

    Returns:
        The sorted distinct levels; the empty list for None.

    Raises:
        InputError: a level that is not a number strictly between 0 and 1.
    """
    if quantiles is None:
        return []
    try:
        qs = sorted({float(q) for q in quantiles})
    except (TypeError, ValueError):
        raise InputError(f"expected quantile levels as a list of numbers, found {quantiles!r}") from None
    bad = [q for q in qs if not 0.0 < q < 1.0]
    if bad:
        raise InputError(f"expected quantile levels strictly between 0 and 1, found {bad}")
    return qs


def forecast_frame(ids: list[str], dates: list[pd.DatetimeIndex], point: np.ndarray,
                   quantiles: list[float] = (), bands: np.ndarray | None = None) -> pd.DataFrame:
    """The forecast table.

    Args:
        ids: S series ids.
        dates: their H forecast timestamps each.
        point: (S, H) point forecasts.
        quantiles: the Q levels of ``bands``.
        bands: (S, H, Q) quantile forecasts.

    Returns:
        S x H rows: ``unique_id``, ``ds``, ``y_hat`` and one column per quantile.
    """
    S, H = point.shape
    out = pd.DataFrame({
        ID: np.repeat(np.asarray(ids, dtype=object), H),
        DS: np.concatenate([np.asarray(d) for d in dates]) if S else np.array([], dtype="datetime64[ns]"),
        "y_hat": point.reshape(-1),
    })
    for j, q in enumerate(quantiles):
        out[quantile_column(q)] = bands[:, :, j].reshape(-1)
    return out
