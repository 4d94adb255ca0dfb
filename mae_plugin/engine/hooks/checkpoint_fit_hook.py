"""Refuse to resume or test from a checkpoint that does not fit the
model."""
import re

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import find_latest_checkpoint

from mae_plugin.checkpoint import compare_state_dicts
from mae_plugin.registry import HOOKS
from mae_plugin.utils import check_bool

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
    ``optimizer``): a bare state dict cannot continue a run.

    ``tools/train.py --resume`` and ``tools/test.py`` add it (see
    :func:`~mae_plugin.apis.train_config`); a fine-tuning run's
    ``load_from`` or ``init_cfg`` is left to
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

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        filename = runner._load_from or find_latest_checkpoint(runner.work_dir)
        if runner._resume:
            absent = [key for key in RESUME_KEYS if key not in checkpoint]
            if 'meta' in absent or (absent and not self.allow_partial):
                raise ValueError(
                    f'checkpoint {filename} cannot be resumed: it has no '
                    f'{", ".join(repr(k) for k in absent)} (a state dict '
                    'of weights only?). Resume from a checkpoint that '
                    'training wrote, or start a new run from its weights '
                    'with load_from instead of --resume')
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
        message = (f'checkpoint {filename} does not fit the model: '
                   f'{"; ".join(problems)}')
        if not self.allow_partial:
            raise ValueError(
                f'{message}. The layers it does not fill would keep their '
                'random initialisation; pass --allow-partial-checkpoint '
                '(CheckpointFitHook(allow_partial=True)) to load the rest '
                'anyway')
        runner.logger.warning(f'{message}; loading the rest')
