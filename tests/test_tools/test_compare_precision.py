"""tools/analysis_tools/compare_precision.py on the tiny demo model: three
runs, bf16 through the CPU autocast wrapper, and the gaps."""
import json
import math
import os
import os.path as osp

import cv2

from .test_train_test_visualize import photos  # noqa: F401 (fixture)
from ..conftest import ROOT
from .test_train_test_visualize import (CONFIG, TINY, crop_size_overrides,
                                        run, run_tool)


def test_three_runs_and_the_bf16_gap_below_the_seed_gap(
        photos, tmp_path):  # noqa: F811
    out = str(tmp_path / 'report')
    printed = run('tools/analysis_tools/compare_precision.py', CONFIG,
                  '--work-dir', str(tmp_path / 'work'), '--out', out,
                  '--cfg-options', *TINY, *crop_size_overrides(photos),
                  'train_cfg.max_epochs=3')
    with open(out + '.json') as f:
        result = json.load(f)
    runs = result['runs']
    assert list(runs) == ['fp32', 'bf16', 'fp32, other seed']
    assert [r['optim_wrapper'] for r in runs.values()] == [
        'OptimWrapper', 'AutocastOptimWrapper', 'OptimWrapper'
    ]
    # 8 photos, batch 4, 3 epochs
    assert all(len(r['losses']) == 6 for r in runs.values())
    assert all(math.isfinite(v) for r in runs.values() for v in r['losses'])
    # Same seed: same weights, data and masks, so bf16 starts within its
    # rounding of fp32; another seed starts elsewhere.
    fp32, bf16 = runs['fp32']['losses'], runs['bf16']['losses']
    assert fp32 != bf16 and math.isclose(fp32[0], bf16[0], rel_tol=1e-2)
    assert 0 < result['bf16_gap'] < result['seed_gap']
    assert f"{result['bf16_gap']:.5f}" in printed
    with open(out + '.md') as f:
        assert '| bf16 | AutocastOptimWrapper | 6 |' in f.read()
    assert cv2.imread(out + '.png') is not None
    for name in ('fp32', 'bf16', 'fp32_other_seed'):
        assert osp.isdir(osp.join(tmp_path, 'work', name))


def test_an_out_or_work_dir_it_cannot_write_is_refused_before_the_runs(
        tmp_path):
    """--out under a file was written after the three runs, failing with
    makedirs' "File exists" and losing them."""
    photo = tmp_path / 'a.jpg'
    photo.write_bytes(b'jpeg')
    (tmp_path / 'report.png').mkdir()
    for args, message in (
            (['--out', f'{photo}/report'],
             f'argument --out: out must be a path in a folder, got '
             f'{photo}/report.json: {photo} is a file, not a folder'),
            (['--out', str(tmp_path / 'report')],
             f'argument --out: out must be a file to write, got the folder '
             f'{tmp_path}/report.png'),
            (['--work-dir', str(photo)],
             f'argument --work-dir: work_dir must be a folder, got the file '
             f'{photo}')):
        result = run_tool('tools/analysis_tools/compare_precision.py',
                          CONFIG, '--work-dir', str(tmp_path / 'work'),
                          *args)
        assert result.returncode == 2
        assert result.stderr.splitlines()[-1] == (
            f'compare_precision.py: error: {message}')
    assert sorted(os.listdir(tmp_path)) == ['a.jpg', 'report.png']


def test_run_from_another_folder_names_the_relative_data_root(tmp_path):
    """As tools/train.py: the demo config's relative data_root was a bare
    "No such file or directory: 'data/demo_photos/'" from the dataset,
    once the first run's runner was built; then a traceback ending in this
    message, the check sitting in the library call that trains."""
    work_dir = tmp_path / 'work'
    result = run_tool(
        osp.join(ROOT, 'tools', 'analysis_tools', 'compare_precision.py'),
        CONFIG, '--work-dir', str(work_dir), cwd=tmp_path)
    assert result.returncode == 1
    key = 'train_dataloader.dataset.dataset.data_root'
    assert result.stderr == (
        f"compare_precision: {key}='data/demo_photos/' is no folder: a "
        f'relative data_root is read from the working directory, '
        f'{tmp_path}. Run the tool from the folder the config expects (the '
        'repository root for the configs of this project) or give an '
        f'absolute path: --cfg-options {key}=/path/to/data '
        'custom_hooks.0.dataset.data_root=/path/to/data\n')
    assert not work_dir.exists()
