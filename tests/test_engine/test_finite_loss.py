"""Point 4: a NaN loss stops training with an error naming the iteration;
the last good checkpoint stays intact and loadable."""
import math
import os.path as osp
import re

import pytest
import torch
from mmengine.hooks import Hook

from mae_plugin.engine import FiniteLossHook
from tests.test_engine.utils import checkpoint_every_iteration_runner


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
