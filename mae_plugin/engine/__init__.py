# mmpretrain's engine registers LARS, LearningRateDecayOptimWrapperConstructor
# and its hooks in mmpretrain's registries, which our scope falls back to.
import mmpretrain.engine  # noqa: F401

from .hooks import KNNEvalHook, PretrainedKeysHook, compare_with_checkpoint
from .safe_loading import (MMENGINE_CHECKPOINT_GLOBALS,
                           allow_mmengine_checkpoints)

allow_mmengine_checkpoints()

__all__ = [
    'KNNEvalHook', 'PretrainedKeysHook', 'compare_with_checkpoint',
    'MMENGINE_CHECKPOINT_GLOBALS', 'allow_mmengine_checkpoints'
]
