import glob
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mae_plugin.datasets.demo_photos import packaged_photos
from mae_plugin.datasets.transforms.fused_crop import (
    random_resized_crop_params, reduced_decode_factor)
from mae_plugin.registry import MODELS
from ..conftest import ROOT, TINY_ARCH, tiny_mae_cfg

CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', 'mae', '*.py')))
DEMO = osp.join(ROOT, 'configs', 'mae',
                'mae_vit-tiny-p8_1xb32-coslr_demo-photos.py')


def test_there_are_configs():
    assert len(CONFIGS) >= 6


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds_its_model(path):
    cfg = Config.fromfile(path)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    backbone = cfg.model.backbone
    size = backbone.img_size
    assert model.backbone.patch_resolution == (size // backbone.patch_size,
                                               size // backbone.patch_size)
    assert model.neck.in_channels == model.backbone.embed_dims
    del model


# Every config with an auto_scale_lr.base_batch_size, its processes and
# images per process in its name (`_8xb512`, `_1xb32`).
BATCH_CONFIGS = sorted(
    path for folder in ('mae', 'mae/ablations', 'benchmarks/classification',
                        'benchmarks/classification/fashion_mnist')
    for path in glob.glob(osp.join(ROOT, 'configs', folder, '*.py')))


@pytest.mark.parametrize('path', BATCH_CONFIGS, ids=osp.basename)
def test_a_config_run_as_named_is_at_the_batch_its_lr_is_for(path):
    """Its run as named (`tools/dist_train.sh CONFIG 8` for `_8xb512`)
    is at ``auto_scale_lr.base_batch_size``, so the runner does not warn
    that the config lr is used at another batch."""
    processes, per_process = map(int, re.search(
        r'_(\d+)xb(\d+)', osp.basename(path)).groups())
    cfg = Config.fromfile(path)
    assert cfg.train_dataloader.batch_size == per_process
    accumulation = cfg.optim_wrapper.get('accumulative_counts', 1)
    assert processes * per_process * accumulation == \
        cfg.auto_scale_lr.base_batch_size


PAPER = {
    'mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py': (768, 12, 16, 300),
    'mae_vit-base-p16_8xb512-amp-coslr-400e_in1k.py': (768, 12, 16, 400),
    'mae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py': (768, 12, 16, 800),
    'mae_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py': (768, 12, 16, 1600),
    'mae_vit-large-p16_8xb512-amp-coslr-300e_in1k.py': (1024, 24, 16, 300),
    'mae_vit-large-p16_8xb512-amp-coslr-400e_in1k.py': (1024, 24, 16, 400),
    'mae_vit-large-p16_8xb512-amp-coslr-800e_in1k.py': (1024, 24, 16, 800),
    'mae_vit-large-p16_8xb512-amp-coslr-1600e_in1k.py': (1024, 24, 16, 1600),
    'mae_vit-huge-p14_8xb512-amp-coslr-1600e_in1k.py': (1280, 32, 14, 1600),
}


@pytest.mark.parametrize('name', sorted(PAPER))
def test_paper_recipe(name):
    dims, depth, patch, epochs = PAPER[name]
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'mae', name))
    init_default_scope(cfg.default_scope)
    settings = MODELS.get(cfg.model.backbone.type).arch_zoo[
        cfg.model.backbone.arch]
    assert (settings['embed_dims'], settings['num_layers']) == (dims, depth)
    assert cfg.model.backbone.patch_size == patch
    assert cfg.model.backbone.masking == dict(type='RandomMasking',
                                              mask_ratio=0.75)
    assert cfg.model.head.norm_pix is True
    assert (cfg.model.neck.embed_dims, cfg.model.neck.num_layers) == (512, 8)
    optim = cfg.optim_wrapper
    assert optim.type == 'AmpOptimWrapper'
    assert optim.optimizer.type == 'AdamW'
    assert optim.optimizer.lr == pytest.approx(1.5e-4 * 4096 / 256)
    assert optim.optimizer.betas == (0.9, 0.95)
    assert optim.optimizer.weight_decay == 0.05
    assert optim.optimizer.fused is True
    assert optim.paramwise_cfg == dict(bias_decay_mult=0.,
                                       flat_decay_mult=0.)
    assert cfg.train_dataloader.batch_size * 8 == 4096
    assert cfg.auto_scale_lr.base_batch_size == 4096
    assert cfg.train_cfg.max_epochs == epochs
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.end) == ('LinearLR', 40)
    assert (cosine.type, cosine.begin, cosine.end) == ('CosineAnnealingLR',
                                                      40, epochs)
    assert (cosine.T_max, cosine.eta_min) == (epochs - 40, 0.)
    crop = cfg.train_dataloader.dataset.pipeline[0]
    assert crop.type == 'DecodeRandomResizedCrop' and crop.scale == 224
    assert crop.crop_ratio_range == (0.2, 1.0)
    assert crop.interpolation == 'bicubic'


