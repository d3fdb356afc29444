"""What ``lstmkit forecast`` does, callable from Python: evaluate the LSTM against the
baselines on held-out data, or forecast the future; print a table, write CSV and PNG."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lstmkit.errors import InputError
from lstmkit.forecasting.backtest import BacktestResult, backtest, compare
from lstmkit.forecasting.forecaster import Forecaster
from lstmkit.forecasting.frame import SeriesSet
from lstmkit.spine.io import Staged, atomic_write

DEMO_HORIZON = 12


def baselines(horizon: int, season_length: int | None, quantiles: list[float],
              names=("naive", "seasonal_naive", "ets")) -> list:
    """The baseline models ``names`` (from :data:`lstmkit.forecasting.baselines.BASELINES`); ETS,
    Theta and Comb are skipped where statsmodels is not installed.

    Args:
        horizon: H.
        season_length: m (None: from the data's frequency).
        quantiles: the interval levels.
        names: the baselines' names.

    Returns:
        The baseline models, unfitted.
    """
    from lstmkit.forecasting.baselines import BASELINES

    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise InputError(f"expected baselines among {sorted(BASELINES)}, found {unknown}")
    try:
        import statsmodels  # noqa: F401
    except ModuleNotFoundError:
        names = [n for n in names if n not in ("ets", "theta", "comb")]
    return [BASELINES[n](horizon, season_length, quantiles or None) for n in names]


def format_table(table: pd.DataFrame) -> str:
    """A fixed-width text table of :func:`~lstmkit.forecasting.compare`'s frame: metrics
    with 3 decimals, seconds with 2."""
    cols = list(table.columns)
    head = f"{'model':<16}" + "".join(f"{c:>10}" for c in cols)
    lines = [head, "-" * len(head)]
    for name, row in table.iterrows():
        cells = "".join(f"{row[c]:>10.2f}" if c.endswith("_s") else f"{row[c]:>10.3f}" for c in cols)
        lines.append(f"{name:<16}{cells}")
    return "\n".join(lines)


def write_csv(frame: pd.DataFrame, path: Path, write=atomic_write) -> Path:
    """Write ``frame`` to ``path`` as CSV, atomically.

    Args:
        frame: the table.
        path: the file.
        write: how (default :func:`~lstmkit.spine.io.atomic_write`; e.g. a
            :class:`~lstmkit.spine.io.Staged`'s ``write``).

    Returns:
        ``path``.
    """
    return write(path, lambda tmp: frame.to_csv(tmp, index=False))


def _horizon(requested: int | None, loaded: Forecaster | None) -> int:
    if loaded is not None:
        if requested is not None and requested != loaded.horizon:
            raise InputError(f"the saved model forecasts {loaded.horizon} steps; found --horizon {requested}")
        return loaded.horizon
    if requested is None:
        return DEMO_HORIZON
    if requested < 1:
        raise InputError(f"expected --horizon >= 1, found {requested}")
    return requested


def describe(series: SeriesSet, name: str) -> str:
    """One line on the data: ``name``, its size (points, or series and their length range)
    and frequency.

    Args:
        series: the validated data.
        name: its name.

    Returns:
        The line.
    """
    n = series.lengths()
    size = f"{n[0]} points" if len(series) == 1 else f"{len(series)} series, {n.min()}..{n.max()} points"
    return f"{name}: {size} at frequency {series.freq}"


def evaluate(series: SeriesSet, name: str, out: Path, model: Forecaster, *, windows: int = 1,
             fit: bool = True, plot: bool = True, save: str | None = None, resume: bool = False,
             baseline_names=("naive", "seasonal_naive", "ets"), echo=print) -> list[BacktestResult]:
    """Backtest ``model`` and the baselines on the last ``windows`` horizons of ``series``;
    print the table; write ``<name>_forecast.csv`` (all windows) and ``.png`` (last window).

    Args:
        series: the data.
        name: the data's name, for the files.
        out: the output folder.
        model: the Forecaster.
        windows: origins (default 1).
        fit: False evaluates ``model`` as it is (a loaded model).
        plot: write the PNG.
        save: a directory to save the model fitted at the last origin to.
        resume: continue the first fit from its checkpoint directory.
        baseline_names: the baselines beside it.
        echo: prints the lines.

    Returns:
        The backtests, the Forecaster's first.
    """
    H = model.horizon
    frame = series.to_frame()
    results = [backtest(model, frame, windows=windows, fit=fit, resume=resume)]
    m = model.config.season_length
    for base in baselines(H, m, model.quantiles, baseline_names):
        results.append(backtest(base, frame[["unique_id", "ds", "y"]], windows=windows))  # no covariates
    held = "last horizon held out" if windows == 1 else f"{windows} rolling origins"
    echo(f"{describe(series, name)}; horizon {H}, {held}; season length "
         f"{results[0].fitted.plan.season_length}{'' if fit else '; saved model, not retrained'}")
    echo(format_table(compare(results)))
    lstm = results[0]
    lines = []
    with Staged() as stage:  # the CSV, the plot and the model appear together or not at all
        lines.append(f"forecast: {write_csv(lstm.forecasts, out / f'{name}_forecast.csv', stage.write)}")
        if plot:
            from lstmkit.forecasting.plot import plot_forecast

            last = lstm.forecasts[lstm.forecasts["cutoff"] == lstm.forecasts["cutoff"].max()]
            hist = series.head(H).to_frame()
            actual = last.rename(columns={"y": "y_out"})[["unique_id", "ds", "y_out"]].rename(columns={"y_out": "y"})
            png = plot_forecast(hist, last, out / f"{name}_forecast.png", model.quantiles, actual,
                                title="LSTM forecast", write=stage.write)
            lines.append(f"plot:     {png}")
        if save:
            lines.append(f"model:    {lstm.fitted.save(save)} (trained on the data before the held-out period)")
    for line in lines:
        echo(line)
    return results


def forecast_future(series: SeriesSet, name: str, out: Path, model: Forecaster, *, fit: bool = True,
                    plot: bool = True, save: str | None = None, resume: bool = False,
                    echo=print) -> pd.DataFrame:
    """Fit on all of ``series`` (unless ``fit`` is False), forecast the next horizon,
    write ``<name>_forecast.csv`` and ``.png``, save the model when asked.

    Args:
        series: the data.
        name: the data's name, for the files.
        out: the output folder.
        model: the Forecaster.
        fit: False forecasts with ``model`` as it is (a loaded model).
        plot: write the PNG.
        save: a directory to save the model to.
        resume: continue the fit from its checkpoint directory.
        echo: prints the lines.

    Returns:
        The forecast frame.
    """
    if model.covariates:  # checked before training: nothing is trained or written in vain
        raise InputError("forecasting the future with covariates needs their future values: "
                         "use the Python API, Forecaster.predict(df, future=...)")
    frame = series.to_frame()
    if fit:
        model._fit_series(series, resume)
        echo(f"{describe(series, name)}; trained in {model.fit_seconds:.1f} s "
             f"({model.epochs_run} epochs, lookback {max(model.plan.lookbacks)})")
    else:
        echo(f"{describe(series, name)}; saved model, horizon {model.horizon}")
    fc = model._predict_series(series)
    lines = []
    with Staged() as stage:  # the CSV, the plot and the model appear together or not at all
        lines.append(f"forecast: {write_csv(fc, out / f'{name}_forecast.csv', stage.write)}")
        if plot:
            from lstmkit.forecasting.plot import plot_forecast

            png = plot_forecast(frame, fc, out / f"{name}_forecast.png", model.quantiles,
                                title="LSTM forecast", write=stage.write)
            lines.append(f"plot:     {png}")
        if save:
            lines.append(f"model:    {model.save(save)}")
    for line in lines:
        echo(line)
    return fc
