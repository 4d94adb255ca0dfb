"""Checks of a run's config, made before the runner is built: the values
mmengine takes without a check and fails on later, naming no key (the
training length, the optimizer's and schedulers' numbers, the
dataloaders, the seed), and the spans of the lr schedule against the
training length.
"""
import logging
import math
from typing import Optional, Tuple

from mmengine.config import Config
from mmengine.logging import print_log

from mae_plugin.engine import scheduler_cfgs
from mae_plugin.utils import (check_bool, check_int, check_number,
                              check_positive_int, check_seed)


def check_train_config(cfg: Config) -> None:
    """Refuse, by key, what a training run's config sets wrong, in this
    order: the training length (:func:`_check_train_length`), the
    optimizer's and schedulers' numbers (:func:`_check_numbers`), the
    dataloaders (:func:`_check_dataloaders`, which also turns off
    ``persistent_workers`` without workers), ``randomness.seed``
    (:func:`_check_seed`) and the schedulers' spans
    (:func:`_check_scheduler_spans`, which warns of a schedule that does
    not end with the training).

    Raises:
        TypeError: A value of the wrong type.
        ValueError: A value out of its range, or a scheduler span that
            does not fit.
    """
    _check_train_length(cfg)
    _check_numbers(cfg)
    _check_dataloaders(cfg)
    _check_seed(cfg)
    _check_scheduler_spans(cfg)


def check_test_config(cfg: Config) -> None:
    """Refuse, by key, what a test run's config sets wrong: the
    dataloaders (:func:`_check_dataloaders`, which also turns off
    ``persistent_workers`` without workers), then ``randomness.seed``
    (:func:`_check_seed`).

    Raises:
        TypeError: A value of the wrong type.
        ValueError: A value out of its range.
    """
    _check_dataloaders(cfg)
    _check_seed(cfg)


def _check_seed(cfg: Config) -> None:
    """Refuse, by name, a ``randomness.seed`` NumPy does not take, which
    the runner reports only as "Seed must be between 0 and 2**32 - 1"."""
    seed = (cfg.get('randomness') or {}).get('seed')
    if seed is not None:
        check_seed('randomness.seed', seed)


def _check_train_length(cfg: Config) -> None:
    """Refuse, by name, a ``train_cfg`` length (``max_epochs``,
    ``max_iters``) or ``val_interval`` below 1: mmengine's loops run no
    epoch for a length of 0 or less and end with exit status 0 (with
    ``--resume``, of a run that trained nothing), or divide by a zero
    ``val_interval``; a length that is not an int failed in the schedule
    check with a ``TypeError`` that named no key."""
    train_cfg = cfg.get('train_cfg') or {}
    for key in ('max_epochs', 'max_iters', 'val_interval'):
        if key in train_cfg:
            check_positive_int(f'train_cfg.{key}', train_cfg[key])


# Settings of torch's optimizers and mmengine's schedulers that are numbers
# (their lower bound): a string from ``--cfg-options`` failed only once the
# model and the datasets were built (an optimizer's), or when the scheduler
# started, epochs into the run (``eta_min=abc`` at the cosine's start),
# with a bare ``TypeError`` of operands.
OPTIMIZER_NUMBERS = dict(lr=0, weight_decay=0, eps=0, momentum=0)
SCHEDULER_NUMBERS = dict(
    begin=0, end=0, T_max=0, eta_min=None, eta_min_ratio=None,
    start_factor=None, end_factor=None, factor=None, gamma=None,
    power=None)


