"""What the classifier gives the training engine (:mod:`lstmkit.spine.engine`): the batch
order (shuffled texts of similar lengths together) and its recipe's constants."""

from __future__ import annotations

import torch

from lstmkit.spine.engine import EpochSampler

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
    The order depends on ``(seed, epoch)`` only.

    Args:
        lengths: tokens per text, (N,).
        batch_size: texts per batch.
        seed: seeds each epoch's order.
    """

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


