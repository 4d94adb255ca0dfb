"""The Fashion-MNIST study, shortened: a generated data set in the idx
format, the tiny arch, 3 pretraining epochs, 20 fine-tuning epochs."""
import json
import math
import os
import os.path as osp
import re
import subprocess
import sys
from types import SimpleNamespace
from typing import Dict, List

import cv2
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook

from mae_plugin.apis import fewest_epochs
from mae_plugin.checkpoint import load_checkpoint_safely
from mae_plugin.experiments import fashion_mnist_study, probes
from mae_plugin.experiments.fashion_mnist_study import (
    FINETUNE_CONFIG, PRETRAIN_CONFIG, SCRATCH_CONFIG, check_study_epochs,
    equal_compute_epochs, run_fashion_mnist_study)
from mae_plugin.datasets import DEBIAN_FASHION_MNIST
from mae_plugin.engine import AccumulationAwareRunner, PretrainedKeysHook
from tests.chance import above_chance
from tests.fashion_mnist_files import write_fake_fashion_mnist
from ..conftest import ROOT, checkout_env
from ..test_checkpoint.test_pretrained_init import logged_by

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
# The recipe's lr and warm-up are sized for 700 steps of 256 images; with
# its 2e-5 head init, 8 steps (2 epochs of 200 images) leave the logits at
# ~0: chance (10%). 80 steps at 5e-3 do learn the generated classes.
FINETUNE_EPOCHS = 20
FINETUNE_OPTIONS = {
    'model.backbone.arch': TINY_ARCH,
    'model.head.in_channels': 32,
    'train_dataloader.batch_size': 50,
    'optim_wrapper.optimizer.lr': 5e-3,
    # a checkpoint every epoch would cost more than the training
    'default_hooks.checkpoint.interval': FINETUNE_EPOCHS,
}
# New in the fine-tuning encoder: the LayerNorm after average pooling.
NEW_FINETUNE_KEYS = {'ln2.weight', 'ln2.bias'}


def record_training_starts(monkeypatch) -> List[dict]:
    """Make :func:`~mae_plugin.experiments.probes.finetune_accuracy` keep, for
    every run, its ``work_dir``, the ``backbone`` weights that training
    starts from (initialised) and the :class:`PretrainedKeysHook`
    ``reports`` (``{}`` when the run has none)."""
    starts = []

    class Record(Hook):

        def before_train(self, runner) -> None:
            keys_hooks = [
                h for h in runner.hooks if isinstance(h, PretrainedKeysHook)
            ]
            starts.append(
                dict(
                    work_dir=runner.work_dir,
                    max_epochs=runner.max_epochs,
                    backbone={
                        k: v.detach().clone()
                        for k, v in runner.model.backbone.state_dict().items()
                    },
                    reports=keys_hooks[0].reports if keys_hooks else {}))

    class RecordingRunner(AccumulationAwareRunner):

        def train(self):
            self.register_hook(Record(), priority='LOWEST')
            return super().train()

    # the runner that train_config names (probes builds it by name)
    monkeypatch.setattr(probes, 'build_runner', RecordingRunner.from_cfg)
    return starts


def encoder_weights(checkpoint: str) -> Dict[str, torch.Tensor]:
    """The ``backbone.`` weights of a pretraining checkpoint."""
    state = load_checkpoint_safely(
        checkpoint, map_location='cpu')['state_dict']
    return {
        k[len('backbone.'):]: v
        for k, v in state.items() if k.startswith('backbone.')
    }


def assert_started_from(start: dict, checkpoint: str) -> None:
    """The fine-tuning run started with every encoder weight of the
    pretraining checkpoint, and its PretrainedKeysHook says so."""
    pretrained = encoder_weights(checkpoint)
    backbone = start['backbone']
    assert set(backbone) - set(pretrained) == NEW_FINETUNE_KEYS
    for key in set(backbone) - NEW_FINETUNE_KEYS:
        assert torch.equal(backbone[key], pretrained[key]), key
    report = start['reports']['backbone']
    assert set(report.matched) == set(backbone) - NEW_FINETUNE_KEYS
    assert report.changed == report.mismatched == []


