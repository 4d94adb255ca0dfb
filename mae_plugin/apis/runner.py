"""Turn the command-line options of tools/train.py and tools/test.py into a
runner config, the way mmpretrain's tools do, and build the runner.

Holds the options the two tools share, the work dir and the checkpoint
``--resume`` continues from, :func:`train_config`, :func:`test_config` and
:func:`build_runner`. The configs' checks are in
:mod:`~mae_plugin.apis.config_checks`, those of the files a run reads and
writes in :mod:`~mae_plugin.apis.inputs`, the process group of a
distributed run in :mod:`~mae_plugin.apis.distributed`.
"""
import argparse
import copy
import logging
import os
import os.path as osp
from typing import Optional, Union

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mae_plugin.utils import (CfgOptionsAction, argparse_type,
                              check_config_path, check_int,
                              check_output_folder, load_config,
                              merge_cfg_options)
from .config_checks import check_test_config, check_train_config
from .inputs import check_test_output, checked_checkpoint

# Scales the lr by world_size x batch_size x accumulative_counts.
RUNNER_TYPE = 'mae_plugin.AccumulationAwareRunner'


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """Options that tools/train.py and tools/test.py share."""
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config settings, key=value (e.g. '
        'train_cfg.max_epochs=10 model.backbone.masking.mask_ratio=0.9)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--local_rank',
        '--local-rank',
        type=argparse_type(check_int, 'local_rank', minimum=0),
        default=0)
    parser.add_argument(
        '--allow-partial-checkpoint',
        action='store_true',
        help='with --resume, load_from or in test.py: load a checkpoint '
        'whose tensors do not all fit the model (the rest keep their '
        'initialisation)')


def parse_runner_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, exporting ``LOCAL_RANK`` for launchers that pass
    ``--local-rank``."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def _work_dir(cfg: Config, config_file: Optional[str],
              work_dir: Optional[str]) -> str:
    """``work_dir``, else the config's, else ``work_dirs/<config name>``
    (needs a config file); refused where no folder can be made or written
    there (:func:`~mae_plugin.utils.check_output_folder`): where it is a
    file or under one (mmengine's ``makedirs`` failed with
    ``FileExistsError`` once the runner was being built), or empty (the
    run was written into the working directory)."""
    if work_dir is None:
        work_dir = cfg.get('work_dir')
    if work_dir is None and config_file is None:
        raise ValueError('work_dir must be given for a config without a '
                         'file (and without a work_dir of its own)')
    if work_dir is None:
        work_dir = osp.join('./work_dirs',
                            osp.splitext(osp.basename(config_file))[0])
    return check_output_folder('work_dir', work_dir)


def _last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint path ``work_dir``'s ``last_checkpoint`` holds, as
    mmengine's checkpoint hook wrote it; None without that file."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        return f.read().strip()


def _warn_of_an_earlier_run(work_dir: str) -> None:
    """Warn where ``work_dir`` holds the checkpoints of an earlier run (a
    ``last_checkpoint``) that a run without ``resume`` does not continue:
    mmengine starts anew and writes its checkpoints over those of the same
    names (``epoch_1.pth``, ...)."""
    latest = _last_checkpoint(work_dir)
    if latest is None:
        return
    _warn(f'{work_dir} holds the checkpoints of an earlier run (the latest '
          f'{latest}): this run starts anew and writes over those of the '
          'same names; --resume continues that run instead')


def _latest_of_the_work_dir(cfg: Config) -> Optional[str]:
    """The checkpoint that ``--resume`` alone continues from where mmengine
    would take another, else None (mmengine's choice stands); warns where
    the work dir holds no checkpoint (the run starts anew: a mistyped work
    dir, or the first launch of a job that always resumes).

    mmengine's ``last_checkpoint`` holds the absolute path it wrote: in a
    work dir that was copied or moved it names the original folder's
    checkpoint, so the run resumed that folder's latest state (which may
    have trained on since) or failed where it is gone. The work dir's own
    checkpoint of that name is taken instead, with a warning. Left to
    mmengine: no pointer, one naming the work dir's own file, a URL, and
    checkpoints written to an ``out_dir`` of their own.

    Raises:
        FileNotFoundError: The pointer names a file that does not exist,
            and the work dir holds none of its name.
    """
    work_dir = cfg.work_dir
    named = _last_checkpoint(work_dir)
    hook = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    if hook.get('out_dir'):
        return None
    if named is None:
        _warn(f'resume: {work_dir} holds no checkpoint to resume (no '
              'last_checkpoint): this run starts from the beginning')
        return None
    pointer = osp.join(work_dir, 'last_checkpoint')
    here = osp.join(work_dir, osp.basename(named))
    if '://' in named or (osp.isfile(named) and osp.isfile(here)
                          and osp.samefile(named, here)):
        return None
    if osp.isfile(here):
        _warn(f'{pointer} names {named}, outside this work dir (copied or '
              f'moved?): resuming {here}, the work dir\'s own')
        return here
    if not osp.exists(named):
        raise FileNotFoundError(
            f'resume: {pointer} names {named}, which does not exist, and '
            f'{work_dir} holds no {osp.basename(named)}')
    return None


