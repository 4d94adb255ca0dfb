from .hooks import ReconstructionVisualizationHook, preserved_random_state
from .optimizers import LayerDecayOptimWrapperConstructor
from .safe_loading import MMENGINE_CHECKPOINT_GLOBALS, allow_mmengine_checkpoints

allow_mmengine_checkpoints()

__all__ = [
    'LayerDecayOptimWrapperConstructor', 'MMENGINE_CHECKPOINT_GLOBALS',
    'ReconstructionVisualizationHook', 'allow_mmengine_checkpoints',
    'preserved_random_state'
]
