"""The end-to-end pretraining benchmark: the runner of tools/train.py on a
JPEG folder, with the step alone of the same run."""
import gc
import glob
import json
import multiprocessing
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from mae_plugin.engine.loops import PerSampleSeededDataset
from mae_plugin.experiments import PipelineSpec, write_benchmark_images
from mae_plugin.experiments.train_benchmark import (benchmark_loader,
                                                    benchmark_training,
                                                    format_loader_report,
                                                    format_training_report)
from ..conftest import ROOT, checkout_env

IMAGENET = osp.join(ROOT, 'configs/mae/'
                    'mae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py')
# The shipped ViT-B ImageNet config made small (ViT-S, 64-pixel crops,
# patch 16).
TINY = {
    'model.backbone.arch': 'deit-small',
    'model.backbone.img_size': 64,
    'model.neck.img_size': 64,
    'train_dataloader.dataset.pipeline.0.scale': 64,
    'model.neck.in_channels': 384,
    'model.neck.embed_dims': 32,
    'model.neck.num_layers': 1,
    'model.neck.num_heads': 2,
}


@pytest.fixture(scope='module')
def jpegs(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('jpegs'))
    write_benchmark_images(folder, PipelineSpec(num_images=12))
    return folder


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    """The ImageNet config with the paper's AdamW in fp32: its fp16
    ``AmpOptimWrapper`` needs a GPU."""
    path = tmp_path_factory.mktemp('config') / 'imagenet_fp32.py'
    path.write_text(
        f'_base_ = [{IMAGENET!r}]\n'
        'optim_wrapper = dict(_delete_=True, type=\'OptimWrapper\', '
        'optimizer=dict(type=\'AdamW\', lr=1.5e-4, betas=(0.9, 0.95), '
        'weight_decay=0.05))\n')
    return str(path)


def test_times_every_iteration_after_the_warmup(config, jpegs, tmp_path):
    # 12 images in batches of 4: 3 iterations an epoch, 6 in 2 epochs
    result = benchmark_training(config, jpegs, str(tmp_path), batch_size=4,
                                num_workers=1, epochs=2, warmup=1,
                                step_repeats=2, cfg_options=TINY)
    assert result.iters_per_epoch == 3
    assert len(result.iter_times) == len(result.data_times) == 5
    # an iteration's time includes its wait for data
    assert np.all(result.data_times >= 0)
    assert np.all(result.data_times <= result.iter_times)
    assert result.images_per_s == pytest.approx(
        4 / np.mean(result.iter_times))
    assert result.step_images_per_s == pytest.approx(4 / result.step_s)
    assert np.isfinite(result.epoch_start_data_s)
    # the first iteration (left out by the warm-up) waited for its batch
    # at least as long as the workers' start took
    assert result.first_iter_s > 0
    # no checkpoint is written, only the runner's log
    written = [f for _, _, files in os.walk(tmp_path) for f in files]
    assert written and not any(f.endswith('.pth') for f in written)
    report = format_training_report('cfg.py', result)
    assert f'{result.images_per_s:,.1f} img/s' in report
    assert f'{result.step_images_per_s:,.1f} img/s' in report
    assert f'compilation): {result.first_iter_s:.1f} s' in report


def test_profiles_the_iterations_after_the_warmup(config, jpegs, tmp_path):
    # 3 iterations: 1 warm-up, 1 profiled, 1 timed
    result = benchmark_training(config, jpegs, str(tmp_path), batch_size=4,
                                num_workers=0, epochs=1, warmup=1,
                                step_repeats=1, cfg_options=TINY,
                                profile_iters=1)
    assert len(result.iter_times) == 1
    # torch's table of the step's operators by their own CPU time, over
    # one profiler step
    assert 'Self CPU' in result.profile and 'aten::mm' in result.profile
    steps = [line for line in result.profile.splitlines()
             if 'ProfilerStep*' in line]
    assert len(steps) == 1 and steps[0].split()[-1] == '1'
    assert result.profile in format_training_report('cfg.py', result)
    with pytest.raises(ValueError, match='after warmup=1 and profile_iters=2'):
        benchmark_training(config, jpegs, str(tmp_path), batch_size=4,
                           num_workers=0, epochs=1, warmup=1,
                           cfg_options=TINY, profile_iters=2)


