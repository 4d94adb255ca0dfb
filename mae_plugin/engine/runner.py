"""A runner whose lr scaling counts gradient accumulation and which can
compile the model's repeated blocks one by one."""
import os.path as osp
from typing import Dict, List, Optional

from mmengine.dataset import InfiniteSampler
from mmengine.dist import all_reduce, master_only
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.runner import BaseLoop, EpochBasedTrainLoop, Runner
from torch import nn
from torch.utils.data import DataLoader, Sampler

from mae_plugin.registry import RUNNERS
from mae_plugin.utils.checks import check_positive_int
from .param_log import shorten_console_log, summarise_paramwise_options


def _wrappers(optim_wrapper: OptimWrapper) -> List[OptimWrapper]:
    if isinstance(optim_wrapper, OptimWrapperDict):
        return list(optim_wrapper.values())
    return [optim_wrapper]


def accumulative_counts(optim_wrapper: OptimWrapper) -> int:
    """How many iterations a built optimizer wrapper accumulates gradients
    over before each optimizer step (its ``accumulative_counts``).

    Args:
        optim_wrapper (OptimWrapper): An ``OptimWrapper`` or an
            ``OptimWrapperDict``.

    Raises:
        ValueError: The wrappers of an ``OptimWrapperDict`` accumulate over
            different counts, so the run has no single effective batch.
    """
    # mmengine keeps the count in a private attribute only.
    counts = {w._accumulative_counts for w in _wrappers(optim_wrapper)}
    if len(counts) > 1:
        raise ValueError(f'optim_wrapper: the optimizers accumulate over '
                         f'different accumulative_counts {sorted(counts)}')
    return counts.pop()


def mid_accumulation(optim_wrapper: OptimWrapper) -> bool:
    """Whether a built optimizer wrapper holds gradients accumulated since
    its last step: its count of ``update_params`` calls is neither a
    multiple of its ``accumulative_counts`` nor the last iteration (where
    mmengine steps whatever the count).

    Args:
        optim_wrapper (OptimWrapper): An ``OptimWrapper`` or an
            ``OptimWrapperDict``.
    """
    # mmengine keeps the counts in private attributes only.
    return any(
        w._inner_count % w._accumulative_counts
        and w._inner_count != w._max_counts for w in _wrappers(optim_wrapper))


def check_epoch_sampler(sampler: Sampler) -> None:
    """Refuse mmengine's ``InfiniteSampler`` as the sampler of an
    epoch-based train loop: its passes share one endless generator, so
    mmengine's loop never ends the first epoch, and
    :class:`~mae_plugin.engine.ExactResumeEpochBasedTrainLoop`, which ends
    an epoch after the loader's number of batches, stopped at the second
    with a bare ``StopIteration`` (the generator was closed with the first
    epoch's iterator).

    Raises:
        ValueError: ``sampler`` is an ``InfiniteSampler``.
    """
    if isinstance(sampler, InfiniteSampler):
        raise ValueError(
            'train_dataloader.sampler of an epoch-based train loop must end '
            f'each epoch (DefaultSampler), got {type(sampler).__name__}, '
            'which never ends one; to keep it, train by iterations '
            '(train_cfg=dict(by_epoch=False, max_iters=...))')


def _check_an_epoch_has_a_batch(loader: DataLoader, world_size: int) -> None:
    """Refuse a train dataloader whose epoch has no batch:
    ``drop_last`` drops the one partial batch of a dataset smaller than
    ``batch_size`` (each process's share of it, in a distributed run).
    mmengine failed once the model and datasets were built, with
    "`epoch_length` must be a positive integer, but got 0." from the param
    scheduler's build, or a bare ``StopIteration`` in an iteration-based
    loop. A loader with mmengine's ``InfiniteSampler``, which fills a
    batch from the dataset over again, is let through (only an
    iteration-based loop takes one: :func:`check_epoch_sampler`).

    Args:
        loader (DataLoader): The built train dataloader.
        world_size (int): The processes the dataset is split over.

    Raises:
        ValueError: ``batch_size`` is above the samples of an epoch of a
            process and ``drop_last`` is True.
    """
    if (len(loader) > 0 or not loader.drop_last
            or isinstance(loader.sampler, InfiniteSampler)):
        return
    samples, dataset = len(loader.sampler), len(loader.dataset)
    raise ValueError(
        f'train_dataloader.batch_size must be at most the {samples} samples '
        f'of an epoch (the dataset\'s {dataset} over {world_size} '
        'process(es)) with train_dataloader.drop_last=True, got '
        f'{loader.batch_size}: an epoch would have no batch')


