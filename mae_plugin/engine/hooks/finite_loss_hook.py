"""Stop training at the first NaN or Inf loss."""
from typing import Optional

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook

from mae_plugin.registry import HOOKS


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Raise ``FloatingPointError`` as soon as a logged loss is NaN or Inf.

    It runs before the checkpoint hook (priority ``ABOVE_NORMAL``), so the
    weights that the bad step produced are never saved and the last good
    checkpoint stays the newest one. The flag is summed over all ranks, so
    every process stops at the same iteration.

    Args:
        interval (int): Check every ``interval`` iterations. Defaults to 1.
    """
    priority = 'ABOVE_NORMAL'

    def __init__(self, interval: int = 1) -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(
                f'interval must be a positive int, got {interval!r}')
        self.interval = interval

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
        last_ckpt = runner.message_hub.get_info('last_ckpt')
        raise FloatingPointError(
            f'non-finite loss at iteration {runner.iter + 1} (epoch '
            f'{runner.epoch + 1}): {detail}. '
            f'Training stopped before saving; the last good checkpoint is '
            f'{last_ckpt or "none (no checkpoint saved yet)"}')
