"""Point 7: a kill while a checkpoint is written never leaves a truncated
file where the last good checkpoint was."""
import glob
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.hooks import Hook

from mae_plugin.checkpoint import GRADS_KEY
from mae_plugin.engine import AtomicCheckpointHook, AtomicLocalBackend
from mae_plugin.engine.hooks import atomic_checkpoint_hook
from mae_plugin.utils import atomic_write
from mae_plugin.utils.files import remove_stale_temp_files
from tests.test_engine.utils import checkpoint_every_iteration_runner
from tests.test_tools.test_train_test_visualize import ROOT

SIZE = 4 << 20  # bytes per version

# Rewrites one file forever, alternating two complete versions.
WRITER = f'''
import sys
from mae_plugin.utils import atomic_write
versions = [bytes([v]) * {SIZE} for v in (1, 2)]
i = 0
while True:
    atomic_write(versions[i % 2], sys.argv[1])
    i += 1
'''


def test_kill_during_writes_leaves_a_complete_file(tmp_path):
    target = tmp_path / 'ckpt.pth'

    def state():
        """The target's inode (a new one at every replace), None while
        missing, and the temporary files there."""
        inode = target.stat().st_ino if target.exists() else None
        return inode, set(glob.glob(str(tmp_path / '.ckpt.pth.*.tmp')))

    for _ in range(2):
        # the previous writer's file and the temporary file its kill left
        # behind: waiting on those, the second round killed its writer
        # before it had written anything
        before, stale = state()
        writer = subprocess.Popen(
            [sys.executable, '-c', WRITER, str(target)], cwd=ROOT)
        deadline = time.monotonic() + 300
        # kill once this writer has replaced the file and is writing again
        while True:
            inode, temporary = state()
            if inode != before and temporary - stale:
                break
            assert writer.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        writer.send_signal(signal.SIGKILL)
        assert writer.wait() == -signal.SIGKILL
        data = target.read_bytes()
        assert len(data) == SIZE and data in (b'\1' * SIZE, b'\2' * SIZE)


def test_backend_is_selected_by_name_and_writes_text(tmp_path):
    backend = get_file_backend(
        str(tmp_path), backend_args=dict(backend='atomic_local'))
    assert isinstance(backend, AtomicLocalBackend)
    backend.put_text('épreuve', tmp_path / 'sub' / 'a.txt')
    assert (tmp_path / 'sub' / 'a.txt').read_text('utf-8') == 'épreuve'
    assert not glob.glob(str(tmp_path / 'sub' / '.*.tmp'))


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_written_files_get_the_mode_of_a_plain_write(tmp_path, umask_022):
    """mkstemp's files are 0o600; a checkpoint must be as readable as one
    written by open(): 0o666 less the umask when new, the replaced file's
    mode otherwise."""
    new = tmp_path / 'new.pth'
    atomic_write(b'1', new)
    assert oct(os.stat(new).st_mode & 0o777) == oct(0o644)
    private = tmp_path / 'private.pth'
    private.write_bytes(b'0')
    private.chmod(0o600)
    atomic_write(b'1', private)
    assert oct(os.stat(private).st_mode & 0o777) == oct(0o600)
    assert private.read_bytes() == b'1'


@pytest.mark.parametrize('failure', [KeyboardInterrupt, OSError])
def test_a_write_that_fails_keeps_the_old_file_and_leaves_nothing(
        tmp_path, monkeypatch, failure):
    """Interrupted (Ctrl-C) or failing (disk full) before the rename: the
    previous version stays whole and the temporary file is removed."""
    path = tmp_path / 'last_checkpoint'
    path.write_bytes(b'old')

    def fail(fd):
        raise failure

    monkeypatch.setattr(os, 'fsync', fail)
    with pytest.raises(failure):
        atomic_write(b'new', path)
    assert os.listdir(tmp_path) == ['last_checkpoint']
    assert path.read_bytes() == b'old'
    assert remove_stale_temp_files(str(tmp_path / 'missing')) == []


class FailSaving(Hook):
    """A save that fails (disk full, kill) at iteration ``at``."""

    def __init__(self, at):
        self.at = at

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint['meta']['iter'] == self.at:
            raise OSError('No space left on device')


