"""An epoch-based training loop that resumes exactly where it stopped."""
import copy
import logging
import random
from itertools import islice
from typing import Iterator, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.logging import print_log
from mmengine.registry import DATASETS as ROOT_DATASETS
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import BatchSampler, Dataset, Sampler

from mae_plugin.registry import DATASETS, LOOPS, SCOPE
from .hooks import AccumulatedGradientsHook
from .runner import check_epoch_sampler

# The message hub's runtime info (saved in checkpoints, loaded on resume):
# the processes and batch size that set the position in the epoch, the
# seed of the sampler's shuffle, and the current epoch's number, first
# iteration, batches and dataset length.
BATCH_INFO = 'exact_resume/batch'
SHUFFLE_SEED_INFO = 'exact_resume/shuffle_seed'
EPOCH_INFO = 'exact_resume/epoch'


def derive_seed(*keys: int) -> int:
    """A 32-bit seed mixed from non-negative integer keys
    (``numpy.random.SeedSequence``), so nearby keys give unrelated streams.

    ``SeedSequence`` ignores trailing zero keys, so each family of seeds
    below has a fixed number of keys and its own tag (the third key).
    """
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


# The constants of NumPy's SeedSequence (M. O'Neill's seed_seq_fe hash).
_POOL_SIZE = 4
_INIT_A, _MULT_A = 0x43b0d7e5, 0x931e8875
_INIT_B, _MULT_B = 0x8b51f9dd, 0x58f38ded
_MIX_MULT_L, _MIX_MULT_R = 0xca01f9dd, 0x4973f715
_MASK32 = 0xffffffff


def _uint32_words(key: int) -> list:
    """A non-negative int as SeedSequence reads it: 32-bit words, least
    significant first (one word for 0)."""
    words = [key & _MASK32]
    while key > _MASK32:
        key >>= 32
        words.append(key & _MASK32)
    return words


