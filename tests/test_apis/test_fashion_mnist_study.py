"""The Fashion-MNIST study, shortened: a generated data set in the idx
format, the tiny arch, 3 pretraining epochs, 2 fine-tuning epochs."""
import json
import math
import os
import os.path as osp

import cv2
import pytest
from mmengine.config import Config

from mae_plugin.apis.fashion_mnist_study import (FINETUNE_CONFIG,
                                                 PRETRAIN_CONFIG,
                                                 SCRATCH_CONFIG,
                                                 run_fashion_mnist_study)
from mae_plugin.datasets import DEBIAN_FASHION_MNIST
from tests.fashion_mnist_files import write_fake_fashion_mnist

TINY_ARCH = dict(
    embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
PRETRAIN_OPTIONS = {
    'model.backbone.arch': TINY_ARCH,
    'model.neck.in_channels': 32,
    'model.neck.embed_dims': 16,
    'model.neck.num_layers': 1,
    'model.neck.num_heads': 2,
    'train_dataloader.batch_size': 50,
}
FINETUNE_OPTIONS = {
    'model.backbone.arch': TINY_ARCH,
    'model.head.in_channels': 32,
    'train_dataloader.batch_size': 50,
}


def test_configs_point_at_the_debian_data():
    for path in (PRETRAIN_CONFIG, FINETUNE_CONFIG, SCRATCH_CONFIG):
        cfg = Config.fromfile(path)
        assert cfg.train_dataloader.dataset.data_root.rstrip('/') == \
            DEBIAN_FASHION_MNIST
    pretrain = Config.fromfile(PRETRAIN_CONFIG)
    backbone = pretrain.model.backbone
    assert (backbone.arch.embed_dims, backbone.arch.num_layers,
            backbone.patch_size, backbone.in_channels) == (192, 6, 4, 1)
    assert (pretrain.model.neck.embed_dims,
            pretrain.model.neck.num_layers) == (128, 2)
    assert Config.fromfile(SCRATCH_CONFIG).model.backbone.init_cfg is None


def test_shortened_study_end_to_end(tmp_path):
    data_root = str(tmp_path / 'fashion-mnist')
    os.makedirs(data_root)
    write_fake_fashion_mnist(data_root, num_train=200, num_test=100)
    out_dir = str(tmp_path / 'docs')
    results = run_fashion_mnist_study(
        work_dir=str(tmp_path / 'work'),
        out_dir=out_dir,
        data_root=data_root,
        pretrain_epochs=3,
        probe_epochs=(1, ),
        finetune_epochs=2,
        pretrain_options=PRETRAIN_OPTIONS,
        finetune_options=FINETUNE_OPTIONS,
        command='pytest')

    assert (results['train_images'], results['test_images']) == (200, 100)
    names = [row['features'] for row in results['probes']]
    assert names[0] == 'raw pixels'
    assert sum(name.startswith('random-init encoder') for name in names) == 2
    assert sum(name.startswith('MAE, 1 epochs') for name in names) == 2
    assert sum(name.startswith('MAE, 3 epochs') for name in names) == 2
    for row in results['probes']:
        for metric in ('linear', 'knn'):
            assert 0 <= row[metric] <= 100 and math.isfinite(row[metric])
    # The bar's row encodes the class: raw pixels separate it.
    assert results['probes'][0]['linear'] > 90
    assert set(results['finetune']) == {'MAE-initialised', 'from scratch'}
    assert all(0 <= v <= 100 for v in results['finetune'].values())

    epochs = results['pretraining']
    assert [e['epoch'] for e in epochs] == [1, 2, 3]
    assert all(math.isfinite(e['loss']) for e in epochs)
    assert epochs[-1]['loss'] < epochs[0]['loss']
    assert all(0 <= e['knn/cls_top1'] <= 100 for e in epochs)
    for clock in ('cpu_minutes', 'wall_minutes'):
        assert 0 < epochs[0][clock] < epochs[-1][clock]
    assert {
        'pretraining', 'feature extraction',
        'probes (logistic regression and kNN)',
        'fine-tuning (MAE-initialised)', 'fine-tuning (from scratch)'
    } == set(results['minutes'])

    report = open(osp.join(out_dir, 'fashion_mnist_study.md')).read()
    assert 'Made by `pytest`' in report
    assert report.count('| MAE, ') == 4
    with open(osp.join(out_dir, 'fashion_mnist_study.json')) as f:
        assert json.load(f)['probes'] == results['probes']
    plot = cv2.imread(osp.join(out_dir, 'fashion_mnist_study.png'))
    assert plot is not None and plot.shape[1] > plot.shape[0]


def test_probe_epochs_must_be_pretrained(tmp_path):
    write_fake_fashion_mnist(str(tmp_path), num_train=20, num_test=10)
    with pytest.raises(ValueError, match='probe_epochs'):
        run_fashion_mnist_study(
            str(tmp_path / 'work'),
            str(tmp_path / 'docs'),
            data_root=str(tmp_path),
            pretrain_epochs=3,
            probe_epochs=(5, ),
            pretrain_options=PRETRAIN_OPTIONS)
