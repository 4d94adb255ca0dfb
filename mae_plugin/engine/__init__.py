# mmpretrain's engine registers LARS, LearningRateDecayOptimWrapperConstructor
# and its hooks in mmpretrain's registries, which our scope falls back to.
import mmpretrain.engine  # noqa: F401

from .atomic_backend import AtomicLocalBackend, atomic_write
from .hooks import (AtomicCheckpointHook, CheckpointFitHook, FiniteLossHook,
                    KNNEvalHook, PretrainedKeysHook,
                    ReconstructionVisualizationHook, UnreadableImagesHook,
                    compare_state_dicts, compare_with_checkpoint,
                    non_finite_tensors, preserved_random_state)
from .loops import ExactResumeEpochBasedTrainLoop
from .optimizers import (AutocastOptimWrapper,
                         LarsExcludeOptimWrapperConstructor,
                         LayerDecayOptimWrapperConstructor)
from .param_log import ParamwiseOptionsSummary, summarise_paramwise_options
from .pretrained_init import CountingPretrainedInit
from .runner import AccumulationAwareRunner, accumulative_counts
from .safe_loading import (MMENGINE_CHECKPOINT_GLOBALS,
                           allow_mmengine_checkpoints, load_checkpoint_safely,
                           load_from_local_safely, use_safe_local_loader)
from .schedulers import GroupFloorCosineAnnealingLR

allow_mmengine_checkpoints()
use_safe_local_loader()

__all__ = [
    'AtomicLocalBackend', 'atomic_write', 'AtomicCheckpointHook',
    'CheckpointFitHook', 'FiniteLossHook', 'KNNEvalHook',
    'PretrainedKeysHook', 'ReconstructionVisualizationHook',
    'UnreadableImagesHook', 'compare_state_dicts', 'compare_with_checkpoint',
    'non_finite_tensors', 'preserved_random_state',
    'ExactResumeEpochBasedTrainLoop', 'AutocastOptimWrapper',
    'LayerDecayOptimWrapperConstructor', 'CountingPretrainedInit',
    'AccumulationAwareRunner', 'accumulative_counts',
    'GroupFloorCosineAnnealingLR', 'LarsExcludeOptimWrapperConstructor',
    'MMENGINE_CHECKPOINT_GLOBALS', 'allow_mmengine_checkpoints',
    'load_checkpoint_safely', 'load_from_local_safely',
    'use_safe_local_loader', 'ParamwiseOptionsSummary',
    'summarise_paramwise_options'
]
