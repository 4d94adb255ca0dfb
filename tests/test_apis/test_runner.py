"""The lr that ``--auto-scale-lr`` (``train_config``) gives a run that
accumulates gradients: the official code's ``eff_batch_size = batch_size *
accum_iter * world_size``."""
import argparse
import glob
import os
import os.path as osp
import re

import cv2
import mmpretrain
import numpy as np
import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.config.lazy import LazyObject
from mmengine.hooks import Hook
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mae_plugin.apis import (build_runner, check_data_roots,
                             check_pretrained_checkpoints, init_model,
                             train_config)
from mae_plugin.apis import test_config as make_test_config
from mae_plugin.apis.config_checks import (_vit_class, _vit_width,
                                           check_test_config,
                                           check_train_config)
from mae_plugin.registry import MODELS
from tests.test_engine.utils import unique_experiment
from ..conftest import ROOT, tiny_mae_cfg
from ..test_checkpoint.test_pretrained_init import logged_by
from ..test_models.test_utils import layer_norm_eps
from ..test_tools.test_train_test_visualize import run_tool

# The paper's recipe: lr 1.5e-4 per 256 images, written for 4096.
CONFIG = osp.join(ROOT, 'configs', 'mae',
                  'mae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py')
DEMO = osp.join(ROOT, 'configs', 'mae',
                'mae_vit-tiny-p8_1xb32-coslr_demo-photos.py')


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    """64 small JPEGs in ``<root>/train``, one batch of 64."""
    root = tmp_path_factory.mktemp('imagenet')
    (root / 'train').mkdir()
    rng = np.random.default_rng(0)
    for i in range(64):
        img = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
        cv2.imwrite(
            str(root / 'train' / f'{i}.jpg'), cv2.resize(img, (40, 40)))
    return str(root)


def accumulation_run(images, work_dir, scale_lr, **options):
    """One training iteration of a tiny MAE with the pretraining config's
    optimizer and schedule: 64 images per process, 8 accumulated; more
    ``--cfg-options`` in ``options``."""
    cfg = train_config(
        CONFIG,
        work_dir=work_dir,
        auto_scale_lr=scale_lr,
        cfg_options={
            **options,
            'optim_wrapper.accumulative_counts': 8,
            'train_dataloader.batch_size': 64,
            'train_dataloader.num_workers': 0,
            'train_dataloader.persistent_workers': False,
            'train_dataloader.dataset.data_root': images,
            'train_dataloader.dataset.pipeline.0.scale': 32,
            'train_cfg.max_epochs': 1,
        })
    cfg.model = tiny_mae_cfg()
    # fp32 on the CPU: a plain wrapper (AmpOptimWrapper needs a GPU)
    cfg.optim_wrapper.type = 'OptimWrapper'
    del cfg.optim_wrapper['loss_scale']
    runner = build_runner(unique_experiment(cfg))
    runner.train()
    return runner


@pytest.mark.parametrize('auto_scale_lr', [True, False])
def test_auto_scale_lr_counts_accumulated_iterations(auto_scale_lr, images,
                                                     tmp_path, capfd):
    runner = accumulation_run(images, str(tmp_path), auto_scale_lr)
    # the lr the schedulers start from, every param group
    lrs = [g['initial_lr'] for g in runner.optim_wrapper.param_groups]
    expected = 1.5e-4 * 64 * 8 / 256 if auto_scale_lr else 1.5e-4 * 16
    assert lrs == pytest.approx([expected] * len(lrs), rel=1e-12)
    log = ''.join(capfd.readouterr())
    assert ('Effective batch 512 = 1 process(es) x 64 images '
            '(train_dataloader.batch_size) x 8 accumulated iterations'
            in log), log[-3000:]


@pytest.mark.parametrize('scale_lr, base', [
    (False, 4096), (False, 512), (True, 4096)])
def test_the_config_lr_at_another_batch_is_warned_of(scale_lr, base,
                                                     images, tmp_path,
                                                     capfd):
    """The recipe's lr, written for 4096 images, trained a batch of 4
    with only the INFO line of the effective batch."""
    accumulation_run(images, str(tmp_path), scale_lr,
                     **{'auto_scale_lr.base_batch_size': base})
    log = ''.join(capfd.readouterr())
    warning = (f'Effective batch 512 is not auto_scale_lr.base_batch_size '
               f'{base}, the batch the config lr is for, and that lr is '
               f'used as it is: --auto-scale-lr scales it by 512 / {base}, '
               'or optim_wrapper.accumulative_counts brings the batch to '
               f'{base}')
    assert (warning in log) == (not scale_lr and base != 512), log[-3000:]
    assert ('is not auto_scale_lr.base_batch_size' in log) == (
        warning in log)


class IterationCap(Hook):
    """Counts the iterations trained and stops the run after ``limit`` of
    them (a loop that would not end)."""

    def __init__(self, limit):
        self.limit, self.iterations = limit, 0

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.iterations += 1
        if self.iterations == self.limit:
            raise RuntimeError(f'still training after {self.limit} '
                               'iterations')


def loop_runner(loop, sampler, batch_size, images, work_dir):
    """The plugin's runner of the demo config's tiny model with train loop
    ``loop`` (one epoch or iteration) drawing ``batch_size`` of the 64
    ``images`` with ``sampler``."""
    cfg = train_config(CONFIG, work_dir=work_dir, cfg_options={
        'train_dataloader.sampler.type': sampler,
        'train_dataloader.batch_size': batch_size,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.data_root': images,
    })
    cfg.train_cfg = dict(type=loop, max_epochs=1) if 'Epoch' in loop \
        else dict(type=loop, max_iters=1)
    cfg.model = tiny_mae_cfg()
    cfg.optim_wrapper.type = 'OptimWrapper'
    del cfg.optim_wrapper['loss_scale']
    return build_runner(unique_experiment(cfg))


@pytest.mark.parametrize('loop', [
    'EpochBasedTrainLoop', 'ExactResumeEpochBasedTrainLoop'])
def test_an_infinite_sampler_in_an_epoch_loop_is_refused(
        loop, images, tmp_path):
    """mmengine's epoch-based loop with mmengine's ``InfiniteSampler``
    never ended its first epoch (the plugin's loop refuses the sampler
    itself, with any runner)."""
    runner = loop_runner(loop, 'InfiniteSampler', 8, images, str(tmp_path))
    cap = IterationCap(16)  # twice the 8 batches of an epoch
    runner.register_hook(cap)
    with pytest.raises(ValueError, match=re.escape(
            'train_dataloader.sampler of an epoch-based train loop must end '
            'each epoch (DefaultSampler), got InfiniteSampler, which never '
            'ends one')):
        runner.train()
    assert cap.iterations == 0


@pytest.mark.parametrize('loop, sampler', [
    ('ExactResumeEpochBasedTrainLoop', 'DefaultSampler'),
    ('IterBasedTrainLoop', 'DefaultSampler'),
    ('IterBasedTrainLoop', 'InfiniteSampler')])
def test_a_dataset_smaller_than_a_dropped_batch_is_refused(
        loop, sampler, images, tmp_path):
    """64 images in batches of 128 with the configs' ``drop_last=True``
    failed with "`epoch_length` must be a positive integer, but got 0."
    from the scheduler's build, or in an iteration-based loop with a bare
    ``StopIteration``; there an ``InfiniteSampler`` fills its batches."""
    runner = loop_runner(loop, sampler, 128, images, str(tmp_path))
    if sampler == 'InfiniteSampler' and 'Iter' in loop:
        assert len(runner.train_loop.dataloader) == 0  # and it is taken
        return
    with pytest.raises(ValueError, match=re.escape(
            'train_dataloader.batch_size must be at most the 64 samples of '
            "an epoch (the dataset's 64 over 1 process(es)) with "
            'train_dataloader.drop_last=True, got 128: an epoch would have '
            'no batch')):
        runner.train()


