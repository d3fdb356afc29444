"""Experiments that measure the usual claims about recurrent cells (docs/lstm.md): the 1997 long-time-lag problems
(adding, temporal order, copy), the formal-language tasks, the RNN / GRU / LSTM
comparison, and gate pictures. :func:`run` trains one cell on one problem (its
docstring has an example); ``lstmkit experiments`` runs the comparison.
"""

from lstmkit.experiments.problems import (
    PROBLEMS,
    Adding,
    Copy,
    Problem,
    TemporalOrder,
    make_problem,
)
from lstmkit.experiments.runner import TASK_DEFAULTS, ExperimentResult, TrainConfig, run

__all__ = [
    "PROBLEMS",
    "TASK_DEFAULTS",
    "Adding",
    "Copy",
    "ExperimentResult",
    "Problem",
    "TemporalOrder",
    "TrainConfig",
    "make_problem",
    "run",
]