def test_refuses_what_cannot_be_timed(config, jpegs, tmp_path):
    with pytest.raises(FileNotFoundError, match=(
            "^data_root must be a folder of images, got '/no/such', which "
            'is no folder$')):
        benchmark_training(config, '/no/such', str(tmp_path), 4, 0)
    with pytest.raises(ValueError, match='num_workers must be'):
        benchmark_training(config, jpegs, str(tmp_path), 4, -1)
    # a negative warm-up would have timed the last iteration alone
    with pytest.raises(ValueError, match='warmup must be an int >= 0'):
        benchmark_training(config, jpegs, str(tmp_path), batch_size=4,
                           num_workers=0, warmup=-1, cfg_options=TINY)
    with pytest.raises(ValueError, match='nothing to time after warmup=6'):
        benchmark_training(config, jpegs, str(tmp_path), batch_size=4,
                           num_workers=0, epochs=2, warmup=6,
                           cfg_options=TINY)


def test_the_hooks_data_root_is_named_before_the_runner(jpegs, tmp_path,
                                                       monkeypatch):
    """The demo config's reconstruction hook reads its own relative
    data_root: run from another folder, the benchmark died in that
    dataset with a bare "No such file or directory", as tools/train.py
    did before it checked."""
    monkeypatch.chdir(tmp_path)
    demo = osp.join(ROOT, 'configs', 'mae',
                    'mae_vit-tiny-p8_1xb32-coslr_demo-photos.py')
    key = 'custom_hooks.0.dataset.data_root'
    with pytest.raises(FileNotFoundError, match=(
            f"^{key}='data/demo_photos/' is no folder: a relative data_root "
            'is read from the working directory')):
        benchmark_loader(demo, jpegs, str(tmp_path / 'work'), batch_size=4,
                         num_workers=0, epochs=1, warmup=0)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('flag, value, rule', [('--warmup', '-1', '>= 0'),
                                               ('--epochs', '0', '>= 1'),
                                               ('--batch-size', '-4', '>= 1'),
                                               ('--make-jpegs', '0', '>= 1')])
def test_tool_names_a_bad_count(flag, value, rule, config, tmp_path):
    name = flag[2:].replace('-', '_')
    message = f'argument {flag}: {name} must be an int {rule}, got {value}'
    args = {'--batch-size': '4', flag: value}
    result = subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark_train.py', config,
         '--data-root', str(tmp_path / 'jpegs'),
         *[text for pair in args.items() for text in pair]],
        cwd=ROOT, env=checkout_env(),
        capture_output=True, text=True)
    assert result.returncode == 2
    assert message in result.stderr
    assert not osp.exists(tmp_path / 'jpegs')


def test_tool_refuses_its_outputs_before_the_jpegs_and_the_runs(
        config, tmp_path):
    """--json under a file was written only after every run, and failed
    with makedirs' "File exists"; --data-root under a file with
    --make-jpegs failed in os.makedirs with a traceback."""
    photo = tmp_path / 'a.jpg'
    photo.write_bytes(b'jpeg')
    for args, message in (
            (['--data-root', str(tmp_path / 'jpegs'), '--json',
              f'{photo}/out.json'],
             f'argument --json: json must be a path in a folder, got '
             f'{photo}/out.json: {photo} is a file, not a folder'),
            (['--data-root', f'{photo}/jpegs', '--json',
              str(tmp_path / 'out.json')],
             f'with --make-jpegs: --data-root must be a path in a folder, '
             f'got {photo}/jpegs: {photo} is a file, not a folder')):
        result = subprocess.run(
            [sys.executable, 'tools/analysis_tools/benchmark_train.py',
             config, '--make-jpegs', '8', '--batch-size', '4', *args],
            cwd=ROOT, env=checkout_env(),
            capture_output=True, text=True)
        assert result.returncode == 2
        assert result.stderr.splitlines()[-1] == (
            f'benchmark_train.py: error: {message}')
    assert sorted(os.listdir(tmp_path)) == ['a.jpg']


