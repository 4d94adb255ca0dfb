"""Layer-wise lr decay for detectors and segmentors with a ViT backbone."""
from functools import partial
from typing import Callable, List, Optional

from mmpretrain.engine.optimizers import \
    LearningRateDecayOptimWrapperConstructor
from torch import nn

from mae_plugin.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mae_plugin.utils import check_choices, check_number

# The keys of ``paramwise_cfg`` that mmpretrain's ``add_params`` reads; it
# ignores any other (mmengine's ``bias_lr_mult`` included) without a word.
PARAMWISE_KEYS = ('layer_decay_rate', 'norm_decay_mult', 'bias_decay_mult',
                  'flat_decay_mult', 'custom_keys')


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(
        LearningRateDecayOptimWrapperConstructor):
    """mmpretrain's layer-wise lr decay, for any model with a ``backbone``.

    mmpretrain's constructor asks the top-level model for
    ``get_layer_depth``, which classifiers have and mmdet detectors or mmseg
    segmentors do not. This one takes the depths from
    ``model.backbone.get_layer_depth`` (:class:`DenseViT`,
    :class:`MAEViT`, mmpretrain's ViT): block ``i`` of an ``L``-block
    encoder gets ``lr * layer_decay_rate ** (L - i)``, the embeddings
    ``lr * layer_decay_rate ** (L + 1)``, and every module outside the
    backbone (neck, heads) the base lr. ``paramwise_cfg`` is as in
    :class:`mmpretrain.engine.optimizers.
    LearningRateDecayOptimWrapperConstructor` (``layer_decay_rate``,
    ``norm_decay_mult``, ``bias_decay_mult``, ``flat_decay_mult``,
    ``custom_keys``).

    ``optimizer.weight_decay`` must be set (0 for none): without it
    mmpretrain's constructor ignores every decay multiplier and fails with
    a bare ``KeyError`` while logging the groups, and mmengine's refuses
    any decay multiplier with ``base_wd should not be None``.

    Args:
        optim_wrapper_cfg (dict): As ``DefaultOptimWrapperConstructor``.
        paramwise_cfg (dict, optional): As above. Defaults to None.

    Raises:
        ValueError: ``optimizer.weight_decay`` is not set, a
            ``paramwise_cfg`` key is not one of the above or a
            ``custom_keys`` option not ``decay_mult`` (mmpretrain would
            ignore it: ``lr_mult`` included), or ``layer_decay_rate`` is
            outside (0, 1] (0 freezes the encoder, > 1 trains the
            embeddings fastest).
        TypeError: ``layer_decay_rate`` is not a number.

    Example:
        >>> optim_wrapper = dict(
        ...     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.1),
        ...     constructor='mae_plugin.LayerDecayOptimWrapperConstructor',
        ...     paramwise_cfg=dict(layer_decay_rate=0.7,
        ...                        norm_decay_mult=0., bias_decay_mult=0.))
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        optimizer = optim_wrapper_cfg.get('optimizer')
        if isinstance(optimizer, dict) and 'weight_decay' not in optimizer:
            raise ValueError(
                f'{type(self).__name__} needs optimizer.weight_decay (0 '
                f'for none), got optimizer={optimizer!r}')
        paramwise_cfg = paramwise_cfg or {}
        check_choices('paramwise_cfg keys', paramwise_cfg, PARAMWISE_KEYS)
        for key, options in paramwise_cfg.get('custom_keys', {}).items():
            # mmpretrain copies any other option into the param group,
            # where nothing reads it (the lr is the layer's)
            check_choices(f'paramwise_cfg.custom_keys[{key!r}] options',
                          options, ('decay_mult', ))
        check_number('paramwise_cfg.layer_decay_rate',
                      paramwise_cfg.get('layer_decay_rate', 1.), 0, 1,
                      low_open=True)
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   get_layer_depth: Optional[Callable] = None,
                   **kwargs) -> None:
        """Add the parameters of ``module`` with their decayed lr.

        Args:
            params (list[dict]): Param groups, extended in place.
            module (nn.Module): The model (or, recursively, a sub-module).
            prefix (str): Name prefix of ``module``. Defaults to ''.
            get_layer_depth (callable, optional): Maps a full parameter
                name to ``(depth, num_depths)``. Defaults to the backbone's.
            **kwargs: Other arguments of mmpretrain's ``add_params``.
        """
        if get_layer_depth is None and not hasattr(module, 'get_layer_depth'):
            backbone = getattr(module, 'backbone', None)
            if not hasattr(backbone, 'get_layer_depth'):
                raise TypeError(
                    f'{type(self).__name__} needs a model with a backbone '
                    f'that has get_layer_depth; {type(module).__name__}.'
                    f'backbone is {type(backbone).__name__}')
            get_layer_depth = partial(
                backbone.get_layer_depth, prefix=f'{prefix}backbone.')
        super().add_params(params, module, prefix, get_layer_depth, **kwargs)
