"""The training engine every task uses, on PyTorch Lightning: :func:`fit_module` runs a
:class:`TaskModule` (network, loss, metrics, optimiser recipe) over a data module
(:class:`IndexData` for items batched by the task, :class:`WindowData` for tensors),
with progress, early stopping, best-weight restore, atomic checkpoints and checked
resume; ``accelerator``, ``devices``, ``strategy``, ``num_nodes`` and ``precision`` pass
straight to Lightning. :mod:`~lstmkit.spine.engine.fabric` serves tasks that own their
loop (truncated backpropagation through time) with the same settings and checkpoints."""

from lstmkit.spine.engine.callbacks import (
    Checkpointing,
    EpochRows,
    KeepBest,
    RandomState,
    RunFingerprint,
)
from lstmkit.spine.engine.data import EpochSampler, IndexData, WindowData
from lstmkit.spine.engine.module import TaskModule, one_cycle
from lstmkit.spine.engine.trainer import (
    CHECKPOINT,
    ENGINE_KEYWORDS,
    FitOutcome,
    check_checkpoint,
    fit_module,
    make_trainer,
    split_keywords,
    trainer_keywords,
)

__all__ = ["CHECKPOINT", "ENGINE_KEYWORDS", "Checkpointing", "EpochRows", "EpochSampler", "FitOutcome", "IndexData",
           "KeepBest", "RandomState", "RunFingerprint", "TaskModule", "WindowData",
           "check_checkpoint", "fit_module", "make_trainer", "one_cycle", "split_keywords", "trainer_keywords"]