def test_tool_writes_the_jpegs_and_one_run_per_worker_count(config,
                                                           tmp_path):
    data, out = str(tmp_path / 'jpegs'), str(tmp_path / 'out.json')
    result = subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark_train.py', config,
         '--data-root', data, '--make-jpegs', '8', '--batch-size', '4',
         '--workers', '0', '1', '--warmup', '1', '--work-dir',
         str(tmp_path / 'work'), '--json', out, '--cfg-options',
         *[f'{k}={v}' for k, v in TINY.items()]],
        cwd=ROOT, env=checkout_env(),
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(os.listdir(data)) == 8
    with open(out) as f:
        runs = json.load(f)
    assert [r['num_workers'] for r in runs] == [0, 1]
    assert all(len(r['iter_times']) == 3 for r in runs)
    assert result.stdout.count('step alone:') == 2


def test_loader_alone_times_every_batch_after_the_warmup(config, jpegs,
                                                        tmp_path):
    # 12 images in batches of 4: 3 batches an epoch, 6 in 2 epochs
    result = benchmark_loader(config, jpegs, str(tmp_path), batch_size=4,
                              num_workers=1, epochs=2, warmup=1,
                              cfg_options=TINY)
    assert result.iters_per_epoch == 3 and len(result.waits) == 5
    assert np.all(result.waits > 0)
    assert result.images_per_s == pytest.approx(4 / np.mean(result.waits))
    assert result.first_batch_s > 0 and np.isfinite(result.epoch_start_s)
    # the second epoch's first wait is among the timed ones
    assert result.epoch_start_s == result.waits[2]
    assert 0 < result.preprocess_s < np.inf
    assert result.preprocess_images_per_s == pytest.approx(
        4 / result.preprocess_s)
    report = format_loader_report('cfg.py', result)
    assert f'{result.images_per_s:,.1f} img/s' in report
    assert (f'data preprocessor alone: {result.preprocess_s:.4f} s/batch'
            in report)
    with pytest.raises(ValueError, match='nothing to time after warmup=3'):
        benchmark_loader(config, jpegs, str(tmp_path), batch_size=4,
                         num_workers=0, epochs=1, warmup=3, cfg_options=TINY)


def test_counts_full_batches_only(config, jpegs, tmp_path):
    """The rates count batch_size images a batch: a config that keeps
    its last, partial batch (12 images in batches of 5 give 5, 5, 2) is
    timed on its full ones."""
    partial = tmp_path / 'keep_last.py'
    partial.write_text(f'_base_ = [{config!r}]\n'
                       'train_dataloader = dict(drop_last=False)\n')
    result = benchmark_loader(str(partial), jpegs, str(tmp_path),
                              batch_size=5, num_workers=0, epochs=2,
                              warmup=1, cfg_options=TINY)
    assert result.iters_per_epoch == 2 and len(result.waits) == 3
    with pytest.raises(ValueError, match='drop_last must stay True'):
        benchmark_loader(config, jpegs, str(tmp_path), batch_size=5,
                         num_workers=0, cfg_options={
                             **TINY, 'train_dataloader.drop_last': False})


