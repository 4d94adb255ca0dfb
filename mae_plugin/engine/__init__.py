# mmpretrain's engine registers LARS, LearningRateDecayOptimWrapperConstructor
# and its hooks in mmpretrain's registries, which our scope falls back to.
import mmpretrain.engine  # noqa: F401

from .hooks import (KNNEvalHook, PretrainedKeysHook,
                    ReconstructionVisualizationHook, compare_with_checkpoint,
                    preserved_random_state)
from .optimizers import LayerDecayOptimWrapperConstructor
from .safe_loading import (MMENGINE_CHECKPOINT_GLOBALS,
                           allow_mmengine_checkpoints)

allow_mmengine_checkpoints()

__all__ = [
    'KNNEvalHook', 'LayerDecayOptimWrapperConstructor',
    'MMENGINE_CHECKPOINT_GLOBALS', 'PretrainedKeysHook',
    'ReconstructionVisualizationHook', 'allow_mmengine_checkpoints',
    'compare_with_checkpoint', 'preserved_random_state'
]
