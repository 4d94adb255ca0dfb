"""The fine-tuning schedule's per-group lr floor: the official
``util/lr_sched.py`` scales ``min_lr`` with each group's layer decay."""
import math
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS, init_default_scope

from mae_plugin.engine import GroupFloorCosineAnnealingLR
from mae_plugin.registry import MODELS
from ..conftest import ROOT, TINY_ARCH

FINETUNE = osp.join(ROOT, 'configs', 'benchmarks', 'classification',
                    'vit-base-p16_8xb128-coslr-100e_in1k.py')


def tiny_finetuning():
    """The ViT-B fine-tuning config's optimizer and schedulers on a tiny
    ViT (2 blocks, layer decay 0.65), stepped once per epoch."""
    cfg = Config.fromfile(FINETUNE)
    init_default_scope(cfg.default_scope)
    cfg.model.backbone.update(arch=TINY_ARCH, img_size=32, patch_size=8)
    cfg.model.head.in_channels = 32
    model = MODELS.build(cfg.model)
    cfg.optim_wrapper.type = 'OptimWrapper'  # AMP needs a GPU
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    epochs = cfg.train_cfg.max_epochs
    schedulers = [
        PARAM_SCHEDULERS.build(
            dict(
                s,
                optimizer=wrapper,
                convert_to_iter_based=False,
                end=s.get('end', epochs))) for s in cfg.param_scheduler
    ]
    return cfg, wrapper, schedulers


def test_finetuning_floor_scales_with_layer_decay():
    cfg, wrapper, schedulers = tiny_finetuning()
    lr, min_lr = cfg.optim_wrapper.optimizer.lr, 1e-6
    warmup, epochs = 5, cfg.train_cfg.max_epochs
    groups = wrapper.optimizer.param_groups
    scales = sorted({g['lr_scale'] for g in groups})
    # head 1, blocks 0.65 and 0.65 ** 2, embeddings 0.65 ** 3
    assert scales == pytest.approx([0.65**3, 0.65**2, 0.65, 1])
    for epoch in range(1, epochs):
        for scheduler in schedulers:
            scheduler.step()
        if epoch < warmup:
            continue
        # the official schedule at the start of this epoch
        cosine = 0.5 * (1 + math.cos(math.pi * (epoch - warmup) /
                                     (epochs - warmup)))
        for group in groups:
            expected = group['lr_scale'] * (min_lr + (lr - min_lr) * cosine)
            assert group['lr'] == pytest.approx(expected, rel=1e-9)
    # in the last epoch the embeddings' lr is below mmengine's common floor
    assert min(g['lr'] for g in groups) < min_lr


def test_restarting_schedule_is_refused():
    _, wrapper, _ = tiny_finetuning()
    with pytest.raises(ValueError, match='T_max=10'):
        GroupFloorCosineAnnealingLR(
            wrapper, eta_min=1e-6, T_max=10, begin=0, end=20)


def test_a_floor_ratio_is_refused_by_name():
    # CosineAnnealingLR would stop at a bare assertion (eta_min and
    # eta_min_ratio both set)
    _, wrapper, _ = tiny_finetuning()
    with pytest.raises(TypeError, match='takes eta_min .* not eta_min_ratio'):
        GroupFloorCosineAnnealingLR(
            wrapper, eta_min_ratio=0.01, T_max=10, begin=0, end=10)
