"""The check that decoding JPEGs on the GPU leaves memory read by queued
kernels alone (tools/analysis_tools/check_gpu_decode.py), run on the CPU,
where nothing is queued: what it counts, and when the tool fails."""
import json
import sys

import pytest
import torch
from torchvision.io import read_file

from mae_plugin.experiments import (DECODERS, PipelineSpec, check_decoder,
                                    format_decode_check,
                                    write_benchmark_images)
from ..conftest import ABSENT_CUDA
from ..test_tools.test_documented_commands import load_tool

CPU = torch.device('cpu')
SMALL = dict(rounds=3, busy_size=32, busy_kernels=2)


@pytest.fixture(scope='module')
def jpegs(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('jpegs'))
    paths = write_benchmark_images(
        folder, PipelineSpec(num_images=3, image_size=(64, 48)))
    return [read_file(p) for p in paths], paths


@pytest.mark.parametrize('name', list(DECODERS))
def test_decoders_are_clean_where_nothing_is_queued(name, jpegs):
    files, paths = jpegs
    result = check_decoder(name, files, paths, CPU, **SMALL)
    assert (result.decoder, result.rounds) == (name, 3)
    assert result.corrupted_reads == result.wrong_images == 0
    assert result.clean
    assert format_decode_check([result]) == (
        f'{name}: 0/3 rounds with a queued read overwritten, 0/3 with a '
        'wrong image')


def brightening(files, paths, device):
    """Right the first time (the reference), one level too bright in every
    round after."""
    images = DECODERS['torchvision'](files, paths, device)
    brightening.calls += 1
    return images if brightening.calls == 1 else [
        img.clamp(max=254) + 1 for img in images
    ]


def test_counts_every_round_with_a_wrong_image(jpegs, monkeypatch):
    brightening.calls = 0
    monkeypatch.setitem(DECODERS, 'brightening', brightening)
    result = check_decoder('brightening', *jpegs, CPU, **SMALL)
    assert (result.corrupted_reads, result.wrong_images) == (0, 3)
    assert not result.clean


def test_refuses_what_it_cannot_run(jpegs):
    with pytest.raises(ValueError, match=r"decoder must be one of "
                       r"\['mae_plugin', 'torchvision'\], got 'nvjpeg'"):
        check_decoder('nvjpeg', *jpegs, CPU)
    with pytest.raises(ValueError, match='rounds must be an int >= 1'):
        check_decoder('mae_plugin', *jpegs, CPU, rounds=0)
    # the tool's default, --device cuda, on a machine without that GPU
    with pytest.raises(ValueError, match='device must be cpu or one of the '
                       ".*got device\\(type='cuda', index="):
        check_decoder('mae_plugin', *jpegs, torch.device(ABSENT_CUDA))


def run_tool(argv, monkeypatch):
    tool = load_tool('tools/analysis_tools/check_gpu_decode.py')
    monkeypatch.setattr(sys, 'argv', ['check_gpu_decode.py', *argv])
    tool.main()


def test_tool_checks_both_decoders_and_fails_for_the_plugins(
        tmp_path, monkeypatch, capsys):
    out = str(tmp_path / 'check.json')
    argv = ['--device', 'cpu', '--num-images', '2', '--image-size', '64',
            '48', '--rounds', '2', '--busy-size', '32', '--busy-kernels',
            '1', '--json', out]
    run_tool(argv, monkeypatch)
    with open(out) as f:
        results = json.load(f)
    assert [r['decoder'] for r in results] == ['torchvision', 'mae_plugin']
    assert all(r['corrupted_reads'] == r['wrong_images'] == 0
               for r in results)
    assert '2 JPEGs of 64x48 decoded on cpu' in capsys.readouterr().out
    # the plugin's decoding not clean: the tool exits with 1
    brightening.calls = 0
    monkeypatch.setitem(DECODERS, 'mae_plugin', brightening)
    with pytest.raises(SystemExit) as exit_info:
        run_tool(argv, monkeypatch)
    assert exit_info.value.code == 1
