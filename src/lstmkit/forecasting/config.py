"""The Forecaster's settings, and the rules that derive the unset ones from the data.

Rules (m = season length, H = horizon, n_min = the shortest series, N = the number of
training windows); each is the value used when the argument is left at None:

- season length m: from the frequency (monthly 12, quarterly 4, weekly 52, daily 7,
  business-daily 5, sub-daily one day, yearly 1); none (m = 1) when no series holds two
  seasons of it (60 points a second apart would get a one-day season of 86,400 steps
  and a lookback of three of them: a season the data never shows cannot be learned);
- lookback L = max(k m, 2H, MIN_LOOKBACK = 12), with k = 3 seasons under "es" smoothing and k = 2
  under "profile": two seasons let the network estimate the seasonal profile;
  the smoothing recursion starts each window from the series' learned initial indices,
  and a third season lets level and season settle before the last one (airline
  development backtest, "es", damping 0.95: lookback 24, 30, 36 give MASE 0.703,
  0.694, 0.646; 48 at no damping 0.677 against 0.653 at 36); two horizons give the
  highway enough past to extrapolate a trend. The floor of 12 (16 before) acts on yearly
  data, and among the bundled series on stock (m 5, H 5); with the latest windows
  below, mean of seeds 0-2, sMAPE / MASE: M1 yearly 17.845 / 3.646 at 12 against
  18.431 / 3.735 at 16, Tourism yearly 20.346 / 2.699 against 20.565 / 2.729 (8: 20.842
  / 2.736);
- recent windows: without a season (m = 1), when the series number at least
  MAX_BATCH / RECENT_WINDOWS = 128, each series gives only its latest RECENT_WINDOWS = 2
  training windows (their two last forecast origins), as N-BEATS samples its training
  windows from the last few horizons of each series only (Oreshkin et al. 2020, L_H of
  1.5 horizons on M4's yearly series): a set of many short yearly series is forecast
  from its recent years, which the latest windows describe best, and the older windows
  of the long series no longer outweigh the short ones. With a season every window is
  kept (each forecast origin is at another phase of the season). Mean of seeds 0-2,
  lookback 12: M1 yearly, the latest 1, 2, 3 windows or all: 17.672 / 3.588, 17.845 /
  3.646, 17.996 / 3.701, 19.244 / 4.072; Tourism yearly 20.698 / 2.774, 20.346 / 2.699,
  20.449 / 2.713, 20.895 / 2.798. On the seasonal sets (seed 0) the latest 0.5 and 1.5
  horizons of windows were worse than all on each (e.g. Tourism monthly MASE 1.530 and
  1.493 against 1.462). One series (sunspots) keeps all of its windows;
- weight decay: 1e-2 on the LSTM, head and highway (L2, Adam's), but none from
  DECAY_FREE_WINDOWS = 4,096 training windows on (16 batches of 256): on a hundred
  windows (airline) the decay keeps the network from overfitting, while on the
  seasonal competition sets (6k to 76k windows) it only held it back. Mean of seeds
  0-2, sMAPE / MASE without decay against 1e-2: M1 quarterly 15.506 / 1.637 against
  15.713 / 1.674, M1 monthly 14.581 / 1.032 against 14.490 / 1.040, Tourism quarterly
  14.846 / 1.511 against 15.165 / 1.554, Tourism monthly 18.755 / 1.438 against
  18.932 / 1.464 (1e-3, seed 0: M1 quarterly 1.672, Tourism quarterly 1.551, about as
  1e-2). The yearly sets (358 and 1,021 windows) keep it: Tourism yearly, seed 0, 21.152
  / 2.791 without against 20.387 / 2.701;
- padding: when the shortest series has fewer than L points before its horizon (and
  validation), pad = L - (n_min - H - val_size) steps are made up in front of every
  series (:func:`~lstmkit.forecasting.frame.pad_front`: the first season repeated
  backwards, marked by a feature that is 0 on made-up steps), so the shortest series
  gives one training window and every series pad more than without padding; a
  forecast needs L - pad points. The lookback used to be cut to n_min - H instead: 2 on M1
  quarterly (shortest series 10 points, horizon 8), 3 on M1 and Tourism yearly, 12 on
  M1 monthly. Padded, seed 0, sMAPE / MASE: M1 yearly 19.496 / 4.102 (cut: 20.517 /
  4.474), M1 quarterly 16.144 / 1.728 (17.489 / 1.885), M1 monthly 14.800 / 1.085
  (15.762 / 1.197), Tourism yearly 20.605 / 2.819 (21.600 / 2.922), Tourism quarterly
  15.360 / 1.553 (15.387 / 1.552), Tourism monthly 19.290 / 1.480 (19.470 / 1.489).
  A lookback that is set is never padded: every series must feed it;
- batch size: all N windows in one batch up to 256 (full-batch steps are the fastest
  way through small data), else 256;
- max_epochs: enough epochs for about 300 optimiser steps (the one-cycle schedule is
  tuned for that budget), at least 5, but no more than 600 steps in all (at least one
  epoch): on large sets (tens of thousands of windows) five passes would cost many
  minutes on two CPU cores (tourism monthly: 76k windows, 2 epochs instead of 5);
- validation split: none (val_size 0); set ``val_size`` (points held out at the end of
  each series) to get a validation loss, early stopping and best-epoch restore;
- patience (early stopping, only with a validation split): a fifth of max_epochs, >= 5;
- network size: 2 layers of 64 units, but 1 layer when all N windows fit in one batch
  (N <= 256, a single short series such as airline's 97): the LSTM is a correction on
  top of the linear highway; on a hundred windows one layer forecasts as well (airline
  development backtest, damping 0.9: MASE 0.736 against 0.735) in about half the
  fit time. Every competition set has thousands of windows (M1 yearly 2k, Tourism monthly
  76k) and keeps 2 layers;
- smoothing, on seasonal data (m > 1): "es" (per-series Holt-Winters learned with the
  network, Smyl's ES-RNN; see :mod:`lstmkit.forecasting.network`) when all N windows at
  the two-season lookback fit one batch (N <= 256, the small-data threshold of the
  network-size rule); else "both" (an "es" and a "profile" member side by side, their
  mean) when the median series holds at most BOTH_SEASONS = 16 seasons; else "profile".
  Without a season: "profile" ("es" smooths the level only there: M1 yearly, seed 0,
  MASE 4.454 against 4.102; Tourism yearly 3.490 against 2.819). "es" won the airline
  development backtest (mean MASE of seeds 0-2, quantiles 0.1/0.9): 0.642 at damping
  0.98 against 0.735 for "profile". On seed 0 of the competition sets (padded, no
  calibration), sMAPE / MASE: M1 monthly "both" 14.503 / 1.043, "profile" 14.800 /
  1.085, "es" 15.137 / 1.069; M1 quarterly "both" 15.722 / 1.676, "profile" 16.144 /
  1.728; on the long series of Tourism (25 seasons in the median series) the two
  models' mean loses to "profile" (monthly 19.336 / 1.504 against 19.290 / 1.480,
  quarterly MASE 1.554 against 1.553) and "es" alone more (1.578, 1.630), so they keep
  "profile"; docs/forecasting.md has the runs.

Quantiles: (0.1, 0.9) by default (:data:`QUANTILES`), for ``Forecaster(...)``, ``lstmkit
forecast`` and ``lstmkit forecast benchmark`` alike (their flags default to None and
take these values). The pinball loss of the outer levels, trained with the median,
also improves the median: airline, last 12 months held out, seeds 0/1/2, MASE 0.419 /
0.384 / 0.426 (mean 0.410) against 0.638 / 0.675 / 0.599 (0.637) without quantiles.
``quantiles=[]`` (or None; ``--quantiles ''``) trains the median alone.

- calibration (conformal, of the quantiles; :mod:`lstmkit.forecasting.calibration`): on
  when quantiles are on and the data allow, with K windows of H points at the end of
  each series: a series can be scored when it keeps at least the points a forecast
  needs before the first calibration origin (n_i - K H >= L - pad: the lookback, less
  the steps the plan makes up in front of a short series), and K is the fewest windows, 1 to
  CAL_MAX_WINDOWS = 3, with at least CAL_MIN_SCORES = 100 scores per horizon step
  (scorable series times K), whose cut series still give at least one training window.
  With fewer (a single series such as airline: one score per step and window) the
  quantiles stay as trained, and the fit costs one training run instead of two.
  A series too short to be scored is left out of the calibration set (and of the
  calibration model's training data); its intervals get the shifts the others gave.
  Calibration fits a second model (the calibration copy, on the cut series) besides
  the final one, which is trained on all of the data exactly as without calibration:
  the point forecast (the median) is the same with or without it. Reusing the final
  model on its own last windows would cost nothing but score data it was trained on,
  which makes its quantiles look better than they are out of sample.
  Also without a season: trained on their latest windows, the yearly sets' trained
  10-90% intervals cover too little (mean of seeds 0-2: M1 yearly 0.720, Tourism yearly
  0.739), calibrated 0.785 and 0.831; their scaled pinball loss is higher calibrated
  (2.30 against 1.11 and 0.85 against 0.74): the coverage is the goal.
  ``calibration=k`` asks for k windows on any data (an error where no series can be
  scored; the shifts are pooled over the horizon steps when a step has fewer than
  CAL_MIN_SCORES scores); ``calibration=0`` turns it off.

Not derived, but a default with a reason: with "es", damping phi = 0.98 per step, the
top of the usual range below (development backtest: 0.98 0.642, 0.95 0.646, 1 (none)
0.653, 0.9 0.687; the best of these). With "profile": damping phi = 0.9 per step (forecast time
only; see :meth:`lstmkit.forecasting.network.ForecastMember._damp`), the middle of the
range [0.8, 0.98] in which damped-trend exponential smoothing estimates phi (Hyndman et
al. 2008), for seasonal data only (m > 1): the damped path is the deseasonalised one,
which on seasonal data is mostly trend, while on non-seasonal data it also carries the
series' cycles, which damping would flatten (the sunspots' 11-year cycle: bundled
backtest MASE 1.19 undamped, 1.86 damped). Chosen on the airline development backtest
(1958 and 1959 forecast from the years before; quantiles 0.1/0.9 as the benchmark
trains, mean MASE of seeds 0-2): 0.735 against 0.751 undamped (0.95: 0.734, 0.85:
0.744, 0.8: 0.751); docs/forecasting.md has the runs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from lstmkit.errors import InputError
from lstmkit.forecasting.network import CELLS, SMOOTHINGS
from lstmkit.forecasting.windows import count_windows
from lstmkit.spine.flags import check_seed

TARGET_STEPS = 300
MAX_STEPS = 600
MAX_BATCH = 256
NET_SIZE = (64, 2)  # hidden size, layers
SMALL_NET_SIZE = (64, 1)  # when all training windows fit in one batch of MAX_BATCH
DAMPING = 0.9  # per step, forecast time only (1 = none), with "profile" smoothing
ES_DAMPING = 0.98  # the same with "es" smoothing
MIN_LOOKBACK = 12  # the derived lookback's floor
WEIGHT_DECAY = 1e-2  # L2 decay on the LSTM, head and highway ...
DECAY_FREE_WINDOWS = 4096  # ... but none from this many training windows on (16 batches of 256)
RECENT_WINDOWS = 2  # without a season, on many series: the training windows per series, the latest
ES_SEASONS = 3  # seasons in the derived lookback with "es" smoothing (2 otherwise)
BOTH_SEASONS = 16  # "both" smoothing on large seasonal data whose median series has at most this many seasons
QUANTILES = (0.1, 0.9)  # the default levels besides the median (module docstring)
CAL_MIN_SCORES = 100  # calibration scores per horizon step for the derived calibration
CAL_MAX_WINDOWS = 3  # calibration windows at most, for the derived calibration


def _int_ge(name: str, value, low: int, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(f"expected {name} as an integer >= {low}, found {value!r}")


@dataclass
class ForecasterConfig:
    """Every setting of a :class:`~lstmkit.Forecaster`; the one source of the defaults
    that ``Forecaster(...)``, ``lstmkit forecast`` and ``lstmkit forecast benchmark`` use.

    A field left at None is derived from the data by :func:`plan` (the rules of this
    module's docstring).

    Attributes:
        horizon: steps to forecast (>= 1).
        lookback: input window length, or a list of lengths (one ensemble member each).
        hidden_size: units of the recurrent layer.
        num_layers: stacked recurrent layers.
        cell: ``"lstm"`` (default), ``"gru"`` or ``"rnn"``.
        season_length: the main seasonal period in steps (None: from the frequency).
        quantiles: levels besides the median (default ``[0.1, 0.9]``; ``[]`` or None: none).
        max_epochs: passes over the training windows.
        seed: seeds the weights and the batch order (default 0).
        ensemble: members per lookback (default 1); the forecast is their median.
        covariates: future-known numeric columns.
        cell_options: keyword arguments for the recurrent layer.
        transform: ``"auto"`` (log when all values are positive), ``"log"`` or ``"none"``.
        val_size: points per series held out for validation and early stopping (None: 0).
        patience: epochs without a better validation loss before stopping (None: a fifth
            of ``max_epochs``, at least 5; only with ``val_size``).
        batch_size: windows per optimiser step (None: all up to 256).
        lr: peak learning rate of the one-cycle schedule (default 1e-2).
        weight_decay: L2 weight decay (None: derived, 1e-2 below 4,096 training windows, else 0).
        dropout: in [0, 1) on the head's input (default 0.3).
        deseasonalize: subtract the seasonal profile in ``"profile"`` mode (default True).
        damping: phi in (0, 1] of the damped forecast path (None: 0.98 with ``"es"``, 0.9
            with ``"profile"``, on seasonal data; none without a season).
        smoothing: ``"es"``, ``"profile"`` or ``"both"`` (None: derived).
        calibration: conformal calibration windows (None: derived, 0: off).
        past_covariates: numeric columns known only up to the forecast origin.
        static_covariates: per-series constant columns: a list of names or a dict name ->
            ``"numeric"`` / ``"categorical"``.
        recent_windows: training windows per series, its latest ones (None: derived, 0: all).

    Raises:
        InputError: a field out of its range, a column listed twice, or calibration
            without quantiles.
    """

    horizon: int
    lookback: int | list[int] | None = None
    hidden_size: int | None = None
    num_layers: int | None = None
    cell: str = "lstm"
    season_length: int | None = None
    quantiles: list[float] | None = field(default_factory=lambda: list(QUANTILES))  # [] or None: none
    max_epochs: int | None = None
    seed: int = 0
    ensemble: int = 1
    covariates: list[str] = field(default_factory=list)
    cell_options: dict = field(default_factory=dict)
    transform: str = "auto"
    val_size: int | None = None
    patience: int | None = None
    batch_size: int | None = None
    lr: float = 1e-2
    weight_decay: float | None = None  # None: the rule (module docstring)
    dropout: float = 0.3
    deseasonalize: bool = True
    damping: float | None = None  # None: DAMPING or ES_DAMPING, by smoothing
    smoothing: str | None = None  # None: the rule of the module docstring
    calibration: int | None = None  # conformal windows; None: the rule (module docstring), 0: off
    past_covariates: list[str] = field(default_factory=list)  # known up to the forecast origin only
    # per-series constants: a list of names (float columns numeric, others categorical) or
    # a dict name -> "numeric" / "categorical"
    static_covariates: list[str] | dict = field(default_factory=list)
    recent_windows: int | None = None  # latest training windows per series; None: the rule, 0: all

    def __post_init__(self) -> None:
        _int_ge("horizon", self.horizon, 1, allow_none=False)
        lbs = self.lookback if isinstance(self.lookback, list) else [self.lookback]
        if isinstance(self.lookback, tuple):
            self.lookback = list(self.lookback)
            lbs = self.lookback
        for lb in lbs:
            _int_ge("lookback", lb, 1, allow_none=not isinstance(self.lookback, list))
        _int_ge("hidden_size", self.hidden_size, 1)
        _int_ge("num_layers", self.num_layers, 1)
        _int_ge("season_length", self.season_length, 1)
        _int_ge("max_epochs", self.max_epochs, 1)
        check_seed(self.seed)
        _int_ge("ensemble", self.ensemble, 1, False)
        _int_ge("val_size", self.val_size, 0)
        _int_ge("patience", self.patience, 1)
        _int_ge("batch_size", self.batch_size, 1)
        _int_ge("calibration", self.calibration, 0)
        _int_ge("recent_windows", self.recent_windows, 0)
        if self.cell not in CELLS:
            raise InputError(f"expected cell among {list(CELLS)}, found {self.cell!r}")
        if self.smoothing is not None and self.smoothing not in SMOOTHINGS:
            raise InputError(f"expected smoothing among {list(SMOOTHINGS)}, found {self.smoothing!r}")
        if self.transform not in ("auto", "log", "none"):
            raise InputError(f"expected transform 'auto', 'log' or 'none', found {self.transform!r}")
        for name in ("lr", "weight_decay", "dropout"):
            value = getattr(self, name)
            if value is None and name == "weight_decay":
                continue
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InputError(f"expected {name} as a number >= 0, found {value!r}")
        if self.damping is not None:
            if isinstance(self.damping, bool) or not isinstance(self.damping, (int, float)) \
                    or not 0 < self.damping <= 1:
                raise InputError(f"expected damping as a number in (0, 1], found {self.damping!r}")
            self.damping = float(self.damping)
        if self.dropout >= 1:
            raise InputError(f"expected dropout below 1, found {self.dropout}")
        from lstmkit.forecasting.frame import check_quantiles

        self.quantiles = check_quantiles(self.quantiles)  # None -> []
        if self.calibration and not [q for q in self.quantiles if q != 0.5]:
            raise InputError(f"calibration={self.calibration} calibrates quantiles, found none: "
                             "give quantiles (e.g. [0.1, 0.9]) or leave calibration at None")
        self.covariates = [str(c) for c in self.covariates]
        self.past_covariates = [str(c) for c in (self.past_covariates or ())]
        self.static_covariates = _static_spec(self.static_covariates)
        for name, cols in (("covariates", self.covariates), ("past_covariates", self.past_covariates)):
            twice = sorted({c for c in cols if cols.count(c) > 1})
            if twice:
                raise InputError(f"{name} lists {twice} more than once: give each column once")
        both = [c for c in self.past_covariates if c in self.covariates]
        if both:
            raise InputError(f"covariate(s) {both} listed as both future-known (covariates) and past-only "
                             "(past_covariates): give each column once")
        static = [c for c in (self.static_covariates if isinstance(self.static_covariates, list)
                              else list(self.static_covariates)) if c in self.covariates + self.past_covariates]
        if static:
            raise InputError(f"column(s) {static} listed as static and as time-varying covariates: give each once")
        self.cell_options = dict(self.cell_options or {})

    def to_dict(self) -> dict:
        """The settings as a JSON-able dict (saved in a model's ``config.json``)."""
        return asdict(self)

    def damping_for(self, season_length: int, smoothing: str) -> float:
        """phi as set, else the default of the smoothing mode (1, none, without a season)."""
        if self.damping is not None:
            return self.damping
        if season_length == 1:
            return 1.0
        return ES_DAMPING if smoothing == "es" else DAMPING


STATIC_KINDS = ("numeric", "categorical")


def _static_spec(spec) -> list[str] | dict:
    """The static covariates as given: a list of names, or a dict name -> kind."""
    if not spec:
        return []
    if isinstance(spec, dict):
        out = {str(k): str(v) for k, v in spec.items()}
        bad = {k: v for k, v in out.items() if v not in STATIC_KINDS}
        if bad:
            raise InputError(f"expected static covariate kinds among {list(STATIC_KINDS)}, found {bad}")
        return out
    if isinstance(spec, str):
        raise InputError(f"expected static_covariates as a list of column names, found the string {spec!r}")
    return [str(c) for c in spec]


@dataclass
class Plan:
    """The derived values a fit uses (saved with the model).

    Attributes:
        season_length: m.
        lookbacks: L per ensemble member.
        val_size: points per series held out for validation.
        batch_size: windows per step.
        max_epochs: passes over the windows.
        patience: early stopping's patience (None: none).
        hidden_size: D.
        num_layers: recurrent layers.
        smoothing: ``"profile"``, ``"es"`` or ``"both"``.
        calibration: conformal calibration windows K (0: none).
        pad: steps made up in front of every series (:func:`~lstmkit.forecasting.frame.pad_front`)
            so that the shortest one gives a window of the derived lookback (0: none).
        recent: training windows per series, its latest (0: all).
        weight_decay: the L2 weight decay of the fit.
    """

    season_length: int
    lookbacks: list[int]
    val_size: int
    batch_size: int
    max_epochs: int
    patience: int | None
    hidden_size: int = NET_SIZE[0]  # defaults: plans saved before the size rule
    num_layers: int = NET_SIZE[1]
    smoothing: str = "profile"  # plans saved before the "es" mode
    calibration: int = 0  # conformal calibration windows (0: none; plans saved before it)
    pad: int = 0  # steps made up in front of every series (0: none; plans saved before it)
    recent: int = 0  # latest training windows per series (0: all; plans saved before it)
    weight_decay: float = WEIGHT_DECAY  # plans saved before the rule had the constant


def plan(cfg: ForecasterConfig, season_length: int, n_min: int, n_windows_of, n_median: float | None = None,
         n_series: int = 1) -> Plan:
    """Apply the rules of the module docstring.

    Args:
        cfg: the settings; a field left at None is derived.
        season_length: m.
        n_min: the shortest series' length.
        n_windows_of: ``n_windows_of(L, val, pad, recent=0)`` counts the training
            windows a lookback ``L`` leaves with ``val`` points held out, ``pad`` steps
            made up in front of every series and (``recent`` > 0) only the latest
            ``recent`` windows of each series.
        n_median: the median series length (None: ``n_min``).
        n_series: the number of series (default 1).

    Returns:
        The :class:`Plan` (``calibration`` left at 0: :func:`calibration_windows` sets it).

    Raises:
        InputError: a series too short for the lookback (when set) and horizon.
    """
    m, H = season_length, cfg.horizon
    val = cfg.val_size or 0
    room = n_min - H - val  # the longest lookback every series can feed without padding

    def derived_lookback(seasons: int) -> int:
        return max(seasons * m, 2 * H, MIN_LOOKBACK)

    def padding(L: int) -> int:  # steps the shortest series needs in front for one window
        return max(0, L - room)

    recent = cfg.recent_windows
    if recent is None:  # the rule: without a season, on many series, the latest windows of each
        recent = RECENT_WINDOWS if m == 1 and n_series * RECENT_WINDOWS >= MAX_BATCH else 0

    def windows(L: int, pad: int) -> int:  # the training windows
        return n_windows_of(L, val, pad, recent) if recent else n_windows_of(L, val, pad)

    smoothing = cfg.smoothing
    if smoothing is None:  # the rule of the module docstring
        first = cfg.lookback if cfg.lookback is not None else derived_lookback(2)
        first = max(first) if isinstance(first, list) else first
        pad = padding(first) if cfg.lookback is None else 0
        if m == 1:
            smoothing = "profile"
        elif windows(first, pad) <= MAX_BATCH:  # small data: one batch
            smoothing = "es"
        elif (n_median if n_median is not None else n_min) <= BOTH_SEASONS * m:  # short series
            smoothing = "both"
        else:
            smoothing = "profile"
    given = cfg.lookback if isinstance(cfg.lookback, list) else None if cfg.lookback is None else [cfg.lookback]
    # one group of members per lookback; "both" gives each an "es" and a "profile" member
    # (the derived lookbacks: three seasons for "es", two for "profile")
    if smoothing == "both":
        groups = [[lb, lb] for lb in given] if given else [[derived_lookback(ES_SEASONS), derived_lookback(2)]]
    else:
        groups = [[lb] for lb in given] if given else [[derived_lookback(ES_SEASONS if smoothing == "es" else 2)]]
    longest = max(lb for g in groups for lb in g)
    pad = padding(longest) if cfg.lookback is None else 0
    # a set lookback must fit every series; a derived one is padded, so one point will do
    need, what = (longest, "lookback") if cfg.lookback is not None else (1, "1")
    if room < need:
        raise InputError(
            f"the shortest series has {n_min} points: expected at least {what} + horizon"
            f"{' + val_size' if val else ''} = {need} + {H}{f' + {val}' if val else ''} = {need + H + val}"
        )
    lookbacks = [lb for g in groups for _ in range(cfg.ensemble) for lb in g]  # "both" keeps es, profile order
    N = windows(max(lookbacks), pad)
    if recent and N >= n_windows_of(max(lookbacks), val, pad):
        recent = 0  # no series has more windows than that: all are kept
    batch = cfg.batch_size or min(N, MAX_BATCH)
    per_epoch = math.ceil(N / batch)
    epochs = cfg.max_epochs or max(1, min(max(5, math.ceil(TARGET_STEPS / per_epoch)), MAX_STEPS // per_epoch))
    patience = (cfg.patience or max(5, epochs // 5)) if val else None
    size = SMALL_NET_SIZE if N <= MAX_BATCH else NET_SIZE
    hidden = cfg.hidden_size or size[0]
    layers = cfg.num_layers or size[1]
    decay = cfg.weight_decay if cfg.weight_decay is not None else 0.0 if N >= DECAY_FREE_WINDOWS else WEIGHT_DECAY
    return Plan(m, lookbacks, val, batch, epochs, patience, hidden, layers, smoothing, pad=pad, recent=recent,
                weight_decay=decay)


def calibration_windows(cfg: ForecasterConfig, lengths, lookback: int, pad: int = 0) -> int:
    """The calibration windows K of the module docstring's rule for series of
    ``lengths``, the plan's longest ``lookback`` and its padding ``pad``.

    Args:
        cfg: the settings (``calibration``, ``quantiles``, ``horizon``, ``val_size``).
        lengths: points per series.
        lookback: the plan's longest lookback.
        pad: steps the plan makes up in front of every series.

    Returns:
        K (0: no calibration).

    Raises:
        InputError: ``cfg.calibration`` asks for windows that no series can give.
    """
    H, val = cfg.horizon, cfg.val_size or 0
    lengths = np.asarray(lengths)
    if not [q for q in cfg.quantiles if q != 0.5] or cfg.calibration == 0:
        return 0

    def usable(K: int) -> np.ndarray:  # the cut lengths of the series that can be scored
        cut = lengths - K * H
        return cut[cut >= lookback - pad]

    if cfg.calibration is not None:
        K = cfg.calibration
        cut = usable(K)
        if count_windows(cut + pad, lookback, H, val) < 1:
            raise InputError(
                f"calibration={K} holds out the last {K} x horizon {H} = {K * H} points of each series, "
                f"then needs lookback + horizon{' + val_size' if val else ''} = {lookback + H + val} points "
                f"before them in some series; the longest has {int(lengths.max())}: use fewer windows or 0")
        return K
    for K in range(1, CAL_MAX_WINDOWS + 1):
        cut = usable(K)
        if len(cut) * K >= CAL_MIN_SCORES and count_windows(cut + pad, lookback, H, val) >= 1:
            return K
    return 0


def plan_to_dict(p: Plan) -> dict:
    """The plan ``p`` as a JSON-able dict (saved with the model; ``Plan(**d)`` reads it back)."""
    return asdict(p)
