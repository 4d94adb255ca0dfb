from .autocast_optim_wrapper import AutocastOptimWrapper
from .lars_exclude_constructor import LarsExcludeOptimWrapperConstructor
from .layer_decay_constructor import LayerDecayOptimWrapperConstructor

__all__ = [
    'AutocastOptimWrapper', 'LarsExcludeOptimWrapperConstructor',
    'LayerDecayOptimWrapperConstructor'
]
