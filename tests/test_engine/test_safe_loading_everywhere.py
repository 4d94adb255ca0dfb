"""Point 2: every way the plugin loads a checkpoint (runner resume,
``init_cfg`` Pretrained, tools/test.py, tools/visualize_reconstruction.py,
by path or by URL) refuses a checkpoint whose pickle would run code, names
the file, and the code never runs -- even with torch's default switched to
unsafe loading."""
import functools
import http.server
import json
import os
import os.path as osp
import pickle
import subprocess
import sys
import threading

import pytest
import torch
from mmengine.runner import CheckpointLoader
from mmengine.runner.checkpoint import (get_mmcls_models,
                                        get_torchvision_models)

from mae_plugin.checkpoint import (load_checkpoint_safely,
                                   load_from_http_safely,
                                   load_from_local_safely)
from mae_plugin.checkpoint.safe_loading import (load_from_mmcls_safely,
                                                load_from_openmmlab_safely,
                                                load_from_torchvision_safely)
from mae_plugin.registry import MODELS
from tests.conftest import TINY_ARCH, checkout_env
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


@pytest.fixture
def served(crafted, tmp_path, monkeypatch):
    """Serves the folder of ``crafted`` on a local HTTP server, with torch
    hub's cache and mmengine's home in ``tmp_path``; yields the URL of the
    folder."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    monkeypatch.setenv('MMENGINE_HOME', str(tmp_path / 'mmengine_home'))
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler,
        directory=osp.dirname(crafted[0]))
    server = http.server.HTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_port}'
    server.shutdown()
    server.server_close()
    thread.join()


def test_remote_schemes_have_the_safe_loaders():
    for filename, loader in [
        ('http://host/a.pth', load_from_http_safely),
        ('https://host/a.pth', load_from_http_safely),
        ('torchvision://resnet18', load_from_torchvision_safely),
        ('modelzoo://resnet18', load_from_torchvision_safely),
        ('open-mmlab://a', load_from_openmmlab_safely),
        ('openmmlab://a', load_from_openmmlab_safely),
        ('mmcls://a', load_from_mmcls_safely),
    ]:
        assert CheckpointLoader._get_checkpoint_loader(filename) is loader


def test_checkpoint_by_url_loads_and_is_cached(crafted, served, tmp_path):
    weights = {'w': torch.arange(6.).reshape(2, 3)}
    torch.save(dict(state_dict=weights), tmp_path / 'good.pth')
    loaded = CheckpointLoader.load_checkpoint(f'{served}/good.pth')
    assert torch.equal(loaded['state_dict']['w'], weights['w'])
    assert (tmp_path / 'torch_home/hub/checkpoints/good.pth').is_file()


def test_checkpoint_by_url_that_would_run_code_is_refused(crafted, served,
                                                          tmp_path):
    path, marker = crafted
    cached = str(tmp_path / 'torch_home/hub/checkpoints/crafted.pth')
    with pytest.raises(pickle.UnpicklingError,
                       match=f'refusing to load checkpoint {cached}'):
        CheckpointLoader.load_checkpoint(f'{served}/crafted.pth')
    backbone = MODELS.build(
        dict(type='mae_plugin.MAEViT', arch=TINY_ARCH, img_size=32,
             patch_size=8, init_cfg=dict(type='Pretrained',
                                         checkpoint=f'{served}/crafted.pth')))
    with pytest.raises(pickle.UnpicklingError, match='system'):
        backbone.init_weights()
    assert not marker.exists()


def test_openmmlab_names_load_safely(crafted, served, tmp_path):
    """``open-mmlab://`` names resolve through ``$MMENGINE_HOME`` to a URL
    or to a file there; both are loaded safely."""
    path, marker = crafted
    home = tmp_path / 'mmengine_home'
    home.mkdir()
    os.replace(path, home / 'crafted.pth')
    (home / 'open_mmlab.json').write_text(json.dumps(
        dict(by_url=f'{served}/mmengine_home/crafted.pth',
             by_file='crafted.pth')))
    for name in ['open-mmlab://by_url', 'openmmlab://by_file']:
        with pytest.raises(pickle.UnpicklingError,
                           match='refusing to load checkpoint'):
            CheckpointLoader.load_checkpoint(name)
    assert not marker.exists()


@pytest.mark.parametrize('name', ['torchvision://resnet18',
                                  'modelzoo://resnet18',
                                  'mmcls://resnet18'])
def test_model_zoo_names_load_safely(name, crafted, served, tmp_path):
    """The model-zoo names resolve to internet URLs; their cached file is
    planted so that nothing downloads."""
    path, marker = crafted
    urls = (get_mmcls_models() if name.startswith('mmcls')
            else get_torchvision_models())
    cache = tmp_path / 'torch_home/hub/checkpoints'
    cache.mkdir(parents=True)
    cached = cache / osp.basename(urls['resnet18'])
    os.replace(path, cached)
    with pytest.raises(pickle.UnpicklingError,
                       match=f'refusing to load checkpoint {cached}'):
        CheckpointLoader.load_checkpoint(name)
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
    env = checkout_env(TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='1')
    result = subprocess.run([sys.executable, *args, *opts], cwd=ROOT,
                            env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode != 0
    assert f'refusing to load checkpoint {path}' in result.stderr
    assert not marker.exists()
    assert not osp.exists(tmp_path / 'out.png')