@pytest.mark.parametrize('base, error', [
    (0, ValueError), (-4, ValueError), (2.5, TypeError)])
def test_auto_scale_lr_refuses_a_base_batch_size_below_one(
        base, error, images, tmp_path):
    """0 divided by zero, -4 trained with a negative lr (gradient
    ascent)."""
    with pytest.raises(error, match='auto_scale_lr.base_batch_size'):
        accumulation_run(images, str(tmp_path), True,
                         **{'auto_scale_lr.base_batch_size': base})


def test_auto_scale_lr_without_a_base_batch_size_is_named(images, tmp_path):
    message = ('auto_scale_lr needs base_batch_size, the batch the config '
               'lr is for')
    with pytest.raises(KeyError, match=f'^{re.escape(repr(message))}$'):
        accumulation_run(images, str(tmp_path), True,
                         **{'auto_scale_lr': dict(_delete_=True)})


def test_runner_that_leaves_accumulation_out_is_refused(tmp_path):
    with pytest.raises(ValueError, match='accumulative_counts=8'):
        train_config(
            CONFIG,
            work_dir=str(tmp_path),
            auto_scale_lr=True,
            cfg_options={
                'runner_type': 'Runner',
                'optim_wrapper.accumulative_counts': 8
            })


def test_epochs_cut_to_the_warm_up_are_named(tmp_path):
    """The Fashion-MNIST cosine schedule begins after 2 warm-up epochs and
    runs to train_cfg.max_epochs: 2 epochs leave it none (mmengine: "end
    should be larger than begin, but got begin=2, end=2")."""
    config = osp.join(ROOT, 'configs', 'mae',
                      'mae_vit-tiny-p4_1xb256-coslr-16e_fashion-mnist.py')
    with pytest.raises(ValueError, match=r'^train_cfg.max_epochs must be '
                       r'above 2, where param_scheduler\[1\] '
                       r'\(CosineAnnealingLR\) begins and runs to the end '
                       r'of training, got 2 \(a shorter run also moves its '
                       r'start, param_scheduler.1.begin, with '
                       r'param_scheduler.0.end\)$'):
        train_config(config, work_dir=str(tmp_path),
                     cfg_options={'train_cfg.max_epochs': 2})
    cfg = train_config(config, work_dir=str(tmp_path),
                       cfg_options={'train_cfg.max_epochs': 3})
    assert cfg.train_cfg.max_epochs == 3
    # a scheduler with its own end is the config's choice: the ImageNet
    # warm-up (40 epochs, cosine from 40 to 800) cut at epoch 10 (README)
    imagenet = osp.join(ROOT, 'configs', 'mae',
                        'mae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py')
    train_config(imagenet, work_dir=str(tmp_path),
                 cfg_options={'train_cfg.max_epochs': 10})


def test_the_hint_moves_the_start_of_the_scheduler_it_names(tmp_path):
    """The hint moved the start of the first scheduler without an end that
    began at the warm-up's end, an iteration-based one here (its begin=2
    is iteration 2, bounding no epochs), beside a reason that named the
    cosine."""
    config = tmp_path / 'iteration_scheduler.py'
    config.write_text(
        f'_base_ = {DEMO!r}\n'
        'param_scheduler = [\n'
        '    dict(type="LinearLR", by_epoch=True, begin=0, end=2),\n'
        '    dict(type="ConstantLR", by_epoch=False, begin=2, factor=1.),\n'
        '    dict(type="CosineAnnealingLR", by_epoch=True, begin=2)]\n')
    with pytest.raises(ValueError, match=r'^train_cfg.max_epochs must be '
                       r'above 2, where param_scheduler\[2\] '
                       r'\(CosineAnnealingLR\) begins and runs to the end '
                       r'of training, got 2 \(a shorter run also moves its '
                       r'start, param_scheduler.2.begin, with '
                       r'param_scheduler.0.end\)$'):
        train_config(str(config), work_dir=str(tmp_path),
                     cfg_options={'train_cfg.max_epochs': 2})


@pytest.mark.parametrize('options, message', [
    # the README's "set the cosine's end" applied to a 1-epoch run
    ({'train_cfg.max_epochs': 1, 'param_scheduler.1.end': 1},
     r'param_scheduler\[1\] \(CosineAnnealingLR\) must end after it '
     r'begins, got begin=1 and end=1 \(epochs\)'),
    ({'param_scheduler.0.by_epoch': False, 'param_scheduler.0.end': 0},
     r'param_scheduler\[0\] \(LinearLR\) must end after it begins, got '
     r'begin=0 and end=0 \(iterations\)'),
])
def test_a_scheduler_that_ends_where_it_begins_is_named(
        options, message, tmp_path):
    """mmengine: "end should be larger than begin, but got begin=2, end=2",
    in iterations, naming no scheduler."""
    with pytest.raises(ValueError, match=f'^{message}$'):
        train_config(DEMO, work_dir=str(tmp_path), cfg_options=options)


def test_norm_cfg_eps_options_keep_the_default_norm_type(tmp_path):
    """The demo config relies on the components' default norm_cfg, so
    ``--cfg-options model.backbone.norm_cfg.eps=1e-5`` merged a norm_cfg
    of ``eps`` alone and the build failed with 'the cfg dict must contain
    the key "type"'; now every norm layer is the default LayerNorm with
    the eps given."""
    cfg = train_config(
        DEMO,
        work_dir=str(tmp_path),
        cfg_options={
            'model.backbone.norm_cfg.eps': 1e-5,
            'model.neck.norm_cfg.eps': 1e-4
        })
    model = MODELS.build(cfg.model)
    assert layer_norm_eps(model.backbone) == {1e-5}
    assert layer_norm_eps(model.neck) == {1e-4}


@pytest.mark.parametrize('epochs, warnings', [
    (800, []),
    (10, ['param_scheduler[0] (LinearLR) ends at epoch 40, after '
          'train_cfg.max_epochs=10: training stops before its schedule ends',
          'param_scheduler[1] (CosineAnnealingLR) ends at epoch 800, after '
          'train_cfg.max_epochs=10: training stops before its schedule ends '
          '(set its end with max_epochs and T_max to end - 40)']),
    (1600, ['param_scheduler ends at epoch 800, before '
            'train_cfg.max_epochs=1600: the last 800 epochs keep the lr it '
            'ends with (set its end with max_epochs and T_max to end - 40)']),
])
def test_a_schedule_that_does_not_end_with_the_training_is_warned_of(
        epochs, warnings, tmp_path):
    """The ImageNet recipe's schedule ends at its own epoch 800, whatever
    train_cfg.max_epochs says (as mmpretrain's)."""
    messages = logged_by(lambda: train_config(
        CONFIG, work_dir=str(tmp_path),
        cfg_options={'train_cfg.max_epochs': epochs}))
    assert [m for m in messages if 'param_scheduler' in m] == warnings


