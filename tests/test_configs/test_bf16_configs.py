"""The bf16 variants of the ImageNet pretraining configs: the fp16 configs'
optimizer and parameter groups, bf16 autocast, no loss scaler."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mae_plugin.engine import AutocastOptimWrapper
from mae_plugin.registry import MODELS

from ..conftest import ROOT


@pytest.mark.parametrize('arch', ['base', 'large'])
def test_bf16_config_is_the_fp16_one_without_loss_scaling(arch):
    path = osp.join(ROOT, 'configs/mae/mae_vit-{}-p16_8xb512-{}-coslr-'
                    '800e_in1k.py')
    bf16 = Config.fromfile(path.format(arch, 'bf16'))
    fp16 = Config.fromfile(path.format(arch, 'amp'))
    assert bf16.optim_wrapper.type == 'AutocastOptimWrapper'
    assert 'loss_scale' not in bf16.optim_wrapper
    assert bf16.optim_wrapper.optimizer == fp16.optim_wrapper.optimizer
    assert bf16.optim_wrapper.paramwise_cfg == fp16.optim_wrapper.paramwise_cfg
    for key in ('model', 'train_dataloader', 'param_scheduler', 'train_cfg'):
        assert bf16[key] == fp16[key], key


def test_bf16_config_builds_and_trains_a_step_in_bf16():
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs/mae/mae_vit-base-p16_8xb512-bf16-coslr-800e_in1k.py'))
    init_default_scope(cfg.default_scope)
    cfg.model.backbone.update(arch='deit-small', img_size=32)
    cfg.model.neck.update(in_channels=384, img_size=32, embed_dims=32,
                          num_layers=1, num_heads=2)
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert isinstance(wrapper, AutocastOptimWrapper)
    assert isinstance(wrapper.optimizer, torch.optim.AdamW)
    # a batch as default_collate stacks it
    data = dict(inputs=torch.randint(0, 256, (2, 3, 32, 32),
                                     dtype=torch.uint8), data_samples=None)
    # the encoder's matrix products run in bf16 under the wrapper
    dtypes = []
    model.backbone.layers[0].attn.qkv.register_forward_hook(
        lambda module, args, out: dtypes.append(out.dtype))
    before = model.backbone.patch_embed.projection.weight.detach().clone()
    model.train_step(data, wrapper)
    weight = model.backbone.patch_embed.projection.weight
    assert dtypes == [torch.bfloat16]
    assert weight.dtype == torch.float32 and not torch.equal(weight, before)