def assert_started_at_random(start: dict, checkpoint: str) -> None:
    """The run loaded no checkpoint: its encoder is not the pretrained
    one."""
    pretrained = encoder_weights(checkpoint)
    assert start['reports'] == {}
    key = 'layers.0.attn.qkv.weight'
    assert not torch.equal(start['backbone'][key], pretrained[key])


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


def test_shortened_study_end_to_end(tmp_path, monkeypatch):
    starts = record_training_starts(monkeypatch)
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
        finetune_epochs=FINETUNE_EPOCHS,
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
    # MAE-initialised fine-tuning started from the last MAE checkpoint, the
    # baseline from a random encoder; the pretrained one learns the classes
    # (79-100% with several seeds; above what guessing reaches on the 100
    # test images with probability 1e-6), the random one less (20-53%).
    last = str(tmp_path / 'work' / 'pretrain' / 'epoch_3.pth')
    mae, scratch, equal_scratch = starts
    assert mae['work_dir'].endswith('finetune_mae')
    assert mae['max_epochs'] == scratch['max_epochs'] == FINETUNE_EPOCHS
    assert_started_from(mae, last)
    assert scratch['work_dir'].endswith('finetune_scratch')
    assert_started_at_random(scratch, last)
    assert equal_scratch['work_dir'].endswith('finetune_scratch_equal_compute')
    assert_started_at_random(equal_scratch, last)
    finetune = results['finetune']
    assert set(finetune) == {
        'MAE-initialised', 'from scratch', 'from scratch, equal compute'
    }
    assert all(0 <= v <= 100 for v in finetune.values())
    assert finetune['MAE-initialised'] >= above_chance(100, 10)
    assert finetune['MAE-initialised'] > finetune['from scratch']

    epochs = results['pretraining']
    assert [e['epoch'] for e in epochs] == [1, 2, 3]
    assert all(math.isfinite(e['loss']) for e in epochs)
    assert epochs[-1]['loss'] < epochs[0]['loss']
    assert all(0 <= e['knn/cls_top1'] <= 100 for e in epochs)
    for clock in ('cpu_minutes', 'wall_minutes'):
        assert 0 < epochs[0][clock] < epochs[-1][clock]
    minutes = results['minutes']
    assert {
        'pretraining', 'feature extraction',
        'probes (logistic regression and kNN)',
        'fine-tuning (MAE-initialised)', 'fine-tuning (from scratch)',
        'fine-tuning (from scratch, equal compute)'
    } == set(minutes)

    # The equal-compute baseline: MAE's pretraining steps (the per-epoch
    # kNN left out) plus its fine-tuning, in epochs of the from-scratch run.
    equal = results['equal_compute']
    assert 0 < equal['pretrain_cpu_minutes'] < epochs[-1]['cpu_minutes']
    assert equal['pretrain_cpu_minutes'] == epochs[-1]['step_cpu_minutes']
    assert equal['finetune_cpu_minutes'] == minutes[
        'fine-tuning (MAE-initialised)']['cpu']
    assert equal['epoch_cpu_minutes'] == pytest.approx(
        minutes['fine-tuning (from scratch)']['cpu'] / FINETUNE_EPOCHS)
    assert equal['epochs'] == equal_scratch['max_epochs'] == max(
        FINETUNE_EPOCHS,
        round((equal['pretrain_cpu_minutes'] + equal['finetune_cpu_minutes']) /
              equal['epoch_cpu_minutes']))
    assert equal['spent_cpu_minutes'] == minutes[
        'fine-tuning (from scratch, equal compute)']['cpu']
    assert results['run_epochs'] == {
        'MAE-initialised': FINETUNE_EPOCHS,
        'from scratch': FINETUNE_EPOCHS,
        'from scratch, equal compute': equal['epochs']
    }

    report = open(osp.join(out_dir, 'fashion_mnist_study.md')).read()
    assert 'Made by `pytest`' in report
    assert report.count('| MAE, ') == 4
    assert (f'| from scratch, equal compute | {equal["epochs"]} | '
            f'{equal["spent_cpu_minutes"]:.1f} | ') in report
    assert ('The equal-compute baseline trains from scratch for '
            f'{equal["epochs"]} epochs') in report
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


# Why the Fashion-MNIST configs need more epochs than their warm-ups.
COSINE = ('param_scheduler[1] (CosineAnnealingLR) begins and runs to the '
          'end of training')