def test_one_scheduler_given_as_a_dict_is_checked_too(tmp_path):
    """mmengine takes a single scheduler without its list."""
    config = tmp_path / 'one_scheduler.py'
    config.write_text(
        f'_base_ = {CONFIG!r}\n'
        'param_scheduler = dict(_delete_=True, type="CosineAnnealingLR", '
        'by_epoch=True, begin=5, eta_min=0.)\n'
        'train_cfg = dict(max_epochs=5)\n')
    with pytest.raises(ValueError, match=r'must be above 5, where '
                       r'param_scheduler\[0\] \(CosineAnnealingLR\)'):
        train_config(str(config), work_dir=str(tmp_path))


@pytest.mark.parametrize('key, value, error, message', [
    ('train_cfg.max_epochs', 0, ValueError, 'an int >= 1, got 0'),
    ('train_cfg.max_epochs', -1, ValueError, 'an int >= 1, got -1'),
    ('train_cfg.max_epochs', 'abc', TypeError,
     "an int >= 1, got 'abc' (str)"),
    ('train_cfg.val_interval', 0, ValueError, 'an int >= 1, got 0'),
    ('randomness.seed', -1, ValueError,
     'an int in [0, 4294967295], got -1'),
    ('randomness.seed', 2**32, ValueError,
     'an int in [0, 4294967295], got 4294967296'),
])
def test_a_run_length_or_seed_the_runner_cannot_use_is_named(
        key, value, error, message, tmp_path):
    """mmengine ran no epoch for max_epochs <= 0 and exited 0; a string
    failed in the schedule check with a TypeError naming no key; a zero
    val_interval divided by zero after the first epoch; NumPy refused the
    seed as "Seed must be between 0 and 2**32 - 1"."""
    expected = re.escape(f'{key} must be {message}')
    with pytest.raises(error, match=f'^{expected}$'):
        train_config(CONFIG, work_dir=str(tmp_path),
                     cfg_options={key: value})


@pytest.mark.parametrize('key, value, error, message', [
    # torch's optimizer: "'<=' not supported between 'float' and 'str'",
    # once the model and the datasets were built
    ('optim_wrapper.optimizer.lr', 'abc', TypeError,
     "optim_wrapper.optimizer.lr must be a number in [0, inf], got 'abc' "
     '(str)'),
    ('optim_wrapper.optimizer.weight_decay', -0.05, ValueError,
     'optim_wrapper.optimizer.weight_decay must be a number in [0, inf], '
     'got -0.05'),
    ('optim_wrapper.optimizer.betas', 0.9, TypeError,
     'optim_wrapper.optimizer.betas must be two numbers in [0, 1), got '
     '0.9'),
    ('optim_wrapper.optimizer.betas', (0.9, 1.0), ValueError,
     'optim_wrapper.optimizer.betas[1] must be a number in [0, 1), got '
     '1.0'),
    ('optim_wrapper.accumulative_counts', 0, ValueError,
     'optim_wrapper.accumulative_counts must be an int >= 1, got 0'),
    # failed when the cosine started, epoch 1 of the demo (40 of the
    # ImageNet recipes), with a bare "unsupported operand type(s)"
    ('param_scheduler.1.eta_min', 'abc', TypeError,
     "param_scheduler[1].eta_min must be a number, got 'abc' (str)"),
    # the span check compared it with a bare TypeError
    ('param_scheduler.0.end', 'abc', TypeError,
     "param_scheduler[0].end must be a number in [0, inf], got 'abc' "
     '(str)'),
    ('train_dataloader.num_workers', 'abc', TypeError,
     "train_dataloader.num_workers must be an int >= 0, got 'abc' (str)"),
    ('train_dataloader.batch_size', 0, ValueError,
     'train_dataloader.batch_size must be an int >= 1, got 0'),
    # a string passed as true (the sampler shuffled, the pages were
    # pinned), or failed in torch's BatchSampler once all was built
    ('train_dataloader.sampler.shuffle', 'abc', TypeError,
     "train_dataloader.sampler.shuffle must be True or False, got 'abc' "
     '(str)'),
    ('val_dataloader.sampler.shuffle', 0, TypeError,
     'val_dataloader.sampler.shuffle must be True or False, got 0 (int)'),
    ('train_dataloader.drop_last', 'abc', TypeError,
     "train_dataloader.drop_last must be True or False, got 'abc' (str)"),
    ('train_dataloader.pin_memory', 'yes', TypeError,
     "train_dataloader.pin_memory must be True or False, got 'yes' (str)"),
    ('test_dataloader.persistent_workers', 'abc', TypeError,
     "test_dataloader.persistent_workers must be True or False, got 'abc' "
     '(str)'),
])
def test_an_optimizer_scheduler_or_loader_value_is_named(
        key, value, error, message, tmp_path):
    with pytest.raises(error) as raised:
        train_config(CONFIG, work_dir=str(tmp_path),
                     cfg_options={key: value})
    assert str(raised.value) == message


@pytest.mark.parametrize('kind, unknown, takes', [
    ('SGD', 'optim_wrapper.optimizer.betas must be an argument of SGD '
     '(torch.optim.sgd.SGD)', 'lr, momentum, dampening, weight_decay, '
     'nesterov, maximize, foreach, differentiable, fused'),
    ('LARS', 'optim_wrapper.optimizer.betas and '
     'optim_wrapper.optimizer.fused must be arguments of LARS '
     '(mmpretrain.engine.optimizers.lars.LARS)',
     'lr, momentum, weight_decay, dampening, eta, nesterov, eps'),
])
def test_a_key_the_new_optimizer_type_does_not_take_is_named(
        kind, unknown, takes, tmp_path):
    """``optim_wrapper.optimizer.type=SGD`` on the AdamW recipe kept its
    ``betas``: "SGD.__init__() got an unexpected keyword argument
    'betas'" once the model and the datasets were built, naming no key.
    The options the message gives build the optimizer."""
    kept = ' '.join(f'optim_wrapper.optimizer.{option}' for option in (
        f'type={kind}', f'lr={1.5e-4 * 16}', 'weight_decay=0.05',
        *(['fused=True'] if kind == 'SGD' else [])))
    with pytest.raises(ValueError) as raised:
        train_config(CONFIG, work_dir=str(tmp_path),
                     cfg_options={'optim_wrapper.optimizer.type': kind})
    assert str(raised.value) == (
        f'{unknown}, which takes {takes}: a key of the config\'s optimizer '
        'stays when optim_wrapper.optimizer.type changes. Give the '
        f'optimizer anew without {"it" if kind == "SGD" else "them"}: '
        '--cfg-options optim_wrapper.optimizer._delete_=True '
        f'{kept} (the keys given are all it keeps), or in a child config '
        'optim_wrapper = dict(optimizer=dict(_delete_=True, ...))')
    # the options as the command line gives them
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    options = parser.parse_args(
        str(raised.value).split(': ')[-1].split(' (')[0].split()).cfg_options
    cfg = train_config(CONFIG, work_dir=str(tmp_path), cfg_options=options)
    assert dict(cfg.optim_wrapper.optimizer) == dict(
        type=kind, lr=1.5e-4 * 16, weight_decay=0.05,
        **({'fused': True} if kind == 'SGD' else {}))
    init_default_scope(cfg.default_scope)
    model = MODELS.build(tiny_mae_cfg())
    optimizer = build_optim_wrapper(
        model, dict(optimizer=cfg.optim_wrapper.optimizer)).optimizer
    assert type(optimizer).__name__ == kind
    assert optimizer.defaults['lr'] == 1.5e-4 * 16