def _config_resumes(cfg: Config) -> bool:
    """Whether the config sets mmengine's own ``resume=True`` (in the
    file or by ``--cfg-options``), which :func:`train_config` takes as
    ``--resume`` alone, or, with a ``load_from``, as ``--resume`` of that
    checkpoint (mmengine's meaning of the pair).

    Raises:
        TypeError: ``resume`` is not a bool: mmengine took a path there as
            True and resumed the work dir's latest checkpoint.
    """
    resume = cfg.get('resume', False)
    if not isinstance(resume, bool):
        raise TypeError(
            f'resume must be True or False, got {resume!r} '
            f'({type(resume).__name__}); a checkpoint to resume is '
            'load_from=PATH with resume=True, or --resume PATH')
    return resume


def _warn(message: str) -> None:
    print_log(message, logger='current', level=logging.WARNING)


def train_config(config_file: str,
                 work_dir: Optional[str] = None,
                 resume: Optional[str] = None,
                 amp: bool = False,
                 auto_scale_lr: bool = False,
                 no_validate: bool = False,
                 launcher: str = 'none',
                 cfg_options: Optional[dict] = None,
                 allow_partial_checkpoint: bool = False) -> Config:
    """The config a training run uses.

    Args:
        config_file (str | os.PathLike): Config path.
        work_dir (str | os.PathLike, optional): Output folder; defaults
            to the config's ``work_dir`` or ``work_dirs/<config name>``.
        resume (str | os.PathLike, optional): ``'auto'`` resumes from the
            latest checkpoint of the work dir (the one its
            ``last_checkpoint`` names, or the work dir's own of that name
            when that names another folder's), or, where the work dir has
            none yet, starts from the config's ``load_from`` when it has
            one (its weights, as a run without ``resume``); a path resumes
            from that checkpoint. Without it, the config's own
            ``resume=True`` (mmengine's key, in the file or by
            ``--cfg-options``) stands for ``'auto'``, or, with a
            ``load_from``, for that path (mmengine's meaning of the
            pair); without either, a work dir with the checkpoints of an
            earlier run is warned of (the new run writes over them).
        amp (bool): Mixed precision: switch a plain ``OptimWrapper`` to
            mmengine's ``AmpOptimWrapper`` (fp16 with dynamic loss scaling,
            or the config's ``dtype``) when CUDA is available, otherwise to
            :class:`~mae_plugin.engine.AutocastOptimWrapper` (bf16 autocast
            on the CPU); another wrapper (such as the configs' own
            ``AmpOptimWrapper``) is kept, with a warning.
        auto_scale_lr (bool): Scale the lr by the effective batch
            (processes x ``train_dataloader.batch_size`` x
            ``optim_wrapper.accumulative_counts``) over
            ``auto_scale_lr.base_batch_size``.
        no_validate (bool): Drop the validation loop.
        launcher (str): ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        cfg_options (dict, optional): Overrides, ``key.sub=value`` style,
            merged by :func:`~mae_plugin.utils.merge_cfg_options`.
        allow_partial_checkpoint (bool): Resume, or start from
            ``load_from``, with a checkpoint whose tensors do not all fit
            the model; by default a
            :class:`~mae_plugin.engine.CheckpointFitHook` refuses it
            (mmengine loads what fits, and a checkpoint of another layout
            would leave the whole model at its initialisation, exit status
            0).

    Returns:
        Config: ready for :func:`build_runner`; its ``runner_type`` is
        :class:`~mae_plugin.engine.AccumulationAwareRunner` unless the
        config names another runner.

    Raises:
        ValueError: The lr is scaled, gradients are accumulated and the
            config names a runner that would leave the accumulation out;
            a scheduler ends where it begins or before, or an epoch-based
            scheduler that ends with the training starts at or after
            ``train_cfg.max_epochs``; ``train_cfg``'s ``max_epochs``,
            ``max_iters`` or ``val_interval``,
            ``optim_wrapper.accumulative_counts`` or a dataloader's
            ``batch_size`` is below 1, its ``num_workers`` below 0, an
            optimizer or scheduler number out of its range, or an
            ``optim_wrapper.optimizer`` key its class takes no argument of;
            ``randomness.seed`` is outside [0, 2**32 - 1], or a neck or
            head takes another width than the ViT backbone gives (these by
            :func:`~mae_plugin.apis.config_checks.check_train_config`);
            an option's first key is a misspelling of the
            config's or the runner's; the work dir is empty
            (``--work-dir ''``); or ``config_file`` has no config suffix
            (``.py``, ``.json``, ``.yaml``, ``.yml``; a checkpoint's gets a
            hint).
        NotADirectoryError: The work dir, or a folder above it, is a file.
        PermissionError: No file can be created in the work dir.
        TypeError: One of those is not an int, or not a number, or a
            switch of a dataloader or of its sampler (``drop_last``,
            ``shuffle``, ...) is not a bool, or the config's ``resume`` is
            not a bool (a path there was taken as True by mmengine).
        FileNotFoundError: ``resume`` (or the ``load_from`` that the
            config's ``resume=True`` resumes) is a local path to no file,
            or with ``'auto'``, ``last_checkpoint`` names a missing file that
            the work dir does not hold either, or the ``load_from`` the
            run starts from is no file.
        IsADirectoryError: ``resume`` (or one of those ``load_from``) is a
            folder.
        TypeError: A path is neither a ``str`` nor an ``os.PathLike``.
    """
    config_file = check_config_path('config_file', config_file)
    cfg = load_config(config_file)
    if cfg_options:
        merge_cfg_options(cfg, cfg_options)
    if no_validate:  # before the checks: its evaluator is not built
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    check_train_config(cfg)
    cfg.launcher = launcher
    cfg.work_dir = _work_dir(cfg, config_file, work_dir)

    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if amp and wrapper == 'OptimWrapper':
        if torch.cuda.is_available():
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        else:  # mmengine's AmpOptimWrapper needs a GPU
            _refuse_cpu_autocast_of_a_detector(cfg, config_file)
            cfg.optim_wrapper.type = 'mae_plugin.AutocastOptimWrapper'
    elif amp:  # as mmdetection's tools/train.py, which warns of it
        _warn(f'--amp changes a plain OptimWrapper only: the config\'s '
              f'optim_wrapper.type={wrapper!r} runs as it is')
    name, alone = 'resume', 'resume alone'
    if resume is None and _config_resumes(cfg):
        resume = cfg.get('load_from') or 'auto'
        name, alone = 'load_from', 'resume=True without load_from'
    if resume is None:
        _warn_of_an_earlier_run(cfg.work_dir)
    elif (resume == 'auto' and cfg.get('load_from')
          and _last_checkpoint(cfg.work_dir) is None):
        # the first launch of a job that --resume relaunches: mmengine
        # would drop load_from, find nothing to resume and start afresh
        cfg.resume = False
        print_log(f'{cfg.work_dir} holds no checkpoint to resume: starting '
                  f'from load_from {cfg.load_from}', logger='current')
    else:
        cfg.resume = True
        if resume == 'auto':
            cfg.load_from = _latest_of_the_work_dir(cfg)
        else:
            cfg.load_from = checked_checkpoint(
                name, resume, hint=f' ({alone} takes the latest checkpoint '
                'of the work dir)')
    if cfg.get('load_from') and not cfg.get('resume'):
        cfg.load_from = checked_checkpoint('load_from', cfg.load_from)
    if cfg.get('resume') or cfg.get('load_from'):
        _add_checkpoint_fit_hook(cfg, allow_partial_checkpoint)
    if auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise KeyError(f'--auto-scale-lr needs `auto_scale_lr` with a '
                           f'base_batch_size in {config_file}')
        cfg.auto_scale_lr.enable = True
    _set_runner_type(cfg, config_file)
    return cfg


