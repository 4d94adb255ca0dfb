"""Point 6: distributed training on CPU (gloo) with tools/dist_train.sh,
rank-0 checkpoints, resume (mid-accumulation too), and DDP gradients
equal to one process's."""
import glob
import math
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.hooks import Hook
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mae_plugin.apis import (build_runner, close_distributed,
                             init_cpu_distributed)
from mae_plugin.checkpoint import load_checkpoint_safely
from mae_plugin.engine.hooks.accumulated_gradients_hook import GRADS_KEY
from mae_plugin.registry import MODELS
from tests.conftest import tiny_mae_cfg
from tests.test_engine.test_exact_resume import interrupt_before
from tests.test_engine.utils import tiny_train_cfg
from tests.test_tools.test_train_test_visualize import (CONFIG, ROOT, TINY,
                                                        crop_size_overrides)

WORLD_SIZE, GLOBAL_BATCH = 2, 4


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def dist_train(config, *args, **env_vars):
    env = dict(os.environ, PORT=str(free_port()),
               PATH=osp.dirname(sys.executable) + os.pathsep +
               os.environ['PATH'], **env_vars)
    result = subprocess.run(
        ['bash', 'tools/dist_train.sh', config, str(WORLD_SIZE), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    return out


def echo_python(tmp_path):
    """A stand-in interpreter that prints each argument on its own line."""
    stub = tmp_path / 'python'
    stub.write_text('#!/bin/sh\nfor a in "$@"; do echo "<$a>"; done\n')
    stub.chmod(0o755)
    return str(stub)


@pytest.mark.parametrize('script,args', [
    ('dist_train.sh', ['my config.py', '2']),
    ('dist_test.sh', ['my config.py', 'my ckpt.pth', '2']),
])
def test_dist_scripts_forward_arguments_with_spaces(script, args, tmp_path):
    options = ['--cfg-options', 'a=[1, 2]', 'work_dir=a b']
    result = subprocess.run(
        ['bash', osp.join('tools', script), *args, *options], cwd=ROOT,
        env=dict(os.environ, PYTHON=echo_python(tmp_path)),
        capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    tool = osp.join(ROOT, 'tools', script.replace('dist_', '')[:-3] + '.py')
    start = lines.index(f'<{tool}>')
    assert lines[start + 1:] == [
        f'<{a}>' for a in [*args[:-1], '--launcher', 'pytorch', *options]
    ]
    assert '<--nproc_per_node=2>' in lines


def test_dist_train_sh_runs_the_venv_without_python_on_path(tmp_path):
    """A fresh Debian has python3 but no `python`: the script takes the
    repository's .venv, whatever the PATH. The scripts run from a copy
    whose .venv/bin/python is a stand-in that names itself and runs this
    interpreter, so the check needs no .venv at the repository root."""
    tools = tmp_path / 'tools'
    tools.mkdir()
    for name in ('dist_train.sh', 'dist_run.sh'):
        shutil.copy(osp.join(ROOT, 'tools', name), tools / name)
    (tools / 'train.py').symlink_to(osp.join(ROOT, 'tools', 'train.py'))
    venv_python = tmp_path / '.venv' / 'bin' / 'python'
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text(
        f'#!/bin/sh\necho "<the .venv python>"\nexec {sys.executable} "$@"\n')
    venv_python.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != 'PYTHON'}
    env.update(PATH='/usr/bin:/bin', PORT=str(free_port()))
    result = subprocess.run(
        ['bash', str(tools / 'dist_train.sh'), CONFIG, '1', '--help'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith('<the .venv python>\n'), result.stdout
    assert 'usage: train.py' in result.stdout


def test_a_cpu_run_refuses_the_nccl_backend_by_name(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    for name, value in dict(RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
                            MASTER_PORT='29500').items():
        monkeypatch.setenv(name, value)
    cfg = Config(dict(launcher='pytorch',
                      env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    with pytest.raises(ValueError, match='env_cfg.dist_cfg.backend is nccl'):
        init_cpu_distributed(cfg)
    assert not dist.is_initialized()


@pytest.mark.parametrize('cuda', [False, True])
@pytest.mark.parametrize('launcher, missing, by', [
    ('pytorch', 'RANK, WORLD_SIZE, MASTER_PORT are',
     'torchrun (tools/dist_train.sh, tools/dist_test.sh)'),
    ('slurm', 'SLURM_NODELIST is',
     'srun (tools/slurm_train.sh, tools/slurm_test.sh)'),
])
def test_a_launcher_that_did_not_start_the_run_is_named(
        monkeypatch, cuda, launcher, missing, by):
    """``--launcher pytorch`` without torchrun failed in mmengine with
    KeyError: 'RANK' (with CUDA) or in torch's rendezvous (without)."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda)
    for name in ('RANK', 'WORLD_SIZE', 'MASTER_PORT', 'SLURM_NODELIST'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('SLURM_PROCID', '0')
    monkeypatch.setenv('SLURM_NTASKS', '1')
    with pytest.raises(RuntimeError) as error:
        init_cpu_distributed(Config(dict(launcher=launcher)))
    assert str(error.value) == (
        f'--launcher {launcher} starts the processes from the environment '
        f'{by} sets, and {missing} not set: start the tool with that '
        'launcher, or run one process with --launcher none')
    assert not dist.is_initialized()
    init_cpu_distributed(Config(dict(launcher='none')))
    assert not dist.is_initialized()


def spied_config(tmp_path):
    """The demo config with :mod:`tests.test_engine.save_spy` and
    :mod:`tests.test_engine.exit_thread_spy` imported, and the folders
    where they list each rank's writes and its threads at exit."""
    config = tmp_path / 'spied_config.py'
    config.write_text(
        f'_base_ = {CONFIG!r}\n'
        "custom_imports = dict(imports=['tests.test_engine.save_spy', "
        "'tests.test_engine.exit_thread_spy'], "
        'allow_failed_imports=False)\n')
    spy_dirs = tmp_path / 'spy', tmp_path / 'threads'
    for folder in spy_dirs:
        folder.mkdir()
    return str(config), *map(str, spy_dirs)


def written_files(spy_dir):
    """``{rank: [the names its spy file lists, in order]}`` for the ranks
    that wrote one (the files a rank wrote, or its threads)."""
    files = {}
    for name in sorted(os.listdir(spy_dir)):
        with open(osp.join(spy_dir, name)) as f:
            files[int(name[len('rank'):-len('.txt')])] = f.read().split()
    return files


def test_dist_train_sh_trains_saves_and_resumes_on_cpu(photos, tmp_path):
    work = str(tmp_path / 'work')
    options = ['--work-dir', work, '--no-validate', '--cfg-options', *TINY,
               *crop_size_overrides(photos)]
    config, spy_dir, thread_dir = spied_config(tmp_path)
    out = dist_train(config, *options, 'train_cfg.max_epochs=2',
                     MAE_SAVE_SPY_DIR=spy_dir, MAE_THREAD_SPY_DIR=thread_dir)
    # the environment block is in the log file (the console leaves it out)
    logs = ''.join(open(path).read()
                   for path in glob.glob(osp.join(work, '*', '*.log')))
    assert 'Distributed launcher: pytorch' in logs
    assert 'Distributed training: True' in logs and 'GPU number: 2' in logs
    # 8 photos over 2 processes x 4 per batch: one iteration per epoch;
    # rank 0 writes every checkpoint and last_checkpoint, rank 1 nothing
    assert written_files(spy_dir) == {
        0: ['epoch_1.pth', 'last_checkpoint', 'epoch_2.pth',
            'last_checkpoint']
    }
    ckpt = torch.load(osp.join(work, 'epoch_2.pth'), weights_only=True)
    assert ckpt['meta']['epoch'] == 2 and ckpt['meta']['iter'] == 2
    assert sorted(f for f in os.listdir(work) if f.endswith('.pth')) == [
        'epoch_1.pth', 'epoch_2.pth'
    ]
    # the gloo group's threads ended before the interpreter shuts down (a
    # group that outlives it can abort a finished rank)
    threads = written_files(thread_dir)
    assert sorted(threads) == [0, 1]
    for names in threads.values():
        assert names and not any('gloo' in name for name in names), names

    out = dist_train(CONFIG, *options, 'train_cfg.max_epochs=3', '--resume')
    assert 'resumed epoch: 2, iter: 2' in out
    ckpt = torch.load(osp.join(work, 'epoch_3.pth'), weights_only=True)
    assert ckpt['meta']['epoch'] == 3 and ckpt['meta']['iter'] == 3


class MaskedLoss(nn.Module):
    """The MAE loss of a batch with given masking noise (the same masks on
    one process and on two)."""

    def __init__(self, mae):
        super().__init__()
        self.mae = mae

    def forward(self, inputs, noise):
        pred, mask = self.mae.reconstruct(inputs, noise=noise)
        return self.mae.head.loss(pred, inputs, mask)['loss']


def global_batch():
    generator = torch.Generator().manual_seed(7)
    inputs = torch.randn(GLOBAL_BATCH, 3, 32, 32, generator=generator)
    noise = torch.rand(GLOBAL_BATCH, 16, generator=generator)
    return inputs, noise


def build_mae():
    torch.manual_seed(0)
    mae = MODELS.build(tiny_mae_cfg())
    mae.init_weights()
    return mae


def gradients(module):
    return {n: p.grad.clone() for n, p in module.named_parameters()
            if p.grad is not None}


def _ddp_worker(rank, init_file, out_dir):
    import mae_plugin  # noqa: F401  (spawned process)
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=WORLD_SIZE)
    model = DistributedDataParallel(MaskedLoss(build_mae()))
    inputs, noise = global_batch()
    share = GLOBAL_BATCH // WORLD_SIZE
    part = slice(rank * share, (rank + 1) * share)
    model(inputs[part], noise[part]).backward()
    torch.save(gradients(model.module), osp.join(out_dir, f'{rank}.pth'))
    del model  # DDP owns the group too (see close_distributed)
    close_distributed()
    assert not dist.is_initialized()


def test_ddp_gradient_equals_single_process_gradient(tmp_path):
    torch.multiprocessing.spawn(
        _ddp_worker, args=(str(tmp_path / 'init'), str(tmp_path)),
        nprocs=WORLD_SIZE)
    single = MaskedLoss(build_mae())
    single(*global_batch()).backward()
    expected = gradients(single)
    assert len(expected) > 20
    for rank in range(WORLD_SIZE):
        got = torch.load(tmp_path / f'{rank}.pth', weights_only=True)
        assert got.keys() == expected.keys()
        for name, grad in expected.items():
            assert grad.abs().max() > 0 or name.endswith('bias'), name
            torch.testing.assert_close(got[name], grad, rtol=0, atol=1e-6,
                                       msg=name)


# 8 photos over 2 processes x 4 per batch: one iteration per epoch, so with
# an accumulation over 2 the checkpoint of epoch 1 falls mid-accumulation
# and the step of iteration 2 uses the gradients of both.
ACCUMULATION = ['optim_wrapper.accumulative_counts=2',
                'train_cfg.max_epochs=2', 'randomness.seed=123']


def accumulation_run(photos, work_dir, *overrides, resume=False,
                     stop_before=None):
    """The 2-process run of :data:`ACCUMULATION` as ``tools/train.py``
    builds it, stopped before iteration ``stop_before`` if given."""
    cfg = tiny_train_cfg(photos, work_dir, *ACCUMULATION, *overrides,
                         launcher='pytorch')
    cfg.resume = resume
    init_cpu_distributed(cfg)
    runner = build_runner(cfg)
    if stop_before is None:
        runner.train()
    else:
        interrupt_before(runner, stop_before)


def as_launched_rank(rank, port):
    """Give a spawned process the environment torchrun gives rank ``rank``
    of :data:`WORLD_SIZE` (the group at ``port``) and the plugin."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(WORLD_SIZE), MASTER_ADDR='127.0.0.1',
                      MASTER_PORT=str(port))
    import mae_plugin  # noqa: F401  (spawned process)


def _accumulation_worker(rank, port, photos, out_dir):
    as_launched_rank(rank, port)
    accumulation_run(photos, osp.join(out_dir, 'whole'))
    # interrupted after the checkpoint of iteration 1, then resumed
    for runner_type in ('AccumulationAwareRunner', 'Runner'):
        work_dir = osp.join(out_dir, runner_type)
        accumulation_run(photos, work_dir, f'runner_type={runner_type}',
                         stop_before=2)
        accumulation_run(photos, work_dir, f'runner_type={runner_type}',
                         resume=True)
    close_distributed()


def test_resume_mid_accumulation_continues_with_the_mean_gradients(
        photos, tmp_path):
    """Each process accumulates the gradients of its own batches (DDP
    averages them at the step only); the checkpoint taken between holds
    their mean, so the resumed run steps as the uninterrupted one. mmengine's
    runner saves rank 0's, and its resumed run steps otherwise."""
    torch.multiprocessing.spawn(
        _accumulation_worker, args=(free_port(), photos, str(tmp_path)),
        nprocs=WORLD_SIZE)

    def checkpoint(run, epoch):
        return load_checkpoint_safely(
            str(tmp_path / run / f'epoch_{epoch}.pth'))

    averaged = checkpoint('AccumulationAwareRunner', 1)[GRADS_KEY]
    rank0 = checkpoint('Runner', 1)[GRADS_KEY]
    assert averaged.keys() == rank0.keys() and len(averaged) > 20
    # the ranks' batches differ, so their mean is not rank 0's gradients
    assert max(relative_gaps(averaged, rank0)) > 0.1

    # after the step of iteration 2: the weights and AdamW's moments (the
    # first one is 0.1 x the step's gradient)
    whole = steps_results(checkpoint('whole', 2))
    resumed = steps_results(checkpoint('AccumulationAwareRunner', 2))
    assert resumed.keys() == whole.keys() and len(whole) > 60
    assert max(relative_gaps(resumed, whole)) < 1e-5
    # with rank 0's gradients the step moves otherwise
    assert max(relative_gaps(steps_results(checkpoint('Runner', 2)),
                             whole)) > 0.1


def steps_results(checkpoint):
    """``{name: tensor}`` of a checkpoint's weights and optimizer moments
    (the float tensors a step changes)."""
    results = dict(checkpoint['state_dict'])
    for index, state in checkpoint['optimizer']['state'].items():
        for name in ('exp_avg', 'exp_avg_sq'):
            results[f'{name}.{index}'] = state[name]
    return results


def relative_gaps(tensors, reference):
    """Per name, the largest difference from ``reference`` over the largest
    magnitude there."""
    return [(tensors[name] - ref).abs().max().item() /
            max(ref.abs().max().item(), 1e-30)
            for name, ref in reference.items()]


class LossTurnsNaN(Hook):
    """Makes the loss that the hooks after it see NaN at iteration
    ``at`` (priority HIGH: after the logging hook, before
    FiniteLossHook)."""

    def __init__(self, at):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.at:
            outputs['loss'] = torch.tensor(math.nan)


def _nan_on_one_rank_worker(rank, port, photos, out_dir):
    as_launched_rank(rank, port)
    # one iteration an epoch (see ACCUMULATION)
    cfg = tiny_train_cfg(photos, out_dir, 'train_cfg.max_epochs=2',
                         launcher='pytorch')
    init_cpu_distributed(cfg)
    runner = build_runner(cfg)
    if rank == 1:
        runner.register_hook(LossTurnsNaN(at=2), priority='HIGH')
    try:
        runner.train()
        outcome = 'finished'
    except FloatingPointError as error:
        outcome = str(error)
    del runner  # DDP owns the group too (see close_distributed)
    with open(osp.join(out_dir, f'rank{rank}.txt'), 'w') as f:
        f.write(outcome)
    close_distributed()


def test_a_nan_loss_on_one_rank_stops_every_rank(photos, tmp_path):
    """Rank 1's loss turns NaN at iteration 2 (the last, one per epoch):
    both ranks stop there, rank 0 before its checkpoint of epoch 2."""
    torch.multiprocessing.spawn(
        _nan_on_one_rank_worker, args=(free_port(), photos, str(tmp_path)),
        nprocs=WORLD_SIZE)
    rank0, rank1 = ((tmp_path / f'rank{r}.txt').read_text()
                    for r in range(WORLD_SIZE))
    assert rank1.startswith(
        'non-finite loss at iteration 2 (epoch 2): loss=nan.'), rank1
    assert rank0.startswith(
        'non-finite loss by iteration 2 (epoch 2) on another rank. Training '
        'stopped before saving; the last good checkpoint is '), rank0
    assert rank0.endswith('epoch_1.pth'), rank0
    assert (tmp_path / 'epoch_1.pth').exists()
    assert not (tmp_path / 'epoch_2.pth').exists()
