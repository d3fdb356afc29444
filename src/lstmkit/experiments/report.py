"""The comparison as Markdown: the RNN / LSTM / GRU table of docs/lstm.md with measured values, and every run.

``write_section`` replaces only the text between ``<!-- compare:KEY:begin -->`` and
``<!-- compare:KEY:end -->`` in the docs file, so the quick and the full comparison can
live in the same hand-written page, each refreshed by its own command.
"""

from __future__ import annotations

import os
import platform
import statistics
from pathlib import Path

import torch

from lstmkit.experiments.compare import Comparison
from lstmkit.experiments.runner import TASK_DEFAULTS

# the usual claims about each cell (docs/lstm.md), column by column (RNN, LSTM, GRU), row by row
_SEED = {
    "long": {"rnn": "poor", "lstm": "excellent", "gru": "good"},
    "complexity": {"rnn": "low", "lstm": "high", "gru": "moderate"},
    "time": {"rnn": "fast", "lstm": "slow", "gru": "faster than LSTM"},
    "params": {"rnn": "fewer", "lstm": "more (gates)", "gru": "fewer than LSTM"},
    "usage": {"rnn": "simple tasks", "lstm": "long-term dependencies",
              "gru": "long-term dependencies"},
}
_TASK_NAMES = {"adding": "adding", "temporal_order": "temporal order", "copy": "copy",
               "parity": "parity", "modular_arithmetic": "modular arithmetic",
               "modular_arithmetic_brackets": "modular arithmetic (brackets)",
               "cycle_navigation": "cycle navigation"}


def machine() -> str:
    """A one-line description of this machine, for dated measurements."""
    return f"{os.cpu_count()}-core {platform.machine()} CPU, torch {torch.__version__.split('+')[0]} CPU"


def _columns(comp: Comparison) -> list[str]:
    """The claims' column order (RNN, LSTM, GRU), then variants in the config's order."""
    labels = comp.labels()
    base = [c for c in ("rnn", "lstm", "gru") if c in labels]
    return base + [c for c in labels if c not in base]


def _reference_runs(comp: Comparison, label: str):
    task, T = comp.config.reference
    return [r for r in comp.runs(label, task, T) if r is not None]


def _cells(comp: Comparison) -> dict[str, list[str]]:
    """Measured value of each row for each column."""
    rows: dict[str, list[str]] = {k: [] for k in ("long", "blocks", "time", "params", "steps")}
    for label in _columns(comp):
        longest = []
        for t in comp.config.tasks:  # "not run": an interrupted comparison never got there
            ran = any(r.label == label and r.task == t for r in comp.results)
            v = comp.longest_solved(label, t) if ran else "not run"
            longest.append("none" if v is None else str(v))
        rows["long"].append(" / ".join(longest))
        ref = _reference_runs(comp, label)
        any_run = next((r for r in comp.results if r.label == label), None)
        rows["blocks"].append(str(any_run.gate_blocks) if any_run else "n/a")
        if ref:
            cpu = statistics.mean(r.cpu_seconds_per_step for r in ref) * 1e3
            wall = statistics.mean(r.seconds_per_step for r in ref) * 1e3
            used = "/".join(sorted({r.backend for r in ref if r.backend})) or "?"
            rows["time"].append(f"{cpu:.1f} ms CPU ({wall:.1f} ms wall; `{used}` backend)")
            rows["params"].append(f"{ref[0].layer_parameters:,}")
            solved = [r.steps_to_solve for r in ref if r.steps_to_solve is not None]
            n = len(ref)
            if solved:
                rows["steps"].append(
                    f"{statistics.median(solved):.0f}" + (f" ({len(solved)}/{n} seeds)" if len(solved) < n else "")
                )
            else:
                rows["steps"].append(f"not solved in {max(r.steps for r in ref)}")
        else:
            rows["time"].append("not run")
            rows["params"].append("not run")
            rows["steps"].append("not run")
    return rows


