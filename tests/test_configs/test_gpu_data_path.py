"""The ImageNet pretraining configs hand batches to the GPU as the
official code does: the loader pins them, the data preprocessor copies
them without waiting (``non_blocking``)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mae_plugin.registry import MODELS
from ..conftest import ROOT

IMAGENET_PRETRAINING = sorted(
    glob.glob(osp.join(ROOT, 'configs', 'mae', 'mae_vit-*_in1k.py')))


def test_every_imagenet_pretraining_config_is_checked():
    assert len(IMAGENET_PRETRAINING) == 7


@pytest.mark.parametrize('config', IMAGENET_PRETRAINING,
                         ids=osp.basename)
def test_pinned_batches_copied_without_waiting(config):
    cfg = Config.fromfile(config)
    assert cfg.train_dataloader.pin_memory is True
    init_default_scope(cfg.default_scope)
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    assert preprocessor._non_blocking is True