def derive_seeds(keys: Sequence[int], last: np.ndarray) -> np.ndarray:
    """``derive_seed(*keys, k)`` for every ``k`` of ``last``, computed
    together: SeedSequence's hashing of the keys and its first output
    word, on arrays (the same seeds, value for value, at about 0.05 us
    each instead of a SeedSequence of 18 us per seed).

    Args:
        keys (Sequence[int]): The leading non-negative keys.
        last (np.ndarray): The last key of each seed, ints in [0, 2**32).

    Returns:
        np.ndarray: ``int64`` seeds, one per entry of ``last``.
    """
    last = np.asarray(last, dtype=np.int64)
    if last.size and (last.min() < 0 or last.max() > _MASK32):
        raise ValueError('derive_seeds: the last keys must be in '
                         f'[0, 2**32), got {last.min()}..{last.max()}')
    mask = np.uint64(_MASK32)
    lanes = np.zeros(last.shape, dtype=np.uint64)  # one per seed
    entropy = [lanes + np.uint64(w) for k in keys for w in _uint32_words(k)]
    entropy.append(last.astype(np.uint64))
    hash_const = _INIT_A

    def hashmix(value: np.ndarray) -> np.ndarray:
        nonlocal hash_const
        value = value ^ np.uint64(hash_const)
        hash_const = (hash_const * _MULT_A) & _MASK32
        value = (value * np.uint64(hash_const)) & mask
        return value ^ (value >> np.uint64(16))

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        result = (np.uint64(_MIX_MULT_L) * x - np.uint64(_MIX_MULT_R) * y)
        result &= mask  # uint64 arithmetic wraps, mod 2**32 stays exact
        return result ^ (result >> np.uint64(16))

    pool = [
        hashmix(entropy[i] if i < len(entropy) else lanes)
        for i in range(_POOL_SIZE)
    ]
    for src in range(_POOL_SIZE):  # every word into every other
        for dst in range(_POOL_SIZE):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for word in entropy[_POOL_SIZE:]:  # words beyond the pool
        for dst in range(_POOL_SIZE):
            pool[dst] = mix(pool[dst], hashmix(word))
    state = (pool[0] ^ np.uint64(_INIT_B)) * np.uint64(
        (_INIT_B * _MULT_B) & _MASK32) & mask
    return (state ^ (state >> np.uint64(16))).astype(np.int64)


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
    from ``(seed, rank, epoch, position in the epoch)``
    (:func:`derive_seed`'s value, computed for ``chunk_size`` positions at
    a time by :func:`derive_seeds`: the main process, which draws the
    indices, spends about 0.4 us per sample instead of 18 us). Its next
    pass (only) leaves out the first ``skip`` positions, the samples of
    the batches trained before an interruption.

    Args:
        sampler (Sampler): The sampler that decides the order (its
            ``set_epoch`` is still called on the original object).
        seed (int): The run's seed.
        rank (int): This process's rank.
    """

    chunk_size = 4096

    def __init__(self, sampler: Sampler, seed: int, rank: int) -> None:
        self.sampler = sampler
        self.seed = seed
        self.rank = rank
        self.epoch = 0
        self.skip = 0

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        skip, self.skip = self.skip, 0
        keys = (self.seed, self.rank, 0, self.epoch)
        indices = iter(self.sampler)
        start = 0  # the position of the chunk's first index in the epoch
        # Seeds by chunks of the sampler's order: derive_seed's values at a
        # fraction of its cost in the main process.
        while chunk := list(islice(indices, self.chunk_size)):
            seeds = derive_seeds(keys, np.arange(start,
                                                 start + len(chunk))).tolist()
            first = max(skip - start, 0)
            yield from zip(chunk[first:], seeds[first:])
            start += len(chunk)

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
      same;
    * the sampler shuffles with the seed of the interrupted run, which
      checkpoints record (with ``randomness.seed=None`` mmengine's
      ``DefaultSampler`` draws its own);
    * a checkpoint taken in the middle of a gradient accumulation keeps
      the gradients accumulated so far (:class:`AccumulatedGradientsHook`,
      which the loop registers where the config does not).

    The random state of a sample or an iteration thus depends on its
    position only. A mid-epoch resume whose processes x ``batch_size``
    differs from the checkpoint's (which would shift the position in the
    epoch) is refused; from the end of an epoch the next one starts with
    the new batch; another split of the same number (e.g. 2 processes x 4
    images instead of 1 x 8) continues at the right sample, though not bit
    for bit (the seeds are per process). A mid-epoch resume on a dataset
    of another length is refused too (its shuffle is another
    permutation); from the end of an epoch the next one starts on the new
    dataset. Checkpoints saved before the loop recorded the batch, the
    shuffle seed and the epoch resume with this run's, and need the
    dataset's length unchanged (their position in the epoch is computed
    from this run's batches per epoch).

    Arguments are those of :class:`mmengine.runner.EpochBasedTrainLoop`;
    ``dataloader`` must be a config whose loader batches with
    ``torch.utils.data.BatchSampler`` and whose sampler's pass is an
    epoch: not mmengine's ``InfiniteSampler``
    (:func:`~mae_plugin.engine.runner.check_epoch_sampler`).
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
        check_epoch_sampler(batch_sampler.sampler)
        self.sampler = SeededIndexSampler(batch_sampler.sampler,
                                          runner.seed, get_rank())
        batch_sampler.sampler = self.sampler
        if not any(
                isinstance(hook, AccumulatedGradientsHook)
                for hook in runner.hooks):
            runner.register_hook(AccumulatedGradientsHook())

    def run(self) -> torch.nn.Module:
        """Check the batch of a resumed run and take its sampler's seed
        from the checkpoint (:meth:`resume_position`), then train.

        A checkpoint that ends ``train_cfg.max_epochs`` leaves nothing to
        train (a finished run resumed again): warned of; one past it
        (``max_epochs`` lowered) is refused. mmengine's loop ended at once
        in both cases, exit status 0, without a word.

        Returns:
            torch.nn.Module: The trained model.

        Raises:
            ValueError: The resumed checkpoint is past
                ``train_cfg.max_epochs``.
        """
        self.resume_position()
        num_batches = len(self.dataloader)
        # an iteration checkpoint after an epoch's last batch ends it
        epochs = self._epoch + (self.batches_done(num_batches) == num_batches)
        if epochs > self._max_epochs:
            raise ValueError(
                f'train_cfg.max_epochs must be at least the {epochs} '
                f'epochs of the resumed checkpoint (iteration {self._iter}'
                f'), got {self._max_epochs}, which would train nothing')
        if self._iter and epochs == self._max_epochs:
            print_log(
                f'The resumed checkpoint (iteration {self._iter}) ends '
                f'epoch {epochs}, train_cfg.max_epochs: nothing is left to '
                'train; raise max_epochs to train on',
                logger='current', level=logging.WARNING)
        return super().run()

    def resume_position(self) -> None:
        """Refuse a checkpoint taken in the middle of an epoch trained with
        another number of images per iteration, and shuffle with its
        sampler's seed; record both in the message hub's runtime info,
        which the checkpoints of this run save and a resume loads.

        Raises:
            ValueError: The resumed checkpoint's processes x
                ``train_dataloader.batch_size`` differs from this run's,
                and the checkpoint is inside an epoch (or does not record
                where in its epoch it is).
        """
        hub = self.runner.message_hub
        batch = dict(world_size=self.runner.world_size,
                     batch_size=self.dataloader.batch_size)
        resumed = hub.get_info(BATCH_INFO)
        if resumed is not None and self._inside_an_epoch() and (
                resumed['world_size'] * resumed['batch_size'] !=
                batch['world_size'] * batch['batch_size']):
            raise ValueError(
                f'cannot resume iteration {self._iter}: the checkpoint was '
                f"trained with {resumed['world_size']} process(es) x "
                f"{resumed['batch_size']} images per iteration "
                f"(train_dataloader.batch_size), this run with "
                f"{batch['world_size']} x {batch['batch_size']}, which "
                'would shift the position in the epoch; resume with the '
                'same number of images per iteration, or from a checkpoint '
                'at the end of an epoch')
        hub.update_info(BATCH_INFO, batch)
        sampler = self.sampler.sampler
        if hasattr(sampler, 'seed'):  # DefaultSampler's shuffle
            sampler.seed = hub.get_info(SHUFFLE_SEED_INFO, sampler.seed)
            hub.update_info(SHUFFLE_SEED_INFO, sampler.seed)

    def _inside_an_epoch(self) -> bool:
        """Whether the resumed checkpoint was taken between two batches of
        an epoch (not at its start or end), by the record of its epoch; a
        checkpoint without the record counts as inside one."""
        resumed = self.runner.message_hub.get_info(EPOCH_INFO)
        if resumed is None:
            return True
        return (resumed['epoch'] == self._epoch and
                0 < self._iter - resumed['first_iter'] < resumed['batches'])

    def run_epoch(self) -> None:
        """Train the rest of the current epoch."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        num_batches = len(self.dataloader)
        start = self.batches_done(num_batches)
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

    def batches_done(self, num_batches: int) -> int:
        """The batches of the current epoch trained before it was
        interrupted: those of a resumed checkpoint taken in this epoch,
        none at the start of a new one; recorded in the message hub's
        runtime info for this run's checkpoints.

        A checkpoint taken after the last batch of its epoch (an
        iteration checkpoint) ends the epoch, whatever this run's number
        of batches.

        Args:
            num_batches (int): This run's batches per epoch.

        Returns:
            int: The position in the epoch, in ``[0, num_batches]``.

        Raises:
            ValueError: The checkpoint was taken in the middle of an epoch
                of a dataset of another length, whose shuffle is another
                permutation; or (a checkpoint without the record) the
                position is outside the epoch.
        """
        hub = self.runner.message_hub
        images = len(self.dataloader.dataset)
        resumed = hub.get_info(EPOCH_INFO)
        if resumed is None:  # a new run, or a checkpoint without the record
            start = self._iter - self._epoch * num_batches
            if not 0 <= start <= num_batches:
                raise ValueError(
                    f'cannot resume iteration {self._iter} in epoch '
                    f'{self._epoch} of {num_batches} batches: the batch '
                    'size, the number of processes or the dataset differs '
                    'from the interrupted run')
        elif resumed['epoch'] != self._epoch:  # it ended
            start = 0
        else:
            start = self._iter - resumed['first_iter']
            if start == resumed['batches']:
                start = num_batches
            elif start and resumed['images'] != images:
                raise ValueError(
                    f'cannot resume iteration {self._iter}, batch {start} '
                    f"of {resumed['batches']} in epoch {self._epoch}: the "
                    f"checkpoint's epoch shuffles {resumed['images']} "
                    f'samples (len(train_dataloader.dataset)), this run '
                    f'{images}, another order; resume with the same '
                    'dataset, or from a checkpoint at the end of an epoch')
        hub.update_info(
            EPOCH_INFO,
            dict(epoch=self._epoch, first_iter=self._iter - start,
                 batches=num_batches, images=images))
        return start