def test_failed_save_keeps_the_previous_checkpoint(photos, tmp_path):
    """mmengine's CheckpointHook deletes the oldest kept checkpoint before
    writing the new one; with max_keep_ckpts=1 a failed save would leave
    none. Ours deletes only after the new one is on disk."""
    work = str(tmp_path / 'work')
    runner = checkpoint_every_iteration_runner(photos, work, max_epochs=2)
    runner.register_hook(FailSaving(at=3))
    with pytest.raises(OSError, match='No space left'):
        runner.train()
    assert sorted(osp.basename(p)
                  for p in glob.glob(osp.join(work, '*.pth'))) == [
                      'iter_2.pth'
                  ]
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work, 'iter_2.pth')
    ckpt = torch.load(osp.join(work, 'iter_2.pth'), weights_only=True)
    assert ckpt['meta']['iter'] == 2
    # iter_1, deleted after iter_2 was saved, is still listed in it
    assert ckpt['message_hub']['runtime_info']['keep_ckpt_ids'] == [1, 2]


def test_resume_deletes_what_a_dead_run_left(photos, tmp_path,
                                             monkeypatch):
    """A run that dies after saving iter_2 but before deleting iter_1
    leaves both; the resumed run deletes iter_1."""
    def die(self, filepath):
        raise KeyboardInterrupt(f'killed before removing {filepath}')

    work = str(tmp_path / 'work')
    with monkeypatch.context() as patch:
        patch.setattr(AtomicLocalBackend, 'remove', die)
        with pytest.raises(KeyboardInterrupt, match='iter_1.pth'):
            checkpoint_every_iteration_runner(photos, work, 1).train()
    assert sorted(map(osp.basename, glob.glob(osp.join(
        work, '*.pth')))) == ['iter_1.pth', 'iter_2.pth']

    runner = checkpoint_every_iteration_runner(photos, work, 2,
                                               'resume=True')
    runner.train()
    assert runner.iter == 4
    assert sorted(map(osp.basename, glob.glob(osp.join(
        work, '*.pth')))) == ['iter_4.pth']


def trained_with_save_best(photos, work, save_best, *overrides):
    """A tiny run of one epoch whose checkpoint hook keeps the best
    checkpoint of ``save_best``; the runner and that hook."""
    runner = checkpoint_every_iteration_runner(
        photos, work, 1, f'default_hooks.checkpoint.save_best={save_best}',
        *overrides)
    runner.train()
    return runner, next(h for h in runner.hooks
                        if isinstance(h, AtomicCheckpointHook))


def best_on_disk(work):
    return sorted(map(osp.basename, glob.glob(osp.join(work, 'best_*.pth'))))


def test_a_new_best_checkpoint_is_written_before_the_old_one_goes(
        photos, tmp_path, monkeypatch):
    """mmengine's hook deletes the previous best checkpoint before writing
    the new one; a kill in between left none."""
    work = str(tmp_path / 'work')
    runner, hook = trained_with_save_best(photos, work, 'reconstruction/psnr')
    on_disk_at_removal = []
    remove = AtomicLocalBackend.remove

    def record_and_remove(self, filepath):
        if osp.basename(filepath).startswith('best_'):
            on_disk_at_removal.append((osp.basename(filepath),
                                       best_on_disk(work)))
        remove(self, filepath)

    monkeypatch.setattr(AtomicLocalBackend, 'remove', record_and_remove)
    best = 'best_reconstruction_psnr_iter_{}.pth'.format
    first = runner.iter
    hook.after_val_epoch(runner, {'reconstruction/psnr': 20.})
    assert best_on_disk(work) == [best(first)]
    runner.train_loop._iter += 1  # the next validation, one iteration on
    hook.after_val_epoch(runner, {'reconstruction/psnr': 21.})
    # both were on disk when the old one was deleted
    assert on_disk_at_removal == [(best(first),
                                   [best(first), best(first + 1)])]
    assert best_on_disk(work) == [best(first + 1)]
    runner.train_loop._iter += 1
    hook.after_val_epoch(runner, {'reconstruction/psnr': 19.})  # not better
    assert best_on_disk(work) == [best(first + 1)]
    assert hook.best_ckpt_path == osp.join(work, best(first + 1))
    assert runner.message_hub.get_info('best_score') == 21.


