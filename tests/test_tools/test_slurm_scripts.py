"""tools/slurm_train.sh and tools/slurm_test.sh, dry run: the srun command
they would run, argument by argument; the process count of
tools/dist_train.sh and tools/dist_test.sh."""
import os
import subprocess
import sys

import pytest

from ..conftest import ROOT


def dry_run(script, *args, **env):
    result = subprocess.run(['bash', f'tools/{script}', *args],
                            cwd=ROOT,
                            env={
                                **os.environ, 'SLURM_DRY_RUN': '1',
                                'PYTHON': 'python3',
                                **env
                            },
                            capture_output=True,
                            text=True,
                            check=True)
    return result.stdout.splitlines()


SRUN = ['srun', '-p', 'gpu', '--job-name=mae']


def test_slurm_train_defaults_to_eight_gpus_per_node():
    assert dry_run('slurm_train.sh', 'gpu', 'mae', 'my config.py',
                   'work_dirs/mae') == SRUN + [
                       '--gres=gpu:8', '--ntasks=8', '--ntasks-per-node=8',
                       '--cpus-per-task=5', '--kill-on-bad-exit=1',
                       'python3', '-u', f'{ROOT}/tools/train.py',
                       'my config.py', '--work-dir', 'work_dirs/mae',
                       '--launcher', 'slurm'
                   ]


@pytest.mark.parametrize('script,args,tool', [
    ('slurm_train.sh', ['c.py', 'work', '--amp', '--resume'],
     ['train.py', 'c.py', '--work-dir', 'work', '--amp', '--resume']),
    ('slurm_test.sh', ['c.py', 'epoch 3.pth', '--work-dir', 'w'],
     ['test.py', 'c.py', 'epoch 3.pth', '--work-dir', 'w']),
])
def test_sizes_srun_options_and_tool_options_pass_through(script, args, tool):
    command = dry_run(script, 'gpu', 'mae', *args, GPUS='16',
                      GPUS_PER_NODE='4', CPUS_PER_TASK='2',
                      SRUN_ARGS='--qos high --time 1:00:00')
    script_at = command.index(f'{ROOT}/tools/{tool[0]}')
    assert command[:script_at] == SRUN + [
        '--gres=gpu:4', '--ntasks=16', '--ntasks-per-node=4',
        '--cpus-per-task=2', '--kill-on-bad-exit=1', '--qos', 'high',
        '--time', '1:00:00', 'python3', '-u'
    ]
    assert command[script_at + 1:] == tool[1:] + ['--launcher', 'slurm']


@pytest.mark.parametrize('script, args, got', [
    ('dist_train.sh', ['c.py'], ''),
    ('dist_train.sh', ['c.py', '--amp'], '--amp'),
    ('dist_test.sh', ['c.py', 'epoch_1.pth', '0'], '0'),
])
def test_dist_scripts_name_a_process_count_that_is_not_one(script, args,
                                                           got):
    """torch.distributed.run answered "Unsupported nproc_per_node value"
    or a bare AssertionError (0), with its traceback."""
    result = subprocess.run(['bash', f'tools/{script}', *args],
                            cwd=ROOT,
                            env={**os.environ, 'PYTHON': sys.executable},
                            capture_output=True,
                            text=True)
    assert result.returncode == 2
    assert result.stderr == (
        f"GPUS must be an int >= 1 (or auto), got '{got}' (usage: "
        'tools/dist_train.sh CONFIG GPUS [options], tools/dist_test.sh '
        'CONFIG CHECKPOINT GPUS [options])\n')
