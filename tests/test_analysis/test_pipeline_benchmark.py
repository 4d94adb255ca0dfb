import json
import math
import os.path as osp
import runpy
import sys

import cv2
import pytest

from mae_plugin.analysis import (PIPELINES, PipelineSpec,
                                 decode_factor_shares, format_pipeline_report,
                                 run_pipeline_benchmark,
                                 write_benchmark_images)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = PipelineSpec(num_images=4, image_size=(64, 48), scale=32)


def test_every_pipeline_runs_on_the_written_jpegs(tmp_path):
    paths = write_benchmark_images(str(tmp_path), TINY)
    shapes = [cv2.imread(path).shape for path in paths]
    assert shapes == [(48, 64, 3)] * 3 + [(64, 48, 3)]  # one portrait
    threads = cv2.getNumThreads()
    results = run_pipeline_benchmark(
        paths, TINY, warmup=0, rounds=1, log=lambda _: None)
    assert cv2.getNumThreads() == threads  # restored
    assert list(results) == list(PIPELINES)
    for r in results.values():
        assert len(r.images_per_s) == 1
        assert math.isfinite(r.median) and r.median > 0
    report = format_pipeline_report(TINY, results, {1: 0.25, 2: 0.75})
    for name in PIPELINES:
        assert f'| {name} |' in report
        if name != 'mae_plugin':
            assert f'- mae_plugin / {name}: ' in report
    assert 'decoded its crops at: full size 25%, 1/2 75%' in report


def test_decode_factor_shares():
    """ImageNet-sized photos never hold a crop of twice 224 pixels; larger
    ones mostly do."""
    spec = PipelineSpec()
    assert decode_factor_shares([(500, 375), (375, 500)], spec, 200) == {
        1: 1.0, 2: 0.0, 4: 0.0, 8: 0.0}
    shares = decode_factor_shares([(1024, 768)], spec, 200)
    assert sum(shares.values()) == pytest.approx(1)
    assert shares[2] > 0.5 and shares[4] == shares[8] == 0


def test_unknown_pipeline_is_refused():
    with pytest.raises(ValueError, match="unknown pipelines \\['dali'\\]"):
        run_pipeline_benchmark([], TINY, pipelines=['dali'])


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
    assert '- mae_plugin / mmpretrain_cv2: ' in capsys.readouterr().out
    with open(tmp_path / 'out.json') as f:
        saved = json.load(f)
    assert saved['spec']['scale'] == 32
    assert set(saved['pipelines']) == {'mmpretrain_cv2', 'mae_plugin'}
    assert len(saved['pipelines']['mae_plugin']['images_per_s']) == 1
    assert len(list((tmp_path / 'jpg').iterdir())) == 2
