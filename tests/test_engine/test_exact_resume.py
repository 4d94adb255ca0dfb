"""Point 1 of the reliability issue: a run killed with SIGKILL in the middle
of an epoch and resumed with ``--resume`` ends bit for bit like the same run
uninterrupted (weights, optimizer state, logged losses and learning rates),
and point 7: the checkpoints it leaves are complete."""
import glob
import json
import os.path as osp
import random
import re

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from mae_plugin.engine.loops import (PerSampleSeededDataset,
                                     SeededIndexSampler, derive_seed,
                                     derive_seeds, seed_everything)
from tests.test_engine.utils import assert_checkpoints_bitwise_equal
from tests.test_reliability.test_kill_resume import kill_at
from tests.test_tools.test_train_test_visualize import (CONFIG, TINY,
                                                        crop_size_overrides,
                                                        run)

# 8 photos x 2 repeats / 4 per batch = 4 iterations per epoch, 3 epochs; a
# checkpoint every 3 iterations, so every checkpoint but the last falls in
# the middle of an epoch.
ITERS_PER_EPOCH, EPOCHS = 4, 3


def options(data_root, num_workers):
    """``key=value`` options of the run."""
    return [*TINY,
            f'train_dataloader.num_workers={num_workers}',
            f'train_dataloader.persistent_workers={num_workers > 0}',
            *crop_size_overrides(data_root),
            'train_dataloader.dataset.times=2',
            f'train_cfg.max_epochs={EPOCHS}',
            'default_hooks.checkpoint.by_epoch=False',
            'default_hooks.checkpoint.interval=3',
            'default_hooks.checkpoint.max_keep_ckpts=10',
            'randomness.seed=123']


def logged(work_dir):
    """``{iteration: record}`` of every run log under ``work_dir``."""
    records = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                          '2*.json'))):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if 'loss' in record:
                    records[record['step']] = record
    return records


# Worker processes (persistent, as in the configs) load the samples of a
# resumed epoch in another order than the uninterrupted run; the crops must
# not change.
@pytest.mark.parametrize('num_workers', [0, 2])
def test_sigkill_mid_epoch_then_resume_is_bitwise_identical(
        num_workers, photos, tmp_path):
    reference = str(tmp_path / 'reference')
    opts = options(photos, num_workers)
    run('tools/train.py', CONFIG, '--work-dir', reference, '--no-validate',
        '--cfg-options', *opts)

    # killed while it waits before iteration 6, after the checkpoint of
    # iteration 3 (the child pauses there: no race with the run's end)
    interrupted = str(tmp_path / 'interrupted')
    kill_at(interrupted, photos, 'step', 6, opts)
    assert not osp.exists(osp.join(interrupted, 'iter_6.pth'))

    out = run('tools/train.py', CONFIG, '--work-dir', interrupted,
              '--resume', '--no-validate', '--cfg-options', *opts)
    resumed = re.search(r'resumed epoch: \d+, iter: (\d+)', out)
    assert resumed, out[-3000:]
    resumed_iter = int(resumed.group(1))
    assert resumed_iter % ITERS_PER_EPOCH != 0  # in the middle of an epoch

    final = f'iter_{EPOCHS * ITERS_PER_EPOCH}.pth'
    assert_checkpoints_bitwise_equal(osp.join(reference, final),
                                     osp.join(interrupted, final))

    # Losses and learning rates of every iteration, before (killed run)
    # and after (resumed run) the interruption, as logged.
    ref_log, new_log = logged(reference), logged(interrupted)
    assert sorted(ref_log) == list(range(1, EPOCHS * ITERS_PER_EPOCH + 1))
    assert sorted(new_log) == sorted(ref_log)
    for step, record in ref_log.items():
        assert new_log[step]['loss'] == record['loss'], step
        assert new_log[step]['lr'] == record['lr'], step

    # every checkpoint left on disk is complete and loadable
    for path in glob.glob(osp.join(interrupted, '*.pth')):
        torch.load(path, weights_only=True)
    assert not glob.glob(osp.join(interrupted, '.*.tmp'))


@pytest.mark.parametrize('pipeline, drawn', [
    ([dict(type='RobustLoadImageFromFile'),
      dict(type='RandomResizedCrop', scale=16),
      dict(type='RandomFlip', prob=0.5)], lambda sample: sample['img']),
    # the device-crop path draws the box and the flip in the worker
    ([dict(type='DeferredRandomResizedCrop'),
      dict(type='PackDeferredCrop')],
     lambda sample: np.array([*sample['inputs']['crop_box'],
                              sample['inputs']['flip']])),
])
def test_a_sample_seed_fixes_its_random_transforms(photos, pipeline, drawn):
    init_default_scope('mae_plugin')
    dataset = PerSampleSeededDataset(
        dict(type='CustomDataset', data_root=photos, data_prefix='',
             with_label=False, pipeline=pipeline))
    first = drawn(dataset[(3, 11)])
    dataset[(5, 12)]  # whatever the process loaded before
    np.random.rand(7)
    assert np.array_equal(drawn(dataset[(3, 11)]), first)
    assert not np.array_equal(drawn(dataset[(3, 12)]), first)
    assert dataset.metainfo == dataset.dataset.metainfo and len(dataset) == 8


@pytest.mark.parametrize('keys', [(123, 0, 0, 5), (2**32 - 1, 7, 0, 0),
                                  (2**40 + 5, 1, 1, 2), (9, ), ()])
def test_seeds_derived_together_are_seedsequences(keys):
    """derive_seeds' array hashing gives SeedSequence's seed for every key,
    the largest and a multi-word key included."""
    rng = np.random.default_rng(0)
    last = np.concatenate(
        [np.arange(40), rng.integers(0, 2**32, 40), [2**32 - 1]])
    expected = [derive_seed(*keys, int(k)) for k in last]
    assert derive_seeds(keys, last).tolist() == expected
    with pytest.raises(ValueError, match=r'must be in \[0, 2\*\*32\)'):
        derive_seeds(keys, np.array([2**32]))


@pytest.mark.parametrize('skip', [0, 3, 4096, 5000, 9000])
def test_sampler_seeds_each_position_as_before(skip):
    """Chunk by chunk, the sampler yields the pairs of a SeedSequence per
    position (the seeds of runs made before, which a resume must
    reproduce), leaving out the first ``skip`` once."""
    order = list(range(8500, 0, -1))
    sampler = SeededIndexSampler(order, seed=5, rank=1)
    sampler.epoch, sampler.skip = 3, skip
    expected = [(order[p], derive_seed(5, 1, 0, 3, p))
                for p in range(skip, len(order))]
    assert list(sampler) == expected
    assert len(list(sampler)) == len(order)  # the skip was for one pass


def test_seeding_the_cpu_alone_leaves_its_generators_as_all_devices_do():
    states = []
    for accelerators in (True, False):
        random.random(), np.random.rand(), torch.rand(3)  # other states
        seed_everything(123, accelerators=accelerators)
        states.append((random.getstate(), np.random.get_state()[1].copy(),
                       torch.get_rng_state()))
    (py_all, np_all, torch_all), (py_cpu, np_cpu, torch_cpu) = states
    assert py_all == py_cpu and np.array_equal(np_all, np_cpu)
    assert torch.equal(torch_all, torch_cpu)
    seed_everything(124, accelerators=False)
    assert not torch.equal(torch.get_rng_state(), torch_cpu)
