"""The ImageNet pretraining configs hand batches to the GPU as the
official code does: the loader pins them, the data preprocessor copies
them without waiting (``non_blocking``). The device-crop config moves the
decoding and resampling to the GPU and changes nothing else."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mae_plugin.experiments import PipelineSpec, write_benchmark_images
from mae_plugin.experiments.train_benchmark import benchmark_training
from mae_plugin.registry import MODELS
from ..conftest import ROOT

IMAGENET_PRETRAINING = sorted(
    glob.glob(osp.join(ROOT, 'configs', 'mae', 'mae_vit-*_in1k.py')))


def test_every_imagenet_pretraining_config_is_checked():
    assert len(IMAGENET_PRETRAINING) == 12


@pytest.mark.parametrize('config', IMAGENET_PRETRAINING,
                         ids=osp.basename)
def test_pinned_batches_copied_without_waiting(config):
    cfg = Config.fromfile(config)
    assert cfg.train_dataloader.pin_memory is True
    init_default_scope(cfg.default_scope)
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    assert preprocessor._non_blocking is True


DEVICE_CROP = osp.join(
    ROOT, 'configs/mae/mae_vit-base-p16_8xb512-bf16-devicecrop-coslr-'
    '800e_in1k.py')
BF16 = osp.join(ROOT,
                'configs/mae/mae_vit-base-p16_8xb512-bf16-coslr-800e_in1k.py')


def test_device_crop_config_is_the_bf16_one_with_the_crops_moved():
    ours, bf16 = Config.fromfile(DEVICE_CROP), Config.fromfile(BF16)
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                'default_hooks', 'custom_hooks', 'test_dataloader'):
        assert ours[key] == bf16[key], key
    preprocessor = ours.model.pop('data_preprocessor')
    expected = bf16.model.pop('data_preprocessor')
    assert ours.model == bf16.model
    crop, flip, _ = bf16.train_dataloader.dataset.pipeline
    deferred, pack = ours.train_dataloader.dataset.pipeline
    assert preprocessor == dict(
        expected,
        type='DeviceCropDataPreprocessor',
        scale=crop.scale,
        interpolation=crop.interpolation)
    assert deferred == dict(
        type='DeferredRandomResizedCrop',
        crop_ratio_range=crop.crop_ratio_range,
        flip_prob=flip.prob)
    assert pack.type == 'PackDeferredCrop'
    loader = ours.train_dataloader
    assert loader.collate_fn == dict(type='mae_plugin.deferred_crop_collate')
    loader.pop('collate_fn'), loader.dataset.pop('pipeline')
    bf16.train_dataloader.pop('collate_fn')
    bf16.train_dataloader.dataset.pop('pipeline')
    assert loader == bf16.train_dataloader


def test_device_crop_config_trains_through_the_runner(tmp_path):
    """The config made small and in fp32, two worker processes, JPEGs and
    a PNG (which a worker crops itself): every iteration runs, and the
    step alone takes the preprocessor's crops."""
    root = tmp_path / 'images'
    write_benchmark_images(str(root), PipelineSpec(num_images=7))
    cv2.imwrite(
        str(root / 'photo.png'),
        cv2.imread(sorted(glob.glob(str(root / '*.jpg')))[0]))
    config = tmp_path / 'device_crop_fp32.py'
    config.write_text(f'_base_ = [{DEVICE_CROP!r}]\n'
                      'optim_wrapper = dict(_delete_=True, '
                      "type='OptimWrapper', optimizer=dict(type='AdamW', "
                      'lr=1.5e-4, betas=(0.9, 0.95), weight_decay=0.05))\n')
    small = {
        'model.backbone.arch': 'deit-small',
        'model.backbone.img_size': 64,
        'model.neck.img_size': 64,
        'model.data_preprocessor.scale': 64,
        'model.neck.in_channels': 384,
        'model.neck.embed_dims': 32,
        'model.neck.num_layers': 1,
        'model.neck.num_heads': 2,
    }
    result = benchmark_training(
        str(config),
        str(root),
        str(tmp_path / 'w'),
        batch_size=4,
        num_workers=2,
        epochs=2,
        warmup=1,
        step_repeats=1,
        cfg_options=small)
    assert result.iters_per_epoch == 2  # 8 images, batches of 4
    assert len(result.iter_times) == 3
    assert np.isfinite(result.step_s) and result.step_s > 0
