"""Refuse to resume or test from a checkpoint that does not fit the
model."""
import re
from typing import List

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import find_latest_checkpoint

from mae_plugin.checkpoint import compare_state_dicts, conversion_hint
from mae_plugin.registry import HOOKS
from mae_plugin.utils import check_bool
from ..schedulers import scheduler_cfgs

# The training state mmengine's ``Runner.resume`` restores.
RESUME_KEYS = ('meta', 'state_dict', 'optimizer')


def fit_problems(own: dict, state: dict) -> list:
    """What keeps ``state`` from filling every tensor of a model whose
    state dict is ``own``: mismatched keys (the first three with both
    shapes), missing and unexpected keys, one phrase each."""
    report = compare_state_dicts(own, state, values=False)
    problems = [
        f'{len(report.mismatched)} tensor(s) of another shape (' +
        ', '.join(report.shape_lines(3)) + ')'
    ] if report.mismatched else []
    return problems + [
        f'{len(getattr(report, kind))} {kind} key(s) '
        f'{getattr(report, kind)[:3]}'
        for kind in ('missing', 'unexpected') if getattr(report, kind)
    ]


def schedule_changes(runner) -> List[str]:
    """How the schedulers a resumed ``runner`` restored differ from the
    config's: mmengine's ``Runner.resume`` loads each saved scheduler's
    state, its ``begin``, ``end`` and ``T_max`` included, over the one the
    config builds, whatever the config now says. One line per changed
    value, comparing in the restored schedulers' steps: the config's
    epochs times the iterations per epoch for ``convert_to_iter_based``
    ones, an ``end`` left out being ``train_cfg``'s ``max_epochs`` (or
    ``max_iters``), a ``T_max`` left out ``end - begin``."""
    configured = scheduler_cfgs(runner.cfg.get('param_scheduler'))
    restored = runner.param_schedulers
    if configured is None or not isinstance(restored, list):
        return []
    changes = []
    for i, (cfg, scheduler) in enumerate(zip(configured, restored)):
        by_epoch = cfg.get('by_epoch', True)
        steps = len(runner.train_dataloader) if (
            by_epoch and cfg.get('convert_to_iter_based', False)) else 1
        begin = int(cfg.get('begin', 0) * steps)
        end = int(
            cfg.get('end', runner.max_epochs if by_epoch else runner.max_iters)
            * steps)
        expected = dict(begin=begin, end=end)
        if hasattr(scheduler, 'T_max'):
            expected['T_max'] = int(cfg['T_max'] * steps) if cfg.get(
                'T_max') else end - begin
        for key, value in expected.items():
            if getattr(scheduler, key) != value:
                changes.append(
                    f'param_scheduler[{i}] ({cfg.get("type")}) {key}: the '
                    f"checkpoint's {getattr(scheduler, key)}, not the "
                    f"config's {value}")
    return changes


