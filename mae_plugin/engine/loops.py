"""An epoch-based training loop that resumes exactly where it stopped."""
import copy
import random
from typing import Iterator, Tuple, Union

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.registry import DATASETS as ROOT_DATASETS
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import BatchSampler, Dataset, Sampler

from mae_plugin.registry import DATASETS, LOOPS, SCOPE


def derive_seed(*keys: int) -> int:
    """A 32-bit seed mixed from non-negative integer keys
    (``numpy.random.SeedSequence``), so nearby keys give unrelated streams.

    ``SeedSequence`` ignores trailing zero keys, so each family of seeds
    below has a fixed number of keys and its own tag (the third key).
    """
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


def seed_everything(seed: int, accelerators: bool = True) -> None:
    """Seed Python's, NumPy's and torch's global RNGs: torch's CPU
    generator and, with ``accelerators``, every device's
    (``torch.manual_seed``).

    Without a GPU, or in a dataloader worker (a forked process may not use
    CUDA), ``torch.manual_seed`` queues the CUDA seed for later and records
    the call stack with it: 0.17-0.22 ms a call on a 2-core AMD EPYC, and
    0.39 ms of a dataloader worker's 2.08 ms per ImageNet-sized image.
    Samples are loaded with ``accelerators=False``.
    """
    random.seed(seed)
    np.random.seed(seed)
    if accelerators:
        torch.manual_seed(seed)
    else:
        torch.default_generator.manual_seed(seed)


@DATASETS.register_module()
class PerSampleSeededDataset(Dataset):
    """Wraps a dataset; an item ``(index, seed)`` seeds the global RNGs of
    the CPU with ``seed`` before loading ``dataset[index]``, so the random
    transforms of a sample do not depend on which process loads it or on
    what it loaded before. A plain ``index`` loads without reseeding.
    Other attributes (``pipeline``, ...) are those of the wrapped dataset.

    Args:
        dataset (Dataset | dict): The dataset or its config.
    """

    def __init__(self, dataset: Union[Dataset, dict]) -> None:
        # the root registry resolves names in the caller's default scope
        self.dataset = (
            ROOT_DATASETS.build(dataset)
            if isinstance(dataset, dict) else dataset)

    def __getattr__(self, name: str):
        if name == 'dataset':  # not set yet (unpickling)
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def full_init(self) -> None:
        """Fully initialise the wrapped dataset."""
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: Union[int, Tuple[int, int]]):
        if isinstance(item, tuple):
            index, seed = item
            seed_everything(seed, accelerators=False)
            return self.dataset[index]
        return self.dataset[item]


class SeededIndexSampler(Sampler):
    """Wraps a sampler and yields ``(index, seed)`` pairs, the seed mixed
    from ``(seed, rank, epoch, position in the epoch)``. Its next pass
    (only) leaves out the first ``skip`` positions, the samples of the
    batches trained before an interruption.

    Args:
        sampler (Sampler): The sampler that decides the order (its
            ``set_epoch`` is still called on the original object).
        seed (int): The run's seed.
        rank (int): This process's rank.
    """

    def __init__(self, sampler: Sampler, seed: int, rank: int) -> None:
        self.sampler = sampler
        self.seed = seed
        self.rank = rank
        self.epoch = 0
        self.skip = 0

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        skip, self.skip = self.skip, 0
        for position, index in enumerate(self.sampler):
            if position >= skip:
                yield index, derive_seed(self.seed, self.rank, 0,
                                         self.epoch, position)

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
    * every sample is loaded after seeding the global RNGs from
      ``(seed, rank, epoch, position in the epoch)``
      (:class:`PerSampleSeededDataset`), so its crop and flip are the same
      whichever dataloader worker loads it, and whatever that worker
      loaded before;
    * every iteration runs after seeding them from
      ``(seed, rank, iteration)``, so its masks (and drop-path) are the
      same.

    The random state of a sample or an iteration thus depends on its
    position only, and nothing random has to be stored in checkpoints.

    Arguments are those of :class:`mmengine.runner.EpochBasedTrainLoop`;
    ``dataloader`` must be a config whose loader batches with
    ``torch.utils.data.BatchSampler``.
    """

    def __init__(self, runner, dataloader: dict, *args, **kwargs) -> None:
        if not isinstance(dataloader, dict):
            raise TypeError(
                'ExactResumeEpochBasedTrainLoop needs train_dataloader as a '
                f'config dict, got {type(dataloader).__name__}')
        dataloader = copy.copy(dataloader)
        dataloader['dataset'] = dict(
            type=f'{SCOPE}.PerSampleSeededDataset',
            dataset=dataloader['dataset'])
        super().__init__(runner, dataloader, *args, **kwargs)
        batch_sampler = self.dataloader.batch_sampler
        if type(batch_sampler) is not BatchSampler:
            raise TypeError(
                'ExactResumeEpochBasedTrainLoop needs train_dataloader to '
                'batch with torch.utils.data.BatchSampler (a `sampler` and '
                f'a `batch_size`), got batch_sampler '
                f'{type(batch_sampler).__name__}')
        self.sampler = SeededIndexSampler(batch_sampler.sampler,
                                          runner.seed, get_rank())
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
        # the seed may come from the resumed checkpoint
        self.sampler.seed = self.runner.seed
        self.sampler.epoch = self._epoch
        self.sampler.skip = start * self.dataloader.batch_size
        batches = iter(self.dataloader)
        for idx in range(start, num_batches):
            data_batch = next(batches)
            seed_everything(
                derive_seed(self.runner.seed, self.sampler.rank, 1,
                            self._iter))
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
