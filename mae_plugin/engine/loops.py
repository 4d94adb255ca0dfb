"""An epoch-based training loop that resumes exactly where it stopped."""
import random
from typing import Iterator

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import BatchSampler, Sampler

from mae_plugin.registry import LOOPS


def derive_seed(*keys: int) -> int:
    """A 32-bit seed mixed from integer keys (``numpy.random.SeedSequence``),
    so nearby keys give unrelated streams."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (all devices) global RNGs."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class SkippingSampler(Sampler):
    """Wraps a sampler; its next pass (only) leaves out the first ``skip``
    indices, the samples of the batches trained before an interruption.

    Args:
        sampler (Sampler): The sampler that decides the order (its
            ``set_epoch`` is still called on the original object).
    """

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self.skip = 0

    def __iter__(self) -> Iterator[int]:
        skip, self.skip = self.skip, 0
        for position, index in enumerate(self.sampler):
            if position >= skip:
                yield index

    def __len__(self) -> int:
        return len(self.sampler)


@LOOPS.register_module()
class ExactResumeEpochBasedTrainLoop(EpochBasedTrainLoop):
    """:class:`mmengine.runner.EpochBasedTrainLoop` whose runs, interrupted
    anywhere and resumed from a checkpoint, continue bit for bit as the
    uninterrupted run would have.

    mmengine's loop restarts an interrupted epoch from its first batch and
    does not restore the random state, so a resumed run draws other data,
    crops and masks. Here

    * a mid-epoch resume (from an ``iter_*.pth`` checkpoint) leaves out the
      batches of the epoch already trained, keeping the sampler's order for
      that epoch (the sampler is seeded by epoch, as ``DefaultSampler`` is);
    * before every iteration, and before the data iterator of every epoch
      is created, Python's, NumPy's and torch's global RNGs are reseeded
      from ``(seed, rank, iteration)`` or ``(seed, rank, epoch)``. The
      random state of an iteration therefore depends on the iteration
      number only, and a resumed run draws the same crops, flips (data
      loaded in the main process, ``num_workers=0``), masks and drop-path
      as the uninterrupted one, without storing RNG states in checkpoints.

    With ``num_workers > 0`` the order and the masks still match, but the
    augmentations drawn inside the worker processes of a resumed epoch do
    not: mmengine seeds workers once per epoch and batches go round-robin,
    so the batches after the resume point meet other worker RNG states.

    Arguments are those of :class:`mmengine.runner.EpochBasedTrainLoop`;
    the dataloader must batch with ``torch.utils.data.BatchSampler``.
    """

    def __init__(self, runner, dataloader, *args, **kwargs) -> None:
        super().__init__(runner, dataloader, *args, **kwargs)
        batch_sampler = self.dataloader.batch_sampler
        if type(batch_sampler) is not BatchSampler:
            raise TypeError(
                'ExactResumeEpochBasedTrainLoop needs train_dataloader to '
                'batch with torch.utils.data.BatchSampler (a `sampler` and '
                f'a `batch_size`), got batch_sampler '
                f'{type(batch_sampler).__name__}')
        self.sampler = SkippingSampler(batch_sampler.sampler)
        batch_sampler.sampler = self.sampler

    def run_epoch(self) -> None:
        """Train the rest of the current epoch."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        num_batches = len(self.dataloader)
        start = self._iter - self._epoch * num_batches
        if not 0 <= start <= num_batches:
            raise ValueError(
                f'cannot resume iteration {self._iter} in epoch '
                f'{self._epoch} of {num_batches} batches: the batch size or '
                'the number of processes differs from the interrupted run')
        self.sampler.skip = start * self.dataloader.batch_size
        rank = get_rank()
        seed_everything(derive_seed(self.runner.seed, rank, 0, self._epoch))
        batches = iter(self.dataloader)
        for idx in range(start, num_batches):
            seed_everything(
                derive_seed(self.runner.seed, rank, 1, self._iter))
            self.run_iter(idx, next(batches))
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