def compile_regions(model: nn.Module, regions, **options) -> int:
    """Compile every sub-module of ``model`` whose class is named in
    ``regions`` on its own, in place (``nn.Module.compile``: the state-dict
    keys stay as they are, so checkpoints and resuming are unchanged).

    The blocks of a ViT share their code and differ only in their weights,
    which dynamo treats as inputs, so one compilation per distinct block
    shape serves all of them: compiling takes the time of a block or two,
    not of the whole unrolled model.

    Args:
        model (nn.Module): The model.
        regions (list[str]): Class names, e.g. ``['TransformerBlock']``.
        **options: Keyword arguments of ``torch.compile``.

    Returns:
        int: How many modules were compiled.

    Raises:
        ValueError: ``regions`` is empty, or no module has one of its
            class names.
    """
    if isinstance(regions, str) or not regions:
        raise ValueError(f'compile.regions must be a non-empty list of '
                         f'class names, got {regions!r}')
    matched = [m for m in model.modules() if type(m).__name__ in regions]
    if not matched:
        classes = sorted({type(m).__name__ for m in model.modules()})
        raise ValueError(f'compile.regions {list(regions)} names no module '
                         f'of the model; its classes are {classes}')
    for module in matched:
        module.compile(**options)
    return len(matched)


@RUNNERS.register_module()
class AccumulationAwareRunner(Runner):
    """mmengine's ``Runner`` with the effective batch of the official MAE
    code (``eff_batch_size = batch_size * accum_iter * world_size``).

    mmengine's ``Runner.scale_lr`` scales the lr by ``world_size x
    batch_size / base_batch_size`` and leaves ``accumulative_counts`` out, so
    a run that reaches the recipe's batch with accumulation gets an lr too
    small by that count. This runner logs the effective batch and its three
    factors when training starts and, with ``auto_scale_lr.enable``, scales
    the lr by ``effective batch / auto_scale_lr.base_batch_size``; without
    it, warns where the effective batch is not ``base_batch_size``.

    ``compile=dict(regions=[class names], **torch.compile options)``
    compiles those blocks one by one (:func:`compile_regions`) instead of
    mmengine's whole ``train_step``; ``compile=True`` or a dict without
    ``regions`` is mmengine's.

    Its console log fits a screen before the first iteration: the
    environment, config and hook order go to the log file only, and the
    parameter groups are listed one line per distinct setting. It never
    dumps the config over the file it was loaded from
    (:meth:`dump_config`).
    """

    def build_logger(self, *args, **kwargs):
        """mmengine's logger, whose console leaves out the environment,
        config and hook order (the log file has them) and condenses the
        parameter-group listing to one line per setting."""
        logger = super().build_logger(*args, **kwargs)
        shorten_console_log(logger)
        summarise_paramwise_options(logger)
        return logger

    @master_only
    def dump_config(self) -> None:
        """mmengine's dump of the config into the work dir as ``<config
        name>``, except where that is the config file this run was loaded
        from (``--work-dir`` the config's own folder, or ``tools/test.py``
        on the config a training run dumped into its work dir): mmengine
        wrote over it, comments and ``_base_`` gone and this run's changes
        (``load_from``, options, hooks) in, for the next run of that file
        to take. That dump is written as ``<name>_<timestamp>.py``."""
        if self.cfg.filename is None:
            return super().dump_config()
        path = osp.join(self.work_dir, osp.basename(self.cfg.filename))
        if osp.isfile(path) and osp.samefile(path, self.cfg.filename):
            stem, ext = osp.splitext(path)
            path = f'{stem}_{self.timestamp}{ext}'
            self.logger.info(
                f'The work dir holds the config this run reads, '
                f'{self.cfg.filename}; its dump is {path}')
        self.cfg.dump(path)

    def _maybe_compile(self, target: str) -> None:
        """mmengine's compilation of ``model.<target>``, or with
        ``compile.regions`` of the named blocks (called by ``train`` after
        the checkpoint is loaded or resumed)."""
        compile_cfg = self.cfg.get('compile', None)
        if not isinstance(compile_cfg, dict) or 'regions' not in compile_cfg:
            return super()._maybe_compile(target)
        options = dict(compile_cfg)
        regions = options.pop('regions')
        model = (
            self.model.module if is_model_wrapper(self.model) else self.model)
        count = compile_regions(model, regions, **options)
        self.logger.info(f'Compiled {count} modules of {list(regions)} one '
                         f'by one; the first iteration compiles them.')

    def build_train_loop(self, loop) -> BaseLoop:
        """mmengine's train loop, refused where an epoch of its
        dataloader never ends (:func:`check_epoch_sampler`) or has no
        batch (:func:`_check_an_epoch_has_a_batch`).

        Called by ``Runner.train`` first, before the optimizer wrapper and
        the param schedulers are built.

        Args:
            loop (BaseLoop | dict): The loop or its config.

        Raises:
            ValueError: An epoch-based loop's sampler is an
                ``InfiniteSampler``, or ``train_dataloader.batch_size`` is
                above the samples of an epoch of a process and
                ``train_dataloader.drop_last`` is True.
        """
        loop = super().build_train_loop(loop)
        if isinstance(loop, EpochBasedTrainLoop):
            check_epoch_sampler(loop.dataloader.sampler)
        _check_an_epoch_has_a_batch(loop.dataloader, self.world_size)
        return loop

    def save_checkpoint(self, *args, **kwargs) -> None:
        """mmengine's ``save_checkpoint`` (rank 0 saves), after replacing
        the gradients accumulated since the last optimizer step by their
        mean over the processes (all processes call it): DDP does not
        all-reduce while it accumulates, and the checkpoint of rank 0 must
        hold what every process resumes with
        (:class:`~mae_plugin.engine.AccumulatedGradientsHook`). The step's
        all-reduce then averages the same gradients whether the run is
        interrupted there or not."""
        if self.world_size > 1 and mid_accumulation(self.optim_wrapper):
            for param in self.model.parameters():
                if param.grad is not None:
                    all_reduce(param.grad, op='mean')  # in place
        super().save_checkpoint(*args, **kwargs)

    def scale_lr(self,
                 optim_wrapper: OptimWrapper,
                 auto_scale_lr: Optional[Dict] = None) -> None:
        """Log the effective batch and, when enabled, scale every param
        group's lr by ``effective batch / base_batch_size``; when not, warn
        where the effective batch is not ``base_batch_size`` (the config's
        lr, written for that batch, is used as it is).

        Called by ``Runner.train`` after the optimizer wrapper and before
        the param schedulers are built (they store the scaled lr).

        Args:
            optim_wrapper (OptimWrapper): The built optimizer wrapper(s).
            auto_scale_lr (dict, optional): ``base_batch_size`` and
                ``enable``.

        Raises:
            KeyError: ``auto_scale_lr`` is enabled without
                ``base_batch_size``.
            TypeError: ``base_batch_size`` is not an integer.
            ValueError: ``base_batch_size`` is below 1 (0 would divide by
                zero, a negative one flip the lr's sign).
        """
        loader = self._train_dataloader
        batch_size = (
            loader.batch_size
            if isinstance(loader, DataLoader) else loader['batch_size'])
        accumulation = accumulative_counts(optim_wrapper)
        effective = self.world_size * batch_size * accumulation
        self.logger.info(
            f'Effective batch {effective} = {self.world_size} process(es) x '
            f'{batch_size} images (train_dataloader.batch_size) x '
            f'{accumulation} accumulated iterations '
            '(optim_wrapper.accumulative_counts)')
        if not (auto_scale_lr or {}).get('enable', False):
            base = (auto_scale_lr or {}).get('base_batch_size')
            if base is not None and effective != base:
                self.logger.warning(
                    f'Effective batch {effective} is not '
                    f'auto_scale_lr.base_batch_size {base}, the batch the '
                    'config lr is for, and that lr is used as it is: '
                    f'--auto-scale-lr scales it by {effective} / {base}, '
                    'or optim_wrapper.accumulative_counts brings the batch '
                    f'to {base}')
            return
        if 'base_batch_size' not in auto_scale_lr:
            raise KeyError('auto_scale_lr needs base_batch_size, the batch '
                           'the config lr is for')
        base = check_positive_int('auto_scale_lr.base_batch_size',
                                  auto_scale_lr['base_batch_size'])
        ratio = effective / base
        self.logger.info(f'auto_scale_lr: lr x {effective} / {base} = '
                         f'x {ratio:g}')
        for wrapper in _wrappers(optim_wrapper):
            # with several groups, the wrapper logs `base_lr` from a group
            # of its own (base_param_settings), which mmengine leaves unscaled
            for group in wrapper.param_groups:
                group['lr'] = group['lr'] * ratio