def test_epoch_counts_the_schedules_refuse_are_named_with_the_fewest():
    """The fine-tuning configs warm up for 1 epoch, then a cosine runs to
    train_cfg.max_epochs; the pretraining config warms up for 2."""
    assert fewest_epochs(Config.fromfile(FINETUNE_CONFIG)) == (2, COSINE)
    assert fewest_epochs(Config.fromfile(PRETRAIN_CONFIG)) == (3, COSINE)
    assert fewest_epochs(Config(dict(param_scheduler=None))) == (1, '')
    assert check_study_epochs('finetune_epochs', 2,
                              [FINETUNE_CONFIG, SCRATCH_CONFIG]) == 2
    assert check_study_epochs('finetune_epochs', None,
                              [FINETUNE_CONFIG]) is None
    scratch = osp.basename(SCRATCH_CONFIG)
    with pytest.raises(ValueError, match=re.escape(
            f'scratch_epochs must be an int >= 2, the fewest epochs '
            f'{scratch} trains for ({COSINE}), got 1')):
        check_study_epochs('scratch_epochs', 1, [SCRATCH_CONFIG])
    # read from the config as the options leave it: a 2-epoch warm-up
    with pytest.raises(ValueError, match=re.escape(
            'finetune_epochs must be an int >= 3')):
        check_study_epochs('finetune_epochs', 2, [FINETUNE_CONFIG],
                           {'param_scheduler.1.begin': 2})
    with pytest.raises(ValueError, match=re.escape(
            'pretrain_epochs must be an int >= 1, got 0')):
        check_study_epochs('pretrain_epochs', 0, [PRETRAIN_CONFIG])


def test_counts_and_an_out_dir_the_study_cannot_use_are_refused_first(
        tmp_path, monkeypatch):
    """--finetune-epochs 1 was refused by the fine-tuning config's
    schedule once pretraining and the probes were over (67 minutes in),
    naming train_cfg.max_epochs; an out_dir that is a file failed when the
    report was written, after the whole study. Both are refused before a
    runner is built."""
    data_root = str(tmp_path / 'fashion-mnist')
    os.makedirs(data_root)
    write_fake_fashion_mnist(data_root, num_train=20, num_test=10)

    def build_runner(cfg):
        raise RuntimeError('a runner was built')

    monkeypatch.setattr(fashion_mnist_study, 'build_runner', build_runner)
    report = tmp_path / 'report.md'
    report.write_text('an earlier report')
    work_dir = tmp_path / 'work'

    def study(**kwargs):
        run_fashion_mnist_study(
            str(work_dir),
            kwargs.pop('out_dir', str(tmp_path / 'docs')),
            data_root=data_root,
            probe_epochs=(2, ),
            pretrain_options=PRETRAIN_OPTIONS,
            finetune_options=FINETUNE_OPTIONS,
            **kwargs)

    finetune = osp.basename(FINETUNE_CONFIG)
    for kwargs, error, message in (
            (dict(finetune_epochs=1), ValueError,
             f'finetune_epochs must be an int >= 2, the fewest epochs '
             f'{finetune} trains for ({COSINE}), got 1'),
            (dict(scratch_epochs=1), ValueError,
             'scratch_epochs must be an int >= 2, the fewest epochs '
             f'{osp.basename(SCRATCH_CONFIG)} trains for ({COSINE}), got 1'),
            (dict(out_dir=str(report)), NotADirectoryError,
             f'out_dir must be a folder, got the file {report}'),
            (dict(out_dir=f'{report}/docs'), NotADirectoryError,
             f'out_dir must be a path in a folder, got {report}/docs: '
             f'{report} is a file, not a folder')):
        with pytest.raises(error, match=f'^{re.escape(message)}$'):
            study(pretrain_epochs=3, **kwargs)
    assert not work_dir.exists()
    assert report.read_text() == 'an earlier report'
    with pytest.raises(RuntimeError, match='a runner was built'):
        study(pretrain_epochs=3, finetune_epochs=2, scratch_epochs=2)
    # the command line names the flag, before it imports a model
    result = subprocess.run([
        sys.executable, 'tools/analysis_tools/fashion_mnist_study.py',
        '--finetune-epochs', '1', '--out-dir', str(report)
    ],
                            cwd=ROOT,
                            env=checkout_env(),
                            capture_output=True,
                            text=True)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        'fashion_mnist_study.py: error: argument --finetune-epochs: '
        f'finetune_epochs must be an int >= 2, the fewest epochs {finetune} '
        f'trains for ({COSINE}), got 1')


