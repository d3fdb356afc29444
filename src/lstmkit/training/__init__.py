"""Training on PyTorch Lightning, shared by the tasks: the LightningModule for window
models, the in-memory data module, callbacks, and the Trainer factory (progress bar,
validation split, early stopping, checkpoints and resume, seeds; ``accelerator``,
``devices``, ``strategy``, ``num_nodes``, ``precision`` pass straight to Lightning, so
DDP over processes, GPUs or nodes (torchrun, SLURM) needs no code change)."""

from lstmkit.training.callbacks import KeepBest, LossHistory
from lstmkit.training.data import WindowData
from lstmkit.training.module import WindowModule
from lstmkit.training.trainer import fit_module, make_trainer

__all__ = ["KeepBest", "LossHistory", "WindowData", "WindowModule", "fit_module", "make_trainer"]
