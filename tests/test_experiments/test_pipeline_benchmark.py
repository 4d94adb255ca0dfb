import json
import math
import os.path as osp
import runpy
import sys

import cv2
import numpy as np
import pytest

from mae_plugin.experiments import (PIPELINES, PipelineSpec,
                                    decode_factor_shares,
                                    format_pipeline_report,
                                    run_pipeline_benchmark,
                                    write_benchmark_images)
from mae_plugin.experiments import pipeline_benchmark
from mae_plugin.experiments.pipeline_benchmark import enlargements
from ..conftest import ROOT

TINY = PipelineSpec(num_images=4, image_size=(64, 48), scale=32)


def generated_photos(monkeypatch, sizes):
    """Cut the benchmark's images from generated photos of the given
    ``(h, w)`` sizes instead of the packaged ones, whose sizes belong to
    the installed scikit-image and scikit-learn."""
    rng = np.random.default_rng(0)
    photos = [(f'photo_{i}', rng.integers(0, 256, (h, w, 3), np.uint8))
              for i, (h, w) in enumerate(sizes)]
    monkeypatch.setattr(pipeline_benchmark, 'packaged_photos',
                        lambda: photos)


def test_every_pipeline_runs_on_the_written_jpegs(tmp_path):
    paths = write_benchmark_images(str(tmp_path), TINY)
    shapes = [cv2.imread(path).shape for path in paths]
    assert shapes == [(48, 64, 3)] * 3 + [(64, 48, 3)]  # one portrait
    threads = cv2.getNumThreads()
    results, factor_counts = run_pipeline_benchmark(
        paths, TINY, warmup=0, rounds=1, log=lambda _: None)
    assert cv2.getNumThreads() == threads  # restored
    assert list(results) == list(PIPELINES)
    for r in results.values():
        assert len(r.images_per_s) == 1
        assert math.isfinite(r.median) and r.median > 0
    # no 64 x 48 image holds a crop of twice 32 pixels both ways
    assert factor_counts == {1: 4}
    report = format_pipeline_report(TINY, results, {1: 1, 2: 3},
                                    enlargements(TINY))
    for name in PIPELINES:
        assert f'| {name} |' in report
        if name != 'mae_plugin':
            assert f'- mae_plugin / {name}: ' in report
    assert '(every fourth 48x64) cut from the packaged photos (none ' \
        'enlarged)' in report
    assert 'decoded the 4 crops of its timed passes at: full size 25%, ' \
        '1/2 75%' in report
    large = PipelineSpec(num_images=4, image_size=(1024, 768))
    report = format_pipeline_report(large, results, {2: 4},
                                    [2.0, 2.56, 0.9, 1.5])
    assert 'cut from the packaged photos (3 enlarged from smaller ' \
        'photos, by up to 2.6x)' in report


def test_decode_factors_of_the_timed_passes_are_recorded(tmp_path):
    """Whole-image crops of 64 x 48 and 48 x 64 JPEGs to 16 pixels
    decode at 1/2; the shape check and the warm-up pass are not counted,
    the 2 timed passes over 5 images are."""
    spec = PipelineSpec(num_images=5, image_size=(64, 48), scale=16,
                        crop_ratio_range=(1.0, 1.0))
    paths = write_benchmark_images(str(tmp_path), spec)
    _, factor_counts = run_pipeline_benchmark(
        paths, spec, ['mmpretrain_cv2', 'mae_plugin'], warmup=1, rounds=2,
        log=lambda _: None)
    assert factor_counts == {2: 10}
    _, factor_counts = run_pipeline_benchmark(
        paths, spec, ['mmpretrain_cv2'], rounds=1, log=lambda _: None)
    assert factor_counts == {}


def test_decode_factor_shares():
    assert decode_factor_shares({4: 1, 1: 6, 2: 1}) == {
        1: 0.75, 2: 0.125, 4: 0.125}


def test_enlargements_name_the_enlarged_images(monkeypatch):
    """Image pixels per photo pixel of the largest cut with the image's
    aspect ratio, every fourth image portrait: a 500x375 image from a
    451x300 photo is enlarged by 375 / 300 = 1.25, the portrait 375x500
    one from a 640x427 photo by 500 / 427; a 1411x1411 photo holds both
    sizes."""
    generated_photos(monkeypatch, [(300, 451), (1411, 1411), (640, 640),
                                   (427, 640)])
    spec = PipelineSpec(num_images=8)
    assert enlargements(spec) == pytest.approx([
        375 / 300, 500 / 1411, 500 / 640, 500 / 427,
        375 / 300, 500 / 1411, 500 / 640, 500 / 427])
    spec = PipelineSpec(num_images=4, image_size=(1024, 768))
    assert enlargements(spec) == pytest.approx(
        [768 / 300, 1024 / 1411, 1024 / 640, 1024 / 427])
    assert max(enlargements(TINY)) < 1


