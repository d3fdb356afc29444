"""The comparison: every cell on every task over a range of lags, same budget and seeds.

A cell is named by a spec string ``NAME[:key=value,...]``: ``"lstm"``, ``"gru"``,
``"lstm:layer_norm=True"`` (a variant: the options go to the layer), or
``"lstm:init=forget_bias"`` (``init`` is the training's gate initialisation, see
:class:`~lstmkit.experiments.runner.TrainConfig`). Every cell is built once before the
first run, so a cell or an option the layer does not accept is refused (InputError)
before any training.

Lags are tried shortest first; once a cell fails a lag for a seed, its longer lags for
that seed are not run and count as failures (solving a longer lag after failing a
shorter one is possible in principle but would cost the largest share of the budget),
except the reference lag, which is always run so that every cell has a time per step.
"""

from __future__ import annotations

import ast
import datetime
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from lstmkit.errors import InputError
from lstmkit.experiments.model import CELLS, recurrent_layer
from lstmkit.experiments.problems import PROBLEMS, make_problem
from lstmkit.experiments.runner import ExperimentResult, TrainConfig, run
from lstmkit.spine.flags import MAX_SEED, is_seed


@dataclass(frozen=True)
class CellSpec:
    """A cell to compare: its label, layer type, layer options and gate init.

    Attributes:
        label: how the comparison names it (the spec text, e.g. ``"lstm:layer_norm=True"``).
        cell: the layer type (``"rnn"``, ``"gru"``, ``"lstm"``, ``"slstm"``...).
        options: the layer's keywords.
        init: the gate-bias initialisation (None: the run's ``TrainConfig.init``).
    """

    label: str
    cell: str
    options: dict = field(default_factory=dict, hash=False)
    init: str | None = None

    @classmethod
    def parse(cls, text: str) -> CellSpec:
        """``"lstm"``, ``"lstm:layer_norm=True,zoneout=0.1"``, ``"lstm:init=forget_bias"``."""
        name, _, rest = text.partition(":")
        if name not in CELLS:
            raise InputError(f"cell spec {text!r}: expected a cell in {', '.join(CELLS)}, got {name!r}")
        options: dict = {}
        for item in filter(None, (s.strip() for s in rest.split(","))):
            key, eq, value = item.partition("=")
            if not eq or not key:
                raise InputError(f"cell spec {text!r}: expected key=value options, got {item!r}")
            options[key.strip()] = parse_value(value.strip())
        init = options.pop("init", None)
        return cls(text, name, options, init)


