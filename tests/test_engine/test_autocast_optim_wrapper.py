"""AutocastOptimWrapper: bf16 mixed precision on the CPU, chosen by --amp
where mmengine's AmpOptimWrapper cannot build, with the loss curve of fp32
training."""
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.runner import Runner

from mae_plugin.apis import train_config
from mae_plugin.engine import AutocastOptimWrapper
from mae_plugin.registry import MODELS, OPTIM_WRAPPERS
from tests.conftest import tiny_mae_cfg
from tests.test_engine.utils import tiny_train_cfg
from tests.test_tools.test_train_test_visualize import CONFIG


def build(wrapper_type, model):
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    return OPTIM_WRAPPERS.build(dict(type=wrapper_type, optimizer=optimizer))


def test_forward_runs_in_bf16_and_the_weights_stay_fp32():
    torch.manual_seed(0)
    mae = MODELS.build(tiny_mae_cfg())
    wrapper = build('AutocastOptimWrapper', mae)
    images = torch.randn(2, 3, 32, 32)
    with wrapper.optim_context(mae):
        tokens, _ = mae.backbone.patch_embed(images)
        loss = mae.loss(images, [])['loss']
    assert tokens.dtype == torch.bfloat16  # the patch projection ran in bf16
    assert mae.backbone.patch_embed(images)[0].dtype == torch.float32
    before = mae.backbone.cls_token.detach().clone()
    wrapper.update_params(loss)
    assert all(p.dtype == torch.float32 for p in mae.parameters())
    assert not torch.equal(mae.backbone.cls_token, before)


def test_fp16_is_refused_with_the_parameter_named():
    mae = MODELS.build(tiny_mae_cfg())
    with pytest.raises(ValueError, match='dtype must be .bfloat16.'):
        OPTIM_WRAPPERS.build(
            dict(type='AutocastOptimWrapper', dtype='float16',
                 optimizer=torch.optim.AdamW(mae.parameters())))


@pytest.mark.parametrize('cuda', [False, True])
def test_amp_picks_the_wrapper_the_machine_can_build(cuda, monkeypatch):
    """fp16 with dynamic loss scaling with CUDA, bf16 autocast without; a
    config's own AmpOptimWrapper is kept."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda)
    cfg = train_config(CONFIG, work_dir='unused', amp=True)
    if cuda:
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
        assert cfg.optim_wrapper.loss_scale == 'dynamic'
    else:
        assert cfg.optim_wrapper.type == 'mae_plugin.AutocastOptimWrapper'
        assert 'loss_scale' not in cfg.optim_wrapper
    assert train_config(CONFIG, work_dir='unused').optim_wrapper.type == (
        'OptimWrapper')
    kept = train_config(
        CONFIG, work_dir='unused', amp=True,
        cfg_options={'optim_wrapper.type': 'AmpOptimWrapper'})
    assert kept.optim_wrapper.type == 'AmpOptimWrapper'


def test_amp_run_trains_and_resumes_on_the_cpu(photos, tmp_path):
    work = str(tmp_path / 'work')
    runner = Runner.from_cfg(
        tiny_train_cfg(photos, work, 'train_cfg.max_epochs=2', amp=True))
    runner.train()
    assert isinstance(runner.optim_wrapper, AutocastOptimWrapper)
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == runner.iter == 4  # 8 photos, batch 4, 2 epochs
    assert all(math.isfinite(v) for v in losses)
    resumed = Runner.from_cfg(
        tiny_train_cfg(photos, work, 'train_cfg.max_epochs=3', amp=True))
    resumed.resume(osp.join(work, 'epoch_2.pth'))
    assert resumed.iter == 4


def smooth_images(n, generator):
    """Images with structure to reconstruct: upsampled 4x4 noise."""
    coarse = torch.rand(n, 3, 4, 4, generator=generator)
    return F.interpolate(coarse, size=32, mode='bicubic', align_corners=False)


def loss_curve(wrapper_type, mask_seed, steps=40):
    """Losses of a short run from one initialisation on fixed data; the
    masks of step ``i`` come from seed ``mask_seed + i``."""
    torch.manual_seed(0)
    mae = MODELS.build(tiny_mae_cfg())
    mae.init_weights()
    wrapper = build(wrapper_type, mae)
    images = smooth_images(16, torch.Generator().manual_seed(1))
    losses = []
    for step in range(steps):
        torch.manual_seed(mask_seed + step)
        with wrapper.optim_context(mae):
            loss = mae.loss(images, [])['loss']
        wrapper.update_params(loss)
        losses.append(loss.item())
    return torch.tensor(losses)


def test_bf16_loss_curve_matches_fp32_within_mask_noise():
    fp32 = loss_curve('OptimWrapper', mask_seed=0)
    bf16 = loss_curve('AutocastOptimWrapper', mask_seed=0)
    other_masks = loss_curve('OptimWrapper', mask_seed=1000)
    assert fp32[-10:].mean() < 0.93 * fp32[:5].mean()  # it learns
    assert bf16[-10:].mean() < 0.93 * bf16[:5].mean()
    assert not torch.equal(bf16, fp32)  # bf16 did change the arithmetic
    # Step by step, bf16 differs from fp32 far less than fp32 differs from
    # itself under other masks, and its curve ends where fp32's does.
    precision_gap = (bf16 - fp32).abs().mean()
    mask_gap = (other_masks - fp32).abs().mean()
    assert precision_gap < 0.25 * mask_gap, (precision_gap, mask_gap)
    torch.testing.assert_close(bf16[-10:].mean(), fp32[-10:].mean(),
                               rtol=0.01, atol=0)
