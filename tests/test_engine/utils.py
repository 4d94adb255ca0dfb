"""Building in-process runners of the tiny demo config for engine tests."""
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
                   amp: bool = False) -> Config:
    """The tiny demo training config (no validation) on ``data_root``."""
    return train_config(
        CONFIG, work_dir=work_dir, no_validate=True, amp=amp,
        cfg_options=cfg_options(TINY + crop_size_overrides(data_root) +
                                list(overrides)))


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
