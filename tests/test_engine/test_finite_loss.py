"""Point 4: a NaN loss stops training with an error naming the iteration;
the last good checkpoint stays intact and loadable."""
import math
import os.path as osp
import re

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mae_plugin.engine import FiniteLossHook, LazyRuntimeInfoHook
from tests.test_engine.utils import (checkpoint_every_iteration_runner,
                                     tiny_train_cfg)


class InjectValue(Hook):
    """Sets one decoder bias to ``value`` before iteration ``at``."""

    def __init__(self, at, value):
        self.at = at
        self.value = value

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.at:
            runner.model.neck.decoder_pred.bias.data[0] = self.value


@pytest.mark.parametrize('value', [math.nan, math.inf])
def test_bad_loss_stops_before_it_reaches_a_checkpoint(
        value, photos, tmp_path):
    work = str(tmp_path / 'work')
    runner = checkpoint_every_iteration_runner(photos, work, max_epochs=3)
    runner.register_hook(InjectValue(at=3, value=value))
    with pytest.raises(FloatingPointError) as error:
        runner.train()
    message = str(error.value)
    # an Inf prediction gives an Inf or (0 * Inf in the mask) NaN loss
    assert re.search(
        r'non-finite loss at iteration 3 \(epoch 2\): loss=(nan|inf)\.',
        message), message
    assert message.endswith(osp.join(work, 'iter_2.pth'))

    assert not osp.exists(osp.join(work, 'iter_3.pth'))
    assert not osp.exists(osp.join(work, 'iter_1.pth'))  # max_keep_ckpts=1
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work, 'iter_2.pth')
    ckpt = torch.load(osp.join(work, 'iter_2.pth'), weights_only=True)
    assert ckpt['meta']['iter'] == 2
    assert all(torch.isfinite(v).all() for v in ckpt['state_dict'].values())
    # and it resumes
    runner.resume(osp.join(work, 'iter_2.pth'))
    assert runner.iter == 2


def test_interval_must_be_positive():
    with pytest.raises(ValueError, match='interval must be an int >= 1'):
        FiniteLossHook(interval=0)


class IterationsRun(Hook):
    """The iterations whose hooks all ran."""
    priority = 'LOWEST'

    def __init__(self):
        self.iterations = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.iterations.append(runner.iter + 1)


def finite_loss_hook(runner):
    (hook, ) = [h for h in runner.hooks if isinstance(h, FiniteLossHook)]
    return hook


def no_checkpoint_runner(photos, work_dir, interval):
    """6 iterations in 3 epochs, no checkpoint before the last, the losses
    read every ``interval`` iterations."""
    runner = Runner.from_cfg(
        tiny_train_cfg(photos, work_dir, 'train_cfg.max_epochs=3',
                       'default_hooks.checkpoint.interval=10'))
    finite_loss_hook(runner).interval = interval
    return runner


def test_losses_read_every_interval_name_the_first_bad_one(photos, tmp_path):
    runner = no_checkpoint_runner(photos, str(tmp_path / 'work'), 4)
    runner.register_hook(InjectValue(at=3, value=math.nan))
    iterations = IterationsRun()
    runner.register_hook(iterations)
    with pytest.raises(FloatingPointError,
                       match=r'non-finite loss at iteration 3 \(epoch 2\): '
                       r'loss=nan\. .*none \(none saved yet\)$'):
        runner.train()
    # iteration 4 stopped in the hook, before the lowest-priority hooks
    assert iterations.iterations == [1, 2, 3]


def test_a_checkpoint_reads_the_losses_first(photos, tmp_path):
    # a checkpoint every iteration, the losses read every 5: the one of
    # iteration 3 is refused for its loss, before its weights are looked at
    work = str(tmp_path / 'work')
    runner = checkpoint_every_iteration_runner(photos, work, max_epochs=3)
    finite_loss_hook(runner).interval = 5
    runner.register_hook(InjectValue(at=3, value=math.inf))
    with pytest.raises(FloatingPointError,
                       match=r'non-finite loss at iteration 3 '):
        runner.train()
    assert osp.exists(osp.join(work, 'iter_2.pth'))
    assert not osp.exists(osp.join(work, 'iter_3.pth'))


def test_a_bad_loss_in_the_last_iterations_stops_at_the_end(photos,
                                                           tmp_path):
    runner = no_checkpoint_runner(photos, str(tmp_path / 'work'), 100)
    runner.register_hook(InjectValue(at=6, value=math.nan))
    with pytest.raises(FloatingPointError,
                       match=r'non-finite loss at iteration 6 \(epoch 3\)'):
        runner.train()


def eight_iterations_an_epoch_runner(photos, work_dir, *overrides):
    """8 iterations (of one image) an epoch, 3 epochs, the logger logging
    every 3 iterations of the epoch, no checkpoint before the last."""
    return Runner.from_cfg(
        tiny_train_cfg(photos, work_dir, 'train_cfg.max_epochs=3',
                       'train_dataloader.batch_size=1',
                       'default_hooks.logger.interval=3',
                       'default_hooks.checkpoint.interval=10', *overrides))


class ReadPoints(Hook):
    """The iterations after which the FiniteLossHook had read every flag
    and the LazyRuntimeInfoHook every logged value."""
    priority = 'LOWEST'

    def __init__(self):
        self.flags, self.values = [], []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        (lazy, ) = [h for h in runner.hooks
                    if isinstance(h, LazyRuntimeInfoHook)]
        if not finite_loss_hook(runner)._unchecked:
            self.flags.append(runner.iter + 1)
        if not lazy._pending:
            self.values.append(runner.iter + 1)


def test_flags_are_read_where_the_logger_reads_the_values(photos,
                                                          tmp_path):
    runner = eight_iterations_an_epoch_runner(photos, str(tmp_path / 'w'))
    read = ReadPoints()
    runner.register_hook(read)
    runner.train()
    # batches 3 and 6 of each epoch of 8, and its end
    expected = [3, 6, 8, 11, 14, 16, 19, 22, 24]
    assert read.values == expected
    assert read.flags == expected


@pytest.mark.parametrize('interval', [None, 3])
def test_the_first_bad_loss_stops_at_the_next_logged_iteration(
        interval, photos, tmp_path):
    """The logger's interval, or the same given to the hook, counted
    within the epoch: a NaN at iteration 9 (the first of epoch 2) is found
    at iteration 11 (its third), not at 9 (a multiple of 3 counted from
    the start of training)."""
    runner = eight_iterations_an_epoch_runner(photos, str(tmp_path / 'w'))
    finite_loss_hook(runner).interval = interval
    runner.register_hook(InjectValue(at=9, value=math.nan))
    iterations = IterationsRun()
    runner.register_hook(iterations)
    with pytest.raises(FloatingPointError,
                       match=r'non-finite loss at iteration 9 \(epoch 2\)'):
        runner.train()
    assert iterations.iterations == list(range(1, 11))