def test_best_checkpoints_of_several_indicators(photos, tmp_path):
    """Each indicator keeps its own best (the rule inferred: PSNR
    greater, MSE less); only the one that improved is replaced."""
    work = str(tmp_path / 'work')
    runner, hook = trained_with_save_best(
        photos, work, '[reconstruction/psnr,reconstruction/mse]')
    first = runner.iter
    hook.after_val_epoch(runner, {
        'reconstruction/psnr': 20.,
        'reconstruction/mse': 600.
    })
    runner.train_loop._iter += 1
    # PSNR better, MSE worse
    hook.after_val_epoch(runner, {
        'reconstruction/psnr': 21.,
        'reconstruction/mse': 700.
    })
    assert best_on_disk(work) == [
        f'best_reconstruction_mse_iter_{first}.pth',
        f'best_reconstruction_psnr_iter_{first + 1}.pth'
    ]
    assert hook.best_ckpt_path_dict == {
        'reconstruction/psnr':
        osp.join(work, f'best_reconstruction_psnr_iter_{first + 1}.pth'),
        'reconstruction/mse':
        osp.join(work, f'best_reconstruction_mse_iter_{first}.pth')
    }


def test_a_save_best_key_the_evaluation_lacks_is_named_with_its_keys(
        photos, tmp_path):
    """mmengine raised a bare ``KeyError: 'loss'`` at the first
    validation."""
    runner, hook = trained_with_save_best(photos, str(tmp_path), 'loss')
    with pytest.raises(KeyError) as error:
        hook.after_val_epoch(runner, {'reconstruction/psnr': 20.,
                                      'reconstruction/loss': 0.5})
    assert error.value.args[0] == (
        "save_best ['loss'] of default_hooks.checkpoint is not among the "
        "metrics the evaluation reports: ['reconstruction/psnr', "
        "'reconstruction/loss']")


def test_an_out_dir_that_cannot_be_made_is_named_before_training(
        photos, tmp_path):
    """The first save failed, a whole interval after the start, with a
    bare ``FileNotFoundError`` of the folder."""
    blocker = tmp_path / 'a_file'
    blocker.write_text('')
    runner = checkpoint_every_iteration_runner(
        photos, str(tmp_path / 'work'), 1,
        f'default_hooks.checkpoint.out_dir={blocker}/ckpts')
    with pytest.raises(NotADirectoryError) as error:
        runner.train()
    assert str(error.value) == (
        f'default_hooks.checkpoint.out_dir must be a path in a folder, got '
        f'{blocker}/ckpts/work: {blocker} is a file, not a folder')
    assert runner.iter == 0


@pytest.mark.parametrize('out_dir', [None, '/data/ckpts'])
def test_atomic_backend_for_a_local_out_dir(out_dir):
    hook = AtomicCheckpointHook(interval=1, out_dir=out_dir)
    assert isinstance(
        get_file_backend(out_dir or '/work', backend_args=hook.backend_args),
        AtomicLocalBackend)


def test_remote_out_dir_keeps_the_inferred_backend():
    """mmengine infers the backend of a remote out_dir from its prefix;
    forcing the local one would write to a local 's3:/bucket' folder."""
    hook = AtomicCheckpointHook(interval=1, out_dir='s3://bucket/ckpts')
    assert hook.backend_args is None


def holding_optimizer(work):
    """The checkpoints in ``work`` that hold an optimizer state, and all
    of them, by name."""
    names = sorted(map(osp.basename, glob.glob(osp.join(work, 'iter_*.pth'))),
                   key=lambda name: int(name[5:-4]))
    return [
        name for name in names
        if 'optimizer' in torch.load(osp.join(work, name), weights_only=False)
    ], names


LATEST = ('default_hooks.checkpoint.max_keep_ckpts=-1',
          'default_hooks.checkpoint.save_optimizer=latest')


def iters(*steps):
    return [f'iter_{i}.pth' for i in steps]