def _check_numbers(cfg: Config) -> None:
    """Refuse, by key, a setting of ``optim_wrapper.optimizer`` or of a
    ``param_scheduler`` in :data:`OPTIMIZER_NUMBERS` or
    :data:`SCHEDULER_NUMBERS` that is not a number (or is below its
    bound), ``optimizer.betas`` that are not two numbers in [0, 1), and an
    ``optim_wrapper.accumulative_counts`` below 1."""
    optim_wrapper = cfg.get('optim_wrapper') or {}
    optimizer = optim_wrapper.get('optimizer') or {}
    for key, low in OPTIMIZER_NUMBERS.items():
        if optimizer.get(key) is not None:
            check_number(f'optim_wrapper.optimizer.{key}', optimizer[key],
                         low)
    betas = optimizer.get('betas')
    if betas is not None:
        if not isinstance(betas, (list, tuple)) or len(betas) != 2:
            raise TypeError('optim_wrapper.optimizer.betas must be two '
                            f'numbers in [0, 1), got {betas!r}')
        for i, beta in enumerate(betas):
            check_number(f'optim_wrapper.optimizer.betas[{i}]', beta, 0, 1,
                         high_open=True)
    if 'accumulative_counts' in optim_wrapper:
        check_positive_int('optim_wrapper.accumulative_counts',
                           optim_wrapper['accumulative_counts'])
    for i, scheduler in enumerate(
            scheduler_cfgs(cfg.get('param_scheduler')) or []):
        for key, low in SCHEDULER_NUMBERS.items():
            if scheduler.get(key) is not None:
                check_number(f'param_scheduler[{i}].{key}', scheduler[key],
                             -math.inf if low is None else low)


# The switches of a dataloader and of its sampler that the configs set: a
# string from ``--cfg-options`` (``shuffle=abc``) passed as true, or failed
# in torch's ``BatchSampler`` once the model and datasets were built.
LOADER_BOOLS = ('drop_last', 'pin_memory', 'persistent_workers')
SAMPLER_BOOLS = ('shuffle', )


