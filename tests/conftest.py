import os
import os.path as osp
import random

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

import mae_plugin  # noqa: F401
from mae_plugin.models import mae_config

# The repository's root, for the configs and tools the tests run.
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def checkout_env(**variables: str) -> dict:
    """The environment of a subprocess that runs the checkout's code: ROOT
    first on PYTHONPATH (the checkout's mae_plugin, not an installed one),
    the caller's PYTHONPATH after it (e.g. coverage's ``sitecustomize``),
    and ``variables``."""
    inherited = os.environ.get('PYTHONPATH')
    path = ROOT + (os.pathsep + inherited if inherited else '')
    return {**os.environ, 'PYTHONPATH': path, **variables}


# A CUDA device this machine has not, with or without GPUs: one past the last
ABSENT_CUDA = f'cuda:{torch.cuda.device_count()}'

TINY_ARCH = dict(
    embed_dims=32, num_layers=2, num_heads=4, feedforward_channels=64)
#: mmseg's ``VisionTransformer``/``MAE`` arguments for a backbone of
#: TINY_ARCH's size on 32x32 inputs, LN eps as the plugin's.
MMSEG_TINY = dict(
    img_size=32,
    patch_size=8,
    embed_dims=32,
    num_layers=2,
    num_heads=4,
    mlp_ratio=2,
    norm_cfg=dict(type='LN', eps=1e-6))


def tiny_mae_cfg(img_size=32,
                 patch_size=8,
                 in_channels=3,
                 mask_ratio=0.75,
                 norm_pix=True):
    """A small MAE config (dict) for unit tests."""
    # mmengine normalises 1 or 3 channels only
    normalised = in_channels in (1, 3)
    return mae_config(
        arch=TINY_ARCH,
        img_size=img_size,
        patch_size=patch_size,
        in_channels=in_channels,
        mask_ratio=mask_ratio,
        decoder=dict(embed_dims=16, num_layers=1, num_heads=2),
        norm_pix=norm_pix,
        data_preprocessor=dict(
            type='SelfSupDataPreprocessor',
            mean=[127.5] * in_channels if normalised else None,
            std=[64.] * in_channels if normalised else None,
            to_rgb=in_channels == 3))


def pytest_configure(config: pytest.Config) -> None:
    """pytest-randomly only shuffles the order: left to itself it also
    reseeds ``random`` and NumPy from the session's seed right before each
    test body (after the fixtures, :func:`_isolated_globals` included), so
    those streams, unlike torch's, changed from one run to the next."""
    if config.pluginmanager.hasplugin('randomly'):
        config.option.randomly_reset_seed = False


@pytest.fixture(autouse=True)
def _isolated_globals():
    """Every test starts from the same global state and leaves it as it
    found it, so that the suite passes in any order: the same seeds; and
    mmengine's default scope (``init_default_scope`` and every runner set
    it), the environment variables and the working directory restored
    afterwards."""
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    scopes = list(DefaultScope._instance_dict.items())
    environ = dict(os.environ)
    cwd = os.getcwd()
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(scopes)
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
