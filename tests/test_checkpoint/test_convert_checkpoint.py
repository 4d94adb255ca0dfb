"""Converting checkpoint files, in the library and with the CLI."""
import argparse
import io
import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch

from mae_plugin.checkpoint import (convert_checkpoint, convert_official_mae,
                                   load_state_dict_file)
from ..conftest import ROOT, checkout_env
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


def test_a_src_or_dst_that_is_not_a_path_is_named(official_file, tmp_path):
    """``src=None`` failed in ``os.stat`` ("stat: path should be string,
    bytes, os.PathLike or integer, not NoneType")."""
    _, path = official_file
    dst = tmp_path / 'plugin.pth'
    for args, name in (((None, str(dst)), 'src'), ((path, None), 'dst')):
        with pytest.raises(TypeError, match=f'^{name} must be a path '
                           r'\(str or os.PathLike\), got None \(NoneType\)$'):
            convert_checkpoint(*args)
    assert not dst.exists()
    convert_checkpoint(path, dst)  # pathlib paths
    assert load_state_dict_file(dst)


def test_cli_writes_a_plugin_checkpoint_and_prints_the_summary(
        official_file, tmp_path):
    _, path = official_file
    dst = str(tmp_path / 'plugin.pth')
    result = subprocess.run([
        sys.executable, 'tools/model_converters/convert_checkpoint.py', path,
        dst, '--src-format', 'official', '--dst-format', 'plugin'
    ],
                            cwd=ROOT,
                            env=checkout_env(),
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


def run_converter(*args):
    return subprocess.run(
        [sys.executable, 'tools/model_converters/convert_checkpoint.py',
         *args],
        cwd=ROOT,
        env=checkout_env(),
        capture_output=True,
        text=True)


@pytest.fixture
def plugin_file(tmp_path):
    hf = random_hf_mae('w32')
    state_dict, _ = convert_official_mae(official_layout(hf.state_dict()))
    path = str(tmp_path / 'epoch_1.pth')
    torch.save({'state_dict': state_dict, 'meta': {'epoch': 1}}, path)
    return state_dict, path


def test_the_source_layout_is_told_from_the_keys(official_file,
                                                 plugin_file, tmp_path):
    _, official = official_file
    _, plugin = plugin_file
    dst = str(tmp_path / 'out.pth')
    assert [(r.source, r.target)
            for r in convert_checkpoint(official, dst)] == [('official MAE',
                                                             'plugin')]
    assert [(r.source, r.target)
            for r in convert_checkpoint(plugin, dst, dst_format='timm')
            ] == [('plugin', 'timm ViT')]
    bare = str(tmp_path / 'unknown.pth')
    torch.save({'weight': torch.zeros(2)}, bare)
    with pytest.raises(ValueError, match=f'{bare}: the keys are in none'):
        convert_checkpoint(bare, dst)


def test_dropping_the_decoder_is_one_line_not_unexpected_keys(
        plugin_file, tmp_path):
    state_dict, path = plugin_file
    result = run_converter(path, str(tmp_path / 'timm.pth'), '--dst-format',
                           'timm')
    assert result.returncode == 0, result.stderr[-2000:]
    decoder = sum(k.startswith('neck.') for k in state_dict)
    assert decoder == 20
    assert 'plugin -> timm ViT: 30 converted, 0 missing, 0 unexpected' in (
        result.stdout)
    assert (f'dropped: decoder ({decoder} keys neck.mask_token*, '
            'neck.decoder_*), not part of the timm ViT layout'
            ) in result.stdout
    assert 'unexpected: ' not in result.stdout


def test_missing_or_unexpected_keys_write_nothing_unless_allowed(
        official_file, tmp_path):
    _, path = official_file
    official = torch.load(path, weights_only=True)['model']
    del official['blocks.1.attn.qkv.weight']  # a cut block
    official['head.1.weight'] = torch.zeros(10, 32)  # no rule for it
    src = str(tmp_path / 'partial.pth')
    torch.save({'model': official}, src)
    dst = tmp_path / 'out.pth'
    result = run_converter(src, str(dst))
    assert result.returncode == 1
    assert 'official MAE -> plugin: 49 converted, 1 missing, 1 unexpected' \
        in result.stdout
    assert 'missing: backbone.layers.1.attn.qkv.weight' in result.stdout
    assert 'unexpected: head.1.weight' in result.stdout
    assert result.stderr.strip() == (
        f'convert_checkpoint: {dst} not written: official MAE -> plugin: '
        '1 missing, 1 unexpected keys (--allow-partial writes it)')
    assert not dst.exists()
    result = run_converter(src, str(dst), '--allow-partial')
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(torch.load(dst, weights_only=True)['state_dict']) == 49


@pytest.mark.parametrize('suffix', ['.pth', '.safetensors'])
def test_an_empty_file_is_named_without_a_traceback(tmp_path, suffix):
    empty = tmp_path / f'empty{suffix}'
    empty.write_bytes(b'')
    dst = tmp_path / 'out.pth'
    result = run_converter(str(empty), str(dst))
    assert result.returncode == 1
    assert f'checkpoint {empty} is not a readable' in result.stderr
    assert 'Traceback' not in result.stderr
    assert not dst.exists()


@pytest.mark.parametrize('dst_format', ['plugin', 'official'])
def test_integer_weights_are_refused(plugin_file, tmp_path, dst_format):
    from safetensors.torch import save_file
    state_dict, _ = plugin_file
    quantised = {k: v.to(torch.int8) for k, v in state_dict.items()}
    src = str(tmp_path / 'int8.safetensors')
    save_file(quantised, src)
    dst = tmp_path / 'out.pth'
    result = run_converter(src, str(dst), '--dst-format', dst_format)
    assert result.returncode == 1
    assert 'weights must be floating point, got torch.int8' in result.stderr
    assert 'Traceback' not in result.stderr
    assert not dst.exists()


def test_only_the_formats_it_reads_are_offered_as_sources(
        plugin_file, tmp_path):
    """--help offered all nine layouts for --src-format, and five of them
    were then refused as a source."""
    _, path = plugin_file
    result = run_converter(path, str(tmp_path / 'out.pth'), '--src-format',
                           'timm')
    assert result.returncode == 2
    assert "argument --src-format: invalid choice: 'timm'" in result.stderr
    assert '[--src-format {hf,mmpretrain,official,plugin}]' in result.stderr


def test_a_wrong_source_format_names_the_layout_the_keys_have(
        plugin_file, tmp_path):
    _, path = plugin_file
    result = run_converter(path, str(tmp_path / 'out.pth'), '--src-format',
                           'official')
    assert result.returncode == 1
    assert result.stderr.startswith(
        f'convert_checkpoint: {path}: state_dict: no key is in the '
        'official MAE layout')
    assert result.stderr.strip().endswith(
        'the keys look like the plugin layout')


def test_dst_equal_to_src_is_refused_and_the_source_kept(official_file):
    """The converted weights were written over the source file."""
    _, path = official_file
    before = open(path, 'rb').read()
    result = run_converter(path, path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f'convert_checkpoint: dst must be another file than the input '
        f'{path} (writing it would overwrite the input), got {path}')
    assert open(path, 'rb').read() == before


def test_a_folder_is_named_as_a_folder(official_file, tmp_path):
    """A Hugging Face folder as src was 'no such file'; a folder as dst
    was torch's 'open file failed' traceback after the conversion."""
    _, path = official_file
    hf_folder = tmp_path / 'vit-mae-base'
    hf_folder.mkdir()
    (hf_folder / 'model.safetensors').write_bytes(b'')
    (hf_folder / 'config.json').write_text('{}')
    result = run_converter(str(hf_folder), str(tmp_path / 'out.pth'))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f'convert_checkpoint: checkpoint {hf_folder} is a folder, not a '
        'checkpoint file; checkpoint files in it: model.safetensors')
    result = run_converter(path, str(hf_folder))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'convert_checkpoint: dst must be a file to write, got the folder '
        f'{hf_folder}')