def _check_dataloaders(cfg: Config) -> None:
    """Refuse, by key, a ``batch_size`` below 1 or a ``num_workers`` below
    0 of the train, val and test dataloaders (torch's comparison errors
    came once the datasets were built, naming no key), and a switch of a
    loader (:data:`LOADER_BOOLS`) or of its sampler
    (:data:`SAMPLER_BOOLS`) that is not a bool; turn off
    ``persistent_workers`` where ``num_workers`` is 0: torch refuses the
    pair ("persistent_workers option needs num_workers > 0"), which the
    configs' ``persistent_workers=True`` met whenever a run set
    ``num_workers=0`` to debug in one process."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if not isinstance(loader, dict):
            continue
        if 'batch_size' in loader:
            check_positive_int(f'{key}.batch_size', loader['batch_size'])
        sampler = loader.get('sampler')
        for node, name, switches in (
                (loader, key, LOADER_BOOLS),
                (sampler if isinstance(sampler, dict) else {},
                 f'{key}.sampler', SAMPLER_BOOLS)):
            for switch in switches:
                if switch in node:
                    check_bool(f'{name}.{switch}', node[switch])
        workers = check_int(f'{key}.num_workers',
                            loader.get('num_workers', 0), minimum=0)
        if workers == 0 and loader.get('persistent_workers'):
            loader['persistent_workers'] = False
            print_log(f'{key}.persistent_workers set to False: there are '
                      'no workers to keep (num_workers=0)', logger='current')


def _check_scheduler_spans(cfg: Config) -> None:
    """Check ``param_scheduler`` against ``train_cfg.max_epochs``, which
    ends every epoch-based scheduler without an ``end`` (mmengine's
    default) and nothing else: ``--cfg-options train_cfg.max_epochs=N``
    alone leaves a schedule with its own ``end`` (the ImageNet recipes')
    as it is.

    Refuses, by name, a scheduler whose own ``end`` is not after its
    ``begin`` (any ``train_cfg``), and one without an ``end`` that begins at
    ``max_epochs`` or later (``max_epochs`` cut to the warm-up or below):
    mmengine reports both only as "end should be larger than begin" in
    iterations while the runner builds the schedulers. Warns, in the
    current logger, of a scheduler whose own ``end`` lies after
    ``max_epochs`` (the run stops before its schedule ends), and of epoch
    schedulers that all end before it (the last epochs keep the lr the
    schedule ends with).
    """
    max_epochs = (cfg.get('train_cfg') or {}).get('max_epochs')
    schedulers = scheduler_cfgs(cfg.get('param_scheduler')) or []
    fewest, reason, bound = _fewest_epochs(schedulers)
    if max_epochs is not None and max_epochs < fewest:
        raise ValueError(f'train_cfg.max_epochs must be above {fewest - 1}, '
                         f'where {reason}, got {max_epochs}'
                         f'{_shorter_run_hint(schedulers, bound)}')
    ends = []
    for i, scheduler in enumerate(schedulers):
        begin, end = scheduler.get('begin', 0), scheduler.get('end')
        name = f'param_scheduler[{i}] ({scheduler.get("type")})'
        if end is not None and end <= begin:
            unit = 'epochs' if scheduler.get('by_epoch', True) else (
                'iterations')
            raise ValueError(f'{name} must end after it begins, got begin='
                             f'{begin} and end={end} ({unit})')
        if max_epochs is None:
            continue
        if not scheduler.get('by_epoch', True):
            ends.append((None, scheduler))  # in iterations
            continue
        if end is not None and end > max_epochs:
            print_log(f'{name} ends at epoch {end}, after '
                      f'train_cfg.max_epochs={max_epochs}: training stops '
                      f'before its schedule ends{_t_max_hint(scheduler)}',
                      logger='current', level=logging.WARNING)
        ends.append((end, scheduler))
    if ends and all(end is not None for end, _ in ends):
        end, last = max(ends, key=lambda pair: pair[0])
        if end < max_epochs:
            print_log(f'param_scheduler ends at epoch {end}, before '
                      f'train_cfg.max_epochs={max_epochs}: the last '
                      f'{max_epochs - end} epochs keep the lr it ends with'
                      f'{_t_max_hint(last)}', logger='current',
                      level=logging.WARNING)


def fewest_epochs(cfg: Config) -> Tuple[int, str]:
    """The fewest ``train_cfg.max_epochs`` that the config's
    ``param_scheduler`` takes, and why.

    An epoch-based scheduler without an ``end`` of its own runs to the end
    of training (mmengine's default ``end``), which must come after its
    ``begin``: a warm-up of ``w`` epochs followed by such a cosine needs
    ``w + 1`` epochs. Schedulers with their own ``end`` or in iterations
    set no bound.

    Args:
        cfg (Config): A config, its options merged.

    Returns:
        tuple[int, str]: The fewest epochs (1 where no scheduler bounds
        them) and the reason, e.g. ``'param_scheduler[1]
        (CosineAnnealingLR) begins and runs to the end of training'``
        (``''`` for 1).
    """
    fewest, reason, _ = _fewest_epochs(
        scheduler_cfgs(cfg.get('param_scheduler')) or [])
    return fewest, reason


def _fewest_epochs(schedulers: list) -> Tuple[int, str, Optional[int]]:
    """:func:`fewest_epochs` of the scheduler configs ``schedulers``, and
    the index of the scheduler that bounds them (None where none does)."""
    fewest, reason, bound = 1, '', None
    for i, scheduler in enumerate(schedulers):
        begin = scheduler.get('begin', 0)
        if (scheduler.get('by_epoch', True) and scheduler.get('end') is None
                and begin + 1 > fewest):
            fewest, bound = begin + 1, i
            reason = (f'param_scheduler[{i}] ({scheduler.get("type")}) '
                      'begins and runs to the end of training')
    return fewest, reason, bound


def _shorter_run_hint(schedulers: list, i: int) -> str:
    """How a run shorter than ``schedulers[i]``, which runs to the end of
    training, moves its start: with the ends of the schedulers before it
    that end there (the warm-up's)."""
    begin = schedulers[i].get('begin', 0)
    moves = [
        f'param_scheduler.{j}.end'
        for j, earlier in enumerate(schedulers[:i])
        if earlier.get('end') == begin
    ]
    if not moves:
        return ''
    return (f' (a shorter run also moves its start, '
            f'param_scheduler.{i}.begin, with {" and ".join(moves)})')


def _t_max_hint(scheduler: dict) -> str:
    """How to move the end of a scheduler with a ``T_max`` (a cosine):
    its ``T_max`` is ``end - begin``."""
    if 'T_max' not in scheduler:
        return ''
    return (f' (set its end with max_epochs and T_max to end - '
            f'{scheduler.get("begin", 0)})')
