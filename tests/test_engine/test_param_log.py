"""What a run logs before its first iteration: the parameter groups in a
few lines, the safe loader under a whole name, on the console no
environment, config or hook order (the log file has them)."""
import os.path as osp

import torch
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.runner import CheckpointLoader

from mae_plugin.apis import build_runner
from mae_plugin.engine import summarise_paramwise_options
from mae_plugin.registry import build_model
from tests.test_tools.test_train_test_visualize import photos  # noqa: F401
from ..conftest import tiny_mae_cfg
from ..test_checkpoint.test_pretrained_init import logged_by
from .utils import tiny_train_cfg

# the demo's (and the ImageNet configs') paramwise_cfg
PARAMWISE_CFG = dict(
    norm_decay_mult=0.0,
    bias_decay_mult=0.0,
    custom_keys={
        'pos_embed': dict(decay_mult=0.),
        'mask_token': dict(decay_mult=0.),
        'cls_token': dict(decay_mult=0.)
    })


def build_optimizer(model):
    return build_optim_wrapper(
        model,
        dict(
            type='OptimWrapper',
            optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
            paramwise_cfg=PARAMWISE_CFG))


def test_one_line_per_distinct_setting():
    model = build_model(tiny_mae_cfg())
    logger = MMLogger.get_instance('test_param_log')
    summarise_paramwise_options(logger)

    def build_then_log():
        build_optimizer(model)
        logger.info('next message')

    messages = logged_by(build_then_log, logger)
    # what mmengine would have listed: one line per setting per parameter
    listed = logged_by(lambda: build_optimizer(model),
                       MMLogger.get_instance('test_param_log_plain'))
    frozen = ['backbone.pos_embed', 'neck.decoder_pos_embed']
    assert [m for m in listed if not m.startswith('paramwise_options -- ')
            ] == [f'{name} is skipped since its requires_grad=False'
                  for name in frozen]

    decay_free = [
        name for name, p in model.named_parameters()
        if p.requires_grad and (p.ndim == 1 or 'token' in name)
    ]
    assert messages == [
        'paramwise_cfg: 2 parameter(s) with decay_mult=0.0, lr=0.001, '
        'weight_decay=0.0 (first: backbone.cls_token)',
        f'paramwise_cfg: {len(decay_free) - 2} parameter(s) with '
        'weight_decay=0.0 (first: backbone.patch_embed.projection.bias)',
        'paramwise_cfg: 2 frozen parameter(s) left out: '
        'backbone.pos_embed, neck.decoder_pos_embed', 'next message'
    ]
    # 3 settings of each token, 1 of every other parameter, 1 per frozen
    assert len(listed) == 3 * 2 + (len(decay_free) - 2) + 2


def test_mmengine_prints_the_safe_loaders_whole_name(tmp_path):
    path = str(tmp_path / 'weights.pth')
    torch.save({'state_dict': {}}, path)
    messages = logged_by(
        lambda: CheckpointLoader.load_checkpoint(path, logger='current'))
    assert messages == [
        f'Loads checkpoint by local_safely backend from path: {path}'
    ]


def test_training_console_fits_a_screen_and_the_file_keeps_all(
        photos, tmp_path, capfd):  # noqa: F811
    runner = build_runner(tiny_train_cfg(photos, str(tmp_path / 'work')))
    runner.train()
    console = capfd.readouterr().out
    with open(osp.join(runner.log_dir, f'{runner.timestamp}.log')) as f:
        log_file = f.read()
    for long_record in ('System environment:', 'Config:\n',
                        'Hooks will be executed in the following order'):
        assert long_record in log_file
        assert long_record not in console
    assert f'environment, config and hook order: in {runner.log_dir}' in (
        console)
    before_training = console.split('Epoch(train)')[0].splitlines()
    assert 'paramwise_cfg: ' in console and 'paramwise_options' not in console
    assert len(before_training) <= 25, '\n'.join(before_training)
