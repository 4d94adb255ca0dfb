"""LARS without adaptation on biases and norms, as the official MAE code's
linear probing (``util/lars.py``)."""
from typing import List, Optional, Union

from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

from mae_plugin.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LarsExcludeOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor that marks every parameter with fewer
    than two dimensions (biases, norm weights) ``lars_exclude=True``.

    The official LARS scales the update by the trust ratio ``eta x |w| /
    |g|`` for weight matrices only and applies neither the ratio nor weight
    decay to 1-D parameters; mmpretrain's ``LARS`` adapts every parameter
    unless its group says ``lars_exclude``. This constructor puts each
    parameter in a group of its own (mmengine's ``paramwise_cfg`` path) and
    sets that flag; unless ``paramwise_cfg`` says otherwise, 1-D parameters
    also get no weight decay (``flat_decay_mult=0``).

    Args:
        optim_wrapper_cfg (dict): As ``DefaultOptimWrapperConstructor``.
        paramwise_cfg (dict, optional): As ``DefaultOptimWrapperConstructor``.
            Defaults to None.
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        paramwise_cfg = dict(flat_decay_mult=0., **(paramwise_cfg or {}))
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   is_dcn_module: Optional[Union[int, float]] = None) -> None:
        """Add the parameters of ``module`` (recursively) as mmengine does;
        the outermost call then flags the 1-D ones."""
        super().add_params(params, module, prefix, is_dcn_module)
        if not prefix:  # the model itself: every parameter is in `params`
            for group in params:
                group['lars_exclude'] = group['params'][0].ndim < 2