def test_unknown_pipeline_is_refused():
    with pytest.raises(ValueError,
                       match="pipelines must be among .*, got \\['dali'\\]"):
        run_pipeline_benchmark([], TINY, pipelines=['dali'])


@pytest.mark.parametrize('kwargs, error, message', [
    (dict(paths=[]), ValueError, 'paths must name at least one image'),
    (dict(rounds=0), ValueError, 'rounds must be an int >= 1'),
    (dict(rounds=1.5), TypeError, 'rounds must be an int'),
    (dict(warmup=-1), ValueError, 'warmup must be an int >= 0'),
])
def test_bad_counts_are_named(kwargs, error, message):
    kwargs = {'paths': ['a.jpg'], 'spec': TINY, **kwargs}
    with pytest.raises(error, match=message):
        run_pipeline_benchmark(**kwargs)


@pytest.mark.parametrize('kwargs, message', [
    (dict(num_images=0), 'num_images must be an int >= 1, got 0'),
    # a division by zero in photo_cuts before
    (dict(image_size=(64, 0)), r'image_size must be an int or a pair '
     r'\(H, W\) of ints >= 1, got \(64, 0\)'),
    (dict(image_size=(64, 48, 3)), r'image_size must be an int or a pair '
     r'\(H, W\) of ints >= 1, got \(64, 48, 3\) \(tuple\)'),
    # written at quality 100 by OpenCV and reported as 101 before
    (dict(quality=101), r'quality must be an int in \[0, 100\], got 101'),
])
def test_spec_names_a_bad_field(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        PipelineSpec(**kwargs)


def test_spec_takes_one_side_for_squares():
    assert PipelineSpec(image_size=64).image_size == (64, 64)


@pytest.mark.parametrize('tool, flag, value, message', [
    ('benchmark_pipeline.py', '--num-images', '0',
     'argument --num-images: num_images must be an int >= 1, got 0'),
    ('benchmark_pipeline.py', '--rounds', '0',
     'argument --rounds: rounds must be an int >= 1, got 0'),
    ('benchmark_pipeline.py', '--warmup', '-1',
     'argument --warmup: warmup must be an int >= 0, got -1'),
    ('benchmark_pipeline.py', '--rounds', 'two',
     "argument --rounds: rounds must be int, got 'two'"),
    ('benchmark_pipeline.py', '--quality', '101',
     'argument --quality: quality must be an int in [0, 100], got 101'),
    ('compare_crops.py', '--rounds', '0',
     'argument --rounds: rounds must be an int >= 1, got 0'),
    ('compare_crops.py', '--crops-per-image', '0',
     'argument --crops-per-image: crops_per_image must be an int >= 1, '
     'got 0'),
])
def test_tool_names_a_bad_flag(tool, flag, value, message, monkeypatch,
                               capsys):
    monkeypatch.setattr(sys, 'argv', [tool, flag, value])
    with pytest.raises(SystemExit):
        runpy.run_path(
            osp.join(ROOT, 'tools', 'analysis_tools', tool),
            run_name='__main__')
    assert message in capsys.readouterr().err


def test_tool_writes_the_report_and_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, 'argv', [
        'benchmark_pipeline.py', '--num-images', '2', '--image-size', '64',
        '48', '--scale', '32', '--warmup', '0', '--rounds', '1',
        '--pipelines', 'mmpretrain_cv2', 'mae_plugin', '--image-dir',
        str(tmp_path / 'jpg'), '--json',
        str(tmp_path / 'out.json')
    ])
    runpy.run_path(
        osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark_pipeline.py'),
        run_name='__main__')
    out = capsys.readouterr().out
    assert '- mae_plugin / mmpretrain_cv2: ' in out
    assert 'decoded the 2 crops of its timed passes at: full size 100%' \
        in out
    with open(tmp_path / 'out.json') as f:
        saved = json.load(f)
    assert saved['spec']['scale'] == 32
    assert saved['decode_factor_counts'] == {'1': 2}
    assert saved['decode_factor_shares'] == {'1': 1.0}
    assert set(saved['pipelines']) == {'mmpretrain_cv2', 'mae_plugin'}
    assert len(saved['pipelines']['mae_plugin']['images_per_s']) == 1
    assert len(list((tmp_path / 'jpg').iterdir())) == 2