def render(comp: Comparison, command: str, images: dict[str, str]) -> str:
    """The Markdown section for a comparison.

    Args:
        comp: the comparison.
        command: the command that reproduces it, shown with the tables.
        images: a caption -> an image's relative path.

    Returns:
        The Markdown text.
    """
    cfg = comp.config
    task, T = cfg.reference
    cols = _columns(comp)
    rows = _cells(comp)
    head = [c.upper() if c in ("rnn", "lstm", "gru") else f"`{c}`" for c in cols]
    seed = lambda key: [_SEED[key].get(c, "") for c in cols]
    H = next((r.hidden_size for r in _reference_runs(comp, cols[0])), None) if cols else None
    batch = cfg.train.batch_size or TASK_DEFAULTS[task]["batch_size"]
    task_list = " / ".join(_TASK_NAMES[t] for t in cfg.tasks)
    table = [
        ("handles long sequences (the usual claim)", seed("long")),
        (f"**measured: longest lag T solved by every seed** ({task_list})", rows["long"]),
        ("complexity (the usual claim)", seed("complexity")),
        ("**measured: gate blocks per step** (weight matrices of size H x (I+H))", rows["blocks"]),
        ("training time (the usual claim)", seed("time")),
        ((f"**measured: time per training step**, 1 thread ({_TASK_NAMES[task]} T={T}, "
          f"batch {batch}, H={H})"),
         rows["time"]),
        ("parameters (the usual claim)", seed("params")),
        (f"**measured: parameters of the recurrent layer** ({_TASK_NAMES[task]}, H={H})",
         rows["params"]),
        (f"**measured: steps to solve {_TASK_NAMES[task]} T={T}** (median over seeds)",
         rows["steps"]),
        ("usage (the usual claim)", seed("usage")),
    ]
    date = comp.date
    lags = "; ".join(f"{_TASK_NAMES[t]} T = {', '.join(map(str, ls))}" for t, ls in cfg.tasks.items())
    intro = (
        f"Measured {date} on a {machine()} with `{command}`; the whole comparison took "
        f"**{comp.seconds:.0f} s** of wall time and {comp.cpu_seconds:.0f} s of CPU time "
        "(runs use one thread, so the CPU time is close to the wall time on an idle machine; "
        "other jobs shared this one, so wall times are noisy). "
        f"Budget per run: {cfg.max_steps} steps or {cfg.max_time:g} s, whichever ends "
        f"first; seeds {', '.join(map(str, cfg.seeds))}; lags: {lags}. Once a cell fails a "
        "lag, its longer lags are not run (they count as failures), except the reference lag."
    )
    out = [
        intro,
        "",
        "| feature | " + " | ".join(head) + " |",
        "|---|" + "---|" * len(cols),
    ]
    out += [f"| {name} | " + " | ".join(vals) + " |" for name, vals in table]
    if comp.errors:
        out += ["", "Runs that raised an error (counted as failures):"]
        out += [f"- `{e['label']}` {_TASK_NAMES[e['task']]} T={e['length']} seed {e['seed']}: "
                f"`{e['error']}`" for e in comp.errors]
    if comp.unavailable:
        out += ["", "Not available in this build (the layer rejected the options):"]
        out += [f"- `{k}`: {v}" for k, v in comp.unavailable.items()]
    out += [
        "",
        (f"Every run (accuracy: fraction of {cfg.train.test_size} test sequences meeting the "
         "task's criterion; error: test MSE for adding, cross-entropy otherwise):"),
        "",
        ("| task | T | cell | seed | solved | accuracy | error | steps | ended by | "
         "ms/step (CPU) | ms/step (wall) | seconds (wall) | backend |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in comp.results:
        out.append(
            f"| {_TASK_NAMES[r.task]} | {r.length} | `{r.label}` | {r.seed} | "
            f"{'yes' if r.solved else 'no'} | {r.accuracy:.3f} | {r.error:.4f} | {r.steps} | "
            f"{r.stopped_by or '-'} | "
            f"{r.cpu_seconds_per_step * 1e3:.1f} | {r.seconds_per_step * 1e3:.1f} | {r.seconds:.1f} | "
            f"{r.backend or '?'} |"
        )
    for caption, rel in images.items():
        out += ["", f"![{caption}]({rel})"]
    return "\n".join(out) + "\n"


def write_section(path, key: str, text: str, title: str = "# Experiments\n") -> Path:
    """Put ``text`` between the ``key`` markers of a Markdown file, leaving the rest.

    Args:
        path: the file (created with ``title`` when absent).
        key: the markers' name.
        text: the section.
        title: the first line of a new file.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    begin, end = f"<!-- compare:{key}:begin -->", f"<!-- compare:{key}:end -->"
    block = f"{begin}\n{text}{end}"
    doc = path.read_text() if path.exists() else title
    if begin in doc and end in doc:
        pre, rest = doc.split(begin, 1)
        doc = pre + block + rest.split(end, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    from lstmkit.spine.io import atomic_write

    return atomic_write(path, lambda tmp: Path(tmp).write_text(doc))
