"""Point 1 of the reliability issue: a run killed with SIGKILL in the middle
of an epoch and resumed with ``--resume`` ends bit for bit like the same run
uninterrupted (weights, optimizer state, logged losses and learning rates),
with gradient accumulation too, with the shuffle of the interrupted run, and
refusing another batch; point 7: the checkpoints it leaves are complete."""
import copy
import glob
import json
import os.path as osp
import random
import re
import shutil
from collections import Counter

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mae_plugin.checkpoint import load_checkpoint_safely
from mae_plugin.engine import AtomicCheckpointHook
from mae_plugin.engine.hooks.accumulated_gradients_hook import (
    COUNTS_META_KEY, GRADS_KEY, MMENGINE_LOST_GRADIENTS_WARNING)
from mae_plugin.engine.loops import (BATCH_INFO, EPOCH_INFO,
                                     SHUFFLE_SEED_INFO,
                                     PerSampleSeededDataset,
                                     SeededIndexSampler, derive_seed,
                                     derive_seeds, seed_everything)
from tests.test_checkpoint.test_pretrained_init import logged_by
from tests.test_engine.utils import (assert_checkpoints_bitwise_equal,
                                     tiny_train_cfg, unique_experiment)
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


class Interrupted(Exception):
    """Raised by :class:`InterruptBefore`."""


class InterruptBefore(Hook):
    """Stops training before iteration ``at``, as a kill would."""

    def __init__(self, at):
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.at:
            raise Interrupted(f'before iteration {self.at}')


class ImagesSeen(Hook):
    """``{iteration: file names of its batch}``."""
    priority = 'LOWEST'

    def __init__(self):
        self.names = {}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.names[runner.iter + 1] = [
            osp.basename(sample.img_path)
            for sample in data_batch['data_samples']
        ]


def in_process_runner(photos, work_dir, *overrides, resume=False):
    """The run of :func:`options` (no workers) in one epoch of 4 iterations
    with a checkpoint after the 3rd and the 4th, resuming the work dir's
    latest checkpoint with ``resume``; ``overrides`` are further
    ``key=value`` options."""
    cfg = tiny_train_cfg(photos, work_dir, *options(photos, 0),
                         'train_cfg.max_epochs=1', *overrides)
    cfg.resume = resume
    runner = Runner.from_cfg(cfg)
    runner.register_hook(ImagesSeen())
    return runner


def images_seen(runner):
    (hook, ) = [h for h in runner.hooks if isinstance(h, ImagesSeen)]
    return hook.names


def interrupt_before(runner, iteration):
    runner.register_hook(InterruptBefore(iteration))
    with pytest.raises(Interrupted):
        runner.train()


def test_accumulated_gradients_resume_bitwise(photos, tmp_path):
    """A checkpoint taken after iteration 3 of an accumulation over 2
    holds the gradients of iteration 3; the resumed run steps with them
    at iteration 4, as the uninterrupted run does, and its log says so
    instead of mmengine's warning that they were lost, which stays in
    the log of a resume from a checkpoint without them."""
    accumulate = 'optim_wrapper.accumulative_counts=2'
    reference = str(tmp_path / 'reference')
    in_process_runner(photos, reference, accumulate).train()

    interrupted = str(tmp_path / 'interrupted')
    interrupt_before(in_process_runner(photos, interrupted, accumulate), 4)
    checkpoint = load_checkpoint_safely(osp.join(interrupted, 'iter_3.pth'))
    grads = checkpoint[GRADS_KEY]
    assert len(grads) > 10 and all(g.abs().sum() > 0 for g in grads.values())
    plain = without_saved_gradients(interrupted, tmp_path / 'plain')
    logs = {
        work_dir: [
            m for m in logged_by(
                in_process_runner(photos, work_dir, accumulate,
                                  resume=True).train)
            if 'the gradient' in m  # not in the work dirs' paths
        ]
        for work_dir in (interrupted, plain)
    }
    assert logs[interrupted] == [
        f'Resumed the gradients of {len(grads)} parameters accumulated '
        'since the last optimizer step (iteration 3)']
    assert len(logs[plain]) == 1
    assert logs[plain][0].startswith(MMENGINE_LOST_GRADIENTS_WARNING)
    assert 'the gradient of some iterations is lost' in logs[plain][0]

    assert_checkpoints_bitwise_equal(osp.join(reference, 'iter_4.pth'),
                                     osp.join(interrupted, 'iter_4.pth'))
    # after the step of the last iteration there is nothing to keep
    final = load_checkpoint_safely(osp.join(interrupted, 'iter_4.pth'))
    assert GRADS_KEY not in final


