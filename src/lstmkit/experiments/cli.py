"""``lstmkit experiment NAME`` and ``lstmkit compare``: the long-time-lag experiments.

``experiment`` trains one cell on one problem and prints what it measured (optionally
a heat map of its gates); ``compare`` runs the RNN / GRU / LSTM comparison and writes
its section of docs/experiments.md with the PNG plots next to it.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from lstmkit.errors import InputError
from lstmkit.spine import flags

DEFAULT_OUT = "out/compare/experiments.md"


def _key_values(items: list[str] | None, what: str) -> dict:
    from lstmkit.experiments.compare import parse_value

    out = {}
    for item in items or []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise InputError(f"{what} expects KEY=VALUE, got {item!r}")
        out[key] = parse_value(value)
    return out


def _summary(r) -> str:
    verdict = "SOLVED" if r.solved else "not solved"
    if r.stopped_by == "diverged":
        verdict += f" (diverged after step {r.steps}: non-finite loss or gradients)"
    at = f" at step {r.steps_to_solve}" if r.steps_to_solve is not None else ""
    longer = ("" if r.long_accuracy is None else
              f"; accuracy {r.long_accuracy:.3f} on lengths {r.length + 1}-{r.long_length}")
    return (
        f"{r.task} T={r.length} {r.label}: {verdict}{at}; accuracy {r.accuracy:.3f} "
        f"(criterion on {r.problem.solve_fraction:.0%} of the test set){longer}, error {r.error:.4f}; "
        f"{r.steps} steps in {r.seconds:.1f} s ({r.seconds_per_step * 1e3:.1f} ms/step wall, "
        f"{r.cpu_seconds_per_step * 1e3:.1f} ms CPU, {r.backend} backend); "
        f"{r.parameters:,} parameters ({r.layer_parameters:,} in the recurrent layer)"
    )


def run_experiment(args) -> int:
    """``lstmkit experiment``: one run, a summary line, optional JSON and gate plot.

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    from lstmkit.experiments import TrainConfig, run
    from lstmkit.spine.nets import XLSTM_CELLS

    if args.plot_gates and args.cell in XLSTM_CELLS:
        raise InputError(f"--plot-gates reads rnn, gru and lstm layers; the {args.cell} cell "
                         "records no gates: drop --plot-gates or pick one of those cells")
    cfg = TrainConfig(hidden_size=args.hidden_size, batch_size=args.batch_size, lr=args.lr,
                      init=args.init)
    r = run(args.name, args.cell, args.length, args.max_steps, args.max_time, args.seed,
            config=cfg, task_options=_key_values(args.task_option, "--task-option"),
            **_key_values(args.option, "--option"))
    print(_summary(r))
    if args.json:
        from lstmkit.spine.io import atomic_write

        text = json.dumps(r.to_dict(), indent=1)
        atomic_write(args.json, lambda tmp: Path(tmp).write_text(text))
    if args.plot_gates:
        from lstmkit.experiments.gates import trace_gates
        from lstmkit.experiments.plots import gate_heatmap

        path = gate_heatmap(trace_gates(r.model, r.problem, seed=args.seed + 12345), args.plot_gates)
        print(f"gates: {path}")
    return 0


def _command(args) -> str:
    parts = ["lstmkit compare"] + (["--quick"] if args.quick else [])
    for flag in ("cells", "seeds", "max_steps", "max_time", "task"):
        value = getattr(args, flag)
        if value is not None:
            value = " ".join(map(str, value)) if isinstance(value, list) else value
            parts.append(f"--{flag.replace('_', '-')} {value}")
    return " ".join(parts)


def _default_img_dir(out: str) -> Path:
    """The plots go next to the docs file, in ``img/`` (``out/compare/img`` with ``--out -``)."""
    return Path(DEFAULT_OUT if out == "-" else out).parent / "img"


