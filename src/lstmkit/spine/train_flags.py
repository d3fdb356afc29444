"""The flags every ``lstmkit <task> train`` takes, declared once, and their translation
into the engine's settings.

``--data --out --seed --max-time --max-epochs --max-steps --accelerator --devices
--strategy --num-nodes --precision --checkpoint-dir --checkpoint-every --resume --threads
--backend
--quiet``. Their values are checked with every other flag by
:func:`lstmkit.spine.flags.check` before anything runs; :func:`engine_kwargs` turns
them into the keywords an estimator passes to :func:`lstmkit.spine.engine.fit_module`.
"""

from __future__ import annotations

import argparse

from lstmkit.spine.cli import apply_threads  # noqa: F401 - the one way to apply --threads, re-exported

ENGINE_FLAGS = ("accelerator", "devices", "strategy", "num_nodes", "precision")


def task_parser(subparsers, name: str, help: str, description: str | None):
    """``lstmkit <name>`` with its actions (``train``, ``evaluate``, ``predict``, ...):
    the task's parser and the subparsers its actions are added to.

    Args:
        subparsers: the ``lstmkit`` parser's subcommands.
        name: the task's command.
        help: its one-line help.
        description: its ``--help`` text (the cli module's docstring).

    Returns:
        ``(parser, actions)``: the task's parser and its ``add_subparsers()``.
    """
    p = subparsers.add_parser(name, help=help, description=description,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    return p, p.add_subparsers(dest="action", metavar="ACTION", required=True)


def add_train_flags(parser: argparse.ArgumentParser, *, out_default: str | None, data_help: str | None,
                    max_time_default: float | None = None, threads_default: int | None = 1,
                    backend: bool = True, out_help: str | None = None) -> None:
    """Add the common training flags to a task's ``train`` parser (module docstring).

    Args:
        parser: the ``train`` parser.
        out_default: the default ``--out`` (None: no default).
        data_help: ``--data``'s help (None: the parser declares ``--data`` itself).
        max_time_default: the task's time budget in seconds (None: no limit; the help
            says which).
        threads_default: the default ``--threads`` (default 1; None: torch's choice).
        backend: add ``--backend`` (default True).
        out_help: ``--out``'s help (None: the usual one).
    """
    g = parser.add_argument_group("training (the same flags for every task)")
    if data_help is not None:
        g.add_argument("--data", help=data_help)
    g.add_argument("--out", default=out_default,
                   help=out_help or f"directory for the trained model (default {out_default})")
    g.add_argument("--seed", type=int, default=0, help="random seed: the same seed, the same run (default 0)")
    budget = f"default {max_time_default:g} s" if max_time_default else "default: no limit"
    g.add_argument("--max-time", type=float, default=max_time_default,
                   help=f"stop training after this many seconds ({budget}; 0: no limit)")
    g.add_argument("--max-epochs", type=int, help="stop after this many passes over the data")
    g.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    g.add_argument("--accelerator", help="cpu, gpu, cuda, mps, tpu or auto (default: auto)")
    g.add_argument("--devices", help="how many devices (or a list of indices, or auto)")
    g.add_argument("--strategy", help="e.g. ddp (one process per device; with --accelerator cpu, per CPU process)")
    g.add_argument("--num-nodes", help="machines taking part (torchrun or SLURM set the rest)")
    g.add_argument("--precision", help="e.g. 32-true, bf16-mixed, 16-mixed")
    g.add_argument("--checkpoint-dir", help="write last.ckpt here every few steps (needed for --resume)")
    g.add_argument("--checkpoint-every", type=int, metavar="STEPS",
                   help="write the checkpoint every STEPS optimiser steps (needs --checkpoint-dir; "
                        "default: every 60 s and every twentieth of a planned run)")
    g.add_argument("--resume", action="store_true", help="continue an interrupted run from --checkpoint-dir")
    g.add_argument("--threads", type=int, default=threads_default,
                   help="torch CPU threads per process" + (f" (default {threads_default})" if threads_default else ""))
    if backend:
        g.add_argument("--backend", default="auto", help="backend of the recurrent layers (default auto)")
    g.add_argument("--quiet", action="store_true", help="no progress output while training")


def _count(value):
    text = str(value)
    return int(text) if text.lstrip("-").isdigit() else value


def engine_kwargs(args: argparse.Namespace) -> dict:
    """The engine keywords (``accelerator``, ``devices``, ..., ``max_time``,
    ``checkpoint_dir``, ``verbose``) that the parsed flags set; flags left unset are
    left out, so the estimator's defaults apply.

    Args:
        args: the parsed command line.

    Returns:
        Estimator keywords.
    """
    kw: dict = {}
    for name in ENGINE_FLAGS:
        value = getattr(args, name, None)
        if value not in (None, ""):
            kw[name] = _count(value) if name in ("devices", "num_nodes") else value
    if getattr(args, "max_time", None):
        kw["max_time"] = float(args.max_time)
    for name in ("max_epochs", "max_steps"):
        if getattr(args, name, None):
            kw[name] = int(getattr(args, name))
    if getattr(args, "checkpoint_dir", None):
        kw["checkpoint_dir"] = args.checkpoint_dir
    if getattr(args, "checkpoint_every", None):
        kw["checkpoint_every_n_steps"] = int(args.checkpoint_every)
    kw["verbose"] = not getattr(args, "quiet", False)
    return kw
