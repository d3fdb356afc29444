"""What the classifier gives the training engine (:mod:`lstmkit.spine.engine`): the batch
order (shuffled texts of similar lengths together), its optimiser recipe (AdamW under a
one-cycle learning rate) and the per-epoch rows of its history."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch

from lstmkit.spine.engine import EpochSampler, one_cycle

PCT_START = 0.1  # share of the run spent warming up to the peak learning rate
BLOCK = 32  # batches' worth of shuffled texts sorted by length together
CLIP = 5.0  # gradient norm clipping: the engine's gradient_clip_val unless one is given


class LengthBuckets(EpochSampler):
    """The :class:`~lstmkit.spine.engine.EpochSampler` of the classifier: each epoch's
    shuffled order, cut into blocks of ``BLOCK`` batches, each block sorted by length
    and cut into batches, the batches shuffled; so a batch runs about as many steps as
    its texts have tokens, not as many as the longest text of a random draw.

    The one short batch (the epoch's last ``n % batch_size`` texts) goes last, so the
    loader's cuts of ``batch_size`` indices are exactly these batches and the engine's
    resume (which skips ``batches done x batch_size`` indices) lands on a batch boundary.
    The order depends on ``(seed, epoch)`` only."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int) -> None:
        super().__init__(len(lengths), seed)
        self.lengths, self.batch_size = list(lengths), batch_size

    def batches(self) -> list[list[int]]:
        """This epoch's batches, in order."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=gen).tolist()
        B = self.batch_size
        batches: list[list[int]] = []
        for start in range(0, self.n, BLOCK * B):
            block = sorted(order[start : start + BLOCK * B], key=self.lengths.__getitem__)
            batches += [block[i : i + B] for i in range(0, len(block), B)]
        batches = [batches[k] for k in torch.randperm(len(batches), generator=gen).tolist()]
        batches.sort(key=lambda b: len(b) < B)  # stable: the short batch last, the rest in place
        return batches

    def __iter__(self):
        flat = [i for b in self.batches() for i in b]
        start, self.skip = self.skip, 0
        return iter(flat[start:])


def recipe(lr: float, weight_decay: float) -> Callable:
    """AdamW (every parameter decayed) under a one-cycle learning rate peaking at ``lr``
    after ``PCT_START`` of the run, stepped once per optimiser step."""
    return one_cycle("adamw", lr, weight_decay, pct_start=PCT_START)


class EpochRows(L.Callback):
    """The history of a fit, one row per epoch: ``{"epoch", "train_loss"}`` and, with a
    validation set, ``"val_loss"`` and ``"val_accuracy"``; each row also goes to
    ``log(row)`` on the main process. Its rows travel in checkpoints, so a resumed run's
    history is whole."""

    def __init__(self, log: Callable[[dict], None] | None = None) -> None:
        self.report = log
        self.rows: list[dict] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        m = trainer.callback_metrics
        row = {"epoch": trainer.current_epoch + 1}
        for name in ("train_loss", "val_loss", "val_accuracy"):
            if name in m:
                row[name] = float(m[name])
        self.rows.append(row)
        if self.report is not None and trainer.is_global_zero:
            self.report(row)

    def state_dict(self) -> dict:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict) -> None:
        self.rows = [dict(r) for r in state_dict["rows"]]
