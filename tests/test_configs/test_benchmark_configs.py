"""The downstream classification configs: they build, follow the MAE
paper's recipes, and fine-tune / linear-probe two iterations from a
checkpoint that a short pretraining run wrote."""
import glob
import math
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from PIL import Image

from mae_plugin.apis import train_config
from mae_plugin.datasets import UnreadableImageError
from mae_plugin.engine import PretrainedKeysHook
from mae_plugin.registry import DATASETS, MODELS
from tests.conftest import ROOT, TINY_ARCH, checkout_env
from tests.test_tools.test_train_test_visualize import (CONFIG as DEMO_CONFIG,
                                                        TINY,
                                                        crop_size_overrides)

BENCHMARKS = osp.join(ROOT, 'configs', 'benchmarks', 'classification')
CONFIGS = sorted(
    glob.glob(osp.join(BENCHMARKS, '*.py')) +
    glob.glob(osp.join(BENCHMARKS, '*', '*.py')))
FINETUNE = osp.join(BENCHMARKS, 'vit-base-p16_8xb128-coslr-100e_in1k.py')
LINEAR = osp.join(BENCHMARKS, 'vit-base-p16_8xb2048-linear-coslr-90e_in1k.py')

# name: (arch, patch, millions of encoder parameters, lr at 1024 images,
# layer decay, drop path, epochs)
FINETUNE_RECIPES = {
    'vit-base-p16_8xb128-coslr-100e_in1k.py':
    ('base', 16, 85.8, 5e-4 * 4, 0.65, 0.1, 100),
    'vit-large-p16_8xb128-coslr-50e_in1k.py':
    ('large', 16, 303.3, 1e-3 * 4, 0.75, 0.2, 50),
    'vit-huge-p14_8xb128-coslr-50e_in1k.py':
    ('huge', 14, 630.8, 1e-3 * 4, 0.75, 0.3, 50),
}
LINEAR_RECIPES = {
    'vit-base-p16_8xb2048-linear-coslr-90e_in1k.py': ('base', 16, 768),
    'vit-large-p16_8xb2048-linear-coslr-90e_in1k.py': ('large', 16, 1024),
    'vit-huge-p14_8xb2048-linear-coslr-90e_in1k.py': ('huge', 14, 1280),
}


def build_on_meta(cfg):
    """The config's model, its weights on the meta device (no memory)."""
    init_default_scope(cfg.default_scope)
    with torch.device('meta'):
        return MODELS.build(cfg.model)


def test_there_are_configs():
    names = {osp.basename(p) for p in CONFIGS}
    assert set(FINETUNE_RECIPES) | set(LINEAR_RECIPES) <= names
    assert len(CONFIGS) == 8


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds(path):
    cfg = Config.fromfile(path)
    model = build_on_meta(cfg)
    assert model.head.num_classes == cfg.model.head.num_classes
    assert cfg.model.backbone.init_cfg is None or (
        cfg.model.backbone.init_cfg.prefix == 'backbone.')


@pytest.mark.parametrize('name', sorted(FINETUNE_RECIPES))
def test_finetune_recipe(name):
    arch, patch, millions, lr, decay, drop_path, epochs = \
        FINETUNE_RECIPES[name]
    cfg = Config.fromfile(osp.join(BENCHMARKS, name))
    model = build_on_meta(cfg)
    encoder_params = sum(p.numel() for p in model.backbone.parameters())
    assert encoder_params / 1e6 == pytest.approx(millions, abs=0.1)
    backbone = cfg.model.backbone
    assert (backbone.arch, backbone.patch_size) == (arch, patch)
    assert backbone.out_type == 'avg_featmap' and not backbone.final_norm
    assert backbone.drop_path_rate == drop_path
    assert backbone.init_cfg.type == 'Pretrained'
    assert cfg.model.head.init_cfg[0].std == 2e-5
    assert cfg.model.head.loss.label_smooth_val == 0.1
    assert [(a.type, a.alpha)
            for a in cfg.model.train_cfg.augments] == [('Mixup', 0.8),
                                                       ('CutMix', 1.0)]
    # effective batch 8 x 128 = 1024
    assert 8 * cfg.train_dataloader.batch_size == 1024
    assert cfg.auto_scale_lr.base_batch_size == 1024
    optim = cfg.optim_wrapper
    assert optim.optimizer.type == 'AdamW'
    assert optim.optimizer.lr == pytest.approx(lr)
    assert optim.optimizer.weight_decay == 0.05
    assert optim.constructor == 'LearningRateDecayOptimWrapperConstructor'
    assert optim.paramwise_cfg.layer_decay_rate == decay
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.end) == ('LinearLR', 5)
    assert (cosine.type, cosine.begin,
            cosine.eta_min) == ('GroupFloorCosineAnnealingLR', 5, 1e-6)
    assert cfg.train_cfg.max_epochs == epochs
    steps = {t.type: t for t in cfg.train_dataloader.dataset.pipeline}
    assert (steps['RandAugment'].magnitude_level,
            steps['RandAugment'].magnitude_std) == (9, 0.5)
    assert steps['RandomErasing'].erase_prob == 0.25


