"""Point 2: every way the plugin loads a checkpoint (runner resume,
``init_cfg`` Pretrained, tools/test.py, tools/visualize_reconstruction.py)
refuses a checkpoint whose pickle would run code, names the file, and the
code never runs -- even with torch's default switched to unsafe loading."""
import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch
from mmengine.runner import CheckpointLoader

from mae_plugin.checkpoint import (load_checkpoint_safely,
                                   load_from_local_safely)
from mae_plugin.registry import MODELS
from tests.conftest import TINY_ARCH
from tests.test_checkpoint.test_safe_loading import _RunsCode
from tests.test_tools.test_train_test_visualize import (CONFIG, ROOT, TINY,
                                                        crop_size_overrides)


@pytest.fixture
def crafted(tmp_path):
    """A checkpoint with real weights plus a payload that would create
    ``marker`` when unpickled; returns ``(path, marker)``."""
    marker = tmp_path / 'marker'
    path = str(tmp_path / 'crafted.pth')
    model = MODELS.build(dict(type='mae_plugin.MAEViT', arch=TINY_ARCH,
                              img_size=32, patch_size=8))
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(payload=_RunsCode(marker))), path)
    return path, marker


def test_mmengine_local_loader_is_the_safe_one():
    assert CheckpointLoader._get_checkpoint_loader(
        '/some/file.pth') is load_from_local_safely
    with pytest.raises(FileNotFoundError, match='no_such.pth'):
        load_checkpoint_safely('no_such.pth')


def test_pretrained_init_cfg_refuses_crafted_checkpoint(crafted, monkeypatch):
    path, marker = crafted
    # even when torch's default is unsafe loading
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    backbone = MODELS.build(
        dict(type='mae_plugin.MAEViT', arch=TINY_ARCH, img_size=32,
             patch_size=8, init_cfg=dict(type='Pretrained', checkpoint=path)))
    with pytest.raises(pickle.UnpicklingError) as error:
        backbone.init_weights()
    assert f'refusing to load checkpoint {path}' in str(error.value)
    assert 'system' in str(error.value)
    assert not marker.exists()


@pytest.mark.parametrize('tool', ['train', 'test', 'visualize'])
def test_tools_refuse_crafted_checkpoint(tool, crafted, photos, tmp_path):
    path, marker = crafted
    opts = ['--cfg-options', *TINY, *crop_size_overrides(photos)]
    args = dict(
        train=['tools/train.py', CONFIG, '--work-dir', str(tmp_path / 'w'),
               '--resume', path],
        test=['tools/test.py', CONFIG, path, '--work-dir',
              str(tmp_path / 'w')],
        visualize=['tools/visualize_reconstruction.py', CONFIG, path,
                   osp.join(photos, 'img_0.jpg'), '--out-file',
                   str(tmp_path / 'out.png')])[tool]
    env = dict(os.environ, PYTHONPATH=ROOT,
               TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='1')
    result = subprocess.run([sys.executable, *args, *opts], cwd=ROOT,
                            env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode != 0
    assert f'refusing to load checkpoint {path}' in result.stderr
    assert not marker.exists()
    assert not osp.exists(tmp_path / 'out.png')
