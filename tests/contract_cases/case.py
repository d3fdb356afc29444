"""What a task gives the contract tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Case:
    """A task's estimator on small data, and its ``train`` command line.

    ``make(**kw)``: a small estimator (few steps, tiny network), ``kw`` adding engine
    settings. ``fit_args``/``predict_args``/``evaluate_args``: positional arguments of
    ``fit``, ``predict`` and ``evaluate``. ``same(a, b)``: whether two predictions agree
    (default: equal after ``numpy.asarray``, to 1e-5). ``train_cli(tmp_path)``: the
    ``lstmkit`` arguments (after ``lstmkit``) of a ``<task> train`` that runs long enough
    (a few hundred steps) to be killed after its first checkpoint; the harness adds
    ``--out``, ``--checkpoint-dir``, ``--checkpoint-every``, ``--seed`` and the
    ``--resume``/DDP flags. ``bad_keyword``: a misspelt constructor keyword and the
    valid one the error must name."""

    task: str
    make: Callable
    fit_args: tuple
    predict_args: tuple
    evaluate_args: tuple
    train_cli: Callable | None = None
    same: Callable | None = None
    bad_keyword: tuple[str, str] = ("max_epoch", "max_epochs")
    fit_kwargs: dict = field(default_factory=dict)
    onnx_tolerance: float = 1e-4