@pytest.mark.parametrize('name', sorted(LINEAR_RECIPES))
def test_linear_probe_recipe(name):
    arch, patch, dims = LINEAR_RECIPES[name]
    cfg = Config.fromfile(osp.join(BENCHMARKS, name))
    model = build_on_meta(cfg)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == dims * 1000 + 1000  # the linear head only
    backbone = cfg.model.backbone
    assert (backbone.arch, backbone.patch_size) == (arch, patch)
    assert backbone.frozen_stages == 'all'
    assert backbone.out_type == 'cls_token' and backbone.final_norm
    neck = model.neck.bn
    assert (neck.num_features, neck.affine, neck.eps) == (dims, False, 1e-6)
    assert cfg.model.head.init_cfg[0].std == 0.01
    assert cfg.model.get('train_cfg') is None  # no Mixup/CutMix
    optim = cfg.optim_wrapper.optimizer
    assert (optim.type, optim.momentum, optim.weight_decay) == ('LARS', 0.9,
                                                                0.0)
    batch = 8 * cfg.train_dataloader.batch_size
    assert batch == 16384
    assert optim.lr == pytest.approx(0.1 * batch / 256)
    warmup, cosine = cfg.param_scheduler
    assert (warmup.end, cosine.begin, cfg.train_cfg.max_epochs) == (10, 10, 90)
    assert [t.type for t in cfg.train_dataloader.dataset.pipeline] == [
        'mae_plugin.RobustLoadImageFromFile', 'RandomResizedCrop',
        'RandomFlip', 'PackInputs'
    ]


@pytest.mark.parametrize('arch', ['large', TINY_ARCH], ids=['large', 'tiny'])
def test_a_linear_probe_of_another_depth_trains_its_head_only(arch):
    """The ViT-B/16 linear probe with another encoder: ViT-L (24 blocks)
    trained its last 12 blocks and final norm with ``frozen_stages=12``,
    an encoder of 2 blocks failed to build (``IndexError``)."""
    cfg = Config.fromfile(LINEAR)
    cfg.model.backbone.arch = arch
    model = build_on_meta(cfg)
    trainable = [
        name for name, p in model.named_parameters() if p.requires_grad
    ]
    assert trainable == ['head.fc.weight', 'head.fc.bias']


@pytest.mark.parametrize('path', [FINETUNE, LINEAR], ids=osp.basename)
def test_user_folders_are_read_as_in_pretraining(path, tmp_path):
    """A class folder of a WebP photo, an RGBA PNG and an empty JPEG: the
    training and validation sets take the WebP file (mmpretrain's
    CustomDataset left it out silently), composite the transparent half on
    white (mmcv's LoadImageFromFile kept its undefined colours) and name
    the empty file (an OpenCV assertion that named no file)."""
    cfg = Config.fromfile(path)
    init_default_scope(cfg.default_scope)
    rgb = cv2.resize(
        np.random.default_rng(0).integers(0, 256, (4, 4, 3), np.uint8),
        (40, 30))
    (tmp_path / 'cat').mkdir()
    Image.fromarray(rgb).save(tmp_path / 'cat' / 'a.webp', lossless=True)
    rgba = np.dstack([rgb, np.full((30, 40), 255, np.uint8)])
    rgba[:, :20] = (255, 0, 0, 0)  # transparent red: undefined colours
    Image.fromarray(rgba, 'RGBA').save(tmp_path / 'cat' / 'b.png')
    (tmp_path / 'cat' / 'c.jpg').write_bytes(b'')
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        dataset = DATASETS.build(
            dict(
                loader.dataset,
                data_root=str(tmp_path),
                data_prefix='',
                pipeline=[loader.dataset.pipeline[0]]))
        paths = [dataset.get_data_info(i)['img_path'] for i in range(3)]
        assert [osp.basename(p) for p in paths] == ['a.webp', 'b.png', 'c.jpg']
        assert np.array_equal(dataset[0]['img'], rgb[..., ::-1])
        png = dataset[1]['img']
        assert (png[:, :20] == 255).all()
        assert np.array_equal(png[:, 20:], rgb[:, 20:, ::-1])
        with pytest.raises(UnreadableImageError, match='c.jpg: empty file'):
            dataset[2]