def _refuse_cpu_autocast_of_a_detector(cfg: Config, config_file: str) -> None:
    """Refuse ``--amp`` without CUDA (bf16 autocast) for an mmdet
    detector: its proposals reach mmcv's CPU ``nms`` in bf16, which takes
    float32 only ("expected scalar type Float but found BFloat16" at the
    first iteration)."""
    kind = cfg.model.get('type', '')
    if cfg.get('default_scope') == 'mmdet' or (
            isinstance(kind, str) and kind.startswith('mmdet.')):
        raise ValueError(
            f'--amp without CUDA trains in bf16 autocast, and the mmdet '
            f'detector of {config_file} would stop at its first nms '
            "(mmcv's CPU nms takes float32 only); train it without --amp")


def _set_runner_type(cfg: Config, config_file: str) -> None:
    """Pick :data:`RUNNER_TYPE` unless the config names a runner; refuse
    another runner where it would scale the lr without the accumulation."""
    runner_type = cfg.setdefault('runner_type', RUNNER_TYPE)
    scaled = cfg.get('auto_scale_lr', {}).get('enable', False)
    accumulation = cfg.optim_wrapper.get('accumulative_counts', 1)
    if runner_type != RUNNER_TYPE and scaled and accumulation > 1:
        raise ValueError(
            f'{config_file}: runner_type {runner_type!r} scales the lr '
            f'without optim_wrapper.accumulative_counts={accumulation}; use '
            f'{RUNNER_TYPE!r} or switch auto_scale_lr off')