def test_checkpoints_without_optimizer_state_hold_no_gradients(
        photos, tmp_path):
    """The accumulated gradients go only where a resume can use them, with
    the optimizer state: a best checkpoint (or one saved with
    ``save_optimizer=False``) after iteration 3 of an accumulation over 2
    is the weights alone (it held them all: 1.8x the file)."""
    work = str(tmp_path / 'work')
    runner = in_process_runner(photos, work,
                               'optim_wrapper.accumulative_counts=2',
                               'default_hooks.checkpoint.save_best=loss')
    interrupt_before(runner, 4)
    (hook, ) = [h for h in runner.hooks if isinstance(h, AtomicCheckpointHook)]
    hook.after_val_epoch(runner, {'loss': 1.})
    best = load_checkpoint_safely(osp.join(work, 'best_loss_iter_3.pth'))
    assert sorted(best) == ['message_hub', 'meta', 'state_dict']
    runner.save_checkpoint(work, 'no_optimizer.pth', save_optimizer=False)
    assert GRADS_KEY not in load_checkpoint_safely(
        osp.join(work, 'no_optimizer.pth'))
    assert GRADS_KEY in load_checkpoint_safely(osp.join(work, 'iter_3.pth'))


def copy_run(work_dir, copy_to):
    """A copy of the work dir of a run whose ``last_checkpoint`` names the
    copy's own checkpoint (mmengine writes an absolute path there, so a
    plain copy resumes from the original's)."""
    shutil.copytree(work_dir, copy_to)
    pointer = osp.join(copy_to, 'last_checkpoint')
    with open(pointer) as f:
        latest = osp.basename(f.read().strip())
    with open(pointer, 'w') as f:
        f.write(osp.join(str(copy_to), latest))
    return str(copy_to)


def without_saved_gradients(work_dir, copy_to):
    """A copy of ``work_dir`` whose ``iter_3.pth`` holds no gradients."""
    copy_run(work_dir, copy_to)
    path = osp.join(copy_to, 'iter_3.pth')
    checkpoint = load_checkpoint_safely(path)
    del checkpoint[GRADS_KEY]
    torch.save(checkpoint, path)
    return str(copy_to)


@pytest.mark.parametrize('counts, recorded, message', [
    (1, True, 'The checkpoint of iteration 3 holds the gradients accumulated '
     'since its last optimizer step with '
     'optim_wrapper.accumulative_counts=2, but this run accumulates over 1: '
     'they are dropped'),
    # they were put back, scaled by 1/2 where this run's are by 1/4
    (4, True, 'The checkpoint of iteration 3 holds the gradients accumulated '
     'since its last optimizer step with '
     'optim_wrapper.accumulative_counts=2, but this run accumulates over 4: '
     'they are dropped'),
    # a checkpoint saved before the count was recorded
    (1, False, 'The checkpoint of iteration 3 holds the gradients '
     'accumulated since its last optimizer step, but this run steps at that '
     'iteration (another optim_wrapper.accumulative_counts): they are '
     'dropped'),
])
def test_saved_gradients_another_accumulation_cannot_use_are_dropped(
        counts, recorded, message, photos, tmp_path):
    """Resumed with another ``accumulative_counts``, the gradients of
    iteration 3 saved by the accumulation over 2 are dropped with a
    warning (iteration 4 steps on its own gradients, or with 4 starts an
    accumulation that the checkpoint's do not belong to), and the run ends
    bitwise as one resumed from the checkpoint without them; loaded as
    weights (``load_from``, a new run from iteration 0) they are left out
    without a word."""
    accumulate = 'optim_wrapper.accumulative_counts=2'
    interrupted = str(tmp_path / 'interrupted')
    interrupt_before(in_process_runner(photos, interrupted, accumulate), 4)
    path = osp.join(interrupted, 'iter_3.pth')
    checkpoint = load_checkpoint_safely(path)
    assert checkpoint['meta'][COUNTS_META_KEY] == 2
    if not recorded:
        del checkpoint['meta'][COUNTS_META_KEY]
        torch.save(checkpoint, path)
    plain = without_saved_gradients(interrupted, tmp_path / 'plain')
    warnings = {}
    for work_dir in (interrupted, plain):
        runner = in_process_runner(
            photos, work_dir, f'optim_wrapper.accumulative_counts={counts}',
            resume=True)
        warnings[work_dir] = [m for m in logged_by(runner.train)
                              if 'accumulated' in m]
    assert warnings == {interrupted: [message], plain: []}
    assert_checkpoints_bitwise_equal(osp.join(interrupted, 'iter_4.pth'),
                                     osp.join(plain, 'iter_4.pth'))

    for source in (interrupted, plain):
        work_dir = str(tmp_path / f'from_{osp.basename(source)}')
        runner = in_process_runner(
            photos, work_dir, accumulate,
            f'load_from={osp.join(source, "iter_3.pth")}')
        assert not [m for m in logged_by(runner.train) if 'accumulated' in m]
    assert_checkpoints_bitwise_equal(
        osp.join(tmp_path, 'from_interrupted', 'iter_4.pth'),
        osp.join(tmp_path, 'from_plain', 'iter_4.pth'))


