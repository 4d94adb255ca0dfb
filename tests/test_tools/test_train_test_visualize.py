"""End to end: tools/train.py, --resume, tools/test.py and
tools/visualize_reconstruction.py on a tiny generated photo folder."""
import argparse
import glob
import importlib.util
import json
import os
import os.path as osp
import pickle
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from torch.utils.data import DataLoader

from mae_plugin.apis import build_runner, train_config
from ..conftest import ROOT, checkout_env

CONFIG = osp.join(ROOT, 'configs', 'mae',
                  'mae_vit-tiny-p8_1xb32-coslr_demo-photos.py')
TINY = [
    'model.backbone.arch.embed_dims=32', 'model.backbone.arch.num_layers=2',
    'model.backbone.arch.num_heads=2',
    'model.backbone.arch.feedforward_channels=64',
    'model.backbone.img_size=32',
    'model.neck.in_channels=32', 'model.neck.embed_dims=16',
    'model.neck.num_layers=1', 'model.neck.num_heads=2',
    'model.neck.img_size=32', 'train_dataloader.batch_size=4',
    'train_dataloader.num_workers=0', 'train_dataloader.dataset.times=1',
    'train_dataloader.persistent_workers=False',
    'val_dataloader.batch_size=4', 'test_dataloader.batch_size=4',
    'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=1',
]


def crop_size_overrides(data_root):
    return [
        f'train_dataloader.dataset.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        'train_dataloader.dataset.dataset.pipeline.0.scale=32',
        'val_dataloader.dataset.pipeline.1.scale=32',
        'val_dataloader.dataset.pipeline.2.crop_size=32',
        'test_dataloader.dataset.pipeline.1.scale=32',
        'test_dataloader.dataset.pipeline.2.crop_size=32',
        f'custom_hooks.0.dataset.data_root={data_root}',
        'custom_hooks.0.dataset.pipeline.1.scale=32',
        'custom_hooks.0.dataset.pipeline.2.crop_size=32',
    ]


