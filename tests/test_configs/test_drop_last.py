"""The pretraining and fine-tuning loaders drop an epoch's last partial
batch, as the official code (``drop_last=True``)."""
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from ..conftest import ROOT

CONFIGS = [
    osp.join(ROOT, 'configs', 'mae',
             'mae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py'),
    osp.join(ROOT, 'configs', 'benchmarks', 'classification',
             'vit-base-p16_8xb128-coslr-100e_in1k.py'),
    osp.join(ROOT, 'configs', 'benchmarks', 'classification',
             'vit-base-p16_8xb2048-linear-coslr-90e_in1k.py'),
]


@pytest.mark.parametrize('config', CONFIGS)
def test_training_loader_drops_the_last_partial_batch(config, tmp_path):
    cfg = Config.fromfile(config)
    init_default_scope(cfg.default_scope)
    # 5 images in ImageNet's folder layout, batches of 2
    folder = tmp_path / 'train' / 'n01440764'
    folder.mkdir(parents=True)
    for i in range(5):
        cv2.imwrite(
            str(folder / f'{i}.jpg'), np.full((40, 40, 3), i * 40, np.uint8))
    loader = cfg.train_dataloader
    loader.update(batch_size=2, num_workers=0, persistent_workers=False)
    loader.dataset.data_root = str(tmp_path)
    batches = list(Runner.build_dataloader(loader, seed=0))
    assert [len(b['inputs']) for b in batches] == [2, 2]


def test_readme_counts_an_epoch_without_its_partial_batch():
    """The README's example of checkpoints taken mid-accumulation: one
    process of 256 images per batch drops ImageNet's last partial batch,
    so an epoch is 1281167 // 256 iterations (not the 5005 of a kept
    partial batch), and of epochs 1-4 only the fourth ends on a multiple
    of 16."""
    with open(osp.join(ROOT, 'README.md')) as f:
        readme = ' '.join(f.read().split())
    iterations = 1281167 // 256
    ends_on_a_step = [epoch * iterations % 16 == 0 for epoch in (1, 2, 3, 4)]
    assert ends_on_a_step == [False, False, False, True]
    assert ('three epoch checkpoints in four of `1 x 256 x 16` above: an '
            f'epoch is {iterations} iterations') in readme
