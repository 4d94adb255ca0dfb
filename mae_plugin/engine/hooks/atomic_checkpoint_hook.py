"""Checkpoints that survive a kill at any moment."""
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.runner import find_latest_checkpoint

from mae_plugin.checkpoint import drop_optimizer_state
from mae_plugin.registry import HOOKS
from mae_plugin.utils import (check_int, check_output_folder,
                              check_positive_int)
from mae_plugin.utils.files import atomic_write, remove_stale_temp_files


LOCAL_BACKENDS = (dict(backend='local'), dict(backend='atomic_local'))
# Runtime info of a ``save_optimizer='latest'`` checkpoint: the checkpoints
# that held an optimizer state when it was saved, itself last.
OPTIMIZER_KEPT_IN = 'optimizer_kept_in'


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """:class:`mmengine.hooks.CheckpointHook` that never leaves a broken
    checkpoint in place of the last good one.

    mmengine's hook deletes the oldest kept checkpoint *before* writing the
    new one and writes files in place, so a kill while saving can leave a
    truncated ``.pth`` (and, with ``max_keep_ckpts=1``, no good checkpoint
    at all). This hook

    1. writes every checkpoint to a temporary file and renames it into
       place (the ``atomic_local`` file backend) when neither
       ``backend_args`` nor ``file_client_args`` are given and ``out_dir``
       is local (no ``scheme://``; a remote one such as ``s3://`` keeps
       the backend mmengine infers from it),
    2. then points ``last_checkpoint`` at it, also atomically,
    3. and only then deletes the checkpoints beyond ``max_keep_ckpts``.
       The new checkpoint still lists them among its ``keep_ckpt_ids``,
       so if the run dies before deleting them, resuming from it does
       (mmengine's ``before_train`` trims the list to ``max_keep_ckpts``).
    4. With ``save_best``, it deletes the previous best checkpoint only
       after the new best is written (mmengine's hook deletes it first, so
       a kill or a failed write in between left no best checkpoint).
    5. When training starts, it deletes (and logs) the temporary files
       that saves killed half-way left in the work dir and a local
       ``out_dir``.
    6. ``save_optimizer='latest'`` keeps the optimizer state in the newest
       periodic checkpoint only, so that a run keeping every epoch's
       checkpoint (for probes of each) can still be resumed at the cost
       of one optimizer state on disk: once a checkpoint is saved and
       ``last_checkpoint`` points to it, the earlier ones in ``out_dir``
       that still hold an optimizer state are rewritten without their
       ``optimizer`` entry, atomically. Those are listed in the new
       checkpoint (``optimizer_kept_in`` of its runtime info), so a run
       killed before rewriting them rewrites them after its resume; a
       resume also adds the checkpoint it started from and the one
       ``last_checkpoint`` names, where they lie in ``out_dir`` (a file
       elsewhere is never rewritten). Other checkpoints saved with their
       optimizer state before the run switched to ``'latest'`` keep it.
       Best checkpoints never hold an optimizer state (as in the parent).

    ``save_best`` infers the rule of :class:`ReconstructionMetric`'s keys
    (``'reconstruction/psnr'``: greater is better, ``'.../mse'`` and
    ``'.../loss'``: less); a ``save_best`` key the evaluation does not
    report is named with the keys it does (the parent's bare
    ``KeyError``). Checkpoints are written by rank 0 only, as by the
    parent. Arguments are those of :class:`mmengine.hooks.CheckpointHook`,
    checked when the hook is built rather than at the first save; a local
    ``out_dir`` is checked for writing before training starts
    (:func:`~mae_plugin.utils.check_output_folder`).

    Args:
        interval (int): Saving period, -1 for never. Defaults to -1.
        *args: ``CheckpointHook``'s other positional arguments.
        **kwargs: ``CheckpointHook``'s other keyword arguments;
            ``save_optimizer`` also takes ``'latest'`` (point 6).

    Raises:
        TypeError: ``interval`` or ``max_keep_ckpts`` is not an int, or
            an unknown keyword
            (such as a misspelled ``max_keep_ckpts``): the parent hands
            those to ``runner.save_checkpoint``, which would fail at the
            first save, after a whole interval of training (or, with no
            periodic saves, at the end of the run).
        ValueError: ``interval`` is neither -1 nor >= 1 (0 never saves);
            ``save_optimizer`` is not True, False or ``'latest'``, or is
            ``'latest'`` with a remote ``out_dir``, ``file_client_args``
            or ``backend_args`` naming another backend than ``local`` or
            ``atomic_local`` (either is written through ``atomic_local``);
            ``filename_tmpl`` gives every step the same name (no ``{}``:
            each save would delete the checkpoint it just wrote as the
            oldest one kept) or is no template of one number.
    """
    _default_greater_keys = CheckpointHook._default_greater_keys + ['psnr']
    _default_less_keys = CheckpointHook._default_less_keys + ['mse']

    def __init__(self, interval: int = -1, *args, **kwargs) -> None:
        if interval != -1:
            check_positive_int('interval (or -1: never)', interval)
        super().__init__(interval, *args, **kwargs)
        if self.args:  # what the parent passes on to save_checkpoint
            raise TypeError(
                f'{type(self).__name__} got unexpected keyword argument(s) '
                f'{sorted(self.args)}')
        check_int('max_keep_ckpts', self.max_keep_ckpts)
        try:
            distinct = (self.filename_tmpl.format(1) !=
                        self.filename_tmpl.format(2))
        except (IndexError, KeyError, ValueError) as error:
            raise ValueError(
                f"filename_tmpl must take the step in '{{}}', got "
                f'{self.filename_tmpl!r} ({type(error).__name__}: '
                f'{error})') from None
        if not distinct:
            raise ValueError(
                f"filename_tmpl must hold '{{}}' for the step, as "
                f"'epoch_{{}}.pth' does, got {self.filename_tmpl!r}: every "
                'checkpoint would have that one name')
        if not (isinstance(self.save_optimizer, bool)
                or self.save_optimizer == 'latest'):
            raise ValueError("save_optimizer must be True, False or "
                             f"'latest', got {self.save_optimizer!r}")
        # mmengine picks the local backend for a path without '://'
        local = '://' not in str(self.out_dir or '')
        latest = self.save_optimizer == 'latest'
        if latest and not (
                local and self.file_client_args is None
                and self.backend_args in (None, *LOCAL_BACKENDS)):
            raise ValueError(
                "save_optimizer='latest' rewrites earlier checkpoints on "
                'the local disk, which needs a local out_dir and backend_args '
                f'None or one of {list(LOCAL_BACKENDS)}, got out_dir='
                f'{self.out_dir!r}, backend_args={self.backend_args!r}, '
                f'file_client_args={self.file_client_args!r}')
        # 'latest' leaves a single resumable checkpoint: never written in
        # place
        if latest or (self.backend_args is None
                      and self.file_client_args is None and local):
            self.backend_args = dict(backend='atomic_local')
        # the checkpoints that may hold an optimizer state (point 6)
        self._with_optimizer = []

    def before_train(self, runner) -> None:
        super().before_train(runner)  # sets out_dir
        if self.save_optimizer == 'latest' and runner._resume and (
                runner._has_loaded):
            latest = find_latest_checkpoint(runner.work_dir)
            self._with_optimizer = self._in_out_dir([
                *runner.message_hub.get_info(OPTIMIZER_KEPT_IN, []),
                runner._load_from or latest, latest
            ])
        if not is_main_process():
            return
        if self.backend_args == dict(backend='atomic_local'):
            # before the first interval trains: the parent's first save
            # failed after it, naming no key
            check_output_folder('default_hooks.checkpoint.out_dir',
                                self.out_dir)
        folders = {runner.work_dir}
        if self.backend_args == dict(backend='atomic_local'):
            folders.add(self.out_dir)
        for folder in sorted(folders):
            removed = remove_stale_temp_files(folder)
            if removed:
                runner.logger.warning(
                    f'removed {len(removed)} temporary file(s) that '
                    f'interrupted saves left in {folder}: {removed}')

    def _in_out_dir(self, paths: list) -> list:
        """The files of ``paths`` (None skipped) that lie in ``out_dir``,
        each once, in order."""
        kept = {}
        for path in paths:
            if path and osp.realpath(osp.dirname(path)) == osp.realpath(
                    self.out_dir):
                kept.setdefault(osp.realpath(path), path)
        return list(kept.values())

    def _save_checkpoint_with_step(self, runner, step, meta):
        outdated = self._track(runner, step)
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        drop = []
        if self.save_optimizer == 'latest':
            drop = [
                path for path in self._with_optimizer
                if osp.realpath(path) != osp.realpath(self.last_ckpt)
            ]
            self._with_optimizer = [self.last_ckpt]
            runner.message_hub.update_info(OPTIMIZER_KEPT_IN,
                                           drop + [self.last_ckpt])
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=bool(self.save_optimizer),
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if outdated:  # deleted below: later checkpoints need not list them
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        if not is_main_process():
            return
        atomic_write(self.last_ckpt.encode(),
                     osp.join(runner.work_dir, 'last_checkpoint'))
        for old_step in outdated:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(old_step))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
        for path in drop:
            if osp.isfile(path):
                drop_optimizer_state(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not self.save_best:
            return
        absent = [key for key in self.key_indicators
                  if key != 'auto' and key not in metrics]
        if absent:
            raise KeyError(
                f'save_best {absent} of default_hooks.checkpoint is not '
                f'among the metrics the evaluation reports: {list(metrics)}')
        previous = self._best_ckpt_paths()
        # The parent deletes the best checkpoints it finds recorded before
        # it writes the new ones: hide them from it.
        self._set_best_ckpt_paths(dict.fromkeys(previous))
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            saved = self._best_ckpt_paths()
            # an indicator that did not improve keeps its previous best
            self._set_best_ckpt_paths(
                {key: saved.get(key) or path
                 for key, path in previous.items()})
        if not is_main_process():
            return
        for key, path in previous.items():
            if not path or saved.get(key) in (None, path):
                continue
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # saved by DeepSpeed
                self.file_backend.rmtree(path)
            else:
                continue
            runner.logger.info(
                f'The previous best checkpoint {path} is removed')

    def _best_ckpt_paths(self) -> dict:
        """The recorded best checkpoint of each key indicator (the parent
        keeps a single one, for one indicator, under ``None`` here)."""
        if hasattr(self, 'best_ckpt_path_dict'):
            return dict(self.best_ckpt_path_dict)
        return {None: self.best_ckpt_path}

    def _set_best_ckpt_paths(self, paths: dict) -> None:
        if hasattr(self, 'best_ckpt_path_dict'):
            self.best_ckpt_path_dict.update(paths)
        else:
            self.best_ckpt_path = paths[None]

    def _track(self, runner, step: int) -> list:
        """Add ``step`` to the kept checkpoints and return the steps that
        fall out of ``max_keep_ckpts``; they are deleted after saving.

        The message hub, hence the checkpoint about to be saved, records
        the outdated steps followed by the kept ones."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids
                                        and self.keep_ckpt_ids[-1] == step):
            return []
        outdated = []
        while len(self.keep_ckpt_ids) >= self.max_keep_ckpts:
            outdated.append(self.keep_ckpt_ids.popleft())
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids',
                                       outdated + list(self.keep_ckpt_ids))
        return outdated