def run_tool(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    """Run a Python script of the checkout from ``cwd``, whatever its exit
    status."""
    # The checkout's mae_plugin, not an installed one, serves the tools.
    env = checkout_env()
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def run(*args):
    result = run_tool(*args)
    assert result.returncode == 0, (
        result.stdout[-3000:] + result.stderr[-3000:])
    return result.stdout + result.stderr


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp('photos')
    rng = np.random.default_rng(0)
    for i in range(8):
        # smooth images so that the reconstruction task has structure
        small = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
        img = cv2.resize(small, (60, 50), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(root / f'img_{i}.jpg'), img)
    return str(root)


def losses(work_dir):
    logs = sorted(
        glob_json for glob_json in
        (osp.join(dp, f) for dp, _, fs in os.walk(work_dir) for f in fs)
        if glob_json.endswith('.json') and 'vis_data' in glob_json
        and osp.basename(glob_json) != 'scalars.json')
    records = []
    for path in logs:
        with open(path) as f:
            records += [json.loads(line) for line in f if line.strip()]
    return [r['loss'] for r in records if 'loss' in r]


def test_train_resume_test_and_visualize(photos, tmp_path):
    work = str(tmp_path / 'work')
    options = TINY + crop_size_overrides(photos)
    out = run('tools/train.py', CONFIG, '--work-dir', work, '--cfg-options',
              *options, 'train_cfg.max_epochs=2', 'train_cfg.val_interval=2')
    assert osp.isfile(osp.join(work, 'epoch_2.pth'))
    assert 'reconstruction/psnr' in out
    first = losses(work)
    assert len(first) == 4 and all(np.isfinite(first))

    # Resume from the last checkpoint and train one more epoch.
    out = run('tools/train.py', CONFIG, '--work-dir', work, '--resume',
              '--cfg-options', *options, 'train_cfg.max_epochs=3',
              'train_cfg.val_interval=3')
    assert 'resumed epoch: 2' in out
    assert osp.isfile(osp.join(work, 'epoch_3.pth'))
    ckpt = torch.load(osp.join(work, 'epoch_3.pth'), weights_only=True)
    assert ckpt['meta']['epoch'] == 3 and ckpt['meta']['iter'] == 6

    out = run('tools/test.py', CONFIG, osp.join(work, 'epoch_3.pth'),
              '--work-dir', str(tmp_path / 'test'), '--out',
              str(tmp_path / 'pred.pkl'), '--cfg-options', *options)
    assert 'reconstruction/mse' in out
    # --out: every test image's prediction, as mmpretrain's test.py
    with open(tmp_path / 'pred.pkl', 'rb') as f:
        predictions = pickle.load(f)
    assert len(predictions) == 8  # the photos
    assert sorted(p['sample_idx'] for p in predictions) == list(range(8))
    assert all(p['reconstruction'].shape == (3, 32, 32) and p['mask'].shape
               == (4, 4) for p in predictions)
    run('tools/test.py', CONFIG, osp.join(work, 'epoch_3.pth'), '--work-dir',
        str(tmp_path / 'test'), '--out', str(tmp_path / 'metrics.json'),
        '--out-item', 'metrics', '--cfg-options', *options)
    with open(tmp_path / 'metrics.json') as f:
        metrics = json.load(f)
    assert metrics['reconstruction/mse'] == pytest.approx(np.mean(
        [float(p['masked_mse']) for p in predictions]))
    # the suffix is checked before the model is built
    result = run_tool('tools/test.py', CONFIG, osp.join(work, 'epoch_3.pth'),
                      '--out', str(tmp_path / 'pred.json'))
    assert result.returncode == 2
    assert result.stderr.endswith(
        "error: argument --out: out must end with .pkl or .pickle for "
        f"out_item='pred', got {tmp_path / 'pred.json'}\n")
    # the config's runner_type is built, as in tools/train.py (it was
    # ignored: mmengine's Runner ran the test anyway)
    result = run_tool('tools/test.py', CONFIG, osp.join(work, 'epoch_3.pth'),
                      '--work-dir', str(tmp_path / 'test'), '--cfg-options',
                      *options, 'runner_type=NoSuchRunner')
    assert result.returncode != 0
    assert 'NoSuchRunner is not in the' in result.stderr

    png = str(tmp_path / 'recon.png')
    run('tools/visualize_reconstruction.py', CONFIG,
        osp.join(work, 'epoch_3.pth'), osp.join(photos, 'img_0.jpg'),
        '--out-file', png, '--cfg-options', *options)
    figure = cv2.imread(png)
    # a caption above one row of four 50 x 60 panels (the image's own size)
    assert figure.shape[0] > 50 and figure.shape[1] >= 4 * 60 + 3 * 4
    assert np.array_equal(figure[-50:, :60],
                          cv2.imread(osp.join(photos, 'img_0.jpg')))


def test_each_validation_logs_its_own_reconstruction_loss(photos, tmp_path):
    """mmengine's log processor averages every logged key whose name has
    ``loss`` in it over its ``window_size`` last values, which suits the
    training loss; the validation's ``reconstruction/loss`` (one value per
    validation) was logged, and written to ``scalars.json``, as the mean
    of the last ten validations' (the MSE and PSNR beside it were not)."""
    class Measured(Hook):
        def __init__(self):
            self.metrics = []

        def after_val_epoch(self, runner, metrics=None):
            self.metrics.append(dict(metrics))

    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    options = parser.parse_args([
        '--cfg-options', *TINY, *crop_size_overrides(photos),
        'train_cfg.max_epochs=3', 'train_cfg.val_interval=1'
    ]).cfg_options
    cfg = train_config(CONFIG, work_dir=str(tmp_path), cfg_options=options)
    runner = build_runner(cfg)
    measured = Measured()
    runner.register_hook(measured)
    runner.train()
    (scalars, ) = glob.glob(str(tmp_path / '*' / 'vis_data' /
                                'scalars.json'))
    with open(scalars) as f:
        logged = [record for record in map(json.loads, f)
                  if 'reconstruction/loss' in record]
    losses = [m['reconstruction/loss'] for m in measured.metrics]
    assert len(losses) == 3 and len(set(losses)) == 3  # the model trains
    for record, metrics in zip(logged, measured.metrics, strict=True):
        for key in ('reconstruction/loss', 'reconstruction/mse'):
            assert record[key] == pytest.approx(metrics[key], rel=1e-6)


def test_a_cfg_options_item_without_a_value_is_named():
    """mmengine's DictAction raised 'not enough values to unpack'."""
    result = run_tool('tools/train.py', CONFIG, '--cfg-options',
                      'train_cfg.max_epochs=2', 'train_cfg.val_interval')
    assert result.returncode == 2
    assert result.stderr.endswith(
        "train.py: error: argument --cfg-options: 'train_cfg.val_interval' "
        'must be key=value (e.g. train_cfg.max_epochs=10)\n')


def test_a_missing_pretrained_checkpoint_is_named_before_the_run(
        tmp_path):
    """The fine-tuning configs point at the pretraining run's checkpoint
    under work_dirs/; without it mmengine failed once the datasets and the
    model were built, naming the path only."""
    config = osp.join(
        ROOT, 'configs', 'benchmarks', 'classification', 'fashion_mnist',
        'vit-tiny-p4_1xb256-coslr-3e_fashion-mnist.py')
    work_dir = tmp_path / 'work'
    result = run_tool(
        osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir',
        str(work_dir), '--cfg-options', 'train_dataloader.dataset.'
        f'data_root={tmp_path}', 'val_dataloader.dataset.data_root='
        f'{tmp_path}', cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        'train: model.backbone.init_cfg.checkpoint work_dirs/'
        'mae_vit-tiny-p4_1xb256-coslr-16e_fashion-mnist/epoch_16.pth: no '
        'such file\n')
    assert not work_dir.exists()


@pytest.mark.parametrize('tool, key, others', [
    ('train', 'train_dataloader.dataset.dataset',
     ['val_dataloader.dataset', 'custom_hooks.0.dataset']),
    ('train', 'custom_hooks.0.dataset', []),
    ('test', 'test_dataloader.dataset', []),
])
def test_run_from_another_folder_names_the_relative_data_root(
        tool, key, others, photos, tmp_path):
    """Run from a folder other than the checkout, the demo config's
    relative data_root is named with the working directory before the
    work dir is made (it failed inside the dataset, after the runner had
    made the work dir); the reconstruction hook's own dataset too. The
    hint sets every key the run reads that folder from."""
    checkpoint = tmp_path / 'epoch_1.pth'
    checkpoint.write_bytes(b'')  # checked to exist before anything else
    args = [CONFIG] + ([str(checkpoint)] if tool == 'test' else [])
    if key.startswith('custom_hooks'):
        args += ['--cfg-options'] + [
            f'{loader}.data_root={photos}' for loader in (
                'train_dataloader.dataset.dataset', 'val_dataloader.dataset')
        ]
    work_dir = tmp_path / 'work'
    result = run_tool(osp.join(ROOT, 'tools', f'{tool}.py'), *args,
                      '--work-dir', str(work_dir), cwd=tmp_path)
    assert result.returncode == 1
    options = ' '.join(f'{k}.data_root=/path/to/data' for k in [key, *others])
    assert result.stderr == (
        f"{tool}: {key}.data_root='data/demo_photos/' is no "
        f'folder: a relative data_root is read from the working directory, '
        f'{tmp_path}. Run the tool from the folder the config expects (the '
        'repository root for the configs of this project) or give an '
        f'absolute path: --cfg-options {options}\n')
    assert not work_dir.exists()


def mmpretrain_train_py():
    """mmpretrain's own tools/train.py, as its package installs it."""
    import mmpretrain
    train_py = osp.join(
        osp.dirname(mmpretrain.__file__), '.mim', 'tools', 'train.py')
    if not osp.isfile(train_py):
        pytest.skip(f'mmpretrain ships no {train_py}')
    return train_py


def test_mmpretrain_train_py_runs_the_demo_config(photos, tmp_path):
    """mmpretrain's own tools/train.py on the demo config: it defaults
    every loader's ``persistent_workers`` to True, which the validation
    loader's ``num_workers=0`` refused (``ValueError: persistent_workers
    option needs num_workers > 0``, naming no loader), and it builds
    mmengine's ``Runner`` unless the config names a ``runner_type``, whose
    ``--auto-scale-lr`` leaves out ``accumulative_counts`` (lr x 4 / 32
    for an effective batch of 4 x 2). It now trains with the plugin's
    runner and the lr of batch 8, as tools/train.py."""
    work = str(tmp_path / 'work')
    run(mmpretrain_train_py(), CONFIG, '--work-dir', work, '--auto-scale-lr',
        '--cfg-options', *TINY, *crop_size_overrides(photos),
        'train_cfg.max_epochs=1', 'param_scheduler.0.start_factor=1.0',
        'optim_wrapper.accumulative_counts=2', 'custom_hooks=[]')
    with open(glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))[0]) \
            as f:
        records = [json.loads(line) for line in f]
    # the demo's lr 1e-3 for batch 32, x (4 images x 2 accumulated) / 32
    assert [r['lr'] for r in records if 'lr' in r] == pytest.approx(
        [2.5e-4, 2.5e-4])