def test_optimizer_state_in_the_latest_checkpoint_only(photos, tmp_path):
    """``save_optimizer='latest'``: every checkpoint kept, the newest with
    the optimizer state (so the run resumes), the others stripped of it
    and otherwise unchanged; after a resume the checkpoint it resumed
    from is stripped once a newer one is saved."""
    work = str(tmp_path / 'work')
    saved = {}

    class Keep(Hook):
        """Keep what each checkpoint held when it was written."""

        def before_save_checkpoint(self, runner, checkpoint):
            saved[checkpoint['meta']['iter']] = {
                key: value.clone()  # on CPU, the live parameters
                for key, value in checkpoint['state_dict'].items()
            }

    runner = checkpoint_every_iteration_runner(photos, work, 2, *LATEST)
    runner.register_hook(Keep())
    runner.train()
    assert holding_optimizer(work) == (iters(4), iters(1, 2, 3, 4))
    first = torch.load(osp.join(work, 'iter_1.pth'), weights_only=False)
    assert {'meta', 'state_dict', 'message_hub',
            'param_schedulers'} <= first.keys()
    assert first['meta']['iter'] == 1
    for key, value in saved[1].items():
        assert torch.equal(first['state_dict'][key], value), key

    runner = checkpoint_every_iteration_runner(photos, work, 3, *LATEST,
                                               'resume=True')
    runner.train()
    assert runner.iter == 6
    assert holding_optimizer(work) == (iters(6), iters(1, 2, 3, 4, 5, 6))


def test_latest_optimizer_strips_the_accumulated_gradients_too(
        photos, tmp_path):
    """With ``save_optimizer='latest'`` and an accumulation of 3, the
    checkpoints of iterations 1 and 2 are taken mid-accumulation and
    written with the gradients accumulated so far, which only resume the
    optimizer with its state: once a newer checkpoint is saved, the
    rewrite drops them with the optimizer state (it kept them, one more
    copy of the weights in every older checkpoint)."""
    work = str(tmp_path / 'work')
    written = {}

    class Keep(Hook):
        """Keep which entries each checkpoint was written with."""
        priority = 'LOWEST'  # after AccumulatedGradientsHook adds its own

        def before_save_checkpoint(self, runner, checkpoint):
            written[checkpoint['meta']['iter']] = set(checkpoint)

    runner = checkpoint_every_iteration_runner(
        photos, work, 2, *LATEST, 'optim_wrapper.accumulative_counts=3')
    runner.register_hook(Keep())
    runner.train()
    assert {i for i, keys in written.items() if GRADS_KEY in keys} == {1, 2}
    assert holding_optimizer(work) == (iters(4), iters(1, 2, 3, 4))
    for name in iters(1, 2, 3, 4):
        kept = torch.load(osp.join(work, name), weights_only=False)
        assert GRADS_KEY not in kept, name


def test_latest_optimizer_after_a_kill_before_the_rewrite(
        photos, tmp_path, monkeypatch):
    """Killed after the new checkpoint and ``last_checkpoint`` were
    written but before the previous one lost its optimizer state: the
    new checkpoint lists it, so the resumed run strips it too."""
    work = str(tmp_path / 'work')

    def die(path):
        # the new checkpoint is already the one a resume takes
        with open(osp.join(work, 'last_checkpoint')) as f:
            assert f.read() == osp.join(work, 'iter_2.pth')
        raise KeyboardInterrupt(f'killed before rewriting {path}')

    with monkeypatch.context() as patch:
        patch.setattr(atomic_checkpoint_hook, 'drop_optimizer_state', die)
        with pytest.raises(KeyboardInterrupt, match='iter_1.pth'):
            checkpoint_every_iteration_runner(photos, work, 1,
                                              *LATEST).train()
    assert holding_optimizer(work) == (iters(1, 2), iters(1, 2))
    checkpoint_every_iteration_runner(photos, work, 2, *LATEST,
                                      'resume=True').train()
    assert holding_optimizer(work) == (iters(4), iters(1, 2, 3, 4))