def test_a_wrapped_dataset_gives_way_to_the_one_it_wraps(config, jpegs,
                                                         tmp_path):
    """A config whose dataset is a wrapper (the demo's RepeatDataset) is
    timed on the wrapped dataset's images, each once an epoch: the
    benchmark's data_root went to the wrapper, which has no such
    argument."""
    wrapped = tmp_path / 'repeated.py'
    wrapped.write_text(
        f'_base_ = [{config!r}]\n'
        'train_dataloader = dict(dataset=dict(_delete_=True, '
        "type='RepeatDataset', times=3, "
        'dataset={{_base_.train_dataloader.dataset}}))\n')
    options = {
        key.replace('dataset.pipeline', 'dataset.dataset.pipeline'): value
        for key, value in TINY.items()
    }
    result = benchmark_loader(str(wrapped), jpegs, str(tmp_path),
                              batch_size=4, num_workers=0, epochs=2,
                              warmup=1, cfg_options=options)
    assert result.iters_per_epoch == 3  # 12 images in 4s, not 36


def test_tool_runs_the_loader_alone(config, jpegs, tmp_path):
    out = str(tmp_path / 'out.json')
    command = [
        sys.executable, 'tools/analysis_tools/benchmark_train.py', config,
        '--data-root', jpegs, '--batch-size', '4', '--workers', '0',
        '--warmup', '1', '--loader-only', '--json', out
    ]
    # no --work-dir: the logs go to a new folder under TMPDIR, named
    result = subprocess.run(
        command, cwd=ROOT,
        env=checkout_env(TMPDIR=str(tmp_path)),
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    (logs, ) = glob.glob(str(tmp_path / 'benchmark_train_*'))
    assert f'runner logs in {logs}\n' in result.stdout
    assert os.listdir(logs) == ['workers0']
    with open(out) as f:
        (run, ) = json.load(f)
    assert len(run['waits']) == 5 and run['num_workers'] == 0
    assert run['images_per_s'] == pytest.approx(4 / np.mean(run['waits']))
    assert run['preprocess_images_per_s'] == pytest.approx(
        4 / run['preprocess_s'])
    assert 'data loader alone' in result.stdout
    assert 'step alone' not in result.stdout
    refused = subprocess.run(
        command + ['--profile', '1'], cwd=ROOT,
        env=checkout_env(), capture_output=True,
        text=True)
    assert refused.returncode == 2
    assert '--profile and --amp need the model step' in refused.stderr


@pytest.mark.parametrize('loader_only', [False, True])
def test_step_and_preprocessor_are_timed_on_the_last_batch(
        loader_only, config, jpegs, tmp_path, monkeypatch):
    """No new pass of the loader after the run (its workers would load
    batches on the CPU while the step is timed): 12 images, 2 epochs,
    every image loaded twice, no more."""
    loads = []
    load = PerSampleSeededDataset.__getitem__

    def counted(self, item):
        loads.append(item)
        return load(self, item)

    monkeypatch.setattr(PerSampleSeededDataset, '__getitem__', counted)
    kwargs = dict(
        batch_size=4, num_workers=0, epochs=2, warmup=1, cfg_options=TINY)
    if loader_only:
        benchmark_loader(config, jpegs, str(tmp_path), **kwargs)
    else:
        benchmark_training(
            config, jpegs, str(tmp_path), step_repeats=1, **kwargs)
    assert len(loads) == 2 * 12


@pytest.mark.parametrize('loader_only', [False, True])
def test_persistent_workers_end_with_the_run(loader_only, config, jpegs,
                                             tmp_path):
    """The runner sits in reference cycles: its loader's persistent
    workers would outlive the run until a garbage collection (through the
    next worker count of benchmark_train.py). The collector is off, so
    that only the run itself can end them."""
    before = set(multiprocessing.active_children())
    kwargs = dict(
        batch_size=4, num_workers=2, epochs=2, warmup=1, cfg_options=TINY)
    gc.disable()
    try:
        if loader_only:
            benchmark_loader(config, jpegs, str(tmp_path), **kwargs)
        else:
            benchmark_training(
                config, jpegs, str(tmp_path), step_repeats=1, **kwargs)
        left = set(multiprocessing.active_children()) - before
    finally:
        gc.enable()
    assert not left