def parse_value(text: str):
    """A Python literal (``True``, ``0.1``, ``3``) or else the text itself.

    Example:
        >>> parse_value("True"), parse_value("0.1"), parse_value("chrono")
        (True, 0.1, 'chrono')
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


@dataclass
class CompareConfig:
    """What the comparison runs: lags per task, cells, seeds, and each run's budget.

    Attributes:
        tasks: task name -> the lags to try, shortest first.
        cells: cell specs (:meth:`CellSpec.parse`; default rnn, gru, lstm).
        seeds: one run per seed and lag (default (0,)).
        max_steps: each run's step budget (default 1000).
        max_time: each run's time cap in seconds (default 60).
        reference: the (task, lag) whose time per step and steps to solve the table
            reports (default ("adding", 100)).
        train: how each run trains (:class:`~lstmkit.experiments.TrainConfig`).

    Raises:
        InputError: an unknown task or cell, a lag below a task's minimum, no cell or
            seed, or a budget that is not positive.
    """

    tasks: dict[str, tuple[int, ...]]
    cells: tuple[str, ...] = ("rnn", "gru", "lstm")
    seeds: tuple[int, ...] = (0,)
    max_steps: int = 1000
    max_time: float = 60.0
    #: where the table's time per step and steps to solve are read: (task, lag)
    reference: tuple[str, int] = ("adding", 100)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        for task, lengths in self.tasks.items():
            if task not in PROBLEMS:
                raise InputError(f"unknown task {task!r}; expected one of {', '.join(PROBLEMS)}")
            if not lengths:
                raise InputError(f"task {task!r}: give at least one lag")
            for T in lengths:
                make_problem(task, T)  # validates the lag
        if not self.cells or not self.seeds:
            raise InputError("the comparison needs at least one cell and one seed")
        bad = [s for s in self.seeds if not is_seed(s)]
        if bad:
            raise InputError(f"expected seeds as integers in [0, {MAX_SEED}], found {bad}")
        for spec in self.cells:
            CellSpec.parse(spec)
        if self.max_steps < 1 or not self.max_time > 0:
            raise InputError(
                f"budget must be positive, got max_steps={self.max_steps}, max_time={self.max_time}"
            )


# `lstmkit compare --quick`: under 3 minutes on 2 idle CPU cores (see docs/experiments.md).
# The step budget decides (so the results do not depend on the machine's speed); the time
# cap, never reached on an idle machine, only bounds a run on a very busy one.
QUICK = CompareConfig(
    tasks={"adding": (50, 100), "temporal_order": (50, 100), "copy": (5, 10)},
    cells=("rnn", "gru", "lstm"),
    seeds=(0,),
    max_steps=1500,
    max_time=120.0,
)

# `lstmkit compare`: the full run, lags up to the 1997 paper's longest
FULL = CompareConfig(
    tasks={
        "adding": (100, 200, 500, 1000),
        "temporal_order": (100, 200, 500),
        "copy": (10, 20, 50),
    },
    cells=(
        "rnn",
        "gru",
        "lstm",
        "lstm:init=forget_bias",
        "lstm:peephole=True",
        "lstm:layer_norm=True",
    ),
    seeds=(0,),
    max_steps=2000,
    max_time=600.0,
)


@dataclass
class Comparison:
    """The runs of a comparison, the cells it could not build, the runs that raised,
    and its time.

    Attributes:
        config: what was run.
        results: every run's :class:`~lstmkit.experiments.ExperimentResult`.
        unavailable: cell label -> why it could not be built, as a saved comparison
            may list (:func:`load_json`); :func:`compare` now refuses such a cell before
            its first run.
        seconds: wall time of the comparison.
        cpu_seconds: its CPU time.
        date: the day it ran (ISO).
        errors: runs that raised: ``{"label", "task", "length", "seed", "error"}``.
    """

    config: CompareConfig
    results: list[ExperimentResult]
    unavailable: dict[str, str]
    seconds: float
    #: CPU time of the whole comparison; single-threaded runs make it close to the wall
    #: time the same comparison takes on an idle machine
    cpu_seconds: float = 0.0
    #: the day it ran (ISO), kept through save_json / load_json
    date: str = field(default_factory=lambda: datetime.date.today().isoformat())
    #: runs that raised: {"label", "task", "length", "seed", "error"}; they count as failures
    errors: list = field(default_factory=list)

    def runs(self, label: str, task: str, length: int) -> list[ExperimentResult | None]:
        """One entry per seed: the result, or None where the lag was skipped."""
        found = {(r.seed): r for r in self.results
                 if r.label == label and r.task == task and r.length == length}
        return [found.get(s) for s in self.config.seeds]

    def solve_rate(self, label: str, task: str, length: int) -> float:
        """The fraction of seeds whose run of cell ``label`` solved ``task`` at ``length``
        (a skipped lag counts as unsolved)."""
        runs = self.runs(label, task, length)
        return sum(bool(r and r.solved) for r in runs) / len(runs)

    def longest_solved(self, label: str, task: str) -> int | None:
        """The longest lag every seed solved (None if none)."""
        ok = [T for T in self.config.tasks[task] if self.solve_rate(label, task, T) == 1.0]
        return max(ok) if ok else None

    def labels(self) -> list[str]:
        """The compared cells that could be built, in the config's order."""
        return [c for c in self.config.cells if c not in self.unavailable]