def test_an_optimizer_with_kwargs_takes_any_key(tmp_path):
    """mmengine's ZeroRedundancyOptimizer hands its ``**kwargs`` (the
    recipe's ``betas``) to ``optimizer_type``."""
    cfg = train_config(CONFIG, work_dir=str(tmp_path), cfg_options={
        'optim_wrapper.optimizer.type': 'ZeroRedundancyOptimizer',
        'optim_wrapper.optimizer.optimizer_type': 'AdamW'})
    assert cfg.optim_wrapper.optimizer.betas == (0.9, 0.95)


SHIPPED = sorted(
    path for path in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                               recursive=True)
    if '_base_' not in path)


def test_there_are_shipped_configs():
    assert len(SHIPPED) >= 50


@pytest.mark.parametrize('path', SHIPPED,
                         ids=lambda path: osp.relpath(path, ROOT))
def test_every_shipped_config_passes_the_train_config_checks(path):
    check_train_config(Config.fromfile(path))


BENCHMARKS = osp.join(ROOT, 'configs', 'benchmarks')
LINEAR_L = osp.join(BENCHMARKS, 'classification',
                    'vit-large-p16_8xb2048-linear-coslr-90e_in1k.py')
FINETUNE_B = osp.join(BENCHMARKS, 'classification',
                      'vit-base-p16_8xb128-coslr-100e_in1k.py')
DETECTION = osp.join(
    BENCHMARKS, 'mmdetection',
    'mask-rcnn_mae-vit-base-p16_simple-fpn_32xb2-lsj-100e_coco.py')
SEGMENTATION = osp.join(
    BENCHMARKS, 'mmsegmentation',
    'upernet_mae-vit-base-p16_8xb2-160k_ade20k-512x512.py')


@pytest.mark.parametrize('config, arch, message', [
    (LINEAR_L, 'base',
     "model.backbone (arch='base') gives features of width 768, but "
     'model.neck.input_features=1024, model.head.in_channels=1024: set '
     'model.neck.input_features=768 model.head.in_channels=768'),
    (FINETUNE_B, 'large',
     "model.backbone (arch='large') gives features of width 1024, but "
     'model.head.in_channels=768: set model.head.in_channels=1024'),
    (DETECTION, 'large',
     "model.backbone (arch='large') gives features of width 1024, but "
     'model.neck.in_channels=768: set model.neck.in_channels=1024'),
    (SEGMENTATION, 'large',
     "model.backbone (arch='large') gives features of width 1024, but "
     'model.neck.embed_dim=768, model.decode_head.in_channels=[768, 768, '
     '768, 768], model.auxiliary_head.in_channels=768: set '
     'model.neck.embed_dim=1024 '
     'model.decode_head.in_channels=[1024,1024,1024,1024] '
     'model.auxiliary_head.in_channels=1024'),
])
def test_a_width_other_than_the_backbones_is_named(config, arch, message,
                                                   tmp_path):
    """A child config or option that changed ``arch`` alone trained until
    the first iteration's matrix product or BatchNorm failed, naming no
    key; the shipped configs pass, training and testing."""
    checkpoint = tmp_path / 'epoch_1.pth'
    checkpoint.write_bytes(b'weights')
    for arch_option in ({}, {'model.backbone.arch': arch}):
        for make in (
                lambda options: train_config(
                    config, work_dir=str(tmp_path), cfg_options=options),
                lambda options: make_test_config(
                    config, str(checkpoint), work_dir=str(tmp_path),
                    cfg_options=options)):
            if not arch_option:
                make(arch_option)
                continue
            with pytest.raises(ValueError) as raised:
                make(arch_option)
            assert str(raised.value) == message


def test_every_vit_config_mmpretrain_ships_passes_the_width_check():
    """Each ViT class reads ``arch`` in its own table (DeiT-3's and
    EVA-02's ``'s'`` is 384 wide, the original ViT's 768; MoCo v3's ViT
    takes its default through ``**kwargs``): the check refused mmpretrain's
    own DeiT-3 small configs with the ViT table's width. Every config
    mmpretrain ships whose backbone is a ViT (81 of them in 1.2.0, 12
    families) passes, and a DeiT-3 small head of 768 is refused for
    384."""
    root = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs')
    checked = []
    for path in sorted(glob.glob(osp.join(root, '**', '*.py'),
                                 recursive=True)):
        if '_base_' in path:
            continue
        try:
            cfg = Config.fromfile(path)
        except Exception:  # configs of packages not installed here
            continue
        backbone = (cfg.get('model') or {}).get('backbone')
        kind = _vit_class(cfg, backbone) if isinstance(backbone,
                                                       dict) else None
        if kind is not None and _vit_width(kind, backbone):
            check_test_config(cfg)
            checked.append(osp.relpath(path, root))
    assert len(checked) >= 80, checked
    assert 'deit3/deit3-small-p16_64xb64_in1k.py' in checked
    cfg = Config.fromfile(osp.join(root, 'deit3',
                                   'deit3-small-p16_64xb64_in1k.py'))
    cfg.model.head.in_channels = 768
    with pytest.raises(ValueError, match=re.escape(
            "model.backbone (arch='s') gives features of width 384, but "
            'model.head.in_channels=768')):
        check_test_config(cfg)


def test_the_widths_the_check_asks_for_are_the_ones_that_run(tmp_path):
    """The linear probe of a DeiT-tiny (192 wide): with the widths that
    ``train_config`` refuses, the classifier fails on a batch; with the
    options its message gives, it runs, and ``train_config`` takes them."""
    options = {'model.backbone.arch': 'deit-tiny',
               'model.backbone.img_size': 32,
               'model.backbone.init_cfg': None}
    with pytest.raises(ValueError) as raised:
        train_config(LINEAR_L, work_dir=str(tmp_path), cfg_options=options)
    fixes = str(raised.value).split(': set ')[1].split()
    assert fixes == ['model.neck.input_features=192',
                     'model.head.in_channels=192']
    images = torch.rand(2, 3, 32, 32)
    cfg = Config.fromfile(LINEAR_L)
    cfg.merge_from_dict(options)
    init_default_scope(cfg.default_scope)
    with pytest.raises(RuntimeError):
        MODELS.build(cfg.model).extract_feat(images)
    fixed = {**options, **{key: int(value) for key, value in (
        fix.split('=') for fix in fixes)}}
    cfg = train_config(LINEAR_L, work_dir=str(tmp_path), cfg_options=fixed)
    model = MODELS.build(cfg.model)
    assert model(images, mode='tensor').shape == (2, 1000)


def test_the_width_message_names_the_arch_the_backbone_is_built_with():
    """A backbone without ``arch`` is built with its class's default
    (EVA-02's ``'tiny'``, 192 wide): the message names that one, not the
    ViT table's ``'base'``."""
    cfg = Config(dict(default_scope='mmpretrain', model=dict(
        type='ImageClassifier', backbone=dict(type='ViTEVA02'),
        head=dict(type='LinearClsHead', num_classes=2, in_channels=768))))
    with pytest.raises(ValueError) as raised:
        check_test_config(cfg)
    assert str(raised.value) == (
        "model.backbone (arch='tiny') gives features of width 192, but "
        'model.head.in_channels=768: set model.head.in_channels=192')


