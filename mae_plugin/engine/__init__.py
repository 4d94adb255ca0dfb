# mmpretrain's engine registers LARS, LearningRateDecayOptimWrapperConstructor
# and its hooks in mmpretrain's registries, which our scope falls back to.
import mmpretrain.engine  # noqa: F401

from .atomic_backend import AtomicLocalBackend, atomic_write
from .hooks import (AtomicCheckpointHook, FiniteLossHook, KNNEvalHook,
                    PretrainedKeysHook, ReconstructionVisualizationHook,
                    UnreadableImagesHook, compare_with_checkpoint,
                    preserved_random_state)
from .loops import ExactResumeEpochBasedTrainLoop
from .optimizers import (AutocastOptimWrapper,
                         LarsExcludeOptimWrapperConstructor,
                         LayerDecayOptimWrapperConstructor)
from .runner import AccumulationAwareRunner, accumulative_counts
from .safe_loading import (MMENGINE_CHECKPOINT_GLOBALS,
                           allow_mmengine_checkpoints, load_checkpoint_safely,
                           use_safe_local_loader)
from .schedulers import GroupFloorCosineAnnealingLR

allow_mmengine_checkpoints()
use_safe_local_loader()

__all__ = [
    'AtomicLocalBackend', 'atomic_write', 'AtomicCheckpointHook',
    'FiniteLossHook', 'KNNEvalHook', 'PretrainedKeysHook',
    'ReconstructionVisualizationHook', 'UnreadableImagesHook',
    'compare_with_checkpoint', 'preserved_random_state',
    'ExactResumeEpochBasedTrainLoop', 'AutocastOptimWrapper',
    'LayerDecayOptimWrapperConstructor', 'AccumulationAwareRunner',
    'accumulative_counts', 'GroupFloorCosineAnnealingLR',
    'LarsExcludeOptimWrapperConstructor', 'MMENGINE_CHECKPOINT_GLOBALS',
    'allow_mmengine_checkpoints', 'load_checkpoint_safely',
    'use_safe_local_loader'
]
