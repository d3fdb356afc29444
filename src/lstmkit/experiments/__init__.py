"""Experiments that measure the seed's claims: the 1997 long-time-lag problems
(adding, temporal order, copy), the RNN / GRU / LSTM comparison, and gate pictures.

    >>> from lstmkit import experiments
    >>> r = experiments.run("adding", cell="lstm", length=100, max_time=60)
    >>> r.solved, r.accuracy, r.steps, r.parameters
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
