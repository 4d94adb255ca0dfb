"""tools/model_converters/publish_model.py: a training checkpoint becomes a
file that torch, mmengine and mmpretrain load without mae_plugin."""
import hashlib
import os
import os.path as osp
import re
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.runner import Runner

from mae_plugin.checkpoint import publish_checkpoint
from tests.conftest import ROOT, checkout_env
from tests.test_engine.utils import tiny_train_cfg
from tests.test_tools.test_train_test_visualize import photos  # noqa: F401
from tests.test_tools.test_train_test_visualize import run

# Run in a fresh interpreter that never imports mae_plugin: loads the file
# with torch alone, then into mmpretrain's VisionTransformer through
# init_cfg (mmengine's loader, torch's weights-only default), and prints
# how many encoder tensors equal the checkpoint's.
WITHOUT_PLUGIN = textwrap.dedent('''
    import sys
    import torch
    from mmpretrain.models import VisionTransformer
    path = sys.argv[1]
    checkpoint = torch.load(path, weights_only=True)
    print('entries', sorted(checkpoint))
    vit = VisionTransformer(
        arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                  feedforward_channels=64),
        img_size=32, patch_size=8,
        init_cfg=dict(type='Pretrained', checkpoint=path,
                      prefix='backbone.'))
    vit.init_weights()
    weights = checkpoint['state_dict']
    equal = sum(torch.equal(v, weights['backbone.' + k])
                for k, v in vit.state_dict().items())
    print('equal', equal, 'of', len(vit.state_dict()))
    print('mae_plugin imported:', 'mae_plugin' in sys.modules)
''')


def without_plugin(path):
    # away from the checkout, without it on PYTHONPATH: nothing can import
    # mae_plugin by accident
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    return subprocess.run([sys.executable, '-c', WITHOUT_PLUGIN, path],
                          cwd=osp.dirname(path),
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)


def test_published_checkpoint_loads_without_the_plugin(
        photos, tmp_path):  # noqa: F811
    work = str(tmp_path / 'work')
    Runner.from_cfg(
        tiny_train_cfg(photos, work, 'train_cfg.max_epochs=1')).train()
    trained = osp.join(work, 'epoch_1.pth')
    # The training checkpoint itself needs the plugin's allowlist.
    refused = without_plugin(trained)
    assert refused.returncode != 0
    assert 'HistoryBuffer' in refused.stderr

    out = run('tools/model_converters/publish_model.py', trained,
              str(tmp_path / 'published' / 'mae_tiny.pth'))
    path = out.split('wrote ')[-1].strip()
    with open(path, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert osp.basename(path) == f'mae_tiny-{digest[:8]}.pth'

    loaded = without_plugin(path)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert "entries ['meta', 'state_dict']" in loaded.stdout
    assert 'equal 30 of 30' in loaded.stdout
    assert 'mae_plugin imported: False' in loaded.stdout
    published = torch.load(path, weights_only=True)
    source = torch.load(trained, weights_only=True)
    assert published['meta'] == {
        key: source['meta'][key]
        for key in ('epoch', 'iter', 'seed', 'mmengine_version', 'cfg')
    }
    assert published['meta']['epoch'] == 1
    assert published['state_dict'].keys() == source['state_dict'].keys()


def test_a_file_without_weights_is_refused(tmp_path):
    path = str(tmp_path / 'meta_only.pth')
    torch.save({'meta': {'epoch': 1}}, path)
    result = subprocess.run([
        sys.executable, 'tools/model_converters/publish_model.py', path,
        str(tmp_path / 'out.pth')
    ],
                            cwd=ROOT,
                            env=checkout_env(),
                            capture_output=True,
                            text=True)
    assert result.returncode == 1
    assert f'{path} is not a training checkpoint' in result.stderr


def test_the_output_is_a_file_written_whole_or_not_at_all(
        tmp_path, monkeypatch):
    """A folder as out_file wrote `folder-<hash>.pth` beside it, or
    `-<hash>.pth` in it with a trailing slash; a failing write (disk full,
    read-only folder) was torch's "enforce fail" RuntimeError and left a
    truncated `.unhashed.pth`."""
    src = str(tmp_path / 'epoch_1.pth')
    torch.save({'state_dict': {'w': torch.ones(3)}, 'meta': {'epoch': 1}},
               src)
    folder = tmp_path / 'published'
    folder.mkdir()
    for out_file in (str(folder), f'{folder}/', str(tmp_path / 'new') + '/'):
        with pytest.raises(IsADirectoryError, match=(
                f'^out_file must be a file to write, got the folder '
                f'{re.escape(out_file)}$')):
            publish_checkpoint(src, out_file)

    def disk_full(fd):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, 'fsync', disk_full)
    with pytest.raises(OSError, match='No space left on device'):
        publish_checkpoint(src, str(folder / 'mae.pth'))
    assert os.listdir(folder) == []
    monkeypatch.undo()
    path = publish_checkpoint(src, str(folder / 'mae.pth'))
    assert os.listdir(folder) == [osp.basename(path)]
    published = torch.load(path, weights_only=True)
    assert published['meta'] == {'epoch': 1}
    assert torch.equal(published['state_dict']['w'], torch.ones(3))


def test_an_out_file_under_a_file_is_named_before_reading(tmp_path):
    """makedirs' "File exists: '<the file>'" came after the checkpoint was
    read and hashed; here the input is not even read (it is missing)."""
    photo = tmp_path / 'a.jpg'
    photo.write_bytes(b'jpeg')
    result = subprocess.run([
        sys.executable, 'tools/model_converters/publish_model.py',
        str(tmp_path / 'missing.pth'), f'{photo}/mae.pth'
    ],
                            cwd=ROOT,
                            env=checkout_env(),
                            capture_output=True,
                            text=True)
    assert result.returncode == 1
    assert result.stderr == (
        f'publish_model: out_file must be a path in a folder, got '
        f'{photo}/mae.pth: {photo} is a file, not a folder\n')
