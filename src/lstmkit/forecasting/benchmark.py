"""``lstmkit forecast benchmark``: the Forecaster at its defaults against the statistical
baselines on a forecasting-competition set with its official train/test split.

Each set (:func:`lstmkit.forecasting.datasets.competition`) is scored as a one-window backtest of
train + test: every model sees only the training part of each series and forecasts its
test part. The table has, per model, the means over series of sMAPE, MASE (the
seasonal in-sample scale, m = the set's period) and MAPE (%, the Tourism
competition's measure), the coverage of the outermost interval
and the scaled pinball loss ``spl`` (pinball loss over the in-sample seasonal naive MAE,
averaged over the levels) when quantiles are on, and the fit and predict seconds; the LSTM has one row per seed
and a row with their mean. It is printed and written (Markdown and CSV, atomically)
with the date, the machine and its load, so a figure never travels without them.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import pandas as pd

from lstmkit.errors import InputError
from lstmkit.forecasting.backtest import BacktestResult, backtest
from lstmkit.forecasting.config import QUANTILES
from lstmkit.forecasting.forecaster import Forecaster
from lstmkit.spine.flags import MAX_SEED, is_seed
from lstmkit.spine.io import atomic_write

BASELINE_NAMES = ("naive", "seasonal_naive", "theta", "ets", "comb")
COLUMNS = ("smape", "mase", "mape", "coverage", "spl", "fit_s", "predict_s")


def machine() -> str:
    """One line: CPU, cores, torch version and threads, load average now."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} "
            f"thread(s), load average {load}")


def _row(result: BacktestResult) -> dict:
    row = {c: float(result.mean[c]) for c in ("smape", "mase", "mape", "coverage", "spl") if c in result.mean}
    return {**row, "fit_s": result.fit_seconds, "predict_s": result.predict_seconds}


def forecaster(horizon: int, season_length: int, seed: int = 0, **forecaster_kwargs) -> Forecaster:
    """The Forecaster a benchmark fits: the defaults (ForecasterConfig's, as the Python
    API's and the CLI's) but the set's horizon and season length, quiet unless told.

    Args:
        horizon: the set's H.
        season_length: the set's m.
        seed: the fit's seed (default 0).
        **forecaster_kwargs: other Forecaster keywords.

    Returns:
        The unfitted :class:`~lstmkit.forecasting.Forecaster`.
    """
    return Forecaster(horizon, season_length=season_length, seed=int(seed),
                      **{"verbose": False, **forecaster_kwargs})


def run(name, seeds=(0,), quantiles=QUANTILES, baselines=BASELINE_NAMES, echo=print,
        **forecaster_kwargs) -> pd.DataFrame:
    """Benchmark the default Forecaster (one fit per seed) and ``baselines`` on the set
    ``name`` (or a loaded :class:`lstmkit.forecasting.datasets.Competition`); returns the table (one
    row per model, columns :data:`COLUMNS` present). ``quantiles`` (the Forecaster's
    default; ``[]`` for none) go to the Forecaster and the baselines alike. The baselines
    are local models whose work happens when they forecast: their time shows as predict
    seconds.

    Args:
        name: a set of :func:`~lstmkit.forecasting.datasets.competition`, or a loaded
            :class:`~lstmkit.forecasting.datasets.Competition`.
        seeds: one Forecaster fit per seed (default (0,)).
        quantiles: the levels for the Forecaster and the baselines (``[]``: none).
        baselines: the baselines' names.
        echo: prints progress lines.
        **forecaster_kwargs: other Forecaster keywords.

    Returns:
        The table: one row per model, the columns of :data:`COLUMNS` present.
    """
    from lstmkit.forecasting import datasets
    from lstmkit.forecasting.report import baselines as make_baselines

    seeds = list(seeds)
    if not seeds or not all(is_seed(s) for s in seeds):
        raise InputError(f"expected one or more seeds, integers in [0, {MAX_SEED}], found {seeds}")
    bases = make_baselines(1, None, [], baselines)  # unknown names fail before any work
    comp = name if isinstance(name, datasets.Competition) else datasets.competition(name)
    name, H, m = comp.name, comp.horizon, comp.season_length
    data = pd.concat([comp.train, comp.test], ignore_index=True).sort_values(["unique_id", "ds"], kind="stable")
    n = comp.train["unique_id"].nunique()
    echo(f"{name}: {n} series, horizon {H}, season length {m}")
    rows: dict[str, dict] = {}
    lstm_rows = []
    for seed in seeds:
        model = forecaster(H, m, seed, quantiles=quantiles, **forecaster_kwargs)
        res = backtest(model, data, windows=1)
        lstm_rows.append(_row(res))
        rows[f"lstm seed {seed}"] = lstm_rows[-1]
        echo(f"  lstm seed {seed}: sMAPE {lstm_rows[-1]['smape']:.3f}, MASE {lstm_rows[-1]['mase']:.3f}, "
             f"fit {res.fit_seconds:.1f} s")
    if len(seeds) > 1:
        rows[f"lstm mean of {len(seeds)}"] = pd.DataFrame(lstm_rows).mean().to_dict()
    for base in make_baselines(H, m, list(quantiles or []), [b.name for b in bases]):
        t0 = time.perf_counter()
        res = backtest(base, data, windows=1)
        rows[base.name] = _row(res)
        echo(f"  {base.name}: sMAPE {rows[base.name]['smape']:.3f}, MASE {rows[base.name]['mase']:.3f} "
             f"({time.perf_counter() - t0:.1f} s)")
    table = pd.DataFrame(rows).T
    table.index.name = "model"
    return table[[c for c in COLUMNS if c in table.columns]]


def to_markdown(table: pd.DataFrame, title: str, note: str) -> str:
    """The table as Markdown: metrics with 3 decimals, seconds with 1.

    Args:
        table: :func:`run`'s table.
        title: the heading.
        note: a line under the heading (the machine, the command).

    Returns:
        The Markdown text.
    """
    cols = list(table.columns)
    lines = [f"### {title}", "", note, "", "| model | " + " | ".join(cols) + " |",
             "|---" * (len(cols) + 1) + "|"]
    for name, row in table.iterrows():
        cells = [("" if pd.isna(row[c]) else f"{row[c]:.1f}" if c.endswith("_s") else f"{row[c]:.3f}")
                 for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write(table: pd.DataFrame, name: str, out: Path, note: str) -> tuple[Path, Path]:
    """Write ``benchmark_<name>.md`` and ``.csv`` under ``out`` atomically.

    Args:
        table: :func:`run`'s table.
        name: the set's name.
        out: the folder.
        note: the Markdown note (:func:`to_markdown`).

    Returns:
        The two paths, Markdown first.
    """
    md = atomic_write(out / f"benchmark_{name}.md",
                      lambda tmp: Path(tmp).write_text(to_markdown(table, name, note)))
    csv = atomic_write(out / f"benchmark_{name}.csv", lambda tmp: table.to_csv(tmp))
    return md, csv
