"""Stop training at the first NaN or Inf loss, and never save (or call
good) a checkpoint that holds a NaN or Inf."""
from typing import Any, Iterator, List, Optional, Tuple

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook

from mae_plugin.registry import HOOKS
from mae_plugin.utils import check_positive_int
from .lazy_runtime_info_hook import logger_interval, read_scalars


def non_finite_tensors(state: Any, key: str = '') -> Iterator[Tuple[str, int]]:
    """``(key, number of NaN/Inf values)`` of every floating-point tensor
    with a NaN or Inf in nested dicts, lists and tuples of tensors (a
    state dict, an optimizer state, a whole checkpoint). Keys join the
    nesting with dots, e.g. ``'optimizer.state.3.exp_avg'``."""
    if isinstance(state, torch.Tensor):
        if state.is_floating_point() or state.is_complex():
            num_bad = state.numel() - int(torch.isfinite(state).sum())
            if num_bad:
                yield key, num_bad
    elif isinstance(state, (dict, list, tuple)):
        items = state.items() if isinstance(state, dict) else enumerate(state)
        for name, value in items:
            yield from non_finite_tensors(
                value, f'{key}.{name}' if key else str(name))


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training at the first NaN or Inf, before it reaches a
    checkpoint.

    Two checks:

    * the logged losses of every iteration: a non-finite one raises
      ``FloatingPointError`` naming the first iteration that had one.
      Each iteration's flag is computed on the loss's device and read
      where the logged values are read: every ``interval`` iterations,
      counted as mmengine's ``LoggerHook`` counts them (within the epoch
      in an epoch-based loop, from the start in an iteration-based one),
      at the end of every epoch, before every checkpoint and at the end
      of training. By default ``interval`` is the ``LoggerHook``'s, so
      the GPU is waited for only where ``LazyRuntimeInfoHook`` waits for
      it anyway, and training may run up to ``interval - 1`` iterations
      past a bad loss, saving nothing. The flag is summed over all ranks
      at those checks, so every process stops at the same iteration. The
      hook runs before the checkpoint hook (priority ``ABOVE_NORMAL``),
      so the weights of a bad step are never saved;
    * before every checkpoint is written, every floating-point tensor it
      holds (weights, buffers, optimizer state): a step whose loss was
      finite can still make them non-finite (a huge learning rate). Such
      a checkpoint is not written and training stops. The checkpoint
      hook runs on rank 0 only (``Runner.save_checkpoint`` is
      ``master_only``), so this check does too, as does the loss check
      made there; a distributed launcher (``torchrun``) ends the other
      ranks when rank 0 fails.

    Only a checkpoint that passed the second check (or the one a run
    resumed from) is named as "the last good checkpoint" in the error.

    Args:
        interval (int, optional): Read the losses' flags every
            ``interval`` iterations of the epoch. Defaults to None: the
            interval of the runner's ``LoggerHook`` (the smallest, if it
            has several), or every iteration if it has none.
    """
    priority = 'ABOVE_NORMAL'

    def __init__(self, interval: Optional[int] = None) -> None:
        self.interval = (None if interval is None else
                         check_positive_int('interval', interval))
        self.last_good_ckpt: Optional[str] = None
        # ``interval``, or the logger's (set before training)
        self._read_interval = 1
        # (iteration, epoch, all losses finite (a bool tensor), losses) of
        # each iteration not yet checked
        self._unchecked: List[Tuple[int, int, torch.Tensor, dict]] = []

    def before_train(self, runner) -> None:
        # a resumed run starts from a checkpoint this hook checked
        self.last_good_ckpt = runner.message_hub.get_info('last_ckpt')
        self._read_interval = self.interval or logger_interval(runner) or 1

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        losses = {
            name: torch.as_tensor(value).detach().double()
            for name, value in (outputs or {}).items() if 'loss' in name
        }
        if losses:  # on the losses' device: nothing waits for it
            finite = torch.stack(
                [torch.isfinite(value).all() for value in losses.values()])
            self._unchecked.append(
                (runner.iter + 1, runner.epoch + 1, finite.all(), losses))
        # when LoggerHook logs and LazyRuntimeInfoHook reads the values
        if (self.every_n_inner_iters(batch_idx, self._read_interval)
                or self.end_of_epoch(runner.train_dataloader, batch_idx)):
            self._check_losses(runner, across_ranks=True)

    def after_train(self, runner) -> None:
        self._check_losses(runner, across_ranks=True)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Refuse to save ``checkpoint`` after a NaN or Inf loss, or if a
        tensor in it is NaN or Inf; otherwise remember it as the last good
        checkpoint (the checkpoint hook names the file in ``last_ckpt``
        before saving)."""
        self._check_losses(runner, across_ranks=False)
        bad = list(non_finite_tensors(checkpoint))
        if not bad:
            self.last_good_ckpt = runner.message_hub.get_info('last_ckpt')
            return
        shown = ', '.join(f'{key} ({count})' for key, count in bad[:3])
        meta = checkpoint.get('meta', {})
        raise FloatingPointError(
            f'non-finite values in {len(bad)} tensor(s) of the checkpoint '
            f'at iteration {meta.get("iter")} (epoch {meta.get("epoch")}), '
            f'the first (NaN/Inf count): {shown}. {self._stopped()}')

    def _check_losses(self, runner, across_ranks: bool) -> None:
        """Read the flags of the unchecked iterations (one wait for the
        device) and raise at the first bad one; ``across_ranks`` also
        stops when another rank had one."""
        unchecked, self._unchecked = self._unchecked, []
        flags = read_scalars([finite for _, _, finite, _ in unchecked])
        first_bad = next(
            (entry for entry, finite in zip(unchecked, flags) if not finite),
            None)
        num_bad = torch.tensor(float(first_bad is not None))
        if across_ranks:
            all_reduce(num_bad)
        if num_bad.item() == 0:
            return
        if first_bad is None:
            raise FloatingPointError(
                f'non-finite loss by iteration {runner.iter + 1} (epoch '
                f'{runner.epoch + 1}) on another rank. {self._stopped()}')
        iteration, epoch, _, losses = first_bad
        detail = ', '.join(f'{name}={value.mean().item()}'
                           for name, value in losses.items()
                           if not torch.isfinite(value).all())
        raise FloatingPointError(
            f'non-finite loss at iteration {iteration} (epoch {epoch}): '
            f'{detail}. {self._stopped()}')

    def _stopped(self) -> str:
        return ('Training stopped before saving; the last good checkpoint '
                f'is {self.last_good_ckpt or "none (none saved yet)"}')