def build_runner(cfg: Config) -> Runner:
    """The runner a config names in ``runner_type`` (mmengine's ``Runner``
    where it names none), as mmpretrain's tools build it.

    Args:
        cfg (Config): A config, e.g. from :func:`train_config`.
    """
    return RUNNERS.build(cfg)


def test_config(config_file: Union[str, Config],
                checkpoint: str,
                work_dir: Optional[str] = None,
                launcher: str = 'none',
                cfg_options: Optional[dict] = None,
                allow_partial_checkpoint: bool = False,
                predictions_file: Optional[str] = None) -> Config:
    """The config a test run uses: the config's test loop on a checkpoint.

    Args:
        config_file (str | os.PathLike | Config): Config path, or a
            loaded config (left unchanged: a copy is returned).
        checkpoint (str | os.PathLike): Checkpoint to evaluate.
        work_dir (str | os.PathLike, optional): Output folder, as in
            :func:`train_config`.
        launcher (str): Job launcher.
        cfg_options (dict, optional): Overrides, merged as in
            :func:`train_config`.
        allow_partial_checkpoint (bool): Test a checkpoint whose tensors do
            not all fit the model; by default a
            :class:`~mae_plugin.engine.CheckpointFitHook` refuses it.
        predictions_file (str, optional): A ``.pkl`` file to pickle the
            predictions of every test sample in (their data samples:
            reconstruction, mask, masked MSE and loss for MAE), through
            mmengine's ``DumpResults`` added to the test evaluators, as
            ``tools/test.py --out`` of mmpretrain. Defaults to None.

    Returns:
        Config: ready for :func:`build_runner`; its ``runner_type`` is
        :class:`~mae_plugin.engine.AccumulationAwareRunner` (which keeps a
        config in the work dir from being written over, and the console
        log short) unless the config names another runner.

    Raises:
        KeyError: The config has no test loop.
        TypeError: A dataloader's ``batch_size`` or ``num_workers`` is
            not an int, or a switch of it or of its sampler
            (``drop_last``, ``shuffle``, ...) is not a bool.
        ValueError: A dataloader's ``batch_size`` is below 1 or its
            ``num_workers`` below 0, ``randomness.seed`` is outside
            [0, 2**32 - 1], a neck or head takes another width than the
            ViT backbone gives, an option's first key is a misspelling of
            the config's or the runner's, a loaded config without a file
            or ``work_dir`` is given no ``work_dir``, the work dir is
            empty, or ``config_file`` has no config suffix (``.py``,
            ``.json``, ``.yaml``, ``.yml``; a checkpoint's, as with the
            arguments swapped, gets a hint).
        NotADirectoryError: The work dir, or a folder above it, is a file.
        PermissionError: No file can be created in the work dir.
        FileNotFoundError: ``checkpoint`` is a local path to no file.
        IsADirectoryError: ``checkpoint`` is a folder.
    """
    if isinstance(config_file, Config):
        cfg, config_file = copy.deepcopy(config_file), config_file.filename
    else:
        config_file = check_config_path('config_file', config_file)
        cfg = load_config(config_file)
    if cfg_options:
        merge_cfg_options(cfg, cfg_options)
    check_test_config(cfg)
    for key in ('test_dataloader', 'test_evaluator', 'test_cfg'):
        if cfg.get(key) is None:
            raise KeyError(f'{config_file} has no `{key}`; tools/test.py '
                           f'needs a test loop')
    cfg.launcher = launcher
    cfg.work_dir = _work_dir(cfg, config_file, work_dir)
    cfg.load_from = checked_checkpoint('checkpoint', checkpoint)
    _add_checkpoint_fit_hook(cfg, allow_partial_checkpoint)
    if predictions_file is not None:
        evaluators = cfg.test_evaluator
        cfg.test_evaluator = [
            *(evaluators if isinstance(evaluators, list) else [evaluators]),
            dict(type='DumpResults',
                 out_file_path=check_test_output(predictions_file, 'pred'))
        ]
    cfg.setdefault('runner_type', RUNNER_TYPE)
    return cfg


def _add_checkpoint_fit_hook(cfg: Config, allow_partial: bool) -> None:
    """Add a :class:`~mae_plugin.engine.CheckpointFitHook` to ``cfg``."""
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
        dict(type='mae_plugin.CheckpointFitHook',
             allow_partial=allow_partial)
    ]
