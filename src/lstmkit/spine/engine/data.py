"""Data for the engine: tensors of windows in memory (:class:`WindowData`), and items
addressed by index and batched by a task's own ``collate`` (:class:`IndexData`: padded
sequences, utterances, clips), shuffled by a sampler that a resumed run replays."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Sampler, TensorDataset


class WindowData(L.LightningDataModule):
    """Training (and optional validation) windows held as tensors.

    ``train`` and ``val`` are tuples of equally long tensors (e.g. ``x``, ``feats``,
    ``target``). ``batch_size`` None means the whole set in one batch: on small series
    full-batch steps are the fastest way through the data. Under DDP Lightning shards
    the windows across processes with a DistributedSampler.

    Args:
        train: the training tensors.
        val: the validation tensors (None or empty: no validation).
        batch_size: windows per batch (None: all).
    """

    def __init__(self, train: tuple[Tensor, ...], val: tuple[Tensor, ...] | None = None,
                 batch_size: int | None = None) -> None:
        super().__init__()
        self.train_set = TensorDataset(*train)
        self.val_set = TensorDataset(*val) if val is not None and len(val[0]) else None
        self.batch_size = batch_size

    def _bs(self, ds: TensorDataset) -> int:
        return max(1, min(self.batch_size or len(ds), len(ds)))

    def train_dataloader(self) -> DataLoader:
        """The training windows, shuffled."""
        return DataLoader(self.train_set, batch_size=self._bs(self.train_set), shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        """The validation windows in order; ``[]`` without any."""
        if self.val_set is None:
            return []
        return DataLoader(self.val_set, batch_size=self._bs(self.val_set), shuffle=False)


class EpochSampler(Sampler[int]):
    """The indices ``0..n-1`` in an order drawn from ``(seed, epoch)`` alone, so the
    order of any epoch can be drawn again; ``skip`` leaves out the first items of the
    next pass (a resumed run goes on from the batch where the checkpoint was taken).

    Args:
        n: items.
        seed: seeds every epoch's order.
        shuffle: False keeps ``0..n-1`` in order.
    """

    def __init__(self, n: int, seed: int, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the next pass's order for ``epoch`` (Lightning calls it each epoch)."""
        self.epoch = epoch

    def __iter__(self):
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=gen).tolist()
        else:
            order = list(range(self.n))
        start, self.skip = self.skip, 0
        return iter(order[start:])

    def __len__(self) -> int:
        return self.n


class _Indices(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


class IndexData(L.LightningDataModule):
    """Items ``0..n_train-1`` (and ``0..n_val-1``) batched by ``collate(indices)``, which
    returns the batch (tensors) of those items: the task keeps its data as it likes
    (lists of sequences of any lengths, clips) and pads per batch. Training batches come
    in the order of an :class:`EpochSampler` seeded with ``seed``; on resume the
    batches the checkpoint had already trained on are skipped (one process; under DDP
    Lightning's distributed sampler deals the indices and a resumed epoch starts over).

    Args:
        n_train: training items.
        collate: ``collate(indices) -> batch`` of training items.
        batch_size: items per training batch.
        seed: seeds the batch order.
        n_val: validation items (default 0: none).
        val_collate: ``collate`` of validation items (None: ``collate``).
        val_batch_size: items per validation batch (None: ``batch_size``).
        drop_last: drop a short last training batch.
    """

    def __init__(self, n_train: int, collate: Callable[[list[int]], object], batch_size: int, seed: int,
                 n_val: int = 0, val_collate: Callable[[list[int]], object] | None = None,
                 val_batch_size: int | None = None, drop_last: bool = False) -> None:
        super().__init__()
        self.n_train, self.n_val = n_train, n_val
        self.collate, self.val_collate = collate, val_collate or collate
        self.batch_size, self.val_batch_size = batch_size, val_batch_size or batch_size
        self.drop_last = drop_last
        self.sampler = EpochSampler(n_train, seed)
        self._resume_batches = 0

    def state_dict(self) -> dict:
        """The batches of the current epoch already trained on (0 at an epoch's end)."""
        progress = self.trainer.fit_loop.epoch_loop.batch_progress if self.trainer else None
        if progress is None or progress.is_last_batch:
            # taken at an epoch's end: a resumed run starts the next epoch, none of it done
            return {"batches_done": 0}
        return {"batches_done": int(progress.current.processed)}

    def load_state_dict(self, state_dict: dict) -> None:
        """Remember the batches to skip when training resumes."""
        self._resume_batches = int(state_dict.get("batches_done", 0))

    def train_dataloader(self) -> DataLoader:
        """Training batches in the sampler's order, past those a resumed run already did."""
        if self._resume_batches and (self.trainer is None or self.trainer.world_size == 1):
            self.sampler.skip = self._resume_batches * self.batch_size
        self._resume_batches = 0
        return DataLoader(_Indices(self.n_train), batch_size=self.batch_size, sampler=self.sampler,
                          collate_fn=self.collate, drop_last=self.drop_last, generator=torch.Generator())

    def val_dataloader(self) -> DataLoader | list:
        """Validation batches in order; ``[]`` without any."""
        if not self.n_val:
            return []
        return DataLoader(_Indices(self.n_val), batch_size=self.val_batch_size, shuffle=False,
                          collate_fn=self.val_collate, generator=torch.Generator())
