"""Stop training at the first NaN or Inf loss, and never save (or call
good) a checkpoint that holds a NaN or Inf."""
from typing import Any, Iterator, Optional, Tuple

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook

from mae_plugin.registry import HOOKS
from mae_plugin.utils import check_positive_int


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

    * after every ``interval`` iterations, the logged losses: a
      non-finite one raises ``FloatingPointError``. The flag is summed
      over all ranks, so every process stops at the same iteration. The
      hook runs before the checkpoint hook (priority ``ABOVE_NORMAL``), so
      the weights of that step are never saved;
    * before every checkpoint is written, every floating-point tensor it
      holds (weights, buffers, optimizer state): a step whose loss was
      finite can still make them non-finite (a huge learning rate). Such
      a checkpoint is not written and training stops. The checkpoint
      hook runs on rank 0 only (``Runner.save_checkpoint`` is
      ``master_only``), so this check does too; a distributed launcher
      (``torchrun``) ends the other ranks when rank 0 fails.

    Only a checkpoint that passed the second check (or the one a run
    resumed from) is named as "the last good checkpoint" in the error.

    Args:
        interval (int): Check the loss every ``interval`` iterations.
            Defaults to 1.
    """
    priority = 'ABOVE_NORMAL'

    def __init__(self, interval: int = 1) -> None:
        self.interval = check_positive_int('interval', interval)
        self.last_good_ckpt: Optional[str] = None

    def before_train(self, runner) -> None:
        # a resumed run starts from a checkpoint this hook checked
        self.last_good_ckpt = runner.message_hub.get_info('last_ckpt')

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        losses = {
            name: torch.as_tensor(value).detach().double()
            for name, value in outputs.items() if 'loss' in name
        }
        bad = sorted(name for name, value in losses.items()
                     if not torch.isfinite(value).all())
        num_bad = torch.tensor(float(len(bad)))
        all_reduce(num_bad)
        if num_bad.item() == 0:
            return
        detail = ', '.join(f'{n}={losses[n].mean().item()}'
                           for n in bad) or 'on another rank'
        raise FloatingPointError(
            f'non-finite loss at iteration {runner.iter + 1} (epoch '
            f'{runner.epoch + 1}): {detail}. {self._stopped()}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Refuse to save ``checkpoint`` if a tensor in it is NaN or Inf;
        otherwise remember it as the last good checkpoint (the checkpoint
        hook names the file in ``last_ckpt`` before saving)."""
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

    def _stopped(self) -> str:
        return ('Training stopped before saving; the last good checkpoint '
                f'is {self.last_good_ckpt or "none (none saved yet)"}')
