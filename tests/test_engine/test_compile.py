"""The runner's ``compile`` setting on the MAE training step."""
import math

from mmengine.runner import Runner

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
