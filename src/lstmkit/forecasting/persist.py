"""Saving and loading a fitted Forecaster with the shared saved-model format.

``config.json`` holds the Forecaster's settings and the network's config; its ``state``
holds what preprocessing learned (frequency, derived plan, per-series and covariate
scalers), the conformal calibration's shifts and the last lookback points of every
training series, so a loaded model can ``predict()`` without data. ``model.safetensors`` holds the weights. Loading rebuilds the
network from the config and loads the weights strictly: any disagreement is an
InputError, never a half-loaded model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lstmkit.errors import InputError
from lstmkit.forecasting.calibration import Calibration
from lstmkit.forecasting.config import WEIGHT_DECAY, ForecasterConfig, Plan, plan_to_dict
from lstmkit.forecasting.features import ColumnScaling, Scaling
from lstmkit.forecasting.frame import SeriesSet
from lstmkit.forecasting.network import ForecastNet, ForecastNetConfig
from lstmkit.forecasting.static import StaticEncoding
from lstmkit.spine.io import load_model, load_weights, save_model

TASK = "forecast"


def save(model, path) -> str:
    """Write the fitted forecaster ``model`` to the directory ``path`` (the format of the
    module docstring); returns the directory as a string."""
    t = model.tails
    state = {
        "freq": model.freq,
        "plan": plan_to_dict(model.plan),
        "scaling": model.scaling.to_dict(),
        "cov_scaling": {"mean": model.cov_scaling.mean, "std": model.cov_scaling.std},
        "tails": {
            "ids": t.ids,
            "ds": [[str(s) for s in d] for d in t.ds],
            "y": [v.tolist() for v in t.y],
            "x": [v.tolist() for v in t.x],
            "static": [list(v) for v in t.static],
        },
        "static": None if model.static_enc is None else model.static_enc.to_dict(),
        "series_ids": list(model.series_ids),
        "calibration": None if model.calibration is None else model.calibration.to_dict(),
        "fit": {"epochs": int(getattr(model, "epochs_run", 0)), "seconds": float(model.fit_seconds)},
    }
    config = {"forecaster": model.config.to_dict(), "net": model.net.cfg.to_dict()}
    return str(save_model(path, TASK, config, dict(model.net.state_dict()), state))


def _check_agreement(path, cfg: ForecasterConfig, net_cfg: ForecastNetConfig, p: Plan) -> None:
    """InputError where the forecaster's settings, its plan and the network's config
    describe different models (a hand-edited config.json)."""
    given = None if cfg.lookback is None else set(cfg.lookback if isinstance(cfg.lookback, list) else [cfg.lookback])
    pairs = [  # (what, the network's or plan's value, the value that disagrees, whether they agree)
        ("cell", net_cfg.cell, cfg.cell, net_cfg.cell == cfg.cell),
        ("hidden_size", net_cfg.hidden_size, p.hidden_size, net_cfg.hidden_size == p.hidden_size),
        ("hidden_size", p.hidden_size, cfg.hidden_size, cfg.hidden_size in (None, p.hidden_size)),
        ("num_layers", net_cfg.num_layers, p.num_layers, net_cfg.num_layers == p.num_layers),
        ("num_layers", p.num_layers, cfg.num_layers, cfg.num_layers in (None, p.num_layers)),
        ("season_length", net_cfg.season_length, p.season_length, net_cfg.season_length == p.season_length),
        ("season_length", p.season_length, cfg.season_length, cfg.season_length in (None, p.season_length)),
        ("lookback", p.lookbacks, cfg.lookback, given is None or given == set(p.lookbacks)),
        ("quantiles", net_cfg.quantiles, cfg.quantiles, sorted({*cfg.quantiles, 0.5}) == list(net_cfg.quantiles)),
    ]
    for what, saved, other, agree in pairs:
        if not agree:
            raise InputError(f"{path}: config.json describes two models: {what} {saved} in one part, {other} in "
                             "another (edited by hand? save the model again)")


def load(cls, path, trainer_kwargs: dict):
    """The forecaster of class ``cls`` saved in ``path``, with the engine settings
    ``trainer_kwargs``; InputError when the directory is not a saved forecaster or its
    parts disagree."""
    config, tensors, state, _ = load_model(path, TASK)
    try:
        # configs saved before the "es" smoothing mode are "profile" models
        # configs saved before the engine kept checkpoint_dir among its own settings hold it
        saved = {k: v for k, v in config["forecaster"].items() if k != "checkpoint_dir"}
        cfg = ForecasterConfig(**{"smoothing": "profile", **saved})
        net_cfg = ForecastNetConfig(**config["net"])
        # plans saved before the weight-decay rule: the config's decay was the fit's
        p = Plan(**{"weight_decay": WEIGHT_DECAY if cfg.weight_decay is None else cfg.weight_decay,
                    **state["plan"]})
        tails = state["tails"]
        freq = state["freq"]
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: the saved forecaster's config is incomplete or invalid ({exc})") from None
    if net_cfg.lookbacks != p.lookbacks or net_cfg.horizon != cfg.horizon:
        raise InputError(f"{path}: the network config (horizon {net_cfg.horizon}, lookbacks "
                         f"{net_cfg.lookbacks}) disagrees with the forecaster's ({cfg.horizon}, {p.lookbacks})")
    _check_agreement(path, cfg, net_cfg, p)
    series_ids = [str(u) for u in state.get("series_ids", [])]  # absent before "es" smoothing
    if net_cfg.smoothing != p.smoothing or (p.smoothing in ("es", "both") and len(series_ids) != net_cfg.n_series):
        raise InputError(f"{path}: the network config (smoothing {net_cfg.smoothing!r}, {net_cfg.n_series} "
                         f"series) disagrees with the forecaster's ({p.smoothing!r}, {len(series_ids)} series)")
    try:
        static = None if state.get("static") is None else StaticEncoding.from_dict(state["static"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: the saved forecaster's static covariates are incomplete or invalid ({exc})") \
            from None
    names = static.names if static is not None else []
    levels = [len(v) for v in static.levels] if static is not None else []
    if (net_cfg.n_covariates != len(cfg.covariates) or net_cfg.n_past != len(cfg.past_covariates)
            or names != list(cfg.static_covariates) or list(net_cfg.static_levels) != levels):
        raise InputError(f"{path}: the network config ({net_cfg.n_covariates} future-known, {net_cfg.n_past} "
                         f"past-only covariates, categories {net_cfg.static_levels}) disagrees with the "
                         f"forecaster's (covariates {cfg.covariates}, past_covariates {cfg.past_covariates}, "
                         f"static {names} with categories {levels})")
    net = ForecastNet(net_cfg)
    load_weights(net, tensors, where=str(path))
    model = cls(**cfg.to_dict(), **trainer_kwargs)
    model.net = net.eval()
    model.plan = p
    model.series_ids = series_ids
    model.freq = freq
    model.scaling = Scaling.from_dict(state["scaling"])
    model.static_enc = static
    model.cov_scaling = ColumnScaling(list(state["cov_scaling"]["mean"]), list(state["cov_scaling"]["std"]))
    ncov = len(cfg.covariates) + len(cfg.past_covariates)
    model.tails = SeriesSet(
        list(tails["ids"]),
        [pd.DatetimeIndex(d) for d in tails["ds"]],
        [np.asarray(v, dtype=np.float64) for v in tails["y"]],
        [np.asarray(v, dtype=np.float64).reshape(len(y), ncov) for v, y in zip(tails["x"], tails["y"])],
        freq,
        list(cfg.covariates) + list(cfg.past_covariates),
        names,
        [list(v) for v in tails.get("static", [])],  # absent before static covariates
    )
    cal = state.get("calibration")  # absent before conformal calibration
    try:
        model.calibration = None if cal is None else Calibration.from_dict(cal)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: the saved forecaster's calibration is incomplete or invalid ({exc})") from None
    if model.calibration is not None and (model.calibration.shift.shape[-1] != len(model.calibration.levels)
                                          or any(q not in net_cfg.quantiles for q in model.calibration.levels)):
        raise InputError(f"{path}: the saved calibration (levels {model.calibration.levels}) disagrees with the "
                         f"network's quantiles {net_cfg.quantiles}")
    model.fit_seconds = float(state.get("fit", {}).get("seconds", float("nan")))
    model.path = Path(path)
    return model
