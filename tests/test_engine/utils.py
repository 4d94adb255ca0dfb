"""Building in-process runners of the tiny demo config for engine tests,
and comparing the checkpoints they write."""
import os.path as osp
import time
from typing import Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mae_plugin.apis import train_config
from tests.test_tools.test_train_test_visualize import (CONFIG, TINY,
                                                        crop_size_overrides)


def cfg_options(overrides):
    """``key=value`` strings to the dict DictAction would make."""
    return {
        key: DictAction._parse_iterable(value)
        for key, value in (o.split('=', 1) for o in overrides)
    }


def tiny_train_cfg(data_root: str, work_dir: str, *overrides: str,
                   amp: bool = False, launcher: str = 'none',
                   resume: Optional[str] = None) -> Config:
    """The tiny demo training config (no validation) on ``data_root``, with
    a :func:`unique_experiment` name; ``launcher`` and ``resume`` as
    ``tools/train.py``'s ``--launcher`` and ``--resume``."""
    return unique_experiment(
        train_config(
            CONFIG, work_dir=work_dir, no_validate=True, amp=amp,
            launcher=launcher, resume=resume,
            cfg_options=cfg_options(TINY + crop_size_overrides(data_root) +
                                    list(overrides))))


def unique_experiment(cfg: Config) -> Config:
    """Give ``cfg`` an experiment name no other runner has: mmengine names
    a runner's logger and visualizer after the config and the second it
    was built, so two runners built within one second would share the
    first one's, whose handlers write where that earlier test's output
    went."""
    cfg.experiment_name = f'{osp.basename(cfg.work_dir)}_{time.time_ns()}'
    return cfg


def checkpoint_every_iteration_runner(data_root: str, work_dir: str,
                                      max_epochs: int,
                                      *overrides: str) -> Runner:
    """A tiny run saving one checkpoint per iteration and keeping one;
    ``overrides`` are further ``key=value`` config options."""
    return Runner.from_cfg(
        tiny_train_cfg(data_root, work_dir,
                       f'train_cfg.max_epochs={max_epochs}',
                       'default_hooks.checkpoint.by_epoch=0',
                       'default_hooks.checkpoint.interval=1',
                       'default_hooks.checkpoint.max_keep_ckpts=1',
                       *overrides))


def assert_checkpoints_bitwise_equal(path_a: str, path_b: str) -> None:
    """Two checkpoints of the same iteration hold bitwise the same weights,
    optimizer moments and scheduler states."""
    a, b = (torch.load(p, weights_only=True) for p in (path_a, path_b))
    assert a['meta']['iter'] == b['meta']['iter']
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for key, value in a['state_dict'].items():
        assert torch.equal(value, b['state_dict'][key]), key
    state_a, state_b = (c['optimizer']['state'] for c in (a, b))
    assert state_a.keys() == state_b.keys() and len(state_a) > 10
    for param_id, moments in state_a.items():
        for name, value in moments.items():
            assert torch.equal(value, state_b[param_id][name]), name
    assert a['param_schedulers'] == b['param_schedulers']