def _setting(value):
    """A param-group setting in a form that compares by value: a list and
    a tuple of the same numbers (``betas`` from a config or a checkpoint)
    are the same setting."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


def optimizer_changes(optimizer, saved: dict) -> List[str]:
    """How the optimizer settings a resume restores differ from those the
    config built: mmengine's ``Runner.resume`` loads the saved optimizer
    state, param groups included, over the built optimizer, so an edited
    ``lr``, ``weight_decay``, ``betas``, ... is silently not the one
    run. ``optimizer`` is the built (config's) ``torch`` optimizer,
    ``saved`` the checkpoint's state dict of it. One line per changed
    setting (its first group that differs); a group's ``lr`` is compared
    through ``initial_lr``, the lr its schedulers start from, where they
    set one (its ``lr`` is the scheduled value of the moment)."""
    changes = {}
    for group, saved_group in zip(optimizer.param_groups,
                                  saved.get('param_groups', [])):
        scheduled = {'lr'} if 'initial_lr' in group else set()
        for key in group.keys() - {'params'} - scheduled:
            if key in saved_group and key not in changes and (
                    _setting(saved_group[key]) != _setting(group[key])):
                changes[key] = (saved_group[key], group[key])
    return [
        f"{key}: the checkpoint's {old}, not the config's {new}"
        for key, (old, new) in changes.items()
    ]


def scheduler_mismatches(schedulers: list, saved: list) -> List[str]:
    """Why the saved scheduler states ``saved`` cannot be loaded into the
    built ``schedulers``: mmengine's ``Runner.resume`` pairs them in order
    with ``zip``, so with another count the surplus ones are silently left
    out, and a state of another kind of scheduler (say a cosine's onto a
    linear warm-up) is loaded into the wrong one (``load_state_dict``
    updates the attributes, whatever they are). One phrase each; a kind is
    told by the names of its state."""
    problems = [] if len(saved) == len(schedulers) else [
        f'the checkpoint has {len(saved)} scheduler(s), the config '
        f'{len(schedulers)}'
    ]
    for i, (scheduler, state) in enumerate(zip(schedulers, saved)):
        own = set(scheduler.state_dict())
        if set(state) != own:
            problems.append(
                f'param_scheduler[{i}] ({type(scheduler).__name__}) would '
                f"take the checkpoint's scheduler {i}, whose state lacks "
                f'{sorted(own - set(state))} and has '
                f'{sorted(set(state) - own)}: another kind of scheduler')
    return problems


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Stop when the checkpoint the runner loads (``resume`` or
    ``load_from``) does not fit the model.

    mmengine loads both with ``strict=False``: a tensor of another shape
    only logs ``size mismatch for ...``, and that layer keeps its random
    initialisation, so a resumed run trains on and a test reports metrics
    of a half-random model, with exit code 0. This hook raises
    ``ValueError`` instead, naming the file, the first mismatched keys
    with both shapes, and the missing and unexpected keys. When resuming,
    the checkpoint must also hold the training state (``meta``,
    ``optimizer``): a bare state dict cannot continue a run. A resumed
    run also refuses saved schedulers that do not pair with the config's
    (:func:`scheduler_mismatches`) and warns of the schedule and the
    optimizer settings its checkpoint restores where they are not the
    config's (:func:`schedule_changes`, :func:`optimizer_changes`).

    ``tools/train.py`` adds it to a run that resumes or starts from
    ``load_from`` (see :func:`~mae_plugin.apis.train_config`), and
    ``tools/test.py`` to every test; a sub-module's ``init_cfg`` (the
    fine-tuning configs' pretrained encoder) is left to
    :class:`PretrainedKeysHook`'s report.

    Args:
        allow_partial (bool): Load the tensors that fit and only log the
            others (``--allow-partial-checkpoint``). A checkpoint without
            ``meta`` still cannot be resumed. Defaults to False.

    Raises:
        TypeError: ``allow_partial`` is not a bool (the string ``'no'``
            would allow it).
    """
    priority = 'VERY_HIGH'

    def __init__(self, allow_partial: bool = False) -> None:
        self.allow_partial = check_bool('allow_partial', allow_partial)

    def before_train(self, runner) -> None:
        """Warn of a resumed schedule other than the config's (see
        :func:`schedule_changes`)."""
        if not (runner._resume and runner._has_loaded):
            return
        changes = schedule_changes(runner)
        if changes:
            runner.logger.warning(
                'the resumed run keeps the schedule of its checkpoint, as '
                "mmengine's resume does, where the config's differs (in "
                'steps): ' + '; '.join(changes) + '. To train with the '
                "config's schedule, start a new run from the checkpoint's "
                'weights with load_from instead of --resume')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        filename = runner._load_from or find_latest_checkpoint(runner.work_dir)
        if runner._resume:
            absent = [key for key in RESUME_KEYS if key not in checkpoint]
            if 'meta' in absent or (absent and not self.allow_partial):
                cause = ('training wrote it with default_hooks.checkpoint.'
                         "save_optimizer=False, or with 'latest' and this "
                         'is not the newest checkpoint'
                         if absent == ['optimizer'] else
                         'a state dict of weights only?')
                raise ValueError(
                    f'checkpoint {filename} cannot be resumed: it has no '
                    f'{", ".join(repr(k) for k in absent)} ({cause}). '
                    'Resume from a checkpoint that training wrote with its '
                    'optimizer, or start a new run from its weights with '
                    'load_from instead of --resume')
            self._check_schedulers(runner, checkpoint, filename)
            self._warn_of_optimizer_changes(runner, checkpoint)
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        state = checkpoint.get('state_dict', checkpoint)
        state = {
            re.sub(r'^module\.', '', key): value
            for key, value in state.items()
        }
        problems = fit_problems(model.state_dict(), state)
        if not problems:
            return
        message = (f'checkpoint {filename} does not fit the model'
                   f'{conversion_hint(checkpoint)}: {"; ".join(problems)}')
        if not self.allow_partial:
            raise ValueError(
                f'{message}. The layers it does not fill would keep their '
                'random initialisation; pass --allow-partial-checkpoint '
                '(CheckpointFitHook(allow_partial=True)) to load the rest '
                'anyway')
        runner.logger.warning(f'{message}; loading the rest')

    @staticmethod
    def _warn_of_optimizer_changes(runner, checkpoint: dict) -> None:
        """Warn of the optimizer settings of the config that the resume,
        which restores the checkpoint's next, leaves out (see
        :func:`optimizer_changes`)."""
        optimizer = getattr(runner.optim_wrapper, 'optimizer', None)
        saved = checkpoint.get('optimizer')
        # one optimizer built and saved; several (OptimWrapperDict) or
        # none built yet (a resume outside ``train()``) are left alone
        if not (isinstance(optimizer, torch.optim.Optimizer)
                and isinstance(saved, dict)):
            return
        changes = optimizer_changes(optimizer, saved)
        if changes:
            runner.logger.warning(
                'the resumed run keeps the optimizer settings of its '
                "checkpoint, as mmengine's resume does, where the config's "
                'differ: ' + '; '.join(changes) + ". To train with the "
                "config's, start a new run from the checkpoint's weights "
                'with load_from instead of --resume')

    @staticmethod
    def _check_schedulers(runner, checkpoint: dict, filename: str) -> None:
        """Refuse saved schedulers that mmengine's resume, which loads
        them next, would pair wrongly with the built ones."""
        schedulers, saved = (runner.param_schedulers,
                             checkpoint.get('param_schedulers'))
        # Nothing saved, per-optimizer dicts, or not yet built (a resume
        # outside ``train()``) are left to mmengine.
        if not (isinstance(schedulers, list) and isinstance(saved, list)
                and all(hasattr(s, 'state_dict') for s in schedulers)):
            return
        problems = scheduler_mismatches(schedulers, saved)
        if problems:
            raise ValueError(
                f'checkpoint {filename} cannot be resumed with this '
                f'param_scheduler: {"; ".join(problems)}. A resume restores '
                'each saved scheduler into the configured one at the same '
                "place; to train with the config's schedule, start a new "
                "run from the checkpoint's weights with load_from instead "
                'of --resume')
