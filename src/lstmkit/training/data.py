"""An in-memory LightningDataModule over tensors of windows."""

from __future__ import annotations

import lightning as L
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset


class WindowData(L.LightningDataModule):
    """Training (and optional validation) windows held as tensors.

    ``train`` and ``val`` are tuples of equally long tensors (e.g. ``x``, ``feats``,
    ``target``). ``batch_size`` None means the whole set in one batch: on small series
    full-batch steps are the fastest way through the data. Under DDP Lightning shards
    the windows across processes with a DistributedSampler.
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
        return DataLoader(self.train_set, batch_size=self._bs(self.train_set), shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_set is None:
            return []
        return DataLoader(self.val_set, batch_size=self._bs(self.val_set), shuffle=False)
