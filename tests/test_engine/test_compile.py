"""torch.compile on the MAE model: the runner's ``compile`` setting, and
the loss with a dynamic batch size."""
import math

import torch
from mmengine.runner import Runner

from mae_plugin.registry import MODELS
from tests.conftest import tiny_mae_cfg
from tests.test_engine.utils import tiny_train_cfg


def test_compiled_train_step_trains(photos, tmp_path):
    cfg = tiny_train_cfg(photos, str(tmp_path / 'work'),
                         'train_cfg.max_epochs=2')
    cfg.compile = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    # mmengine replaced the model's train_step by the torch.compile'd one
    assert hasattr(runner.model.train_step, '_torchdynamo_orig_callable')
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)


def test_compiled_loss_takes_a_dynamic_batch():
    """With a symbolic batch size the masking noise must be drawn without
    ``generator=None``, which dynamo cannot trace. The compiled loss is the
    eager one (Inductor told to draw random numbers as eager does)."""
    torch.manual_seed(0)
    mae = MODELS.build(tiny_mae_cfg())
    loss = torch.compile(mae.loss, dynamic=True)
    with torch._inductor.config.patch(fallback_random=True):
        for batch in (2, 3):
            images = torch.randn(batch, 3, 32, 32)
            torch.manual_seed(batch)
            expected = mae.loss(images, [])['loss']
            torch.manual_seed(batch)
            value = loss(images, [])['loss']
            assert value.shape == ()
            torch.testing.assert_close(value, expected, rtol=1e-5,
                                       atol=1e-6)