def save_json(comp: Comparison, path) -> None:
    """Write the comparison (config, every result but the weights) as JSON.

    Args:
        comp: the comparison.
        path: the JSON file (written atomically).
    """
    cfg = asdict(comp.config)
    data = {"config": cfg, "date": comp.date, "seconds": comp.seconds,
            "cpu_seconds": comp.cpu_seconds,
            "unavailable": comp.unavailable, "errors": comp.errors,
            "results": [r.to_dict() for r in comp.results]}
    from lstmkit.spine.io import atomic_write

    text = json.dumps(data, indent=1)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def load_json(path, config: CompareConfig | None = None) -> Comparison:
    """A comparison saved by :func:`save_json`.

    Args:
        path: the JSON file.
        config: the config to use where the file has none.

    Returns:
        The :class:`Comparison` (results without their models).
    """
    try:
        data = json.loads(Path(path).read_text())
        if "config" in data:
            c = dict(data["config"])
            c["tasks"] = {k: tuple(v) for k, v in c["tasks"].items()}
            for k in ("cells", "seeds", "reference"):
                c[k] = tuple(c[k])
            c["train"] = TrainConfig(**c["train"])
            config = CompareConfig(**c)
        if config is None:
            raise InputError(f"{path}: no comparison config in the file and none given")
        results = [ExperimentResult(**r) for r in data["results"]]
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a comparison saved by lstmkit compare --json ({exc})") from None
    comp = Comparison(config, results, dict(data.get("unavailable", {})), float(data["seconds"]),
                      float(data.get("cpu_seconds", 0.0)))
    comp.date = data.get("date", comp.date)
    comp.errors = list(data.get("errors", []))
    return comp


def _available(spec: CellSpec) -> str | None:
    """Why this build cannot make the cell, or None."""
    try:
        recurrent_layer(spec.cell, 2, 4, **spec.options)
    except InputError as exc:
        return str(exc)
    return None


def compare(config: CompareConfig, progress=None, checkpoint=None) -> Comparison:
    """Run ``config``'s grid: every cell, task, seed and lag, shortest lag first; once a
    seed fails a lag, the longer lags of that task are skipped (except the reference
    lag).

    A run that raises (other than on bad input) is recorded in ``errors`` with its
    message and counts as a failure, so one crash does not throw away hours of runs.

    Args:
        config: the grid and budgets.
        progress: called with each result (or a message) after each run.
        checkpoint: a JSON path where the comparison so far is saved after each run, so
            an interrupted long comparison can still be rendered (:func:`load_json`).

    Returns:
        The :class:`Comparison`.

    Raises:
        InputError: a cell or an option the layer does not accept (before any run).
    """
    refused = [f"{text}: {why}" for text in config.cells if (why := _available(CellSpec.parse(text)))]
    if refused:
        raise InputError("cells the layer does not accept: " + "; ".join(refused))
    start, cpu_start = time.perf_counter(), time.process_time()
    comp = Comparison(config, [], {}, 0.0)

    def tick() -> None:
        comp.seconds = time.perf_counter() - start
        comp.cpu_seconds = time.process_time() - cpu_start
        if checkpoint:
            save_json(comp, checkpoint)

    for text in config.cells:
        spec = CellSpec.parse(text)
        train = replace(config.train, init=spec.init) if spec.init else config.train
        for task, lengths in config.tasks.items():
            ref_T = config.reference[1] if config.reference[0] == task else None
            for seed in config.seeds:
                failed = False
                for T in sorted(lengths):
                    if failed and T != ref_T:
                        continue
                    try:
                        r = run(task, spec.cell, T, config.max_steps, config.max_time, seed,
                                config=train, **spec.options)
                    except InputError:
                        raise
                    except Exception as exc:  # noqa: BLE001 -- recorded and reported, never silent
                        first = (str(exc).splitlines() or [""])[0][:200]
                        message = f"{type(exc).__name__}: {first}"
                        comp.errors.append({"label": text, "task": task, "length": T,
                                            "seed": seed, "error": message})
                        if progress:
                            progress(f"{text} {task} T={T} seed {seed}: ERROR {message}")
                        failed = True
                        tick()
                        continue
                    r.label = text
                    r.model = None  # the comparison keeps measurements, not weights
                    comp.results.append(r)
                    if progress:
                        progress(r)
                    failed = failed or not r.solved
                    tick()
    tick()
    return comp