def test_a_moved_work_dir_resumes_from_its_own_checkpoint(photos, tmp_path):
    """``--resume`` in a work dir moved elsewhere (its ``last_checkpoint``
    naming the old place) continues from the moved checkpoint and ends
    bitwise as the uninterrupted run; mmengine failed to find the file."""
    reference = str(tmp_path / 'reference')
    in_process_runner(photos, reference).train()
    interrupted = str(tmp_path / 'interrupted')
    interrupt_before(in_process_runner(photos, interrupted), 4)
    moved = str(tmp_path / 'moved')
    shutil.move(interrupted, moved)
    cfg = tiny_train_cfg(photos, moved, *options(photos, 0),
                         'train_cfg.max_epochs=1', resume='auto')
    assert cfg.load_from == osp.join(moved, 'iter_3.pth')
    Runner.from_cfg(cfg).train()
    assert_checkpoints_bitwise_equal(osp.join(reference, 'iter_4.pth'),
                                     osp.join(moved, 'iter_4.pth'))


def test_an_infinite_sampler_is_refused_before_training(photos, tmp_path):
    """mmengine's ``InfiniteSampler`` keeps one endless generator for all
    its passes: the loop trained epoch 1 and stopped at epoch 2 with a bare
    ``StopIteration`` (the generator closed with epoch 1's iterator)."""
    runner = in_process_runner(photos, str(tmp_path),
                               'train_dataloader.sampler.type=InfiniteSampler',
                               'train_cfg.max_epochs=2')
    with pytest.raises(ValueError, match=re.escape(
            'train_dataloader.sampler of an epoch-based train loop must end '
            'each epoch (DefaultSampler), got InfiniteSampler, which never '
            'ends one; to keep it, train by iterations (train_cfg=dict('
            'by_epoch=False, max_iters=...))')):
        runner.train()
    assert images_seen(runner) == {}


def test_a_resume_with_nothing_left_to_train_says_so(photos, tmp_path):
    """A finished run resumed again (a requeued job) trained nothing, exit
    0, without a word; so did one whose max_epochs was lowered below its
    checkpoint's epoch."""
    work_dir = str(tmp_path / 'work')
    in_process_runner(photos, work_dir, 'train_cfg.max_epochs=2').train()
    finished = in_process_runner(
        photos, work_dir, 'train_cfg.max_epochs=2', resume=True)
    assert ('The resumed checkpoint (iteration 8) ends epoch 2, '
            'train_cfg.max_epochs: nothing is left to train; raise '
            'max_epochs to train on') in logged_by(finished.train)
    assert images_seen(finished) == {}
    lowered = in_process_runner(photos, work_dir, resume=True)
    with pytest.raises(ValueError) as error:
        lowered.train()
    assert str(error.value) == (
        'train_cfg.max_epochs must be at least the 2 epochs of the resumed '
        'checkpoint (iteration 8), got 1, which would train nothing')
    assert images_seen(lowered) == {}


@pytest.fixture(scope='module')
def seedless_interrupted(photos, tmp_path_factory):
    """A run with ``randomness.seed=None`` (its own seed, and a shuffle seed
    of its ``DefaultSampler``) interrupted before iteration 4; its work
    dir, the images of its iterations and the images of the epoch in its
    sampler's order. mmengine draws the seed from NumPy's global generator,
    seeded here: this module-scoped fixture runs before the per-test seeds
    of tests/conftest.py, in whatever state the previous test left."""
    work_dir = str(tmp_path_factory.mktemp('seedless') / 'interrupted')
    np.random.seed(1)
    runner = in_process_runner(photos, work_dir, 'randomness.seed=None')
    interrupt_before(runner, 4)
    dataset = runner.train_dataloader.dataset
    order = [
        osp.basename(dataset.get_data_info(index)['img_path'])
        for index in runner.train_loop.sampler.sampler
    ]
    return work_dir, runner.seed, images_seen(runner), order