@pytest.mark.parametrize('backbone, neck_patch, refused', [
    # mmpretrain's ViT at its default patch size, 16
    (dict(type='mmpretrain.VisionTransformer'), 8, True),
    (dict(type='mmpretrain.VisionTransformer'), 16, False),
    (dict(type='mae_plugin.DenseViT'), 8, True),
    (dict(type='mae_plugin.DenseViT', patch_size=8), 8, False),
    # a hierarchical backbone's patch_size is its first stride, not the
    # stride of the map the pyramid takes (Swin's last: 32)
    (dict(type='mmpretrain.SwinTransformer', patch_size=4), 32, False),
])
def test_the_pyramid_patch_size_is_compared_with_a_vits(
        backbone, neck_patch, refused):
    cfg = Config(dict(default_scope='mmdet', model=dict(
        type='MaskRCNN', backbone=backbone,
        neck=dict(type='mae_plugin.SimpleFeaturePyramid', in_channels=768,
                  out_channels=256, patch_size=neck_patch,
                  strides=(8, 16, 32, 64)))))
    if not refused:
        check_test_config(cfg)
        return
    with pytest.raises(ValueError, match=(
            f'^model.neck.patch_size is {neck_patch} and '
            'model.backbone.patch_size 16: ')):
        check_test_config(cfg)


def test_a_loader_without_workers_keeps_none(tmp_path):
    """torch refused num_workers=0 beside the configs' persistent_workers
    ("persistent_workers option needs num_workers > 0")."""
    options = {'train_dataloader.num_workers': 0,
               'train_dataloader.persistent_workers': True}
    cfgs = []
    messages = logged_by(lambda: cfgs.append(train_config(
        CONFIG, work_dir=str(tmp_path), cfg_options=options)))
    assert cfgs[0].train_dataloader.persistent_workers is False
    assert ('train_dataloader.persistent_workers set to False: there are no '
            'workers to keep (num_workers=0)') in messages
    checkpoint = tmp_path / 'epoch_1.pth'
    checkpoint.write_bytes(b'weights')
    test_cfg = make_test_config(
        CONFIG, str(checkpoint), work_dir=str(tmp_path),
        cfg_options={'test_dataloader.num_workers': 0,
                     'test_dataloader.persistent_workers': True})
    assert test_cfg.test_dataloader.persistent_workers is False


def test_the_test_config_names_a_seed_numpy_cannot_take(tmp_path):
    with pytest.raises(ValueError, match=r'^randomness.seed must be an int '
                       r'in \[0, 4294967295\], got -2$'):
        make_test_config(CONFIG, 'epoch_1.pth', work_dir=str(tmp_path),
                         cfg_options={'randomness.seed': -2})


def test_a_misspelt_option_is_refused_by_train_test_and_inference(
        tmp_path):
    """``optim_wraper.optimizer.lr=...`` trained with the config's lr and
    exited 0 (mmengine added the new key); each entry point that merges
    ``--cfg-options`` now refuses it first."""
    message = re.escape(
        "cfg_options optim_wraper.optimizer.lr must start with a key of the "
        "config or of mmengine's Runner, got 'optim_wraper', which neither "
        "has; did you mean 'optim_wrapper'?")
    options = {'optim_wraper.optimizer.lr': 1e-3}
    for call in (
            lambda: train_config(CONFIG, work_dir=str(tmp_path),
                                 cfg_options=options),
            lambda: make_test_config(CONFIG, 'epoch_1.pth',
                                     cfg_options=options),
            lambda: init_model(CONFIG, cfg_options=options)):
        with pytest.raises(ValueError, match=f'^{message}$'):
            call()


@pytest.mark.parametrize('config, wrapper', [
    (CONFIG, 'AmpOptimWrapper'),
    (osp.join(ROOT, 'configs', 'mae',
              'mae_vit-base-p16_8xb512-bf16-coslr-800e_in1k.py'),
     'AutocastOptimWrapper'),
])
def test_amp_on_a_config_with_its_own_wrapper_is_warned_of(
        config, wrapper, tmp_path):
    """--amp left the config's wrapper (fp16 or bf16) without a word."""
    for amp, warnings in ((False, []), (True, [
            f"--amp changes a plain OptimWrapper only: the config's "
            f"optim_wrapper.type={wrapper!r} runs as it is"])):
        cfgs = []
        messages = logged_by(lambda: cfgs.append(
            train_config(config, work_dir=str(tmp_path), amp=amp)))
        assert [m for m in messages if '--amp' in m] == warnings
        assert cfgs[0].optim_wrapper.type == wrapper


def test_a_checkpoint_path_that_is_no_file_is_named_first(tmp_path):
    """mmengine said "checkpoint ... can not be found" once the runner had
    built the model and made a log folder in the work dir, for a folder
    too."""
    work_dir = tmp_path / 'work'
    missing = str(tmp_path / 'epoch_5.pth')
    with pytest.raises(FileNotFoundError,
                       match=f'^resume {re.escape(missing)}: no such file$'):
        train_config(CONFIG, work_dir=str(work_dir), resume=missing)
    with pytest.raises(IsADirectoryError, match=(
            f'^resume {re.escape(str(tmp_path))} is a folder, not a '
            r'checkpoint file \(resume alone takes the latest checkpoint '
            r'of the work dir\)$')):
        train_config(CONFIG, work_dir=str(work_dir), resume=str(tmp_path))
    earlier = tmp_path / 'earlier'  # an earlier run's work dir
    earlier.mkdir()
    for name in ('epoch_2.pth', 'epoch_1.pth', 'last_checkpoint',
                 'lightning.ckpt', 'model.pt', 'notes.txt'):
        (earlier / name).write_text('')
    with pytest.raises(IsADirectoryError, match=(
            f'^resume {re.escape(str(earlier))} is a folder, not a '
            r'checkpoint file \(resume alone takes the latest checkpoint '
            r'of the work dir\); checkpoint files in it: epoch_1.pth, '
            r'epoch_2.pth, lightning.ckpt, model.pt$')):
        train_config(CONFIG, work_dir=str(work_dir), resume=str(earlier))
    with pytest.raises(IsADirectoryError, match=(
            f'^checkpoint {re.escape(str(tmp_path))} is a folder, not a '
            'checkpoint file$')):
        make_test_config(CONFIG, str(tmp_path), work_dir=str(work_dir))
    with pytest.raises(FileNotFoundError, match=(
            f'^checkpoint {re.escape(missing)}: no such file$')):
        make_test_config(CONFIG, missing, work_dir=str(work_dir))
    assert not work_dir.exists()
    remote = 'https://example.org/mae_pretrain_vit_base.pth'
    assert make_test_config(CONFIG, remote).load_from == remote


def test_setting_the_data_root_variable_is_refused_with_the_keys(tmp_path):
    """``--cfg-options data_root=/datasets/imagenet/`` trained on the
    config's data/imagenet/ (the dataloaders had read the variable)."""
    with pytest.raises(ValueError, match=re.escape(
            'set those instead (keys holding its value: '
            'train_dataloader.dataset.data_root')):
        train_config(CONFIG, work_dir=str(tmp_path),
                     cfg_options={'data_root': '/datasets/imagenet/'})


