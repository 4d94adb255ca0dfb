"""torch.compile on the MAE model: the runner's ``compile`` setting (the
whole training step, or the blocks one by one), and the loss with a
dynamic batch size."""
import copy
import math
import os.path as osp

import pytest
import torch
from mmengine.runner import Runner
from torch._dynamo.utils import counters

from mae_plugin.apis import build_runner
from mae_plugin.checkpoint import load_checkpoint_safely
from mae_plugin.engine.runner import compile_regions
from mae_plugin.models.utils.attention import TransformerBlock
from mae_plugin.registry import MODELS
from tests.conftest import tiny_mae_cfg
from tests.test_engine.utils import tiny_train_cfg


def test_compiled_train_step_trains(photos, tmp_path):
    cfg = tiny_train_cfg(photos, str(tmp_path / 'work'),
                         'train_cfg.max_epochs=2')
    cfg.compile = True
    runner = Runner.from_cfg(cfg)
    torch._dynamo.reset()
    # One compilation serves every batch: the data preprocessor, which
    # copies the data samples (file names, flips), runs outside it.
    with torch._dynamo.config.patch(error_on_recompile=True):
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
            torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)


def _deep_tiny_mae(drop_path_rate=0.):
    """The tiny MAE with 4 encoder blocks and 2 decoder blocks (two block
    shapes: widths 32 and 16)."""
    cfg = tiny_mae_cfg()
    cfg['backbone']['arch'] = dict(cfg['backbone']['arch'], num_layers=4)
    cfg['backbone']['drop_path_rate'] = drop_path_rate
    cfg['neck']['num_layers'] = 2
    return MODELS.build(cfg)


def test_blocks_compiled_one_by_one_compute_the_eager_step():
    """Six blocks of two shapes take two compilations (dynamo treats the
    blocks' weights as inputs); the state-dict keys stay; loss and
    gradients are the eager ones."""
    torch.manual_seed(0)
    eager = _deep_tiny_mae()
    compiled = copy.deepcopy(eager)
    keys = list(eager.state_dict())
    assert compile_regions(compiled, ['TransformerBlock']) == 6
    assert list(compiled.state_dict()) == keys
    images = torch.randn(2, 3, 32, 32)
    torch._dynamo.reset()
    counters.clear()
    losses = []
    for model in (eager, compiled):
        torch.manual_seed(1)  # the same masks
        loss = model.loss(images, [])['loss']
        loss.backward()
        losses.append(loss)
    assert counters['stats']['unique_graphs'] == 2
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-6)
    for (name, p), q in zip(eager.named_parameters(), compiled.parameters()):
        torch.testing.assert_close(
            q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_blocks_with_stochastic_depth_compile_without_graph_breaks():
    """Each block is one graph (``fullgraph=True`` raises at a break): its
    drop-path rate is a Python float (a NumPy scalar made dynamo break
    the graph at every drop path)."""
    mae = _deep_tiny_mae(drop_path_rate=0.1)
    torch._dynamo.reset()  # no graphs cached by earlier tests
    compile_regions(mae, ['TransformerBlock'], fullgraph=True)
    loss = mae.loss(torch.randn(2, 3, 32, 32), [])['loss']
    loss.backward()
    assert all(p.grad is not None for p in mae.backbone.parameters()
               if p.requires_grad)


def test_regions_must_name_modules_of_the_model():
    mae = _deep_tiny_mae()
    with pytest.raises(
            ValueError,
            match=r"compile.regions \['Block'\] "
            r'names no module.*TransformerBlock'):
        compile_regions(mae, ['Block'])
    with pytest.raises(ValueError, match='non-empty list of class names'):
        compile_regions(mae, 'TransformerBlock')


def test_runner_compiles_the_blocks_and_resumes(photos, tmp_path):
    """``compile=dict(regions=...)`` through the runner of tools/train.py:
    the blocks are compiled, the checkpoint has the model's own keys, and
    a resumed run (compiled again) goes on from it."""
    work = str(tmp_path / 'work')
    regions = 'compile.regions=[TransformerBlock]'
    runner = build_runner(
        tiny_train_cfg(photos, work, 'train_cfg.max_epochs=1', regions))
    runner.train()
    blocks = [
        m for m in runner.model.modules() if isinstance(m, TransformerBlock)
    ]
    assert len(blocks) == 3  # 2 encoder, 1 decoder
    assert all(m._compiled_call_impl is not None for m in blocks)
    # mmengine's whole-step compilation was not applied
    assert not hasattr(runner.model.train_step, '_torchdynamo_orig_callable')
    saved = load_checkpoint_safely(
        osp.join(work, 'epoch_1.pth'), map_location='cpu')
    assert list(saved['state_dict']) == list(
        MODELS.build(runner.cfg.model).state_dict())

    cfg = tiny_train_cfg(photos, work, 'train_cfg.max_epochs=2', regions)
    cfg.resume = True
    resumed = build_runner(cfg)
    resumed.train()
    assert resumed.iter == 2 * runner.iter
    with open(osp.join(resumed.log_dir, f'{resumed.timestamp}.log')) as f:
        assert 'resumed epoch: 1' in f.read()
    losses = resumed.message_hub.get_scalar('train/loss').data[0]
    assert all(math.isfinite(v) for v in losses)