def test_latest_optimizer_with_a_resume_from_elsewhere(photos, tmp_path):
    """A resume from another run's checkpoint leaves that file as it is,
    and strips the work dir's own latest checkpoint."""
    work, other = str(tmp_path / 'work'), str(tmp_path / 'other')
    checkpoint_every_iteration_runner(photos, work, 1, *LATEST).train()
    checkpoint_every_iteration_runner(photos, other, 2, *LATEST).train()
    before = {name: open(osp.join(other, name), 'rb').read()
              for name in os.listdir(other) if name.endswith('.pth')}
    checkpoint_every_iteration_runner(
        photos, work, 3, *LATEST, 'resume=True',
        f'load_from={osp.join(other, "iter_4.pth")}').train()
    assert holding_optimizer(work) == (iters(6), iters(1, 2, 5, 6))
    assert holding_optimizer(other) == (iters(4), iters(1, 2, 3, 4))
    assert before == {name: open(osp.join(other, name), 'rb').read()
                      for name in before}


def test_latest_optimizer_after_a_switch_from_true(photos, tmp_path):
    """Resumed with ``'latest'`` from a checkpoint saved with every
    optimizer state: the resumed file and those the run writes lose it;
    earlier ones (iter_1 here) keep theirs (no record names them)."""
    work = str(tmp_path / 'work')
    checkpoint_every_iteration_runner(
        photos, work, 2, 'default_hooks.checkpoint.max_keep_ckpts=-1').train()
    assert holding_optimizer(work) == (iters(1, 2, 3, 4), iters(1, 2, 3, 4))
    checkpoint_every_iteration_runner(
        photos, work, 3, *LATEST, 'resume=True',
        f'load_from={osp.join(work, "iter_2.pth")}').train()
    assert holding_optimizer(work) == (iters(1, 6), iters(1, 2, 3, 4, 5, 6))


def test_latest_optimizer_survives_a_new_best(photos, tmp_path):
    """A new best checkpoint makes the parent save the newest periodic
    checkpoint again, at the same step: it keeps its optimizer state;
    the best checkpoint holds none."""
    work = str(tmp_path / 'work')
    runner, hook = trained_with_save_best(
        photos, work, 'reconstruction/psnr', *LATEST)
    assert holding_optimizer(work) == (iters(2), iters(1, 2))
    hook.after_val_epoch(runner, {'reconstruction/psnr': 20.})
    assert best_on_disk(work) == ['best_reconstruction_psnr_iter_2.pth']
    assert holding_optimizer(work) == (iters(2), iters(1, 2))
    assert 'optimizer' not in torch.load(
        osp.join(work, 'best_reconstruction_psnr_iter_2.pth'),
        weights_only=False)


@pytest.mark.parametrize('value', ['yes', 'last', 1, None])
def test_save_optimizer_values(value):
    with pytest.raises(ValueError,
                       match=r"save_optimizer must be True, False or "
                       fr"'latest', got {value!r}"):
        AtomicCheckpointHook(interval=1, save_optimizer=value)


@pytest.mark.parametrize('where, got', [
    (dict(out_dir='s3://bucket/ckpts'),
     "out_dir='s3://bucket/ckpts', backend_args=None, "
     'file_client_args=None'),
    (dict(backend_args=dict(backend='petrel')),
     "out_dir=None, backend_args={'backend': 'petrel'}, "
     'file_client_args=None'),
    (dict(file_client_args=dict(backend='disk')),
     "out_dir=None, backend_args=None, file_client_args={'backend': "
     "'disk'}"),
])
def test_latest_optimizer_needs_the_local_disk(where, got):
    """The earlier checkpoints are rewritten with local file operations,
    which would miss (or hit another file than) a remote one; the local
    backends are written atomically (with a single resumable checkpoint,
    a kill in an in-place write would leave none)."""
    with pytest.raises(ValueError) as error:
        AtomicCheckpointHook(interval=1, save_optimizer='latest', **where)
    assert str(error.value) == (
        "save_optimizer='latest' rewrites earlier checkpoints on the local "
        "disk, which needs a local out_dir and backend_args None or one of "
        "[{'backend': 'local'}, {'backend': 'atomic_local'}], got " + got)
    for backend in ('local', 'atomic_local'):
        hook = AtomicCheckpointHook(interval=1, save_optimizer='latest',
                                    backend_args=dict(backend=backend))
        assert hook.backend_args == dict(backend='atomic_local')