def test_a_relative_data_root_missing_from_the_working_directory(
        tmp_path, monkeypatch):
    """Run from another folder, a config's relative data_root failed in
    the dataset with "No such file or directory: 'data/demo_photos/'"; it
    is named by key with the working directory, for the entries the run
    builds only."""
    monkeypatch.chdir(tmp_path)
    cfg = train_config(DEMO, work_dir=str(tmp_path / 'work'))
    key = 'train_dataloader.dataset.dataset.data_root'
    with pytest.raises(FileNotFoundError) as error:
        check_data_roots(cfg, 'train_dataloader', 'val_dataloader',
                         'custom_hooks')
    # every checked key reading that folder: fixing only the first failed
    # again on the next
    assert str(error.value) == (
        f"{key}='data/demo_photos/' is no folder: a relative data_root is "
        f'read from the working directory, {tmp_path}. Run the tool from '
        'the folder the config expects (the repository root for the '
        'configs of this project) or give an absolute path: --cfg-options '
        f'{key}=/path/to/data val_dataloader.dataset.data_root=/path/to/data'
        ' custom_hooks.0.dataset.data_root=/path/to/data')
    for name, where in (('val_dataloader', 'val_dataloader.dataset'),
                        ('custom_hooks', 'custom_hooks.0.dataset')):
        with pytest.raises(FileNotFoundError,
                           match=f'^{re.escape(where)}.data_root='):
            check_data_roots(cfg, name)
    (tmp_path / 'data' / 'demo_photos').mkdir(parents=True)
    check_data_roots(cfg, 'train_dataloader', 'val_dataloader',
                     'test_dataloader', 'custom_hooks')


def test_pretrained_checkpoints_of_the_model_are_checked(
        tmp_path, monkeypatch):
    """Every ``Pretrained`` init_cfg of the model, as a dict or in a list,
    named as --cfg-options takes it; None (no weights), URLs and a path
    under ``~`` that mmengine finds pass."""
    weights = tmp_path / 'epoch_1.pth'
    weights.write_bytes(b'')
    monkeypatch.setenv('HOME', str(tmp_path))
    pretrained = dict(type='Pretrained', checkpoint='~/epoch_1.pth')
    cfg = Config(dict(model=dict(
        backbone=dict(init_cfg=pretrained),
        head=dict(init_cfg=[dict(type='Normal'), pretrained]))))
    check_pretrained_checkpoints(cfg)
    for path in (None, 'https://example.org/mae.pth'):
        cfg.model.head.init_cfg[1].checkpoint = path
        check_pretrained_checkpoints(cfg)
    missing = str(tmp_path / 'epoch_2.pth')
    cfg.model.head.init_cfg[1].checkpoint = missing
    with pytest.raises(FileNotFoundError) as error:
        check_pretrained_checkpoints(cfg)
    assert str(error.value) == (
        f'model.head.init_cfg.1.checkpoint {missing}: no such file')
    cfg.model.head.init_cfg[1].checkpoint = str(tmp_path)
    with pytest.raises(IsADirectoryError,
                       match='^model.head.init_cfg.1.checkpoint'):
        check_pretrained_checkpoints(cfg)


@pytest.mark.parametrize('dataset, refused', [
    # list items are named as --cfg-options takes them
    (dict(type='ConcatDataset', datasets=[
        dict(type='mae_plugin.ImageFolder', data_root='photos/')
    ]), 'datasets.0.data_root'),
    (dict(type='mmpretrain.CustomDataset', data_root='photos/',
          data_prefix=dict(img_path='')), 'data_root'),
    (dict(type='CocoDataset', data_root='data/coco/',
          ann_file='/coco/train.json', data_prefix=dict(img='train/')),
     'data_root'),
    # absolute, remote, read by another backend
    (dict(type='mae_plugin.ImageFolder', data_root='/no/such/photos'), None),
    (dict(type='mae_plugin.ImageFolder', data_root='s3://bucket/photos'),
     None),
    (dict(type='mae_plugin.ImageFolder', data_root='photos/',
          backend_args=dict(backend='petrel')), None),
    # downloaded into the folder (mmpretrain's default for CIFAR)
    (dict(type='mmpretrain.CIFAR10', data_root='data/cifar10'), None),
    (dict(type='CIFAR10', data_root='data/cifar10', download=False),
     'data_root'),
    (dict(type=LazyObject('mmpretrain.datasets', 'CIFAR10'),
          data_root='data/cifar10'), None),
    # a type that cannot be told is checked (its build says what is wrong)
    (dict(type='builtins.dict', data_root='photos/'), 'data_root'),
    (dict(type='.X', data_root='photos/'), 'data_root'),
    # the root is joined to nothing
    (dict(type='CocoDataset', data_root='data/coco/',
          ann_file='/coco/train.json', data_prefix=dict(img='/coco/train/')),
     None),
    (dict(type='CocoDataset', data_root='data/coco/',
          ann_file=['/coco/a.json'], data_prefix=dict(img='/coco/train/')),
     'data_root'),
])
def test_which_data_roots_are_checked(tmp_path, monkeypatch, dataset,
                                      refused):
    monkeypatch.chdir(tmp_path)
    cfg = Config(dict(train_dataloader=dict(dataset=dataset),
                      val_dataloader=None))
    if refused is None:
        check_data_roots(cfg, 'train_dataloader', 'val_dataloader',
                         'test_dataloader')
        return
    with pytest.raises(FileNotFoundError,
                       match=f'^train_dataloader.dataset.{re.escape(refused)}'
                       '='):
        check_data_roots(cfg, 'train_dataloader')


@pytest.mark.parametrize('case', ['own', 'copied', 'moved', 'lost',
                                  'out_dir'])
def test_resume_alone_takes_the_work_dirs_own_latest_checkpoint(
        tmp_path, case):
    """mmengine's ``last_checkpoint`` holds an absolute path: in a work dir
    copied from another, ``--resume`` resumed the other folder's
    checkpoint (which may have trained on since); in one moved there, it
    failed. The work dir's own checkpoint of that name is taken instead."""
    original, work_dir = tmp_path / 'original', tmp_path / 'work'
    for folder in (original, work_dir):
        folder.mkdir()
        (folder / 'iter_3.pth').write_bytes(b'weights')
    named = original / 'iter_3.pth'
    if case == 'own':
        named = work_dir / 'iter_3.pth'
    elif case == 'moved':
        named.unlink()
    elif case == 'lost':
        named.unlink()
        (work_dir / 'iter_3.pth').unlink()
    (work_dir / 'last_checkpoint').write_text(str(named))
    options = ({'default_hooks.checkpoint.out_dir': str(original)}
               if case == 'out_dir' else {})

    def resume():
        return train_config(CONFIG, work_dir=str(work_dir), resume='auto',
                            cfg_options=options).load_from

    if case == 'lost':
        with pytest.raises(FileNotFoundError, match=re.escape(
                f'resume: {work_dir}/last_checkpoint names {named}, which '
                f'does not exist, and {work_dir} holds no iter_3.pth')):
            resume()
        return
    loads = []
    messages = logged_by(lambda: loads.append(resume()))
    if case in ('own', 'out_dir'):  # mmengine reads the pointer itself
        assert loads == [None]
        assert not [m for m in messages if 'last_checkpoint' in m]
    else:
        assert loads == [str(work_dir / 'iter_3.pth')]
        assert f'{work_dir}/last_checkpoint names {named}, outside this ' \
            f"work dir (copied or moved?): resuming {work_dir}/iter_3.pth, " \
            "the work dir's own" in messages


def test_resume_alone_in_a_work_dir_without_checkpoints_is_warned_of(
        tmp_path):
    """A mistyped work dir resumed nothing and trained from the start,
    with only mmengine's print "Did not find last_checkpoint"."""
    work_dir = tmp_path / 'wrok'
    cfgs = []
    messages = logged_by(lambda: cfgs.append(train_config(
        CONFIG, work_dir=str(work_dir), resume='auto')))
    assert (cfgs[0].resume, cfgs[0].load_from) == (True, None)
    assert (f'resume: {work_dir} holds no checkpoint to resume (no '
            'last_checkpoint): this run starts from the beginning'
            ) in messages