@pytest.mark.parametrize('kwargs, error, message', [
    # without epoch counts, the fine-tuning options were not read at all
    # until pretraining and the probes were over
    (dict(finetune_options={'optim_wrapper.optimizer.lr': 'abc'}),
     TypeError, "optim_wrapper.optimizer.lr must be a number in [0, inf], "
     "got 'abc' (str)"),
    (dict(finetune_options={'optim_wraper.type': 'X'}), ValueError,
     'cfg_options optim_wraper.type must start with a key of the config '
     "or of mmengine's Runner, got 'optim_wraper'"),
    (dict(finetune_options={'train_dataloader.drop_last': 'abc'}),
     TypeError, "train_dataloader.drop_last must be True or False, got "
     "'abc' (str)"),
    (dict(finetune_config='vit.pth'), ValueError,
     'finetune_config must be a config file (.py, .json, .yaml, .yml), '
     'got vit.pth, which looks like a checkpoint'),
    (dict(scratch_config='vit.pth'), ValueError,
     'config_file must be a config file (.py, .json, .yaml, .yml), got '
     'vit.pth, which looks like a checkpoint'),
    (dict(finetune_options={'randomness.seed': -1}), ValueError,
     'randomness.seed must be an int in [0, 4294967295], got -1'),
    # each failed only inside the run: in the dataset, or comparing
    (dict(train_subset='abc'), TypeError,
     "train_subset must be an int >= 1, got 'abc' (str)"),
    (dict(test_subset=0), ValueError, 'test_subset must be an int >= 1, '
     'got 0'),
    (dict(probe_epochs=('2', )), TypeError,
     "probe_epochs must be an int >= 1, got '2' (str)"),
    (dict(pretrain_options=dict(PRETRAIN_OPTIONS, knn_dataloader=None)),
     KeyError, f"'{PRETRAIN_CONFIG} needs a `knn_dataloader` (the loader of "
     "the frozen features) for the probes'"),
    # each failed after pretraining, or gave epochs the wrong accuracies
    (dict(pretrain_options={**PRETRAIN_OPTIONS,
                            'custom_hooks.2.interval': 2}), ValueError,
     "the KNNEvalHook's interval must be 1 (the study plots every epoch), "
     'got 2'),
    (dict(pretrain_options={**PRETRAIN_OPTIONS,
                            'default_hooks.checkpoint.interval': 3}),
     ValueError, 'default_hooks.checkpoint (interval=3, max_keep_ckpts=-1) '
     'keeps no checkpoint of epochs [2], which the study probes'),
    (dict(pretrain_options={**PRETRAIN_OPTIONS,
                            'default_hooks.checkpoint.max_keep_ckpts': 2}),
     ValueError, 'default_hooks.checkpoint (interval=1, max_keep_ckpts=2) '
     'keeps no checkpoint of epochs [2], which the study probes'),
])
def test_every_option_is_checked_before_anything_trains(
        kwargs, error, message, tmp_path, monkeypatch):
    data_root = str(tmp_path / 'fashion-mnist')
    os.makedirs(data_root)
    write_fake_fashion_mnist(data_root, num_train=20, num_test=10)

    def build_runner(cfg):
        raise RuntimeError(f'a runner was built for {cfg.work_dir}')

    monkeypatch.setattr(fashion_mnist_study, 'build_runner', build_runner)
    kwargs = dict(dict(probe_epochs=(2, ), pretrain_options=PRETRAIN_OPTIONS,
                       finetune_options=FINETUNE_OPTIONS), **kwargs)
    with pytest.raises(error) as raised:
        run_fashion_mnist_study(
            str(tmp_path / 'work'), str(tmp_path / 'docs'),
            data_root=data_root, **kwargs)
    assert str(raised.value).startswith(message)