@pytest.mark.parametrize('config', [
    CONFIG,
    osp.join(ROOT, 'configs', 'mae',
             'mae_vit-tiny-p4_1xb256-coslr-16e_fashion-mnist.py'),
    osp.join(ROOT, 'configs', 'benchmarks', 'classification',
             'fashion_mnist', 'vit-tiny-p4_1xb256-coslr-3e_fashion-mnist.py'),
], ids=['demo', 'fashion-mnist', 'fashion-mnist-finetune'])
def test_mmpretrain_train_py_loader_defaults_fit_the_configs(config):
    """The loaders mmpretrain's tools/train.py makes of the configs that
    read in the main process (``num_workers=0``) are ones torch builds."""
    spec = importlib.util.spec_from_file_location('mmpretrain_train',
                                                  mmpretrain_train_py())
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = argparse.Namespace(
        config=config, work_dir='work_dirs', no_validate=False, amp=False,
        resume=None, auto_scale_lr=False, no_pin_memory=False,
        no_persistent_workers=False, cfg_options=None, launcher='none')
    cfg = module.merge_args(Config.fromfile(config), args)
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(field)
        if loader is None:  # a config without validation
            continue
        DataLoader(range(2), num_workers=loader.num_workers,
                   persistent_workers=loader.persistent_workers)
