"""``lstmkit.Forecaster``: one global LSTM model for many series, direct multi-horizon."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd
import torch
from pandas.tseries.frequencies import to_offset

from lstmkit.errors import InputError, TrainingInterrupted
from lstmkit.forecasting.calibration import Calibration, naive_scale
from lstmkit.forecasting.config import (
    CAL_MIN_SCORES,
    QUANTILES,
    ForecasterConfig,
    Plan,
    calibration_windows,
    plan,
)
from lstmkit.forecasting.features import ColumnScaling, Scaling, calendar_cycles, calendar_features
from lstmkit.forecasting.frame import (
    DS,
    ID,
    SeriesSet,
    forecast_frame,
    future_dates,
    pad_front,
    season_length_for,
    to_long,
    validate,
)
from lstmkit.forecasting.network import ES_META, ForecastNet, ForecastNetConfig, member_smoothing
from lstmkit.forecasting.static import StaticEncoding
from lstmkit.forecasting.windows import count_windows, make_windows
from lstmkit.spine.engine.callbacks import digest
from lstmkit.spine.estimator import Estimator

# kept out of weight decay, besides the window module's own: the per-series smoothing
# parameters ("es" mode) are a few numbers per series with a meaning (how fast level and
# season adapt, the seasonal indices), which decay would bias
ES_NO_DECAY = ("es_alpha", "es_gamma", "es_season")


def phases(ds: pd.DatetimeIndex, freq: str, m: int) -> np.ndarray:
    """Each timestamp's position in the season of m steps, counted on a fixed calendar
    (steps since 1970: months, quarters, years, weeks, business days or fixed steps),
    so all windows and forecasts of a series agree on it.

    Args:
        ds: the timestamps (n,).
        freq: their frequency.
        m: the season length.

    Returns:
        (n,) int64 phases in 0..m-1 (zeros when m is 1).

    Example:
        >>> import pandas as pd
        >>> phases(pd.date_range("2021-11-01", periods=3, freq="MS"), "MS", 12)
        array([10, 11,  0])
    """
    ds = pd.DatetimeIndex(ds).as_unit("ns")
    if m == 1:
        return np.zeros(len(ds), dtype=np.int64)
    offset = pd.tseries.frequencies.to_offset(freq)
    name, n = offset.rule_code.upper(), offset.n
    months = (ds.year.to_numpy() - 1970) * 12 + ds.month.to_numpy() - 1
    if name.startswith(("Q", "BQ")):
        steps = months // (3 * n)
    elif name.startswith(("M", "BM", "SM")) and not name.startswith("MIN"):
        steps = months // n
    elif name.startswith(("Y", "A", "BY", "BA")):
        steps = months // (12 * n)
    elif name.startswith("W"):
        steps = ds.asi8 // (7 * 86_400 * 10**9 * n)
    elif name.startswith(("B", "C")):
        steps = np.busday_count(np.datetime64("1970-01-01"), ds.to_numpy().astype("datetime64[D]")) // n
    else:
        steps = ds.asi8 // offset.nanos
    return np.mod(steps, m).astype(np.int64)


def seasonal_start(z: np.ndarray, phase: np.ndarray, m: int) -> np.ndarray:
    """Initial seasonal indices (m,) of one scaled series: the mean, per phase, of its
    deviation from a centred moving average over one season (classical decomposition),
    centred.

    Args:
        z: the scaled series (n,).
        phase: each point's phase (n,) (:func:`phases`).
        m: the season length.

    Returns:
        (m,) indices of mean 0; zeros when the series has fewer than two whole seasons.
    """
    if m == 1 or len(z) < 2 * m:
        return np.zeros(m)
    trend = pd.Series(z).rolling(m, center=True).mean().to_numpy()
    dev = z - trend
    ok = ~np.isnan(dev)
    prof = np.array([dev[ok & (phase == p)].mean() if np.any(ok & (phase == p)) else 0.0 for p in range(m)])
    return prof - prof.mean()


class Forecaster(Estimator):
    """A global LSTM forecaster: fit on many series at once, forecast ``horizon`` steps.

    The whole horizon comes out of one forward pass (direct multi-horizon): no forecast
    is fed back as an input, so errors do not compound along the horizon and a forecast
    costs one network call. See :mod:`lstmkit.forecasting.network` for the network and
    :mod:`lstmkit.forecasting.config` for how unset hyperparameters follow from the data.

    Args:
        horizon: steps to forecast.
        lookback: input window length, or a list of lengths (one ensemble member each);
            None derives it from the season length and horizon.
        hidden_size, num_layers: of the recurrent layer; None derives them (2 layers of
            64, or 1 layer when the training windows fit in one batch of 256).
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"`` (lstmkit's layers).
        season_length: the main seasonal period in steps; None derives it from ``ds``.
        quantiles: levels such as ``[0.1, 0.9]`` (the default): trained with the pinball
            loss beside the median and returned as columns ``y_hat_q10``, ``y_hat_q90``;
            ``[]`` (or None) trains the median alone.
        max_epochs: None derives it (about 300 optimiser steps).
        seed: makes the fit reproducible (same data, same machine, same thread count).
        ensemble: members per lookback; the forecast is the members' median.
        covariates: names of future-known numeric columns of the data (their values for
            the forecast steps go to ``predict(future=...)``).
        past_covariates: names of numeric columns known only up to the forecast origin
            (a leading indicator, yesterday's sales): the network reads them over the
            lookback window; ``predict`` needs no future values of them.
        static_covariates: per-series constant columns (one value per series, checked):
            a list of names (float columns numeric, integer and text columns categorical)
            or a dict name -> ``"numeric"`` / ``"categorical"``. Numeric ones are
            standardised over the series; each categorical one gets a learned embedding
            (at most 4 wide); a category not seen in training is refused at predict time.
        cell_options: keyword arguments for the layer, e.g. ``{"layer_norm": True}``.
        transform: ``"auto"`` (log when all values are positive), ``"log"``, ``"none"``.
        val_size: points per series held out for validation and early stopping.
        patience: epochs without a better validation loss before stopping (None: a fifth
            of ``max_epochs``, at least 5; only with ``val_size``).
        batch_size: windows per optimiser step (None: all of them up to 256).
        lr: peak learning rate of the one-cycle schedule (default 1e-2).
        weight_decay: L2 weight decay, off for the few linear weights with a meaning
            (None: derived: 1e-2, none from 4,096 training windows on).
        dropout: in [0, 1), on the head's input (default 0.3).
        deseasonalize: subtract the window's seasonal profile in ``"profile"`` mode
            (default True).
        checkpoint_dir: where the engine writes ``last.ckpt`` (for ``fit(resume=True)``);
            an engine setting like the ones below, not saved with the model.
        smoothing: ``"es"`` (per-series Holt-Winters smoothing: alpha, gamma and
            initial seasonal indices learned per series with the network, as in Smyl's
            ES-RNN; see :mod:`lstmkit.forecasting.network`) or ``"profile"`` (each window
            normalised by its mean and std, seasonal profile from the window) or
            ``"both"`` (one member of each, their mean); None derives it on seasonal
            data: "es" when the training windows all fit one batch of 256 (a single
            short series such as airline), else "both" when the median series holds at
            most 16 seasons, else "profile"; without a season, "profile".
        damping: phi in (0, 1]; at forecast time the step-to-step change of the
            deseasonalised forecast from step h-1 to h is multiplied by phi^(h-1), as in
            a damped-trend model (None: 0.98 with ``"es"`` smoothing, 0.9 with
            ``"profile"``, each member its own with ``"both"``; 1: none). Training is
            undamped. By default only seasonal data (season length > 1) is damped:
            without a seasonal profile the path also carries the series' cycles
            (sunspots), which damping would flatten; a damping that is set applies to
            any data.
        calibration: conformal calibration of the quantiles on the last ``calibration``
            horizon-length windows of each series (:mod:`lstmkit.forecasting.calibration`):
            None derives it (on when quantiles are on and there are enough series: the
            rule of :mod:`lstmkit.forecasting.config`), 0 turns it off. It trains a second
            model on the cut series; the median forecast does not change.
        recent_windows: the training windows each series gives, its latest (None: derived:
            2 without a season when the series number at least 128, so that their latest
            windows fill a batch of 256; else all. A set of many yearly series then trains
            on their recent years, as N-BEATS limits the history it samples; 0: all).
        **trainer_kwargs: the engine's settings (:mod:`lstmkit.spine.engine`):
            ``accelerator``, ``devices``, ``strategy``, ``num_nodes``, ``precision``,
            ``max_time``, ``max_steps``, ``verbose``, ``checkpoint_every_n_steps`` and any
            other ``lightning.Trainer`` argument.

    Every default here is :class:`~lstmkit.forecasting.config.ForecasterConfig`'s, the
    same as ``lstmkit forecast``'s and ``lstmkit forecast benchmark``'s.

    Example:
        Fit on the airline series (144 months), forecast a year, save and load (two
        optimiser steps here, so the forecast only shows the call sequence):

        >>> import tempfile
        >>> from lstmkit.forecasting import Forecaster
        >>> from lstmkit.forecasting.datasets import airline
        >>> fc = Forecaster(horizon=12, max_steps=2, verbose=False).fit(airline())
        >>> fc.predict().columns.tolist()
        ['unique_id', 'ds', 'y_hat', 'y_hat_q10', 'y_hat_q90']
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = fc.save(d)
        ...     Forecaster.load(d).predict(airline()).shape
        (12, 5)
    """

    global_model = True
    TASK = "forecast"
    Config = ForecasterConfig

    def __init__(self, horizon: int, lookback: int | list[int] | None = None, hidden_size: int | None = None,
                 num_layers: int | None = None, cell: str = "lstm", season_length: int | None = None,
                 quantiles=QUANTILES, max_epochs: int | None = None, seed: int = 0, *, ensemble: int = 1,
                 covariates=(), cell_options: dict | None = None, transform: str = "auto",
                 val_size: int | None = None, patience: int | None = None, batch_size: int | None = None,
                 lr: float = 1e-2, weight_decay: float | None = None, dropout: float = 0.3,
                 deseasonalize: bool = True, checkpoint_dir: str | None = None, damping: float | None = None,
                 smoothing: str | None = None, calibration: int | None = None, past_covariates=(),
                 static_covariates=(), recent_windows: int | None = None, **trainer_kwargs) -> None:
        from lstmkit.spine.engine import split_keywords

        if checkpoint_dir is not None:
            trainer_kwargs["checkpoint_dir"] = str(checkpoint_dir)
        _, self.trainer_kwargs = split_keywords(trainer_kwargs, (), "Forecaster")
        self.config = ForecasterConfig(
            horizon, lookback, hidden_size, num_layers, cell, season_length, quantiles, max_epochs, seed,
            ensemble, list(covariates or ()), cell_options or {}, transform, val_size, patience,
            batch_size, lr, weight_decay, dropout, deseasonalize, damping, smoothing, calibration,
            list(past_covariates or ()), static_covariates if isinstance(static_covariates, dict)
            else list(static_covariates or ()), recent_windows)
        self.net: ForecastNet | None = None
        self.static_enc: StaticEncoding | None = None  # what fitting learned of the static columns
        self.calibration: Calibration | None = None  # the conformal shifts, once fitted
        self.series_ids: list[str] = []  # series with their own smoothing parameters ("es", "both")
        self.plan: Plan | None = None
        self.history = None
        self.fit_seconds = float("nan")
        self.resumed_from: dict | None = None  # {"path", "epoch", "step"} after fit(resume=True)
        self.is_global_zero = True

    # -- the API shared with the baselines ------------------------------------------
    @property
    def horizon(self) -> int:
        """Steps forecast (H)."""
        return self.config.horizon

    @property
    def quantiles(self) -> list[float]:
        """The quantile levels besides the median (``[]`` when none)."""
        return list(self.config.quantiles or [])

    @property
    def covariates(self) -> list[str]:
        """The future-known covariate columns."""
        return list(self.config.covariates)

    @property
    def past_covariates(self) -> list[str]:
        """The covariate columns known only up to the forecast origin."""
        return list(self.config.past_covariates)

    @property
    def static_covariates(self) -> list[str]:
        """The static column names (the kinds are in ``config.static_covariates``)."""
        return list(self.config.static_covariates)

    @property
    def input_columns(self) -> list[str]:
        """The time-varying covariate columns, in the order of ``SeriesSet.x``: the
        future-known ones, then the past-only ones."""
        return self.covariates + self.past_covariates

    @property
    def name(self) -> str:
        """The model's name in backtest tables: its cell (``"lstm"``...)."""
        return self.config.cell

    def season(self, freq: str) -> int:
        """The season length used for data at frequency ``freq`` (set, or derived from it)."""
        return self.config.season_length or season_length_for(freq)

    def min_train_length(self, series: SeriesSet) -> int:
        """Points a series needs for a fit with a set lookback: lookback + horizon +
        ``val_size`` (1 + horizon + ``val_size`` when the lookback is derived)."""
        lb = self.config.lookback
        longest = max(lb) if isinstance(lb, list) else (lb or 1)
        return longest + self.horizon + (self.config.val_size or 0)

    def min_predict_length(self) -> int:
        """Points of history a forecast needs: the fitted model's longest lookback, less
        the steps it was trained to make up in front of a short series (``plan.pad``)."""
        self._check_fitted()
        return max(1, max(self.plan.lookbacks) - self.plan.pad)

    def _clone(self) -> Forecaster:
        return Forecaster(**self._init_kwargs())

    def _init_kwargs(self) -> dict:
        kw = self.config.to_dict()
        return {**kw, **self.trainer_kwargs}

    def _series_of(self, df, id_col, time_col, target_col, min_length: int = 3) -> SeriesSet:
        cols = self.input_columns + self.static_covariates
        frame = to_long(df, id_col, time_col, target_col, cols)
        missing = [c for c in cols if c not in frame.columns]
        if missing:  # a Series carries no covariate columns
            raise InputError(f"expected column(s) {missing} (the model's covariates), found a Series without "
                             "them: pass a frame with unique_id, ds, y and those columns")
        return validate(frame, min_length, static=self.static_covariates)

    # -- fit --------------------------------------------------------------------------
    def fit(self, df, resume: bool = False, id_col: str | None = "unique_id", time_col: str = "ds",
            target_col: str = "y") -> Forecaster:
        """Train on ``df``.

        Args:
            df: a long frame (``unique_id``, ``ds``, ``y`` and the covariate columns) or a
                Series with a regular datetime index (one series).
            resume: continue an interrupted run from ``checkpoint_dir/last.ckpt``.
            id_col, time_col, target_col: the column names in ``df`` (``id_col=None``:
                one series).

        Returns:
            This forecaster, trained.

        Raises:
            InputError: malformed data (missing columns, irregular timestamps, a series
                too short for the lookback and horizon) or ``resume`` without
                ``checkpoint_dir``.
        """
        if resume and self.trainer_kwargs.get("checkpoint_dir") is None:
            raise InputError("resume=True needs checkpoint_dir: the run to resume wrote its checkpoints there")
        return self._fit_series(self._series_of(df, id_col, time_col, target_col), resume)

    def check(self, series: SeriesSet) -> Plan:
        """The plan a fit on ``series`` would use; raises InputError where the data
        cannot be fitted (a series too short for the lookback and horizon), so callers
        can refuse bad input before they write anything."""
        lengths = series.lengths()
        m = self.season(series.freq)
        if self.config.season_length is None and lengths.max() < 2 * m:
            m = 1  # a derived season no series shows twice is not learned (module docstring of config)
        p = plan(self.config, m, int(lengths.min()),
                 lambda L, val, pad, recent=0: count_windows(lengths + pad, L, self.horizon, val, recent),
                 float(np.median(lengths)), len(lengths))
        p.calibration = calibration_windows(self.config, lengths, max(p.lookbacks), p.pad)
        return p

    def _static_arrays(self, series: SeriesSet) -> tuple[np.ndarray, np.ndarray]:
        """The encoded static columns of ``series``: numeric (S, n_num), category indices
        (S, n_cat); InputError for a category not seen in training."""
        if self.static_enc is None:
            return np.zeros((len(series), 0), np.float32), np.zeros((len(series), 0), np.int64)
        return self.static_enc.encode(series.ids, series.static)

    def _features(self, ds: pd.DatetimeIndex, x: np.ndarray, uid: str | None = None,
                  static: tuple[np.ndarray, np.ndarray] | None = None,
                  observed: np.ndarray | None = None) -> np.ndarray:
        """The feature rows (len(ds), F) of one series: whether each step is observed
        (when the plan pads short series; ``observed`` None: all are), calendar, static
        numeric, past-only covariates, future-known covariates (all float), then the
        static category indices and, with "es" or "both" smoothing, the series index and phase.
        ``x`` holds the columns of :attr:`input_columns`; ``static`` the series' encoded
        static values."""
        cal = calendar_features(ds, self.freq)
        if self.plan.pad:
            seen = np.ones(len(ds)) if observed is None else observed
            cal = np.concatenate([seen[:, None].astype(np.float32), cal], axis=1)
        num, cat = static if static is not None else (np.zeros(0, np.float32), np.zeros(0, np.int64))
        scaled = self.cov_scaling.transform(x)
        C = len(self.covariates)
        n = len(ds)
        parts = [cal, np.broadcast_to(num.astype(np.float32), (n, len(num))), scaled[:, C:], scaled[:, :C],
                 np.broadcast_to(cat.astype(np.float32), (n, len(cat)))]
        if self.plan.smoothing in ("es", "both"):  # the network's per-series lookup: index, phase
            sid = self.series_ids.index(uid) if uid in self.series_ids else -1
            parts += [np.full((len(ds), 1), sid, dtype=np.float32),
                      phases(ds, self.freq, self.plan.season_length)[:, None].astype(np.float32)]
        return np.concatenate(parts, axis=1)

    def _fit_series(self, series: SeriesSet, resume: bool = False, fixed_plan: Plan | None = None) -> Forecaster:
        """Train on ``series``; ``fixed_plan`` (the calibration copy's) replaces the plan
        derived from the data."""
        from lstmkit.forecasting.module import WindowModule
        from lstmkit.spine.engine import WindowData, fit_module

        cfg, H = self.config, self.config.horizon
        t0 = time.perf_counter()
        self.calibration = None
        self.freq = series.freq
        self.scaling = Scaling.fit(series.ids, series.y, cfg.transform)
        if self.scaling.log and not all(np.all(y > 0) for y in series.y):
            raise InputError("transform='log' needs every target value > 0; found a value <= 0")
        self.cov_scaling = ColumnScaling.fit(series.x)
        self.static_enc = StaticEncoding.fit(series.static_names, cfg.static_covariates, series.static) \
            if series.static_names else None
        num, cat = self._static_arrays(series)
        self.plan = fixed_plan if fixed_plan is not None else self.check(series)
        Lmax, m = max(self.plan.lookbacks), self.plan.season_length
        es = self.plan.smoothing in ("es", "both")  # some members smooth per series
        self.series_ids = list(series.ids) if es else []
        padded = [pad_front(d, y, x, self.plan.pad, series.freq, m)
                  for d, y, x in zip(series.ds, series.y, series.x)]  # (ds, y, x, observed)
        zs = [self.scaling.transform(u, y) for u, (_, y, _, _) in zip(series.ids, padded)]
        fs = [self._features(d, x, u, (num[i], cat[i]), seen)
              for i, (u, (d, _, x, seen)) in enumerate(zip(series.ids, padded))]
        n_meta = ES_META if es else 0
        levels = [len(v) for v in self.static_enc.levels] if self.static_enc is not None else []
        train, val = make_windows(zs, fs, Lmax, H, self.plan.val_size, self.plan.recent)
        qs = sorted(set(self.quantiles) | {0.5})
        torch.manual_seed(cfg.seed)  # the initial weights
        self.net = ForecastNet(ForecastNetConfig(
            H, self.plan.lookbacks, fs[0].shape[1] - n_meta - len(levels), qs, m, self.plan.hidden_size,
            self.plan.num_layers, cfg.cell, cfg.cell_options, cfg.dropout, cfg.deseasonalize,
            len(self.covariates), self._damping(m), self.plan.smoothing,
            len(self.series_ids), len(self.past_covariates), levels, adaptive_season=True))
        if self.covariates:
            C = len(self.covariates)
            self._start_covariate_effect(zs, [self.cov_scaling.transform(x)[:, :C] for x in series.x])
        if es and cfg.deseasonalize:
            # each step's phase is the last feature column (what the network reads too)
            start = np.stack([seasonal_start(z, f[:, -1].astype(np.int64), m) for z, f in zip(zs, fs)])
            with torch.no_grad():
                for member in self.net.members:
                    if member.es:
                        member.es_season.copy_(torch.as_tensor(start, dtype=torch.float32))
        module = WindowModule(self.net, qs, cfg.lr, self.plan.weight_decay)
        module.NO_DECAY = (*WindowModule.NO_DECAY, *ES_NO_DECAY)
        data = WindowData(train, val if self.plan.val_size else None, self.plan.batch_size)
        fingerprint = {**cfg.to_dict(), "data": digest(zs, fs)}  # what a resumed run must match
        try:
            outcome = fit_module(module, data, seed=cfg.seed, has_val=self.plan.val_size > 0,
                                 patience=self.plan.patience, resume=resume, fingerprint=fingerprint,
                                 **self._engine_kwargs(max_epochs=self.plan.max_epochs))
        except TrainingInterrupted as exc:  # Ctrl-C: keep what was learned, usable and savable
            self.net = module.net.cpu().eval()
            self.history, self.stopped_early = exc.history, False
            self.epochs_run = len(exc.history.train) if exc.history is not None else 0
            self.resumed_from = None
            self._keep_tails(series)
            self.fit_seconds = time.perf_counter() - t0
            exc.result = self
            raise
        self.resumed_from = outcome.resumed_from
        self.net = module.net.cpu().eval()
        self.history, self.is_global_zero = outcome.history, outcome.is_global_zero
        self.world_size = outcome.world_size  # processes that trained it (DDP)
        self.epochs_run, self.stopped_early = outcome.epochs, outcome.stopped_early
        self._keep_tails(series)
        self.calibration_seconds = 0.0
        if self.plan.calibration:
            t1 = time.perf_counter()
            try:
                self.calibration = self._calibrate(series)
            except TrainingInterrupted as exc:  # Ctrl-C: the final model is whole, uncalibrated
                self.fit_seconds = time.perf_counter() - t0
                exc.result = self
                raise
            self.calibration_seconds = time.perf_counter() - t1
        self.fit_seconds = time.perf_counter() - t0
        return self

    def _calibrate(self, series: SeriesSet) -> Calibration:
        """The conformal shifts (:mod:`lstmkit.forecasting.calibration`): a copy with the
        same settings and plan trains on the series without their last K horizons (those
        with the lookback left before them) and forecasts those K windows."""
        K, H, L = self.plan.calibration, self.horizon, max(self.plan.lookbacks)
        keep = [i for i, n in enumerate(series.lengths()) if n - K * H >= L - self.plan.pad]
        sub = series.subset(keep)
        engine = {k: v for k, v in self.trainer_kwargs.items() if k not in ("checkpoint_dir", "callbacks")}
        copy = Forecaster(**{**self.config.to_dict(), "calibration": 0}, **engine)
        copy._fit_series(sub.head(K * H), fixed_plan=dataclasses.replace(self.plan, calibration=0))
        m = self.plan.season_length
        scale = np.array([naive_scale(copy.scaling.transform(u, y[:len(y) - K * H]), m)
                          for u, y in zip(sub.ids, sub.y)])  # s_i of the copy's training series
        preds, truth = [], []
        for k in range(K):
            n_last = (K - k) * H
            C = len(self.covariates)
            future_x = [x[len(x) - n_last: len(x) - n_last + H, :C] for x in sub.x] if C else None
            preds.append(copy._forecast_scaled(sub.head(n_last), future_x)[1])
            truth.append(np.stack([copy.scaling.transform(u, y[len(y) - n_last: len(y) - n_last + H])
                                   for u, y in zip(sub.ids, sub.y)]))
        cal = Calibration.fit(np.concatenate(preds), np.concatenate(truth), self.net.cfg.quantiles, K,
                              CAL_MIN_SCORES, np.tile(scale, K))
        cal.series_scale = {u: naive_scale(self.scaling.transform(u, y), m) for u, y in zip(series.ids, series.y)}
        return cal

    def _damping(self, m: int) -> float | list[float]:
        """phi for the network: one number, or one per member with ``"both"`` smoothing
        (each member's mode has its own default)."""
        s, cfg = self.plan.smoothing, self.config
        if s != "both":
            return cfg.damping_for(m, s)
        return [cfg.damping_for(m, member_smoothing(s, i)) for i in range(len(self.plan.lookbacks))]

    def _start_covariate_effect(self, zs: list[np.ndarray], xs: list[np.ndarray]) -> None:
        # The covariates' direct effect starts at its least-squares value (each series'
        # scaled target on its scaled covariates, both demeaned per series), as a
        # regression-with-ARIMA-errors model estimates its regression part: from a
        # random start, gradient steps take most of the training budget to find it.
        z = np.concatenate([v - v.mean() for v in zs])
        x = np.concatenate([v - v.mean(axis=0) for v in xs])
        w = np.linalg.lstsq(x, z, rcond=None)[0]
        with torch.no_grad():
            for member in self.net.members:
                member.step_effect.weight.copy_(torch.as_tensor(w, dtype=torch.float32)[None])
                member.step_effect.bias.zero_()

    def _keep_tails(self, series: SeriesSet) -> None:
        # predict() without data forecasts from the end of the training data; keeping
        # the last lookback points per series makes that work after load() too
        Lmax = max(self.plan.lookbacks)
        self.tails = SeriesSet(series.ids, [d[-Lmax:] for d in series.ds], [y[-Lmax:] for y in series.y],
                               [x[-Lmax:] for x in series.x], series.freq, series.covariates,
                               series.static_names, series.static)

    # -- predict ----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if self.net is None:
            raise InputError("this Forecaster is not fitted: call fit(df) or Forecaster.load(dir) first")

    def _network(self):
        return self.net

    def _require_fitted(self) -> None:
        self._check_fitted()

    def predict(self, df=None, future: pd.DataFrame | None = None, id_col: str | None = "unique_id",
                time_col: str = "ds", target_col: str = "y") -> pd.DataFrame:
        """Forecast ``horizon`` steps after each series' last timestamp.

        Args:
            df: the histories to forecast from (same format as :meth:`fit`), for the
                fitted series or new ones; None forecasts from the end of the training
                data.
            future: the covariates of the forecast steps (``unique_id``, ``ds``, one
                column per covariate); required when the model has future-known
                covariates. Past-only covariates need no future values and are refused
                here (a column there would not be used).
            id_col, time_col, target_col: the column names in ``df``.

        Returns:
            A frame of S x H rows with columns ``unique_id``, ``ds``, ``y_hat`` and
            ``y_hat_q..`` per quantile.

        Raises:
            InputError: the model is not fitted, the data's frequency differs from the
                fitted one, or the covariates' future values are missing.
        """
        self._check_fitted()
        series = self.tails if df is None else self._series_of(df, id_col, time_col, target_col)
        self.check_frequency(series)  # before the future covariates' dates are read at the model's
        return self._predict_series(series, self._future_x(series, future))

    def _future_x(self, series: SeriesSet, future: pd.DataFrame | None) -> list[np.ndarray] | None:
        past = [c for c in self.past_covariates if future is not None and c in future.columns]
        if past:
            raise InputError(f"future: {past} are past-only covariates, known up to the forecast origin; "
                             "their future values are not an input: drop the column(s)")
        if not self.covariates:
            if future is not None:
                raise InputError("future= gives the future values of covariates, and this model has no "
                                 "future-known covariates: leave it out")
            return None
        if future is None or len(future) == 0:
            raise InputError(f"expected future values of the covariates {self.covariates} for the "
                             f"{self.horizon} forecast steps (predict(..., future=frame)), found none")
        missing = [c for c in (DS, *self.covariates) if c not in future.columns]
        if missing:
            raise InputError(f"future covariates: expected column(s) {missing}, found {list(future.columns)}")
        unknown = [str(c) for c in future.columns if c not in (ID, DS, *self.covariates)]
        if unknown:
            raise InputError(f"future covariates: unknown column(s) {unknown}: expected only {[ID, DS, *self.covariates]} "
                             "(a column there would not be used)")
        ids = future[ID].astype(str) if ID in future.columns else pd.Series(series.ids[0], index=future.index)
        ds = pd.to_datetime(future[DS], errors="coerce")
        x = future[self.covariates].apply(pd.to_numeric, errors="coerce")
        if ds.isna().any() or not np.isfinite(x.to_numpy(dtype=np.float64)).all():
            raise InputError("future covariates: expected a timestamp and finite numeric covariate values on every row")
        out = []
        for uid, hist in zip(series.ids, series.ds):
            want = future_dates(hist[-1], self.freq, self.horizon)
            rows = x[(ids == uid).to_numpy()].set_index(pd.DatetimeIndex(ds[(ids == uid).to_numpy()]))
            if rows.index.has_duplicates:
                raise InputError(f"series {uid!r}: expected one row of future covariates per timestamp, found "
                                 f"{rows.index[rows.index.duplicated()][0]} twice")
            if not want.isin(rows.index).all():
                raise InputError(f"series {uid!r}: expected future covariates at {want[0]} .. {want[-1]}, "
                                 "some are missing")
            out.append(rows.loc[want].to_numpy(dtype=np.float64))
        return out

    def _predict_series(self, series: SeriesSet, future_x: list[np.ndarray] | None = None) -> pd.DataFrame:
        dates, out = self._forecast_scaled(series, future_x)
        out = np.stack([self.scaling.inverse(u, o) for u, o in zip(series.ids, out)])
        qs = self.net.cfg.quantiles
        point = out[:, :, qs.index(0.5)]
        bands = out[:, :, [qs.index(q) for q in self.quantiles]]
        return forecast_frame(series.ids, dates, point, self.quantiles, bands)

    def check_frequency(self, series: SeriesSet) -> None:
        """Raise InputError unless ``series`` is at the frequency this fitted model was
        trained at (a forecast's dates continue the model's calendar)."""
        self._check_fitted()
        if to_offset(series.freq) != to_offset(self.freq):
            raise InputError(f"expected data at the model's frequency {self.freq}, found {series.freq}: "
                             "forecast with a model trained at the data's frequency")

    def _forecast_scaled(self, series: SeriesSet, future_x: list[np.ndarray] | None = None):
        """The forecast dates and the network's quantiles (S, H, Q) on the scaled axis,
        calibrated when the model is."""
        self.check_frequency(series)
        H, Lmax = self.horizon, max(self.plan.lookbacks)
        num, cat = self._static_arrays(series)  # an unknown category fails here
        P = len(self.past_covariates)
        xs, fs, dates = [], [], []
        need = self.min_predict_length()
        for i, (uid, ds, y, x) in enumerate(zip(series.ids, series.ds, series.y, series.x)):
            if len(y) < need:
                what = "the lookback" if need == Lmax else f"the lookback {Lmax} less the {self.plan.pad} steps made up"
                raise InputError(f"series {uid!r} has {len(y)} points: expected at least {what}, {need}")
            if uid not in self.scaling.mean:
                if not self.scaling.can_take(y):
                    raise InputError(f"series {uid!r}: the model works on logs; expected values > 0")
                self.scaling.add(uid, y)
            elif not self.scaling.can_take(y[-Lmax:]):
                raise InputError(f"series {uid!r}: the model works on logs; expected values > 0")
            fut = future_dates(ds[-1], self.freq, H)
            # future steps: the future-known covariates as given; past-only ones unknown
            # (the network zeroes them there), filled with their scaled mean
            known = future_x[i][:, :len(self.covariates)] if future_x is not None \
                else np.zeros((H, len(self.covariates)))
            fx = np.concatenate([known, np.tile(np.asarray(self.cov_scaling.mean[len(self.covariates):]), (H, 1))
                                 .reshape(H, P)], axis=1)
            ds, y, x, seen = pad_front(ds[-Lmax:], y[-Lmax:], x[-Lmax:], Lmax - min(len(y), Lmax), self.freq,
                                       self.plan.season_length)
            xs.append(self.scaling.transform(uid, y))
            st = (num[i], cat[i])
            fs.append(np.concatenate([self._features(ds, x, uid, st, seen), self._features(fut, fx, uid, st)]))
            dates.append(fut)
        with torch.no_grad():
            out = self.net.predict(torch.tensor(np.stack(xs), dtype=torch.float32),
                                   torch.tensor(np.stack(fs), dtype=torch.float32)).numpy()  # (S, H, Q)
        out = out.astype(np.float64)
        if self.calibration is not None:
            known = self.calibration.series_scale or {}
            scale = [known[u] if u in known else naive_scale(self.scaling.transform(u, y), self.plan.season_length)
                     for u, y in zip(series.ids, series.y)]
            out = self.calibration.apply(out, self.net.cfg.quantiles, np.array(scale))
        return dates, out

    # -- evaluation and persistence ---------------------------------------------------
    def backtest(self, df, windows: int = 3, step: int | None = None, refit: bool = False, **columns):
        """Rolling-origin evaluation (see :func:`lstmkit.forecasting.backtest.backtest`):
        trains a fresh copy of this configuration on the history before the first origin
        (at every origin with ``refit=True``); this model is left untouched. Returns a
        :class:`~lstmkit.forecasting.BacktestResult` (``per_series`` and ``mean`` metrics)."""
        from lstmkit.forecasting.backtest import backtest

        return backtest(self, df, windows=windows, step=step, refit=refit, **columns)

    def evaluate(self, df, future: pd.DataFrame | None = None, id_col: str | None = "unique_id",
                 time_col: str = "ds", target_col: str = "y") -> dict:
        """Score the model on the last ``horizon`` points of each series of ``df``: it
        forecasts them from the points before (no refit) and the forecast is compared
        with what happened.

        Args:
            df: series in the format of :meth:`fit`.
            future: covariates of the scored steps, as for :meth:`predict`.
            id_col, time_col, target_col: the column names in ``df``.

        Returns:
            The mean over series of ``mae``, ``rmse``, ``smape``, ``mase`` (and
            ``coverage`` of the outer quantiles when the model has them), and
            ``n_series``.
        """
        from lstmkit.forecasting.backtest import backtest

        self._check_fitted()
        result = backtest(self, df, windows=1, fit=False, id_col=id_col, time_col=time_col,
                          target_col=target_col)
        return {**{k: float(v) for k, v in result.mean.items()}, "n_series": len(result.per_series)}

    def export_spec(self):
        """The network as an ONNX graph (:mod:`lstmkit.export.tasks`): scaled windows and
        features in, the members' median forecast per quantile out; the scaling, the
        calendar and the quantiles travel in the metadata."""
        from lstmkit.export.tasks import forecast_spec

        self._check_fitted()
        if self.past_covariates or self.static_covariates:
            raise InputError("ONNX export does not carry past-only or static covariates yet: export a model "
                             "fitted without them, or serve this one with Forecaster.load(dir).predict()")
        state = {"freq": self.freq, "scaling": self.scaling.to_dict(),
                 "cov_scaling": {"mean": self.cov_scaling.mean, "std": self.cov_scaling.std},
                 "quantiles": list(self.net.cfg.quantiles), "calendar": self.calendar(),
                 # steps made up in front of a series shorter than the window (frame.pad_front);
                 # when > 0, feats' first column is 1 on observed steps and 0 on made-up ones
                 "pad": self.plan.pad,
                 # the graph gives the trained quantiles; lstmkit moves them by these shifts
                 # (lstmkit.forecasting.calibration.Calibration.apply, scaled axis)
                 "calibration": None if self.calibration is None else self.calibration.to_dict()}
        return forecast_spec(self.net, state)

    def save(self, path) -> str:
        """Write config JSON + safetensors weights + scalers to the directory ``path``
        (atomically: a crash leaves the old model or the new one, never half).

        Args:
            path: the model directory (created or replaced).

        Returns:
            The directory written, as a string.
        """
        from lstmkit.forecasting.persist import save

        self._check_fitted()
        return save(self, path)

    @classmethod
    def load(cls, path, **trainer_kwargs) -> Forecaster:
        """A Forecaster saved by :meth:`save`.

        Args:
            path: the model directory.
            **trainer_kwargs: engine settings for a later fit (not saved with the model).

        Returns:
            The forecaster, ready to :meth:`predict` (from its saved histories or new data).

        Raises:
            InputError: the directory is not a saved forecaster or its config and weights
                disagree.
        """
        from lstmkit.forecasting.persist import load

        return load(cls, path, trainer_kwargs)

    def calendar(self) -> list[str]:
        """The calendar cycles the model uses as features."""
        self._check_fitted()
        return calendar_cycles(self.freq)