def timm_decay_free(model):
    """Names of the trainable parameters the official pretraining leaves
    out of weight decay: timm 0.3.2's ``add_weight_decay`` with no skip
    list, as ``main_pretrain.py`` calls it, takes every 1-D parameter and
    every bias; the frozen ones it does not hand to the optimizer."""
    return {name for name, param in model.named_parameters()
            if param.requires_grad
            and (len(param.shape) == 1 or name.endswith('.bias'))}


@pytest.mark.parametrize('mask_token_in_encoder', [False, True])
def test_weight_decay_as_the_official_code(mask_token_in_encoder):
    """Build the paper's optimizer on a small model: the decay-free
    parameters are exactly the official code's, and the class and mask
    tokens (1x1xD, not 1-D) decay with the weights. With the mask token in
    the encoder (the ablation) the backbone's own mask token does too."""
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(DEMO)
    init_default_scope(cfg.default_scope)
    cfg.model.backbone.mask_token_in_encoder = mask_token_in_encoder
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    decay = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in wrapper.optimizer.param_groups:
        for param in group['params']:
            if param.requires_grad:
                decay[names[id(param)]] = group['weight_decay']
    assert {name for name, wd in decay.items() if wd == 0} == \
        timm_decay_free(model)
    assert set(decay.values()) == {0, 0.05}
    tokens = {name for name in decay if name.endswith('token')}
    assert tokens == ({'backbone.cls_token', 'neck.mask_token'}
                      | ({'backbone.mask_token'} if mask_token_in_encoder
                         else set()))
    assert all(decay[name] == 0.05 for name in tokens)


# (h, w) of the 16 photos the demo writes, as scikit-image 0.2x and
# scikit-learn 1.x ship them; the demo config's comment describes these.
DEMO_PHOTO_SIZES = [(512, 512)] * 8 + [(300, 451), (400, 600), (427, 640),
                                       (872, 1000), (1411, 1411),
                                       (303, 384), (300, 400), (427, 640)]


def test_demo_crops_its_jpegs_mostly_at_reduced_size():
    """The demo's training crop is the fused decode-and-crop, and on
    photos of the demo's sizes (sides of 300 to 1411 pixels) about 95% of
    the 96-pixel crops decode the JPEG at 1/2, 1/4 or 1/8 size, as its
    config says. 8000 drawn crops estimate the share within 0.3% (one
    standard error), far inside the bounds."""
    cfg = Config.fromfile(DEMO)
    crop = cfg.train_pipeline[0]
    assert cfg.train_dataloader.dataset.dataset.pipeline[0] == crop
    assert crop.type == 'DecodeRandomResizedCrop' and crop.scale == 96
    assert crop.crop_ratio_range == (0.2, 1.0)
    assert crop.interpolation == 'bicubic'
    reduced = []
    for height, width in DEMO_PHOTO_SIZES:
        for _ in range(500):
            _, _, crop_h, crop_w = random_resized_crop_params(
                height, width, crop.crop_ratio_range)
            reduced.append(
                reduced_decode_factor((crop_w, crop_h), (96, 96)) > 1)
    assert 0.93 < np.mean(reduced) < 0.97