@pytest.fixture(scope='module')
def imagenet_folder(tmp_path_factory):
    """ImageNet layout, {train,val}/<class>/<image>, 2 classes x 2 images."""
    root = tmp_path_factory.mktemp('imagenet')
    rng = np.random.default_rng(0)
    for split in ('train', 'val'):
        for cls in ('n01440764', 'n01443537'):
            os.makedirs(root / split / cls)
            for i in range(2):
                small = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
                img = cv2.resize(
                    small, (60, 50), interpolation=cv2.INTER_CUBIC)
                cv2.imwrite(str(root / split / cls / f'{i}.jpg'), img)
    return str(root)


@pytest.fixture(scope='module')
def pretrained(imagenet_folder, tmp_path_factory):
    """A checkpoint of the tiny demo MAE pretrained for 2 iterations."""
    work = str(tmp_path_factory.mktemp('pretrain'))
    train_dir = osp.join(imagenet_folder, 'train')
    result = subprocess.run([
        sys.executable, 'tools/train.py', DEMO_CONFIG, '--work-dir', work,
        '--no-validate', '--cfg-options', *TINY,
        *crop_size_overrides(train_dir), 'train_cfg.max_epochs=1'
    ],
                            cwd=ROOT,
                            env=checkout_env(),
                            capture_output=True,
                            text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return osp.join(work, 'epoch_1.pth')


def tiny_classification_cfg(path, data_root, checkpoint, work_dir):
    """A benchmark config on the tiny folder with the demo's tiny ViT
    (width 32, 2 layers, 8x8 patches of 32x32 images), two iterations."""
    cfg = train_config(path, work_dir=work_dir)
    backbone = cfg.model.backbone
    backbone.arch = dict(
        embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
    backbone.update(img_size=32, patch_size=8)
    backbone.init_cfg.checkpoint = checkpoint
    if cfg.model.neck is not None:  # the linear probe's BatchNorm
        cfg.model.neck.input_features = 32
    cfg.model.head.update(in_channels=32, num_classes=2)
    cfg.model.data_preprocessor = dict(cfg.data_preprocessor, num_classes=2)
    cfg.optim_wrapper.type = 'OptimWrapper'  # AMP needs a GPU
    # The warm-up only: the cosine phase starts after epoch 5.
    cfg.param_scheduler = cfg.param_scheduler[:1]
    cfg.train_cfg.update(max_epochs=1, val_interval=1)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
        loader.dataset.data_root = data_root
        for step in loader.dataset.pipeline:
            if step.type in ('RandomResizedCrop', 'ResizeEdge'):
                step.scale = 32 if step.type == 'RandomResizedCrop' else 36
            if step.type == 'CenterCrop':
                step.crop_size = 32
    cfg.test_dataloader = cfg.val_dataloader
    cfg.val_evaluator = cfg.test_evaluator = dict(type='Accuracy', topk=(1, ))
    cfg.default_hooks.logger.interval = 1
    return cfg


def run_two_iterations(path, imagenet_folder, pretrained, tmp_path):
    cfg = tiny_classification_cfg(path, imagenet_folder, pretrained,
                                  str(tmp_path))
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert math.isfinite(loss)
    # The logged top-1 is the trained model's accuracy on all 4 val images,
    # labelled by their folders (2 per class).
    top1 = runner.message_hub.get_scalar('val/accuracy/top1').current()
    model, preds, labels = runner.model.eval(), [], []
    with torch.no_grad():
        for batch in runner.val_dataloader:
            for sample in model.val_step(batch):
                preds.append(int(sample.pred_label))
                labels.append(int(sample.gt_label))
    assert sorted(labels) == [0, 0, 1, 1]
    assert top1 == pytest.approx(100 * np.mean(np.equal(preds, labels)))
    hook = next(h for h in runner.hooks if isinstance(h, PretrainedKeysHook))
    return runner, hook.reports['backbone']


def test_finetune_two_iterations_from_pretraining(imagenet_folder, pretrained,
                                                  tmp_path):
    runner, report = run_two_iterations(FINETUNE, imagenet_folder, pretrained,
                                        tmp_path)
    # mmpretrain's ViT with average pooling: LayerNorm after pooling (new),
    # no final norm on the tokens (the pretrained one unused).
    assert sorted(report.missing) == ['ln2.bias', 'ln2.weight']
    assert sorted(report.unexpected) == ['ln1.bias', 'ln1.weight']
    assert not report.mismatched and not report.changed
    assert len(
        report.matched) == len(runner.model.backbone.state_dict()) - 2


def test_linear_probe_two_iterations_from_pretraining(imagenet_folder,
                                                      pretrained, tmp_path):
    runner, report = run_two_iterations(LINEAR, imagenet_folder, pretrained,
                                        tmp_path)
    assert not report.missing and not report.mismatched
    assert len(report.matched) == len(runner.model.backbone.state_dict())
    # The encoder stayed frozen: every weight still equals the checkpoint's.
    checkpoint = torch.load(pretrained, weights_only=True)['state_dict']
    for key, value in runner.model.backbone.state_dict().items():
        assert torch.equal(value, checkpoint['backbone.' + key]), key


def test_a_checkpoint_of_another_arch_is_refused(imagenet_folder, pretrained,
                                                 tmp_path):
    cfg = tiny_classification_cfg(FINETUNE, imagenet_folder, pretrained,
                                  str(tmp_path))
    cfg.model.backbone.arch.update(embed_dims=48, feedforward_channels=96)
    cfg.model.head.in_channels = 48
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match='keys of .backbone. are in'):
        runner.train()
    assert runner.iter == 0


@pytest.mark.parametrize('name', sorted(FINETUNE_RECIPES)[:2])
def test_finetune_groups_follow_official_param_groups_lrd(name):
    """Every parameter's weight decay and lr scale as the official
    ``util/lr_decay.py``: no decay on 1-D parameters, ``pos_embed`` and
    ``cls_token``; scale ``decay ** (depth + 1 - layer_id)`` with the
    embeddings at layer 0, block ``i`` at ``i + 1``, the rest (fc_norm,
    head) at ``depth + 1``."""
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(osp.join(BENCHMARKS, name))
    backbone = cfg.model.backbone
    backbone.update(
        arch=dict(
            embed_dims=32, num_layers=3, num_heads=2,
            feedforward_channels=64),
        img_size=32,
        patch_size=8,
        init_cfg=None)
    cfg.model.head.in_channels = 32
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    cfg.optim_wrapper.type = 'OptimWrapper'  # AMP needs a GPU
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    decay = cfg.optim_wrapper.paramwise_cfg.layer_decay_rate
    depth, seen = 3, set()
    for group in wrapper.optimizer.param_groups:
        name = group['param_name'].replace('backbone.', '')
        if name.startswith(('cls_token', 'pos_embed', 'patch_embed')):
            layer_id = 0
        elif name.startswith('layers.'):
            layer_id = int(name.split('.')[1]) + 1
        else:
            layer_id = depth + 1
        no_decay = (group['params'][0].ndim == 1
                    or name in ('pos_embed', 'cls_token'))
        assert group['weight_decay'] == (0 if no_decay else 0.05), name
        assert group['lr_scale'] == pytest.approx(
            decay**(depth + 1 - layer_id)), name
        seen.add(name)
    assert {'ln2.weight', 'head.fc.bias', 'cls_token'} <= seen