def run_compare(args) -> int:
    """``lstmkit compare``: the grid, its plots and its docs section.

    Args:
        args: the parsed command line.

    Returns:
        The exit status.
    """
    from lstmkit.experiments import compare as cmp
    from lstmkit.experiments import plots, report

    base = cmp.QUICK if args.quick else cmp.FULL
    changes: dict = {}
    if args.cells:
        changes["cells"] = tuple(args.cells)
    if args.seeds:
        changes["seeds"] = tuple(args.seeds)
    if args.max_steps:
        changes["max_steps"] = args.max_steps
    if args.max_time:
        changes["max_time"] = args.max_time
    if args.task:
        tasks = {}
        for item in args.task:
            name, _, lags = item.partition("=")
            try:
                tasks[name] = tuple(int(v) for v in lags.split(","))
            except ValueError:
                raise InputError(f"--task expects NAME=T1,T2,..., got {item!r}") from None
        changes["tasks"] = tasks
        if base.reference[0] not in tasks:
            changes["reference"] = (next(iter(tasks)), min(next(iter(tasks.values()))))
    config = replace(base, **changes)  # validated again by __post_init__

    def progress(item) -> None:
        if isinstance(item, str):
            print(item, flush=True)
        else:
            print(f"  {item.task:<14} T={item.length:<5} {item.label:<24} "
                  f"{'solved' if item.solved else 'FAILED'} acc={item.accuracy:.3f} "
                  f"steps={item.steps} {item.seconds:.1f}s", flush=True)

    if args.from_json:
        comp = cmp.load_json(args.from_json, config)
    else:
        comp = cmp.compare(config, progress, checkpoint=args.json)
    # a grid changed by flags gets its own section: it must not overwrite the documented one
    key = args.section or ("custom" if changes else "quick" if args.quick else "full")
    img_dir = Path(args.img_dir) if args.img_dir else _default_img_dir(args.out)
    curves = plots.learning_curves(comp, img_dir / f"experiments_{key}_curves.png")
    rates = plots.solve_rate(comp, img_dir / f"experiments_{key}_solve_rate.png")
    if args.json:
        cmp.save_json(comp, args.json)
    if args.out != "-":
        rel = lambda p: os.path.relpath(p, Path(args.out).parent)
        text = report.render(comp, _command(args), {
            "learning curves": rel(curves), "solve rate against lag": rel(rates)})
        report.write_section(args.out, key, text)
        print(f"wrote {args.out} ({key} section), {curves}, {rates}")
    print(f"comparison took {comp.seconds:.0f} s wall, {comp.cpu_seconds:.0f} s CPU")
    if comp.errors:
        print(f"{len(comp.errors)} run(s) raised an error; see the docs section or --json")
        return 1
    return 0


def add_parser(sub) -> None:
    """Register the ``experiment`` and ``compare`` subcommands.

    Args:
        sub: the ``lstmkit`` parser's subcommands (``add_subparsers()``).
    """
    from lstmkit.experiments.model import CELLS, GATE_INITS
    from lstmkit.experiments.problems import PROBLEMS

    p = sub.add_parser("experiment", help="train a cell on a long-time-lag problem or a formal-language task")
    p.add_argument("name", choices=tuple(PROBLEMS), help="the problem")
    p.add_argument("--cell", choices=CELLS, default="lstm")
    p.add_argument("--length", type=int, default=100, help="the lag T (default 100)")
    p.add_argument("--max-steps", type=int, help="step budget")
    p.add_argument("--max-time", type=float, help="time budget in seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden-size", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--init", choices=GATE_INITS, default="chrono", help="gate-bias initialisation")
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="layer option, e.g. layer_norm=True (repeatable)")
    p.add_argument("--task-option", action="append", metavar="KEY=VALUE",
                   help="problem option, e.g. symbols=10 for copy (repeatable)")
    p.add_argument("--plot-gates", metavar="PNG", help="write a heat map of the gates and states")
    p.add_argument("--json", metavar="PATH", help="write the result as JSON")
    p.set_defaults(func=run_experiment)

    c = sub.add_parser("compare", help="RNN vs GRU vs LSTM on the long-time-lag problems",
                       description="RNN vs GRU vs LSTM on the long-time-lag problems: the "
                       "comparison table of docs/lstm.md, each claim beside its measured value")
    c.add_argument("--quick", action="store_true", help="the small grid (under 3 minutes)")
    c.add_argument("--cells", nargs="+", metavar="SPEC", help="e.g. rnn gru lstm lstm:layer_norm=True")
    c.add_argument("--seeds", nargs="+", type=int)
    c.add_argument("--task", action="append", metavar="NAME=T1,T2", help="lags for a task (repeatable)")
    c.add_argument("--max-steps", type=int, help="step budget per run")
    c.add_argument("--max-time", type=float, help="time budget per run, seconds")
    c.add_argument("--out", default=DEFAULT_OUT,
                   help=f"markdown file whose section to write or update ('-': none; default {DEFAULT_OUT}; "
                        "the project's docs: --out docs/experiments.md)")
    c.add_argument("--img-dir", help="folder for the PNG plots (default: img/ next to --out)")
    c.add_argument("--section", help="the docs section to replace (default: quick, full, or custom when the grid is changed)")
    c.add_argument("--json", metavar="PATH", help="also write every result as JSON (updated after each run)")
    c.add_argument("--from-json", metavar="PATH",
                   help="re-render the docs and plots from a saved --json run, no training")
    flags.outputs(c, out="file")
    c.set_defaults(func=run_compare)
