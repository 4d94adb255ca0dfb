"""ReconstructionVisualizationHook: figures through the visualizer, and a
training run that does not notice the hook."""
import glob
import os.path as osp
import random

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mae_plugin.engine import (ReconstructionVisualizationHook,
                               preserved_random_state)
from mae_plugin.registry import DATASETS
from ..test_tools.test_train_test_visualize import photos  # noqa: F401
from ..test_tools.test_train_test_visualize import CONFIG, crop_size_overrides
from ..test_tools.test_visualize_reconstruction import GAP, options, panels


def draws():
    return (random.random(), np.random.rand(), torch.rand(1).item())


def test_preserved_random_state_restores_every_global_rng():
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    expected = draws()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    with preserved_random_state():
        draws(), np.random.permutation(10), torch.randn(5)
    assert draws() == expected


def test_arguments_are_checked():
    with pytest.raises(ValueError, match='interval'):
        ReconstructionVisualizationHook(interval=0)
    with pytest.raises(ValueError, match='num_images'):
        ReconstructionVisualizationHook(num_images=0)


def train(data_root, work_dir, name, hooks=()):
    """Train the tiny demo model 4 iterations; the per-iteration losses."""
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(
        options(*crop_size_overrides(data_root), 'train_cfg.max_epochs=2',
                'train_cfg.val_interval=10',
                'default_hooks.checkpoint.interval=10'))
    cfg.work_dir = work_dir
    cfg.experiment_name = name
    cfg.custom_hooks = list(hooks)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return list(runner.message_hub.get_scalar('train/loss').data[0])


def test_hook_draws_figures_and_leaves_training_unchanged(
        photos, tmp_path):  # noqa: F811
    baseline = train(photos, str(tmp_path / 'plain'), 'plain')
    # A pipeline that draws from NumPy's RNG (the flip), as the training
    # pipeline does: without restoring the RNG the training crops change.
    flipped = dict(
        type='CustomDataset',
        data_root=photos,
        data_prefix='',
        with_label=False,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='ResizeEdge', scale=32, edge='short'),
            dict(type='CenterCrop', crop_size=32),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackInputs'),
        ])
    hook = dict(
        type='ReconstructionVisualizationHook',
        interval=3,
        num_images=2,
        dataset=flipped)
    watched = train(photos, str(tmp_path / 'hook'), 'hook', [hook])
    assert len(baseline) == 4 and all(np.isfinite(baseline))
    assert watched == baseline

    # Every 3 iterations and after the last one, via LocalVisBackend.
    pngs = glob.glob(
        str(tmp_path / 'hook' / '*' / 'vis_data' / 'vis_image' / '*.png'))
    assert sorted(osp.basename(p) for p in pngs) == [
        'reconstruction_3.png', 'reconstruction_4.png'
    ]
    early, late = (cv2.imread(p) for p in sorted(pngs))
    assert early.shape == late.shape
    # caption, then two rows of four 32 x 32 panels
    rows = [late[-32:], late[-2 * 32 - GAP:-32 - GAP]]
    early_rows = [early[-32:], early[-2 * 32 - GAP:-32 - GAP]]
    for row, early_row in zip(rows, early_rows):
        original, masked, recon, _ = panels(row, 32)
        early_original, early_masked, early_recon, _ = panels(early_row, 32)
        # fixed images and fixed masks, a model that has changed
        assert np.array_equal(original, early_original)
        assert np.array_equal(masked, early_masked)
        assert (masked == 128).all(axis=2).sum() == 12 * 8 * 8
        assert not np.array_equal(recon, early_recon)


def test_without_a_dataset_it_draws_the_validation_images(
        photos, tmp_path):  # noqa: F811
    """The default: the first ``num_images`` of ``val_dataloader``'s
    dataset, through its pipeline (32 x 32 crops here)."""
    hook = dict(type='ReconstructionVisualizationHook', interval=4,
                num_images=3)
    train(photos, str(tmp_path), 'val', [hook])
    (png, ) = glob.glob(
        str(tmp_path / '*' / 'vis_data' / 'vis_image' / '*.png'))
    assert osp.basename(png) == 'reconstruction_4.png'
    figure = cv2.imread(png)  # BGR, as the loaded images
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(options(*crop_size_overrides(photos)))
    init_default_scope('mae_plugin')
    val_set = DATASETS.build(cfg.val_dataloader.dataset)
    bottom = figure.shape[0]
    for i in range(3):
        row = figure[bottom - (3 - i) * 32 - (2 - i) * GAP:
                     bottom - (2 - i) * (32 + GAP)]
        expected = val_set[i]['inputs'].permute(1, 2, 0).numpy()
        assert np.array_equal(panels(row, 32)[0], expected), i


def test_needs_a_validation_set_or_a_dataset(tmp_path):
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(options())
    cfg.work_dir = str(tmp_path)
    cfg.experiment_name = 'no-val'
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    runner = Runner.from_cfg(cfg)
    with pytest.raises(KeyError, match='val_dataloader'):
        ReconstructionVisualizationHook().before_train(runner)
