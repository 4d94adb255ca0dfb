"""Converting checkpoint files, in the library and with the CLI."""
import os
import subprocess
import sys

import pytest
import torch

from mae_plugin.converters import convert_checkpoint, load_state_dict_file
from ..conftest import ROOT
from .helpers import official_layout, random_hf_mae


@pytest.fixture
def official_file(tmp_path):
    hf = random_hf_mae('w32')
    path = str(tmp_path / 'mae_pretrain.pth')
    torch.save({'model': official_layout(hf.state_dict())}, path)
    return hf, path


def test_official_to_hugging_face_goes_through_the_plugin(
        official_file, tmp_path):
    hf, path = official_file
    dst = str(tmp_path / 'model.safetensors')
    reports = convert_checkpoint(path, dst, 'official', 'hf')
    assert [(r.source, r.target)
            for r in reports] == [('official MAE', 'plugin'),
                                  ('plugin', 'Hugging Face ViTMAE')]
    assert all(not r.missing and not r.unexpected for r in reports)
    converted = load_state_dict_file(dst)
    assert set(converted) == set(hf.state_dict())
    assert all(
        torch.equal(converted[k], v) for k, v in hf.state_dict().items())


def test_unknown_formats_are_refused(official_file, tmp_path):
    _, path = official_file
    with pytest.raises(ValueError, match='src_format'):
        convert_checkpoint(path, str(tmp_path / 'x.pth'), 'vitdet', 'plugin')
    with pytest.raises(ValueError, match='dst_format'):
        convert_checkpoint(path, str(tmp_path / 'x.pth'), 'official', 'onnx')


def test_cli_writes_a_plugin_checkpoint_and_prints_the_summary(
        official_file, tmp_path):
    _, path = official_file
    dst = str(tmp_path / 'plugin.pth')
    result = subprocess.run([
        sys.executable, 'tools/model_converters/convert_checkpoint.py', path,
        dst, '--src-format', 'official', '--dst-format', 'plugin'
    ],
                            cwd=ROOT,
                            env={
                                **os.environ, 'PYTHONPATH': ROOT
                            },
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert ('official MAE -> plugin: 50 converted, 0 missing, 0 unexpected'
            in result.stdout)
    assert 'parts: encoder (depth 2), final norm, decoder (depth 1)' in (
        result.stdout)
    # into a pipe: no progress bar, whose redraws would fill a log file
    assert '50/50' not in result.stdout and '\r' not in result.stdout
    assert len(result.stdout.splitlines()) < 10
    checkpoint = torch.load(dst, weights_only=True)
    assert len(checkpoint['state_dict']) == 50
    assert 'backbone.layers.1.attn.qkv.weight' in checkpoint['state_dict']
