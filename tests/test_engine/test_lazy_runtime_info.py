"""LazyRuntimeInfoHook: the message hub's history of mmengine's
RuntimeInfoHook, read from the device only where something reads it."""
import os.path as osp

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mae_plugin.checkpoint import load_checkpoint_safely
from mae_plugin.engine import LazyRuntimeInfoHook, read_scalars
from tests.test_engine.utils import tiny_train_cfg


class HistoryLengths(Hook):
    """After every iteration, after every other hook: how many ``train/loss``
    values the message hub holds."""
    priority = 'LOWEST'

    def __init__(self):
        self.lengths = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        scalars = runner.message_hub.log_scalars
        self.lengths.append(
            len(scalars['train/loss'].data[0]) if 'train/loss' in
            scalars else 0)


def train(photos, work_dir, runtime_info):
    # one epoch of 6 iterations, the logger every 4 iterations, a
    # checkpoint after the 5th
    runner = Runner.from_cfg(
        tiny_train_cfg(photos, work_dir, 'train_cfg.max_epochs=1',
                       'train_dataloader.dataset.times=3',
                       f'default_hooks.runtime_info.type={runtime_info}',
                       'default_hooks.logger.interval=4',
                       'default_hooks.checkpoint.by_epoch=0',
                       'default_hooks.checkpoint.interval=5'))
    lengths = HistoryLengths()
    runner.register_hook(lengths)
    runner.train()
    return runner, lengths.lengths


def test_same_history_read_at_logs_checkpoints_and_epoch_ends(
        photos, tmp_path):
    eager, eager_lengths = train(photos, str(tmp_path / 'eager'),
                                 'RuntimeInfoHook')
    lazy, lazy_lengths = train(photos, str(tmp_path / 'lazy'),
                               'LazyRuntimeInfoHook')
    assert any(isinstance(h, LazyRuntimeInfoHook) for h in lazy.hooks)
    assert eager_lengths == [1, 2, 3, 4, 5, 6]
    # read where the logger logs (4), before the checkpoint (5) and at the
    # end of the epoch (6)
    assert lazy_lengths == [0, 0, 0, 4, 5, 6]
    for key in ('train/loss', 'train/lr'):
        eager_values, lazy_values = (
            runner.message_hub.log_scalars[key].data[0].tolist()
            for runner in (eager, lazy))
        assert lazy_values == eager_values and len(eager_values) == 6
    # the checkpoint's copy of the message hub holds the 5 iterations
    ckpt = load_checkpoint_safely(
        osp.join(str(tmp_path / 'lazy'), 'iter_5.pth'))
    history = ckpt['message_hub']['log_scalars']['train/loss'].data[0]
    assert history.tolist() == eager.message_hub.log_scalars[
        'train/loss'].data[0][:5].tolist()


def test_read_scalars_one_read_per_device_ints_stay_ints():
    tensors = [
        torch.tensor(1.5),
        torch.tensor([7]),
        torch.tensor(2.).double(),
        torch.tensor(False)
    ]
    assert read_scalars(tensors) == [1.5, 7, 2.0, 0]
    assert [type(v) for v in read_scalars(tensors)] == [float, int, float, int]
    assert read_scalars([]) == []
    with pytest.raises(ValueError, match=r'one number.*shape \(2,\)'):
        read_scalars([torch.zeros(2)])