def test_resume_alone_starts_from_load_from_until_there_is_a_checkpoint(
        tmp_path):
    """A requeued job runs with --resume and the config's load_from (the
    weights to start from): mmengine dropped load_from on the first launch,
    found nothing to resume and trained from random weights, exit 0."""
    weights = tmp_path / 'start.pth'
    weights.write_bytes(b'weights')
    work_dir = tmp_path / 'work'
    options = {'load_from': str(weights)}
    cfgs = []
    messages = logged_by(lambda: cfgs.append(train_config(
        CONFIG, work_dir=str(work_dir), resume='auto',
        cfg_options=options)))
    assert (cfgs[0].resume, cfgs[0].load_from) == (False, str(weights))
    assert (f'{work_dir} holds no checkpoint to resume: starting from '
            f'load_from {weights}') in messages
    work_dir.mkdir()
    (work_dir / 'iter_3.pth').write_bytes(b'weights')
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_3.pth'))
    cfg = train_config(CONFIG, work_dir=str(work_dir), resume='auto',
                       cfg_options=options)
    assert (cfg.resume, cfg.load_from) == (True, None)  # mmengine's latest
    with pytest.raises(FileNotFoundError, match=re.escape(
            f'load_from {tmp_path}/lost.pth: no such file')):
        train_config(CONFIG, work_dir=str(tmp_path / 'other'),
                     resume='auto',
                     cfg_options={'load_from': str(tmp_path / 'lost.pth')})


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_a_config_in_the_work_dir_is_not_written_over(tmp_path, tool):
    """``--work-dir`` the config's own folder, or tools/test.py on the
    config a training run dumped into its work dir: mmengine dumped the
    config over it, comments and ``_base_`` gone and the run's
    ``load_from`` in, which the next run of that file then loaded."""
    config = tmp_path / 'my_mae.py'
    text = f'# my experiment\n_base_ = [{DEMO!r}]\n'
    config.write_text(text)
    checkpoint = tmp_path / 'epoch_1.pth'
    checkpoint.write_bytes(b'weights')

    def runner(work_dir):
        cfg = (train_config(config, work_dir=work_dir) if tool == 'train'
               else make_test_config(config, checkpoint, work_dir=work_dir))
        return build_runner(unique_experiment(cfg))

    elsewhere = tmp_path / 'work'
    runner(elsewhere)
    dumped = Config.fromfile(str(elsewhere / 'my_mae.py'))
    assert dumped.model.backbone.type == 'MAEViT'
    timestamp = runner(tmp_path).timestamp
    assert config.read_text() == text
    dumped = Config.fromfile(str(tmp_path / f'my_mae_{timestamp}.py'))
    assert dumped.model.backbone.type == 'MAEViT'
    assert dumped.work_dir == str(tmp_path)


@pytest.mark.parametrize('broken', ['child', 'base'])
def test_a_config_that_does_not_parse_is_named_with_its_line(
        broken, tmp_path):
    """mmengine's parser reported ``File "<unknown>", line 1`` whichever
    file of the inheritance did not parse."""
    texts = {'base': 'x = dict(a=1)\n',
             'child': "_base_ = ['./base.py', 'mmpretrain::_base_/"
                      "default_runtime.py']\ny = 2\n"}
    texts[broken] = texts[broken].replace('\n', '\nz = dict(b=(1,\n', 1)
    for name, text in texts.items():
        (tmp_path / f'{name}.py').write_text(text)
    with pytest.raises(SyntaxError) as error:
        train_config(str(tmp_path / 'child.py'), work_dir=str(tmp_path))
    assert str(error.value).startswith(
        f"config {tmp_path / broken}.py, line 2: '(' was never closed")
    assert error.value.filename == f'{tmp_path / broken}.py'


def test_paths_of_other_types_and_a_config_without_a_file_are_named(
        tmp_path):
    """pathlib paths are taken (the test above passes them); an int was
    "argument of type 'int' is not iterable", a config built in Python
    without a work_dir a TypeError from os.path."""
    with pytest.raises(TypeError, match=re.escape(
            'config_file must be a path (str or os.PathLike), got 3 (int)')):
        train_config(3)
    checkpoint = tmp_path / 'epoch_1.pth'
    checkpoint.write_bytes(b'weights')
    loop = dict(test_dataloader={}, test_evaluator={}, test_cfg={})
    with pytest.raises(ValueError, match=re.escape(
            'work_dir must be given for a config without a file (and '
            'without a work_dir of its own)')):
        make_test_config(Config(loop), checkpoint)
    cfg = make_test_config(Config(loop), checkpoint, work_dir=tmp_path)
    assert (cfg.work_dir, cfg.load_from) == (str(tmp_path), str(checkpoint))


def test_a_new_run_in_the_work_dir_of_an_earlier_one_is_warned_of(
        tmp_path):
    """mmengine starts anew and writes epoch_1.pth, ... over the earlier
    run's, without a word."""
    work_dir = str(tmp_path)

    def warnings(resume):
        messages = logged_by(lambda: train_config(
            CONFIG, work_dir=work_dir, resume=resume))
        return [m for m in messages if 'earlier run' in m]

    assert warnings(None) == []  # an empty work dir
    (tmp_path / 'epoch_2.pth').write_bytes(b'weights')
    (tmp_path / 'last_checkpoint').write_text(f'{work_dir}/epoch_2.pth')
    assert warnings('auto') == []
    assert warnings(None) == [
        f'{work_dir} holds the checkpoints of an earlier run (the latest '
        f'{work_dir}/epoch_2.pth): this run starts anew and writes over '
        'those of the same names; --resume continues that run instead'
    ]


def test_a_work_dir_that_is_a_file_is_named(tmp_path):
    """mmengine's makedirs raised FileExistsError while building the
    runner; a work dir under a file too."""
    log = tmp_path / 'train.log'
    log.write_text('a log')
    message = ('^work_dir must be a folder, got the file '
               f'{re.escape(str(log))}$')
    with pytest.raises(NotADirectoryError, match=message):
        train_config(CONFIG, work_dir=str(log))
    with pytest.raises(NotADirectoryError, match=message):
        make_test_config(CONFIG, 'epoch_1.pth',
                         cfg_options={'work_dir': str(log)})
    with pytest.raises(NotADirectoryError, match=re.escape(
            f'work_dir must be a path in a folder, got {log}/run: {log} is '
            'a file, not a folder')):
        train_config(CONFIG, work_dir=f'{log}/run')
    assert log.read_text() == 'a log'


def test_an_empty_work_dir_is_refused(tmp_path, monkeypatch):
    """`--work-dir ''` wrote the run (logs, checkpoints, the dumped
    config) into the working directory."""
    monkeypatch.chdir(tmp_path)
    message = "^work_dir must be a non-empty path, got ''$"
    with pytest.raises(ValueError, match=message):
        train_config(CONFIG, work_dir='')
    with pytest.raises(ValueError, match=message):
        make_test_config(CONFIG, 'epoch_1.pth', work_dir='')
    with pytest.raises(ValueError, match=message):  # the config's own
        train_config(CONFIG, cfg_options={'work_dir': ''})
    for tool in ('train.py', 'test.py'):
        checkpoint = ['epoch_1.pth'] if tool == 'test.py' else []
        result = run_tool(osp.join(ROOT, 'tools', tool), CONFIG, *checkpoint,
                          '--work-dir', '', cwd=str(tmp_path))
        assert result.returncode == 1
        assert result.stderr == (
            f"{tool[:-3]}: work_dir must be a non-empty path, got ''\n")
    assert os.listdir(tmp_path) == []


