"""An lr schedule whose floor follows each param group's layer decay, as
the official MAE fine-tuning schedule (``util/lr_sched.py``), and the
configs of a runner's schedulers."""
import math
from typing import List, Optional

from mmengine.optim.scheduler import CosineAnnealingLR

from mae_plugin.registry import PARAM_SCHEDULERS
from mae_plugin.utils import check_number


def scheduler_cfgs(param_scheduler) -> Optional[list]:
    """A config's ``param_scheduler`` as the list of scheduler configs
    mmengine's runner builds (one scheduler's dict alone in it), or None
    when there is none or one list per optimizer (a dict of lists)."""
    if isinstance(param_scheduler, dict) and 'type' in param_scheduler:
        return [param_scheduler]
    if isinstance(param_scheduler, (list, tuple)) and param_scheduler:
        return list(param_scheduler)
    return None


@PARAM_SCHEDULERS.register_module()
class GroupFloorCosineAnnealingLR(CosineAnnealingLR):
    """Cosine annealing of each param group's lr down to ``eta_min`` times
    the group's ``lr_scale``.

    The official fine-tuning code sets every group to ``lr_scale x (min_lr
    + (lr - min_lr) x (1 + cos(pi t / T)) / 2)``: the floor, like the peak,
    shrinks with the group's layer-decay factor. mmengine's
    ``CosineAnnealingLR`` gives every group the same floor ``eta_min``,
    which for deep encoders lies above the embeddings' peak lr (ViT-H,
    layer decay 0.75: ``4e-3 x 0.75 ** 33 = 3e-7 < 1e-6``). ``lr_scale`` is
    the factor that mmpretrain's ``LearningRateDecayOptimWrapperConstructor``
    (and the plugin's ``LayerDecayOptimWrapperConstructor``) store in every
    group; a group without it (e.g. the optimizer wrapper's own ``base_lr``
    entry) gets ``eta_min``.

    Args:
        optimizer (Optimizer | OptimWrapper): Wrapped optimizer.
        eta_min (float): Floor of a group with ``lr_scale`` 1 (the official
            ``min_lr``). Defaults to 0.
        **kwargs: ``T_max``, ``begin``, ``end``, ``by_epoch``... of
            ``CosineAnnealingLR``; one half-period only (``T_max`` at least
            ``end - begin``).

    Raises:
        TypeError: ``eta_min_ratio`` given (the floors are ``eta_min``
            times each group's ``lr_scale``), or ``eta_min`` is not a
            number.
        ValueError: ``eta_min`` negative (the lr would turn negative and
            the optimizer climb the loss), or ``T_max`` shorter than the
            schedule (a restart).
    """

    def __init__(self, optimizer, eta_min: float = 0., **kwargs) -> None:
        if 'eta_min_ratio' in kwargs:
            raise TypeError(
                f'{type(self).__name__} takes eta_min (the floor of a group '
                'with lr_scale 1), not eta_min_ratio')
        check_number('eta_min', eta_min, low=0)
        self.eta_mins = [
            eta_min * group.get('lr_scale', 1.)
            for group in optimizer.param_groups
        ]
        super().__init__(optimizer, eta_min=eta_min, **kwargs)
        if self.T_max < self.end - self.begin:
            raise ValueError(
                f'T_max={self.T_max} is shorter than the schedule '
                f'({self.end - self.begin} steps); '
                f'{type(self).__name__} does not restart')

    def _get_value(self) -> List[float]:
        """Each group's lr at ``last_step``, from its lr at the step before
        (chainable, as mmengine's schedulers)."""
        groups = self.optimizer.param_groups
        if self.last_step == 0:
            return [group[self.param_name] for group in groups]
        step, total = self.last_step, self.T_max
        # (1 + cos) of this step over that of the previous one
        shrink = ((1 + math.cos(math.pi * step / total)) /
                  (1 + math.cos(math.pi * (step - 1) / total)))
        return [
            floor + (group[self.param_name] - floor) * shrink
            for group, floor in zip(groups, self.eta_mins)
        ]
