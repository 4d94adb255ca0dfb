"""``kill -9`` during training steps and during saves, then ``--resume``:
the resumed run ends bitwise equal to the uninterrupted one, leaves no
temporary file and needs no hand fix (issue 18).

The child stops at a known point and waits to be killed
(:mod:`tests.test_reliability.kill_child`), so every kill lands where the
test says. The random-point check kills 2 runs in the default suite;
``MAE_KILL_RUNS=20`` makes it the 20-run check (about 20 minutes on 2
cores), ``MAE_KILL_SEED`` picks other points.
"""
import glob
import json
import os
import os.path as osp
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import checkout_env
from tests.test_engine.utils import assert_checkpoints_bitwise_equal
from tests.test_tools.test_train_test_visualize import (CONFIG, ROOT, TINY,
                                                        crop_size_overrides)

# 8 photos x 2 repeats / 4 per batch = 4 iterations per epoch, 3 epochs, a
# checkpoint every 3 iterations (mid-epoch), the last 2 kept.
ITERATIONS, INTERVAL = 12, 3
SAVES = list(range(INTERVAL, ITERATIONS + 1, INTERVAL))


def options(data_root):
    return TINY + crop_size_overrides(data_root) + [
        'train_dataloader.dataset.times=2', 'train_cfg.max_epochs=3',
        'default_hooks.checkpoint.by_epoch=False',
        f'default_hooks.checkpoint.interval={INTERVAL}',
        'default_hooks.checkpoint.max_keep_ckpts=2', 'randomness.seed=123'
    ]


def start(work_dir, opts, resume=False, pause=None):
    spec = dict(
        config=CONFIG,
        work_dir=work_dir,
        options=opts,
        resume=resume,
        pause=pause)
    return subprocess.Popen([
        sys.executable, '-m', 'tests.test_reliability.kill_child',
        json.dumps(spec)
    ],
                            cwd=ROOT,
                            env=checkout_env(),
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def train(work_dir, data_root, resume=False):
    process = start(work_dir, options(data_root), resume)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err.decode()[-3000:]


def kill_at(work_dir, data_root, kind, iteration, opts=None):
    """Train (resuming what is there) until the pause point, then
    ``kill -9``; return the temporary files left behind. ``opts``
    replaces the run's ``key=value`` options."""
    ready = osp.join(osp.dirname(work_dir), f'ready_{kind}_{iteration}')
    process = start(
        work_dir, opts or options(data_root), resume=True,
        pause=[kind, iteration, ready])
    deadline = time.monotonic() + 300
    while not osp.exists(ready):  # the child creates it, then sleeps
        assert process.poll() is None, process.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    process.stderr.close()
    os.remove(ready)
    return temporary_files(work_dir)


def temporary_files(work_dir):
    return sorted(glob.glob(osp.join(work_dir, '.*.tmp')))


def assert_bitwise_equal(reference, work_dir):
    final = f'iter_{ITERATIONS}.pth'
    assert torch.load(osp.join(work_dir, final),
                      weights_only=True)['meta']['iter'] == ITERATIONS
    assert_checkpoints_bitwise_equal(osp.join(reference, final),
                                     osp.join(work_dir, final))


@pytest.fixture(scope='module')
def reference(photos, tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('kill') / 'reference')
    train(work_dir, photos)
    return work_dir


def test_killed_during_a_save_and_a_step_resumes_bitwise(
        reference, photos, tmp_path):
    work_dir = str(tmp_path / 'run')
    # while iter_6.pth is written: its temporary file stays behind
    left = kill_at(work_dir, photos, 'save', 6)
    assert [osp.basename(p).startswith('.iter_6.pth.') for p in left] == [True]
    # then in the middle of an epoch, after the restart removed it
    assert kill_at(work_dir, photos, 'step', 8) == []
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().endswith('iter_6.pth')
    train(work_dir, photos, resume=True)
    assert_bitwise_equal(reference, work_dir)
    assert temporary_files(work_dir) == []


def test_many_kills_at_random_points_resume_bitwise(reference, photos,
                                                    tmp_path):
    rng = random.Random(int(os.environ.get('MAE_KILL_SEED', 0)))
    runs = int(os.environ.get('MAE_KILL_RUNS', 2))
    assert runs >= 1, f'MAE_KILL_RUNS must be at least 1, got {runs}'
    points = []
    for run in range(runs):
        kind = rng.choice(['step', 'save', 'pointer'])
        iteration = rng.randint(
            1, ITERATIONS) if kind == 'step' else (rng.choice(SAVES))
        work_dir = str(tmp_path / f'run_{run}')
        left = kill_at(work_dir, photos, kind, iteration)
        train(work_dir, photos, resume=True)
        assert_bitwise_equal(reference, work_dir)
        assert temporary_files(work_dir) == []
        points.append((kind, iteration, len(left)))
    print(f'{len(points)} runs killed and resumed bitwise equal, no '
          f'temporary file left: {points}')
