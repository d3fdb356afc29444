"""``run(task, cell, length, ...)``: train one cell on one problem under a budget.

The loop is the runner's own (on Lightning Fabric, through the engine every task
shares: :func:`lstmkit.spine.engine.fabric.launch`) rather than a Trainer on purpose: the
experiment times each training step alone, steps of a few milliseconds, and stops the
moment a problem is solved; Fabric puts the model and batches on the chosen device
(``TrainConfig.accelerator``) at the chosen ``precision`` and adds nothing else to a step.

Data: training batches are drawn fresh at every step; a validation set is scored every
``eval_every`` steps for the learning curve, and when it meets the problem's criterion
the separate test set confirms it: the run stops there, solved. The test set is looked
at only at those moments and at the end; it gives the reported ``accuracy``. All data
streams and the initial weights derive from ``seed``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields

import torch
from torch import nn

from lstmkit import backends
from lstmkit.errors import InputError
from lstmkit.experiments.model import (
    GATE_INITS,
    GATED,
    SequenceModel,
    count_parameters,
    init_gates,
)
from lstmkit.experiments.problems import Problem, make_problem


@dataclass
class TrainConfig:
    """How a run trains. ``None`` fields take the task's default (``TASK_DEFAULTS``).

    Attributes:
        hidden_size: H of the recurrent layer (None: the task's default).
        batch_size: sequences per step (None: the task's default).
        lr: Adam's learning rate (None: the task's default).
        clip: gradient norm clipping (default 1.0).
        init: gate-bias initialisation of LSTM/GRU layers: ``"chrono"`` (default),
            ``"forget_bias"`` or ``"torch"``.
        forget_bias: the bias used by ``init="forget_bias"`` (default 1.0).
        eval_every: steps between two validation scores (default 25).
        val_size: validation sequences (default 512).
        test_size: test sequences (default 2000).
        default_max_steps: the step budget when neither ``max_steps`` nor ``max_time``
            is given (default 3000).
        threads: torch intra-op threads during the run (default 1; None: leave as is).
        accelerator: the engine's device (default ``"cpu"``).
        precision: the engine's precision, e.g. ``"bf16-mixed"`` (None: float32).

    Raises:
        InputError: a field out of range or an unknown ``init``.
    """

    hidden_size: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    #: gradient norm clipping; long lags make occasional huge gradients (Pascanu 2013)
    clip: float = 1.0
    #: gate-bias initialisation of LSTM/GRU layers: "chrono", "forget_bias" or "torch"
    #: (see :func:`lstmkit.experiments.model.init_gates`); the rnn and the xLSTM cells
    #: (slstm, mlstm, xlstm) ignore it and keep their own initialisation
    init: str = "chrono"
    #: the bias used by ``init="forget_bias"``
    forget_bias: float = 1.0
    eval_every: int = 25
    val_size: int = 512
    test_size: int = 2000
    #: the default step budget when neither ``max_steps`` nor ``max_time`` is given
    default_max_steps: int = 3000
    #: torch intra-op threads during the run (restored after; None: leave as is). The
    #: models are tiny (H <= 64), where splitting each small matmul across threads costs
    #: more than it gains, and on a busy machine it can make every step 10-100x slower.
    threads: int | None = 1
    #: the engine's device and precision (lightning.Fabric): "cpu" by default, since the
    #: timings the comparison reports are CPU timings; "gpu"/"auto" and e.g. "bf16-mixed" run there
    accelerator: str = "cpu"
    precision: str | None = None

    def __post_init__(self) -> None:
        for name in ("hidden_size", "batch_size", "eval_every", "val_size", "test_size", "threads"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise InputError(f"TrainConfig.{name} must be a positive integer, got {v!r}")
        if self.lr is not None and not self.lr > 0:
            raise InputError(f"TrainConfig.lr must be positive, got {self.lr}")
        if self.init not in GATE_INITS:
            raise InputError(
                f"TrainConfig.init must be one of {', '.join(GATE_INITS)}, got {self.init!r}"
            )
        if not self.clip > 0:
            raise InputError(f"TrainConfig.clip must be positive, got {self.clip}")


# per task: hidden size, batch size, Adam learning rate. Tried on seed 0 with the LSTM
# (adding T=100, copy T=10-20); the same for every cell, so the comparison is even.
TASK_DEFAULTS: dict[str, dict] = {
    "adding": {"hidden_size": 32, "batch_size": 64, "lr": 1e-2},
    "temporal_order": {"hidden_size": 32, "batch_size": 64, "lr": 1e-2},
    "copy": {"hidden_size": 64, "batch_size": 64, "lr": 1e-2},
    # the formal-language tasks: not tuned; the same for every cell
    "parity": {"hidden_size": 32, "batch_size": 64, "lr": 1e-2},
    "modular_arithmetic": {"hidden_size": 32, "batch_size": 64, "lr": 1e-2},
    "modular_arithmetic_brackets": {"hidden_size": 32, "batch_size": 64, "lr": 1e-2},
    "cycle_navigation": {"hidden_size": 32, "batch_size": 64, "lr": 1e-2},
}


@dataclass
class ExperimentResult:
    """What one run measured.

    Attributes:
        task: the problem's name.
        cell: the cell's name.
        length: the delay T.
        seed: the run's seed.
        options: the layer's keywords.
        solved: whether ``accuracy`` reaches the task's ``solve_fraction``.
        accuracy: the fraction of test sequences meeting the task's criterion.
        error: the test loss (mean squared error for adding, cross-entropy otherwise).
        steps: optimiser steps run.
        seconds: wall time of the run, evaluation included.
        seconds_per_step: the mean training step alone.
        steps_to_solve: the step at which validation first met the criterion (None if
            never).
        parameters: the recurrent layer's and the head's.
        layer_parameters: the recurrent layer's alone.
        hidden_size: H.
        gate_blocks: H x (I + H) weight blocks per layer: 4 for an LSTM, 3 for a GRU, 1
            for an RNN.
        curve: (step, validation loss, validation accuracy) at every evaluation.
        cpu_seconds_per_step: CPU time (all threads) of the mean training step.
        backend: the lstmkit backend that ran the layer.
        stopped_by: ``"solved"``, ``"steps"``, ``"time"`` or ``"diverged"``.
        label: how the comparison names this cell (e.g. ``"lstm:layer_norm=True"``).
        long_accuracy: the formal-language tasks: accuracy on sequences longer than any
            trained on, else None.
        long_length: the longest of those sequences, else None.
        model: the trained network.
        problem: the problem it was trained on.
    """

    task: str
    cell: str
    length: int
    seed: int
    options: dict
    solved: bool
    accuracy: float
    error: float
    steps: int
    seconds: float
    seconds_per_step: float
    steps_to_solve: int | None
    parameters: int
    layer_parameters: int
    hidden_size: int
    #: weight blocks of size H x (I + H) per layer: 4 for an LSTM, 3 for a GRU, 1 for an RNN
    gate_blocks: int = 1
    curve: list = field(default_factory=list)
    #: CPU time (all threads of the process) of the mean training step: unlike the wall
    #: time it hardly changes when other jobs share the machine
    cpu_seconds_per_step: float = 0.0
    #: the lstmkit backend that ran the layer (what ``backend="auto"`` picked)
    backend: str = ""
    #: what ended the run: "solved", "steps" or "time" (the budget), or "diverged"
    stopped_by: str = ""
    #: how the comparison names this cell (e.g. "lstm:layer_norm=True")
    label: str = ""
    #: the formal-language tasks: accuracy on sequences longer than any trained on
    #: (``length`` + 1 to ``long_length`` tokens; ``test_size`` of them), else None
    long_accuracy: float | None = None
    long_length: int | None = None
    model: nn.Module | None = field(default=None, repr=False, compare=False)
    problem: Problem | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        """Everything but the model and problem objects, JSON-ready."""
        skip = ("model", "problem")
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}


def _gate_blocks(rnn: nn.Module, hidden: int) -> int:
    """H x (I + H) weight blocks per layer: 4 for LSTM and sLSTM, 3 GRU, 1 RNN, 0 for the
    mLSTM and the xLSTM stack (no hidden-to-hidden matrix of that form)."""
    if hasattr(rnn, "weight_ih_l0"):
        return rnn.weight_ih_l0.shape[0] // hidden
    return 4 if rnn.__class__.__name__ == "sLSTM" else 0


def _generator(seed: int, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed(1_000_003 * seed + stream)


@torch.no_grad()
def _evaluate(model: nn.Module, problem: Problem, data, chunk: int = 512) -> tuple[float, float]:
    """(mean loss, fraction correct) over a fixed evaluation set."""
    model.eval()
    x, y = data
    losses, correct = [], []
    for s in range(0, x.shape[1], chunk):
        pred = model(x[:, s : s + chunk])
        target = y[s : s + chunk]
        losses.append(problem.loss(pred, target) * target.shape[0])
        correct.append(problem.correct(pred, target))
    model.train()
    return float(torch.stack(losses).sum()) / x.shape[1], float(torch.cat(correct).float().mean())


def _xlstm_backends(rnn) -> str:
    """What ``backend="auto"`` runs in an xLSTM layer or stack: its sLSTM and mLSTM parts'
    backends ("compiled", "fused", "reference"...), joined by "+" where they differ."""
    from lstmkit.xlstm import backend as xlstm_backends

    probe = next(rnn.parameters())  # the dtype and device the recurrences compute in
    names = []
    for module in rnn.modules():
        kind = getattr(module, "_backend_kind", None)
        if kind is None or not hasattr(module, "backend"):
            continue
        choose = xlstm_backends.slstm_choice if kind == "sLSTM" else xlstm_backends.mlstm_choice
        name = choose(module.backend, probe)
        if name not in names:
            names.append(name)
    return "+".join(names) or "reference"


def run(
    task: str,
    cell: str = "lstm",
    length: int = 100,
    max_steps: int | None = None,
    max_time: float | None = None,
    seed: int = 0,
    *,
    config: TrainConfig | None = None,
    task_options: dict | None = None,
    **cell_options,
) -> ExperimentResult:
    """Train ``cell`` ("rnn", "gru", "lstm", "slstm", "mlstm", "xlstm") on ``task``
    ("adding", "temporal_order", "copy", or a formal-language task: "parity",
    "modular_arithmetic", "modular_arithmetic_brackets", "cycle_navigation") at delay
    ``length`` until it is solved or the budget is spent. For the formal-language tasks
    ``length`` is the longest training sequence, and the result's ``long_accuracy`` is
    measured on longer ones (task option ``test_length``, default 4 x ``length``).

    The budget is ``max_steps`` optimiser steps and/or ``max_time`` seconds (whichever
    ends first; with neither, ``config.default_max_steps``). ``cell_options`` go to the
    layer's constructor (``hidden_size``, LSTM variants such as ``layer_norm=True``,
    ``num_layers``, ``backend``); ``config`` sets batch, learning rate, gate-bias
    initialisation, evaluation sizes; ``task_options`` the problem's own settings (e.g.
    ``symbols=`` for copy). Returns an :class:`ExperimentResult` whose ``model`` is the
    trained network.

    Args:
        task: the problem's name (above).
        cell: the recurrent cell's name (above).
        length: the delay T, or the longest training sequence of a formal-language task.
        max_steps: optimiser steps at most.
        max_time: seconds at most.
        seed: seeds the data streams and the initial weights (default 0).
        config: batch, learning rate, gate-bias initialisation, evaluation sizes
            (default :class:`TrainConfig`).
        task_options: the problem's own settings (e.g. ``symbols=`` for copy).
        **cell_options: the layer's keywords (``hidden_size``, ``num_layers``,
            ``backend``, LSTM variants such as ``layer_norm=True``).

    Returns:
        An :class:`ExperimentResult`; its ``model`` is the trained network.

    Raises:
        InputError: an unknown task or cell, a length below the problem's minimum, or a
            budget that is not positive.

    Example:
        Two steps of the adding problem at delay 30 (the 1997 paper's claim needs
        ``length=100`` and minutes: ``lstmkit experiments``):

        >>> from lstmkit import experiments
        >>> small = experiments.TrainConfig(val_size=64, test_size=128)
        >>> r = experiments.run("adding", "lstm", length=30, max_steps=2, hidden_size=8, config=small)
        >>> r.steps, r.stopped_by, type(r.model).__name__
        (2, 'steps', 'SequenceModel')
        >>> 0 <= r.accuracy <= 1
        True
    """
    cfg = config or TrainConfig()
    threads = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        return _run(task, cell, length, max_steps, max_time, seed, cfg, task_options, cell_options)
    finally:
        torch.set_num_threads(threads)


def _run(
    task: str,
    cell: str,
    length: int,
    max_steps: int | None,
    max_time: float | None,
    seed: int,
    cfg: TrainConfig,
    task_options: dict | None,
    cell_options: dict,
) -> ExperimentResult:
    problem = make_problem(task, length, **(task_options or {}))
    if max_steps is not None and (not isinstance(max_steps, int) or max_steps < 1):
        raise InputError(f"max_steps must be a positive integer, got {max_steps!r}")
    if max_time is not None and not max_time > 0:
        raise InputError(f"max_time must be a positive number of seconds, got {max_time!r}")
    if max_steps is None and max_time is None:
        max_steps = cfg.default_max_steps
    defaults = TASK_DEFAULTS[problem.name]
    hidden = cell_options.pop("hidden_size", None) or cfg.hidden_size or defaults["hidden_size"]
    batch = cfg.batch_size or defaults["batch_size"]
    lr = cfg.lr or defaults["lr"]

    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SequenceModel(
            cell, problem.input_size, hidden, problem.output_size, problem.readout_steps,
            problem.query_channel, **cell_options,
        )
        # a forget_bias given to the layer itself (the lstmkit variant) takes precedence
        if "forget_bias" not in cell_options and cell in GATED:
            init_gates(model.rnn, cfg.init, problem.total_length, cfg.forget_bias)
    from lstmkit.spine.engine.fabric import launch

    fabric = launch({"accelerator": cfg.accelerator, "devices": 1, "precision": cfg.precision})
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    net, opt = fabric.setup(model, opt)
    rnn = model.rnn
    x_probe = fabric.to_device(problem.sample(2, torch.Generator().manual_seed(0))[0])
    backend = (backends.select(rnn.spec, x_probe, rnn.backend).name if hasattr(rnn, "spec")
               else _xlstm_backends(rnn))
    train_gen = _generator(seed, 1)
    val = fabric.to_device(problem.sample(cfg.val_size, _generator(seed, 2)))
    test = fabric.to_device(problem.sample(cfg.test_size, _generator(seed, 3)))

    curve = [(0, *_evaluate(net, problem, val))]
    steps, train_seconds, train_cpu, solved_at, stopped_by = 0, 0.0, 0.0, None, ""
    while True:
        if max_steps is not None and steps >= max_steps:
            stopped_by = "steps"
            break
        if max_time is not None and time.perf_counter() - start >= max_time:
            stopped_by = "time"
            break
        x, y = fabric.to_device(problem.sample(batch, train_gen))
        t0, c0 = time.perf_counter(), time.process_time()
        loss = problem.loss(net(x), y)
        opt.zero_grad(set_to_none=True)
        fabric.backward(loss)
        norm = fabric.clip_gradients(net, opt, max_norm=cfg.clip, error_if_nonfinite=False)
        if not (math.isfinite(loss.item()) and torch.isfinite(norm)):
            stopped_by = "diverged"  # keep the last finite weights, report what there is
            break
        opt.step()
        train_seconds += time.perf_counter() - t0
        train_cpu += time.process_time() - c0
        steps += 1
        if steps % cfg.eval_every == 0:
            curve.append((steps, *_evaluate(net, problem, val)))
            if curve[-1][2] >= problem.solve_fraction:
                # validation says solved: confirm on the test set before stopping, so a
                # run never stops early on a lucky validation set and reports a failure
                error, accuracy = _evaluate(net, problem, test)
                if accuracy >= problem.solve_fraction:
                    solved_at, stopped_by = steps, "solved"
                    break

    if solved_at is None:
        error, accuracy = _evaluate(net, problem, test)
    long_accuracy = None
    if hasattr(problem, "sample_long"):
        long = fabric.to_device(problem.sample_long(cfg.test_size, _generator(seed, 4)))
        long_accuracy = _evaluate(net, problem, long, chunk=256)[1]
    model = model.cpu()
    return ExperimentResult(
        task=problem.name,
        cell=cell,
        length=length,
        seed=seed,
        options=dict(cell_options),
        solved=accuracy >= problem.solve_fraction,
        accuracy=accuracy,
        error=error,
        steps=steps,
        seconds=time.perf_counter() - start,
        seconds_per_step=train_seconds / max(steps, 1),
        cpu_seconds_per_step=train_cpu / max(steps, 1),
        stopped_by=stopped_by,
        backend=backend,
        steps_to_solve=solved_at,
        parameters=count_parameters(model),
        layer_parameters=count_parameters(model.rnn),
        hidden_size=hidden,
        gate_blocks=_gate_blocks(model.rnn, hidden),
        long_accuracy=long_accuracy,
        long_length=getattr(problem, "test_length", None),
        curve=[list(c) for c in curve],
        label=cell + (":" + ",".join(f"{k}={v}" for k, v in cell_options.items()) if cell_options else ""),
        model=model,
        problem=problem,
    )