def test_a_dst_under_a_file_or_an_unwritable_folder_is_named(
        official_file, tmp_path):
    """Was "File exists: '<the file>'", and for /proc (root included) "No
    such file or directory" naming the writer's temporary file."""
    _, path = official_file
    photo = tmp_path / 'a.jpg'
    photo.write_bytes(b'jpeg')
    result = run_converter(path, f'{photo}/x.pth')
    assert result.returncode == 1
    assert result.stderr == (
        f'convert_checkpoint: dst must be a path in a folder, got '
        f'{photo}/x.pth: {photo} is a file, not a folder\n')
    if osp.isdir('/proc/self'):
        result = run_converter(path, '/proc/x.pth')
        assert result.returncode == 1
        assert result.stderr == (
            'convert_checkpoint: dst must be a path in a folder that can be '
            'written, got /proc/x.pth: no file can be created in /proc (No '
            'such file or directory)\n')


def test_an_interrupted_save_leaves_the_earlier_dst(official_file, tmp_path,
                                                    monkeypatch):
    """Ctrl-C half-way through writing the output left a truncated file
    in place of the earlier conversion."""
    _, path = official_file
    dst = str(tmp_path / 'plugin.pth')
    convert_checkpoint(path, dst)
    before = open(dst, 'rb').read()
    save = torch.save

    def interrupted_save(obj, f):
        buffer = io.BytesIO()
        save(obj, buffer)
        half = buffer.getvalue()[:len(buffer.getvalue()) // 2]
        if isinstance(f, str):
            with open(f, 'wb') as file:
                file.write(half)
        else:
            f.write(half)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, 'save', interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        convert_checkpoint(path, dst, dst_format='timm')
    assert open(dst, 'rb').read() == before
    assert sorted(os.listdir(tmp_path)) == ['mae_pretrain.pth', 'plugin.pth']


def official_training_checkpoint(hf, path):
    """A ``checkpoint-N.pth`` as the official ``main_pretrain.py`` saves it
    (util/misc.py ``save_model``): model, optimizer, epoch, loss scaler and
    the command line as an ``argparse.Namespace``."""
    model = official_layout(hf.state_dict())
    params = [torch.nn.Parameter(v.clone()) for v in model.values()]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    sum(p.sum() for p in params).backward()
    optimizer.step()
    torch.save({
        'model': model,
        'optimizer': optimizer.state_dict(),
        'epoch': 799,
        'scaler': {'scale': 65536.0, 'growth_factor': 2.0,
                   'backoff_factor': 0.5, 'growth_interval': 2000,
                   '_growth_tracker': 0},
        'args': argparse.Namespace(
            model='mae_vit_tiny', input_size=32, mask_ratio=0.75,
            norm_pix_loss=True, batch_size=2, output_dir='./output_dir'),
    }, path)
    return model


def test_an_official_training_checkpoint_is_converted(tmp_path):
    """Its ``args`` (an ``argparse.Namespace``) is allowed while the
    plugin's loader reads the file, and there only: torch's own
    ``weights_only`` load still refuses it."""
    hf = random_hf_mae('w32')
    src = str(tmp_path / 'checkpoint-799.pth')
    model = official_training_checkpoint(hf, src)
    assert load_state_dict_file(src).keys() == model.keys()
    dst = str(tmp_path / 'plugin.pth')
    result = run_converter(src, dst)
    assert result.returncode == 0, result.stderr[-2000:]
    assert ('official MAE -> plugin: 50 converted, 0 missing, 0 unexpected'
            in result.stdout)
    expected, _ = convert_official_mae(model)
    converted = torch.load(dst, weights_only=True)['state_dict']
    assert converted.keys() == expected.keys()
    assert all(torch.equal(converted[k], v) for k, v in expected.items())
    with pytest.raises(pickle.UnpicklingError, match='argparse.Namespace'):
        torch.load(src, weights_only=True)


class TrainingState:
    """A class of some training code, pickled into a checkpoint."""

    def __init__(self, step):
        self.step = step


def test_a_checkpoint_with_another_global_is_refused_with_advice(tmp_path):
    """Refused by name, with what a user of the tool can do (not torch's
    add_safe_globals, which needs Python around the tool)."""
    hf = random_hf_mae('w32')
    src = str(tmp_path / 'custom.pth')
    torch.save({'model': official_layout(hf.state_dict()),
                'state': TrainingState(3)}, src)
    dst = str(tmp_path / 'plugin.pth')
    result = run_converter(src, dst)
    assert result.returncode == 1
    assert not osp.exists(dst)
    message = result.stderr
    assert f'refusing to load checkpoint {src}' in message
    assert 'TrainingState' in message
    assert 'add_safe_globals' not in message
    assert 'If you trust the file, save its weights alone' in message
    assert 'Traceback' not in message