def test_the_finetuning_options_max_epochs_is_the_default_count(
        tmp_path, monkeypatch):
    """Without ``finetune_epochs``, every fine-tuning run trains for the
    ``train_cfg.max_epochs`` of ``finetune_options``; the runs set it back
    to the config file's (3)."""
    data_root = str(tmp_path / 'fashion-mnist')
    os.makedirs(data_root)
    write_fake_fashion_mnist(data_root, num_train=20, num_test=10)
    epochs = []

    def run_config(run, *args):
        epochs.append(run[-1])
        return run_config.original(run, *args)

    def build_runner(cfg):
        raise RuntimeError('training started')

    run_config.original = fashion_mnist_study._run_config
    monkeypatch.setattr(fashion_mnist_study, '_run_config', run_config)
    monkeypatch.setattr(fashion_mnist_study, 'build_runner', build_runner)
    assert Config.fromfile(FINETUNE_CONFIG).train_cfg.max_epochs == 3
    with pytest.raises(RuntimeError, match='^training started$'):
        run_fashion_mnist_study(
            str(tmp_path / 'work'), str(tmp_path / 'docs'),
            data_root=data_root, probe_epochs=(2, ),
            pretrain_options=PRETRAIN_OPTIONS,
            finetune_options=dict(FINETUNE_OPTIONS,
                                  **{'train_cfg.max_epochs': 5}))
    assert epochs == [5, 5, 5]  # MAE-initialised, scratch, equal compute


def test_equal_compute_epochs_fill_the_budget():
    # 10 + 5 CPU-minutes at 1.5 per epoch
    assert equal_compute_epochs(10., 5., 1.5) == 10
    assert equal_compute_epochs(10., 5., 1.4) == 11  # 10.7 rounds up
    assert equal_compute_epochs(10., 5., 1.6) == 9  # 9.4 rounds down
    assert equal_compute_epochs(1., 2., 1., min_epochs=4) == 4
    for bad in (0., -1., float('nan')):
        with pytest.raises(ValueError, match='epoch_cpu_minutes'):
            equal_compute_epochs(10., 5., bad)
    with pytest.raises(ValueError, match='pretrain_cpu_minutes'):
        equal_compute_epochs(0., 5., 1.)


def test_an_earlier_runs_checkpoints_are_warned_of_once_per_work_dir(
        tmp_path, monkeypatch):
    """The fine-tuning configs are built before anything trains, to check
    them, and again by their runs: the warning that a work dir holds an
    earlier run's checkpoints came twice for each of their work dirs."""
    data_root = str(tmp_path / 'fashion-mnist')
    os.makedirs(data_root)
    write_fake_fashion_mnist(data_root, num_train=20, num_test=10)
    work_dir = tmp_path / 'work'
    run_dirs = [
        work_dir / name for name in ('pretrain', 'finetune_mae',
                                     'finetune_scratch',
                                     fashion_mnist_study.EQUAL_COMPUTE_DIR)
    ]
    for run_dir in run_dirs:
        run_dir.mkdir(parents=True)
        (run_dir / 'last_checkpoint').write_text(f'{run_dir}/epoch_2.pth')
    # the study's stages without their training
    loaders = dict(train=SimpleNamespace(dataset=[0] * 20),
                   test=SimpleNamespace(dataset=[0] * 10))
    for name, stand_in in dict(
            _pretrain=lambda cfg, epochs: [dict(
                cpu_minutes=1., wall_minutes=1., step_cpu_minutes=1.)] * 3,
            feature_loaders=lambda *args: loaders,
            _probe_stage=lambda *args: [],
            finetune_accuracy=lambda cfg, checkpoint: 50.,
            write_study_report=lambda *args: None).items():
        monkeypatch.setattr(fashion_mnist_study, name, stand_in)
    messages = logged_by(lambda: run_fashion_mnist_study(
        str(work_dir), str(tmp_path / 'docs'), data_root=data_root,
        pretrain_epochs=3, finetune_epochs=2, scratch_epochs=2,
        probe_epochs=(2, ), pretrain_options=PRETRAIN_OPTIONS,
        finetune_options=FINETUNE_OPTIONS))
    assert [m for m in messages if 'earlier run' in m] == [
        f'{run_dir} holds the checkpoints of an earlier run (the latest '
        f'{run_dir}/epoch_2.pth): this run starts anew and writes over '
        'those of the same names; --resume continues that run instead'
        for run_dir in run_dirs
    ]
