"""mae_plugin.utils.config: the config path check, ``--cfg-options`` read
and merged, with the exact messages they raise."""
import os.path as osp

import pytest
from mmengine.config import Config, DictAction

from mae_plugin.utils import (CfgOptionsAction, check_config_path,
                              load_config, merge_cfg_options)
from ..conftest import ROOT
from .test_checks import parser_with, raises

DEMO = osp.join(ROOT, 'configs', 'mae',
                'mae_vit-tiny-p8_1xb32-coslr_demo-photos.py')


def test_cfg_options_action_reads_items_as_mmengine_and_names_bad_ones():
    items = ['a=1', 'b=[1,(2,3)]', 'c.0.d=x', 'e=None', 'f=', 'g==h']
    ours, mmengine = (parser_with(
        **{'cfg-options': dict(nargs='+', action=action)})
        for action in (CfgOptionsAction, DictAction))
    parsed = ours.parse_args(['--cfg-options', *items[:3],
                              '--cfg-options', *items[3:]]).cfg_options
    assert parsed == mmengine.parse_args(
        ['--cfg-options', *items]).cfg_options
    assert parsed == {'a': 1, 'b': [1, (2, 3)], 'c.0.d': 'x', 'e': None,
                      'f': '', 'g': '=h'}
    for item in ('train_cfg.max_epochs', '=3'):
        with pytest.raises(RuntimeError) as error:
            ours.parse_args(['--cfg-options', 'a=1', item])
        assert str(error.value) == (
            f'argument --cfg-options: {item!r} must be key=value (e.g. '
            'train_cfg.max_epochs=10)')
    with pytest.raises(RuntimeError) as error:
        ours.parse_args(['--cfg-options', 'a=[1,2'])
    assert str(error.value) == ("argument --cfg-options: 'a=[1,2': "
                                'Imbalanced brackets exist in [1,2')


def test_check_config_path():
    for path in ('a.py', 'b.json', 'dir.d/c.yaml', 'd.yml'):
        assert check_config_path('config', path) == path
    rule = 'config must be a config file (.py, .json, .yaml, .yml), got'
    for path in ('epoch_1.pth', 'model.safetensors', 'pytorch_model.bin'):
        with raises(ValueError, f'{rule} {path}, which looks like a '
                    'checkpoint: the config comes first, then the '
                    'checkpoint'):
            check_config_path('config', path)
    for path in ('notes.txt', 'configs/mae', 'A.PY'):
        with raises(ValueError, f'{rule} {path}'):
            check_config_path('config', path)
    with raises(TypeError, 'config must be a path (str or os.PathLike), '
                'got 3 (int)'):
        check_config_path('config', 3)


def test_merge_cfg_options_refuses_a_misspelt_top_level_key():
    """A first key one letter off one of the config's (or the runner's)
    would be added beside it, read by nothing, and the run would train
    with the config's value; new keys that resemble nothing, and the
    runner's own keys missing from the config, merge as mmengine's."""
    cfg = Config(dict(optim_wrapper=dict(optimizer=dict(lr=0.1)),
                      train_dataloader=dict(batch_size=8)))
    for option, meant in (('optim_wraper.optimizer.lr', 'optim_wrapper'),
                          ('train_dataloder.batch_size', 'train_dataloader'),
                          ('randomnes.seed', 'randomness'),
                          ('compil.regions', 'compile')):
        with raises(ValueError, f'cfg_options {option} must start with a '
                    "key of the config or of mmengine's Runner, got "
                    f'{option.split(".")[0]!r}, which neither has; did you '
                    f'mean {meant!r}?'):
            merge_cfg_options(cfg, {'train_dataloader.batch_size': 4,
                                    option: 1})
    assert cfg.to_dict() == dict(optim_wrapper=dict(optimizer=dict(lr=0.1)),
                                 train_dataloader=dict(batch_size=8))
    merged = merge_cfg_options(cfg, {
        'optim_wrapper.optimizer.lr': 0.2, 'randomness.seed': 3,
        'val_dataloader.batch_size': 2, 'sweep_evaluation': 'knn'})
    assert merged is cfg
    assert cfg.to_dict() == dict(
        optim_wrapper=dict(optimizer=dict(lr=0.2)),
        train_dataloader=dict(batch_size=8), randomness=dict(seed=3),
        val_dataloader=dict(batch_size=2), sweep_evaluation='knn')


def test_merge_cfg_options_refuses_a_variable_read_at_load_time():
    """``data_root=...`` set the config's variable after the dataloaders
    had read it, and the run trained on the config's folder; the runner's
    own scalar keys, and options below a variable, still merge."""
    cfg = Config(dict(
        data_root='data/imagenet/', log_level='INFO', flip=True,
        train_dataloader=dict(dataset=dict(data_root='data/imagenet/')),
        test_pipeline=[dict(type='Resize', scale=224)], img_size=224))
    with raises(ValueError, "cfg_options data_root must be a key the run "
                "reads, got a variable of the config (data_root="
                "'data/imagenet/'), which the keys using it read when the "
                'config was loaded; set those instead (keys holding its '
                'value: train_dataloader.dataset.data_root)'):
        merge_cfg_options(cfg, {'data_root': '/datasets/imagenet/'})
    with raises(ValueError, 'cfg_options img_size must be a key the run '
                'reads, got a variable of the config (img_size=224), which '
                'the keys using it read when the config was loaded; set '
                'those instead (keys holding its value: '
                'test_pipeline.0.scale)'):
        merge_cfg_options(cfg, {'img_size': 96})
    merge_cfg_options(cfg, {'log_level': 'DEBUG', 'flip': False,
                            'test_pipeline.0.scale': 96})
    assert (cfg.log_level, cfg.flip, cfg.test_pipeline[0].scale,
            cfg.data_root) == ('DEBUG', False, 96, 'data/imagenet/')


def test_merge_cfg_options_refuses_keys_inside_a_copied_variable():
    """``train_pipeline.0.scale=64`` changed the variable the dataloader
    had copied its pipeline from, and the run trained at the config's
    size; the copies are named instead, and not among the holders of a
    scalar variable's value."""
    cfg = load_config(DEMO)
    with raises(ValueError, 'cfg_options train_pipeline.0.scale must be a '
                'key the run reads, got one inside a variable of the config '
                '(train_pipeline), which train_dataloader.dataset.dataset.'
                'pipeline copied when the config was loaded; set '
                'train_dataloader.dataset.dataset.pipeline.0.scale instead'):
        merge_cfg_options(cfg, {'train_pipeline.0.scale': 64})
    with raises(ValueError, 'cfg_options img_size must be a key the run '
                'reads, got a variable of the config (img_size=96), which '
                'the keys using it read when the config was loaded; set '
                'those instead (keys holding its value: '
                'model.backbone.img_size, train_dataloader.dataset.dataset.'
                'pipeline.0.scale, test_dataloader.dataset.pipeline.1.scale'
                ', test_dataloader.dataset.pipeline.2.crop_size, '
                'custom_hooks.0.dataset.pipeline.1.scale, custom_hooks.0.'
                'dataset.pipeline.2.crop_size, val_dataloader.dataset.'
                'pipeline.1.scale, val_dataloader.dataset.pipeline.2.'
                'crop_size)'):
        merge_cfg_options(cfg, {'img_size': 64})
    merge_cfg_options(cfg, {'train_dataloader.dataset.dataset.pipeline.0.'
                            'scale': 64})
    assert cfg.train_dataloader.dataset.dataset.pipeline[0].scale == 64