def test_a_checkpoint_in_the_place_of_the_config_is_named(tmp_path):
    """tools/test.py CHECKPOINT CONFIG printed mmengine's "Only
    py/yml/yaml/json type are supported now!", naming no file."""
    checkpoint = tmp_path / 'epoch_1.pth'
    checkpoint.write_bytes(b'weights')
    swapped = (f'config_file must be a config file (.py, .json, .yaml, '
               f'.yml), got {checkpoint}, which looks like a checkpoint: '
               'the config comes first, then the checkpoint')
    with pytest.raises(ValueError, match=f'^{re.escape(swapped)}$'):
        make_test_config(str(checkpoint), DEMO, work_dir=str(tmp_path))
    with pytest.raises(ValueError, match=f'^{re.escape(swapped)}$'):
        train_config(checkpoint, work_dir=str(tmp_path))
    with pytest.raises(ValueError, match=re.escape(
            f'config must be a config file (.py, .json, .yaml, .yml), got '
            f'{checkpoint}, which looks like a checkpoint')):
        init_model(str(checkpoint), DEMO)
    notes = tmp_path / 'notes.txt'
    notes.write_text('lr=0.1')
    with pytest.raises(ValueError, match=re.escape(
            'config_file must be a config file (.py, .json, .yaml, .yml), '
            f'got {notes}') + '$'):
        train_config(notes, work_dir=str(tmp_path))
    result = run_tool(osp.join(ROOT, 'tools', 'test.py'), str(checkpoint),
                      DEMO, '--work-dir', str(tmp_path / 'work'))
    assert result.returncode == 2  # refused by argparse
    assert result.stderr.splitlines()[-1] == (
        'test.py: error: argument config: ' + swapped.replace(
            'config_file', 'config', 1))
    assert sorted(os.listdir(tmp_path)) == ['epoch_1.pth', 'notes.txt']


@pytest.mark.parametrize('set_by', ['config', 'option'])
def test_the_configs_own_resume_is_resume_alone(tmp_path, set_by):
    """mmengine's own ``resume=True`` (mmpretrain's configs' way, in the
    file or by ``--cfg-options``) was warned of as a new run writing over
    the earlier one's checkpoints, then resumed; in a copied work dir it
    resumed the original folder's checkpoint, which ``--resume`` does
    not."""
    original, work_dir = tmp_path / 'original', tmp_path / 'work'
    for folder in (original, work_dir):
        folder.mkdir()
        (folder / 'iter_3.pth').write_bytes(b'weights')
    (work_dir / 'last_checkpoint').write_text(str(original / 'iter_3.pth'))
    config, options = CONFIG, {'resume': True}
    if set_by == 'config':
        config, options = tmp_path / 'resumed.py', {}
        config.write_text(f'_base_ = [{CONFIG!r}]\nresume = True\n')

    def train(**more):
        cfgs = []
        messages = logged_by(lambda: cfgs.append(train_config(
            config, work_dir=str(work_dir),
            cfg_options={**options, **more})))
        return cfgs[0], messages

    cfg, messages = train()
    assert (cfg.resume, cfg.load_from) == (True, str(work_dir / 'iter_3.pth'))
    assert not [m for m in messages if 'earlier run' in m]
    assert (f'{work_dir}/last_checkpoint names {original}/iter_3.pth, '
            f'outside this work dir (copied or moved?): resuming '
            f"{work_dir}/iter_3.pth, the work dir's own") in messages
    # with load_from, mmengine resumes that checkpoint
    cfg, messages = train(load_from=str(original / 'iter_3.pth'))
    assert (cfg.resume, cfg.load_from) == (True, str(original / 'iter_3.pth'))
    assert not [m for m in messages if 'earlier run' in m]
    with pytest.raises(FileNotFoundError, match=re.escape(
            f'load_from {tmp_path}/lost.pth: no such file')):
        train(load_from=str(tmp_path / 'lost.pth'))
    with pytest.raises(IsADirectoryError, match=re.escape(
            f'load_from {original} is a folder, not a checkpoint file '
            '(resume=True without load_from takes the latest checkpoint of '
            'the work dir); checkpoint files in it: iter_3.pth')):
        train(load_from=str(original))


def test_a_path_in_the_configs_resume_is_refused(tmp_path):
    """mmengine took ``resume='work_dirs/x/epoch_5.pth'`` as True and
    resumed the work dir's latest checkpoint instead of that one."""
    with pytest.raises(TypeError, match=re.escape(
            "resume must be True or False, got 'epoch_5.pth' (str); a "
            'checkpoint to resume is load_from=PATH with resume=True, or '
            '--resume PATH')):
        train_config(CONFIG, work_dir=str(tmp_path),
                     cfg_options={'resume': 'epoch_5.pth'})


def test_resume_alone_starts_from_load_from_whatever_the_configs_resume(
        tmp_path):
    """``--resume`` on a config with ``resume=True`` and ``load_from`` in
    a work dir without a checkpoint starts from load_from's weights, as
    without the config's ``resume`` (mmengine would resume load_from,
    its optimizer and iteration too)."""
    weights = tmp_path / 'start.pth'
    weights.write_bytes(b'weights')
    cfg = train_config(CONFIG, work_dir=str(tmp_path / 'work'),
                       resume='auto',
                       cfg_options={'resume': True,
                                    'load_from': str(weights)})
    assert (cfg.resume, cfg.load_from) == (False, str(weights))


@pytest.mark.parametrize('options, key, topk, top1', [
    ({'model.head.num_classes': 2}, 'val_evaluator', '(1, 5)',
     {'val_evaluator.topk': 1}),
    ({'model.head.num_classes': 4, 'val_evaluator': [
        dict(type='mmpretrain.Accuracy', topk=5)]}, 'val_evaluator.0', '5',
     {'val_evaluator': [dict(type='mmpretrain.Accuracy', topk=1)]}),
])
def test_a_topk_accuracy_of_more_classes_than_the_head_has_is_named(
        options, key, topk, top1, tmp_path):
    """A fine-tuning config on 2 classes trained an epoch, then the
    validation's top-5 failed in mmpretrain's Accuracy, naming no key;
    the training refuses it first (unless it does not validate), the test
    too."""
    checkpoint = tmp_path / 'epoch_1.pth'
    checkpoint.write_bytes(b'weights')
    num_classes = options['model.head.num_classes']
    message = (f'must be at most model.head.num_classes ({num_classes}), '
               f'got {topk}; e.g. --cfg-options ')
    with pytest.raises(ValueError) as raised:
        train_config(FINETUNE_B, work_dir=str(tmp_path), cfg_options=options)
    assert str(raised.value) == (
        f'{key}.topk {message}{key}.topk=1')
    train_config(FINETUNE_B, work_dir=str(tmp_path), cfg_options=options,
                 no_validate=True)
    test_options = {k.replace('val_', 'test_'): v
                    for k, v in options.items()}
    test_key = key.replace('val_', 'test_')
    with pytest.raises(ValueError) as raised:
        make_test_config(FINETUNE_B, str(checkpoint), work_dir=str(tmp_path),
                         cfg_options=test_options)
    assert str(raised.value) == f'{test_key}.topk {message}{test_key}.topk=1'
    for passing in ({**options, 'model.head.num_classes': 5},
                    {**options, **top1}):
        train_config(FINETUNE_B, work_dir=str(tmp_path),
                     cfg_options=passing)