def test_resume_shuffles_as_the_interrupted_run(seedless_interrupted,
                                                photos, tmp_path):
    source, seed, seen, order = seedless_interrupted
    work_dir = copy_run(source, tmp_path / 'work')
    np.random.seed(2)  # another process's seed than the fixture's
    resumed = in_process_runner(photos, work_dir, 'randomness.seed=None',
                                resume=True)
    assert resumed.seed != seed  # a seed, and a shuffle, of its own
    resumed.train()
    seen.update(images_seen(resumed))
    assert sorted(seen) == [1, 2, 3, 4]
    epoch = [name for iteration in sorted(seen) for name in seen[iteration]]
    assert epoch == order
    assert Counter(epoch) == {f'img_{i}.jpg': 2 for i in range(8)}


# Batch 3 of the epoch's shuffle of 16 samples is no position in a shuffle
# of 24: the old loop trained batches 3 to 5 of it.
@pytest.mark.parametrize('override, message', [
    ('train_dataloader.batch_size=2',
     'cannot resume iteration 3: the checkpoint was trained with 1 '
     'process(es) x 4 images per iteration (train_dataloader.batch_size),'
     ' this run with 1 x 2, which would shift the position in the epoch;'
     ' resume with the same number of images per iteration, or from a '
     'checkpoint at the end of an epoch'),
    ('train_dataloader.dataset.times=3',
     "cannot resume iteration 3, batch 3 of 4 in epoch 0: the "
     "checkpoint's epoch shuffles 16 samples "
     '(len(train_dataloader.dataset)), this run 24, another order; '
     'resume with the same dataset, or from a checkpoint at the end of '
     'an epoch'),
])
def test_mid_epoch_resume_with_another_batch_or_dataset_is_refused(
        override, message, seedless_interrupted, photos, tmp_path):
    work_dir = copy_run(seedless_interrupted[0], tmp_path / 'work')
    runner = in_process_runner(photos, work_dir, override, resume=True)
    with pytest.raises(ValueError) as error:
        runner.train()
    assert str(error.value) == message
    assert images_seen(runner) == {}


def test_checkpoint_without_the_records_still_resumes(seedless_interrupted,
                                                      photos, tmp_path):
    """A checkpoint saved before the loop recorded the batch, the shuffle
    seed and the epoch resumes with this run's."""
    work_dir = copy_run(seedless_interrupted[0], tmp_path / 'work')
    path = osp.join(work_dir, 'iter_3.pth')
    checkpoint = load_checkpoint_safely(path)
    info = checkpoint['message_hub']['runtime_info']
    assert info[BATCH_INFO] == dict(world_size=1, batch_size=4)
    assert info[EPOCH_INFO] == dict(epoch=0, first_iter=0, batches=4,
                                    images=16)
    del info[BATCH_INFO], info[SHUFFLE_SEED_INFO], info[EPOCH_INFO]
    torch.save(checkpoint, path)
    resumed = in_process_runner(photos, work_dir, resume=True)
    resumed.train()
    assert sorted(images_seen(resumed)) == [4]


@pytest.mark.parametrize('by_epoch', [False, True])
@pytest.mark.parametrize('override, batches, per_image', [
    ('train_dataloader.dataset.times=1', 2, 1),
    ('train_dataloader.dataset.times=3', 6, 3),
    ('train_dataloader.batch_size=2', 8, 2),
])
def test_resume_after_an_epoch_trains_the_next_on_another_dataset_or_batch(
        override, batches, per_image, by_epoch, photos, tmp_path):
    """The checkpoint after iteration 4 (an iteration or an epoch
    checkpoint) ends epoch 0 (16 samples in batches of 4); epoch 1 trains
    every sample of a dataset of 8 or 24 once, or the 16 in batches of 2.
    The old loop refused 24 (naming the batch size) or trained 2 more
    batches of epoch 0 on it, and refused 8 or skipped epoch 1; it refused
    another batch as it does in the middle of an epoch."""
    work_dir = str(tmp_path / 'work')
    checkpoints = ('default_hooks.checkpoint.interval=1',
                   f'default_hooks.checkpoint.by_epoch={by_epoch}')
    in_process_runner(photos, work_dir, *checkpoints).train()
    resumed = in_process_runner(photos, work_dir, *checkpoints,
                                'train_cfg.max_epochs=2', override,
                                resume=True)
    resumed.train()
    seen = images_seen(resumed)
    assert sorted(seen) == list(range(5, 5 + batches))
    epoch = [name for names in seen.values() for name in names]
    assert Counter(epoch) == {f'img_{i}.jpg': per_image for i in range(8)}


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


