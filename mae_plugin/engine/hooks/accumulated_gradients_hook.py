"""Checkpoints taken in the middle of a gradient accumulation keep the
gradients accumulated so far."""
import logging
from typing import Dict, Optional, Tuple

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mae_plugin.checkpoint import GRADS_KEY
from mae_plugin.registry import HOOKS
from ..runner import (AccumulationAwareRunner, accumulative_counts,
                      mid_accumulation)


#: Where a checkpoint's meta records the ``accumulative_counts`` that its
#: accumulated gradients were scaled and summed with.
COUNTS_META_KEY = 'accumulative_counts'

# The start of the warning mmengine's OptimWrapper logs when a run resumes
# in the middle of an accumulation.
MMENGINE_LOST_GRADIENTS_WARNING = ('Resumed iteration number is not '
                                   'divisible by `_accumulative_counts`')


class _WithoutLostGradientsWarning(logging.Filter):
    """Drops mmengine's warning that the resumed run lost the gradients
    accumulated before the checkpoint, from a resume that puts them back."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(
            MMENGINE_LOST_GRADIENTS_WARNING)


@HOOKS.register_module()
class AccumulatedGradientsHook(Hook):
    """Saves the gradients accumulated since the last optimizer step in a
    checkpoint taken in the middle of an accumulation
    (``optim_wrapper.accumulative_counts`` > 1), and puts them back into
    the parameters' ``grad`` when training resumes from it, so the
    resumed run steps with the same gradients as the uninterrupted one.

    mmengine saves no gradients: a resume from such a checkpoint (most
    epoch checkpoints of a run whose iterations per epoch are not a
    multiple of the count) loses those of the iterations since the last
    step, and only warns (a warning left out of the log of a resume that
    puts them back). The gradients are stored under
    ``checkpoint['accumulated_grads']`` (``{parameter name: tensor}``, on
    the CPU: one more copy of the weights), and the count under
    ``checkpoint['meta']['accumulative_counts']``, of checkpoints with their
    optimizer state; other checkpoints (best ones, ``save_optimizer=False``)
    are unchanged, and ``save_optimizer='latest'`` strips both from a
    checkpoint once a newer one is saved. A run that resumes with another
    count drops them with a warning: mmengine divides each loss by the
    count, and the new count's accumulation spans other iterations.

    In a distributed run DDP skips its all-reduce while it accumulates, so
    each process holds the partial gradients of its own batches, and only
    rank 0 saves. :class:`~mae_plugin.engine.AccumulationAwareRunner`
    (the runner of ``tools/train.py``) replaces them by their mean over the
    processes before every save, in the running processes too, so the
    checkpoint holds what every process resumes with and the step's
    all-reduce averages the same gradients whether the run was interrupted
    or not. With another runner the checkpoint holds rank 0's gradients
    only (a warning says so).

    :class:`~mae_plugin.engine.ExactResumeEpochBasedTrainLoop` registers
    this hook where the config does not.
    """

    def __init__(self) -> None:
        # (iteration, count, gradients) of the last loaded checkpoint; the
        # count is None in checkpoints saved before it was recorded
        self._loaded: Optional[Tuple[int, Optional[int],
                                     Dict[str, torch.Tensor]]] = None
        self._filter = _WithoutLostGradientsWarning()

    @staticmethod
    def _parameters(runner) -> Dict[str, torch.nn.Parameter]:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        return dict(model.named_parameters())

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Add the accumulated gradients to ``checkpoint``, if it is taken
        mid-accumulation and holds the optimizer state (called on rank 0
        only): a checkpoint without it (a best checkpoint, or
        ``save_optimizer=False``) resumes no optimizer, so the gradients
        would only add a copy of the weights' size to it."""
        if ('optimizer' not in checkpoint
                or not mid_accumulation(runner.optim_wrapper)):
            return
        grads = {
            name: param.grad.detach().cpu()
            for name, param in self._parameters(runner).items()
            if param.grad is not None
        }
        if grads:
            checkpoint[GRADS_KEY] = grads
            checkpoint['meta'][COUNTS_META_KEY] = accumulative_counts(
                runner.optim_wrapper)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the checkpoint's accumulated gradients for
        :meth:`before_train` (a resume sets the iteration and the optimizer
        wrapper's count only after loading). Where it holds them, the
        warning mmengine logs next, that a resume mid-accumulation lost
        them, is left out of the log until :meth:`before_train`, which
        says what became of them instead."""
        grads, meta = checkpoint.get(GRADS_KEY), checkpoint['meta']
        self._loaded = None if grads is None else (
            meta['iter'], meta.get(COUNTS_META_KEY), grads)
        if grads is not None:
            runner.logger.addFilter(self._filter)

    def before_train(self, runner) -> None:
        """Put the accumulated gradients of a resumed checkpoint back (and
        warn where another runner would not average them).

        Raises:
            ValueError: A stored gradient fits no parameter of the model.
        """
        if (runner.world_size > 1 and accumulative_counts(
                runner.optim_wrapper) > 1
                and not isinstance(runner, AccumulationAwareRunner)):
            runner.logger.warning(
                f'{type(runner).__name__} does not average the gradients '
                'accumulated by the processes before a checkpoint: a resume '
                "mid-accumulation continues with rank 0's")
        runner.logger.removeFilter(self._filter)
        if self._loaded is None:
            return
        (iteration, counts, grads), self._loaded = self._loaded, None
        if runner.iter != iteration:  # weights loaded by load_from
            return
        run_counts = accumulative_counts(runner.optim_wrapper)
        if counts is not None and counts != run_counts:
            runner.logger.warning(
                f'The checkpoint of iteration {iteration} holds the '
                'gradients accumulated since its last optimizer step with '
                f'optim_wrapper.accumulative_counts={counts}, but this run '
                f'accumulates over {run_counts}: they are dropped')
            return
        if not mid_accumulation(runner.optim_wrapper):
            runner.logger.warning(
                f'The checkpoint of iteration {iteration} holds the '
                'gradients accumulated since its last optimizer step, but '
                'this run steps at that iteration (another '
                'optim_wrapper.accumulative_counts): they are dropped')
            return
        params = self._parameters(runner)
        for name, grad in grads.items():
            param = params.get(name)
            if param is None or param.shape != grad.shape:
                raise ValueError(
                    f'{GRADS_KEY}[{name!r}] of the resumed checkpoint, of '
                    f'shape {tuple(grad.shape)}, fits no parameter of the '
                    'model')
            param.grad = grad.to(param.device)
        runner.logger.info(f'Resumed the gradients of {len(grads)} '
                           'parameters accumulated since the last '
                           f'optimizer step (iteration {iteration})')