def test_packaged_photos_allow_reduced_decoding():
    """Whatever the installed packages ship, each demo photo holds a
    crop of twice the 96-pixel output, the least a 1/2 decode needs."""
    assert all(min(rgb.shape[:2]) >= 2 * 96 for _, rgb in packaged_photos())


@pytest.mark.parametrize('name,key', [
    ('mae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py',
     'train_dataloader.dataset.pipeline.0.on_error'),
    ('mae_vit-tiny-p8_1xb32-coslr_demo-photos.py',
     'train_dataloader.dataset.dataset.pipeline.0.on_error'),
])
def test_readme_on_error_override_reaches_the_loading_transform(name, key):
    """The README's --cfg-options keys land on the transform that reads
    the images (the demo's dataset sits inside a RepeatDataset)."""
    from mae_plugin.registry import TRANSFORMS
    with open(osp.join(ROOT, 'README.md')) as f:
        readme = f.read()
    assert f'{name} \\\n      --cfg-options {key}=skip' in readme
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'mae', name))
    before = cfg.to_dict()
    cfg.merge_from_dict({key: 'skip'})
    *path, index, _ = key.split('.')
    parent = cfg
    for part in path:
        parent = parent[part]
    assert isinstance(parent, list)
    init_default_scope(cfg.default_scope)
    transform = TRANSFORMS.build(parent[int(index)])
    assert type(transform).__name__ == 'DecodeRandomResizedCrop'
    assert transform.on_error == 'skip'
    # nothing else changed (no stray `pipeline` on a wrapper dataset)
    after = cfg.to_dict()
    parent_before = before
    for part in path:
        parent_before = parent_before[part]
    parent_before[int(index)]['on_error'] = 'skip'
    assert after == before


def readme_python_block(heading):
    """The first ```python block under a README heading."""
    with open(osp.join(ROOT, 'README.md')) as f:
        section = f.read().split(heading, 1)[1]
    return section.split('```python\n', 1)[1].split('```', 1)[0]


def test_readme_backbone_for_another_project_encodes_every_patch(tmp_path):
    """The README's backbone for another OpenMMLab project, built by that
    project's registry (mmpretrain's here), loads the ``backbone.*`` of a
    pretraining checkpoint and returns a feature map of every patch, the
    same in train mode call after call: not the masked pretraining
    encoding (class token and visible patches, mask, restore indices)."""
    from mmpretrain.registry import MODELS as OTHER_MODELS
    snippet = Config.fromstring(
        readme_python_block('### From another OpenMMLab project'), '.py')
    assert snippet.custom_imports.imports == ['mae_plugin']
    backbone = snippet.model.backbone
    assert (backbone.arch, backbone.patch_size) == ('base', 16)
    # a small encoder of the same layout (the keys ViT-B has, less memory)
    init_default_scope('mae_plugin')
    pretrained = MODELS.build(tiny_mae_cfg(img_size=224, patch_size=16))
    checkpoint = str(tmp_path / 'epoch_800.pth')
    torch.save({'state_dict': pretrained.state_dict()}, checkpoint)
    backbone.arch = TINY_ARCH
    backbone.init_cfg.checkpoint = checkpoint
    init_default_scope('mmpretrain')
    model = OTHER_MODELS.build(backbone)
    model.init_weights()
    torch.testing.assert_close(
        model.patch_embed.projection.weight,
        pretrained.backbone.patch_embed.projection.weight, rtol=0, atol=0)
    model.train()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        first, second = model(x), model(x)
    assert len(first) == 1
    assert first[0].shape == (2, TINY_ARCH['embed_dims'], 14, 14)
    torch.testing.assert_close(first[0], second[0], rtol=0, atol=0)