def warning_of_an_edited_resume(photos, work, words, *edits):
    """Train the tiny run for one epoch in ``work``, resume it for a
    second unchanged, which logs no message with ``words``, then for a
    third with the config ``edits``, which logs one; the edited runner,
    that message and the iterations per epoch."""
    first = Runner.from_cfg(
        tiny_train_cfg(photos, work, 'train_cfg.max_epochs=1'))
    first.train()
    same = Runner.from_cfg(
        tiny_train_cfg(photos, work, 'train_cfg.max_epochs=2',
                       resume='auto'))
    assert not [m for m in logged_by(same.train) if words in m]
    edited = Runner.from_cfg(
        tiny_train_cfg(photos, work, 'train_cfg.max_epochs=3', *edits,
                       resume='auto'))
    (warning, ) = [m for m in logged_by(edited.train) if words in m]
    return edited, warning, len(first.train_dataloader)


def test_a_resume_that_keeps_the_checkpoints_schedule_says_so(
        photos, tmp_path):
    """mmengine's resume loads the saved schedulers' begin, end and T_max
    over the config's: an edited schedule is silently not the one run."""
    # the demo's cosine (epochs 1 to 30) edited to end with the training
    edited, warning, steps = warning_of_an_edited_resume(
        photos, str(tmp_path), 'keeps the sch', 'param_scheduler.1.end=3',
        'param_scheduler.1.T_max=2')
    assert ("param_scheduler[1] (CosineAnnealingLR) end: the checkpoint's "
            f"{30 * steps}, not the config's {3 * steps}; param_scheduler[1] "
            f"(CosineAnnealingLR) T_max: the checkpoint's {29 * steps}, not "
            f"the config's {2 * steps}.") in warning
    assert edited.param_schedulers[1].end == 30 * steps  # as it says


def test_a_resume_that_keeps_the_checkpoints_optimizer_settings_says_so(
        photos, tmp_path):
    """mmengine's resume loads the saved param groups over the config's: a
    lowered lr or another weight decay was silently not the one run."""
    edited, warning, _ = warning_of_an_edited_resume(
        photos, str(tmp_path), 'optimizer set',
        'optim_wrapper.optimizer.lr=0.5',
        'optim_wrapper.optimizer.weight_decay=0.5',
        'optim_wrapper.optimizer.betas=[0.9,0.95]')
    assert ("keeps the optimizer settings of its checkpoint, as mmengine's "
            "resume does, where the config's differ: ") in warning
    # betas as a list are the same setting as the checkpoint's tuple
    assert sorted(warning.split(': ', 1)[1].split('. To')[0].split('; ')) == [
        "initial_lr: the checkpoint's 0.001, not the config's 0.5",
        "weight_decay: the checkpoint's 0.05, not the config's 0.5"]
    assert edited.optim_wrapper.param_groups[0]['weight_decay'] == 0.05


def test_a_resume_refuses_schedulers_it_would_pair_wrongly(photos, tmp_path):
    """mmengine's resume pairs saved and configured schedulers in order
    with zip: a schedule with the warm-up left out or moved would load the
    warm-up's state into the cosine and run a mix of both."""
    work = str(tmp_path)
    Runner.from_cfg(tiny_train_cfg(photos, work,
                                   'train_cfg.max_epochs=1')).train()
    cfg = tiny_train_cfg(photos, work, 'train_cfg.max_epochs=2',
                         resume='auto')
    warmup, cosine = cfg.param_scheduler  # LinearLR, CosineAnnealingLR
    cosine_takes_warmup = (
        "param_scheduler[0] (CosineAnnealingLR) would take the checkpoint's "
        "scheduler 0, whose state lacks ['T_max', 'eta_min', "
        "'eta_min_ratio'] and has ['end_factor', 'start_factor', "
        "'total_iters']: another kind of scheduler")
    for schedule, problems in (
        ([cosine], 'the checkpoint has 2 scheduler(s), the config 1; ' +
         cosine_takes_warmup),
        ([cosine, warmup], cosine_takes_warmup + '; param_scheduler[1] '
         "(LinearLR) would take the checkpoint's scheduler 1, whose state "
         "lacks ['end_factor', 'start_factor', 'total_iters'] and has "
         "['T_max', 'eta_min', 'eta_min_ratio']: another kind of scheduler"),
    ):
        edited = unique_experiment(copy.deepcopy(cfg))
        edited.param_scheduler = schedule
        runner = Runner.from_cfg(edited)
        with pytest.raises(ValueError) as error:
            runner.train()
        assert str(error.value).startswith(
            f'checkpoint {osp.join(work, "epoch_1.pth")} cannot be resumed '
            f'with this param_scheduler: {problems}. ')
        assert not osp.exists(osp.join(work, 'epoch_2.pth'))
