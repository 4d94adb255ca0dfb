# mmpretrain's engine registers LARS, LearningRateDecayOptimWrapperConstructor
# and its hooks in mmpretrain's registries, which our scope falls back to.
import mmpretrain.engine  # noqa: F401

from .atomic_backend import AtomicLocalBackend
from .hooks import (AccumulatedGradientsHook, AtomicCheckpointHook,
                    CheckpointFitHook, FiniteLossHook, KNNEvalHook,
                    LazyRuntimeInfoHook, PretrainedKeysHook,
                    ReconstructionVisualizationHook, UnreadableImagesHook,
                    non_finite_tensors, preserved_random_state, read_scalars)
from .loops import ExactResumeEpochBasedTrainLoop
from .optimizers import (AutocastOptimWrapper,
                         LarsExcludeOptimWrapperConstructor,
                         LayerDecayOptimWrapperConstructor)
from .param_log import ParamwiseOptionsSummary, summarise_paramwise_options
from .runner import (AccumulationAwareRunner, accumulative_counts,
                     compile_regions, mid_accumulation)
from .schedulers import GroupFloorCosineAnnealingLR, scheduler_cfgs

__all__ = [
    'AtomicLocalBackend', 'AccumulatedGradientsHook',
    'AtomicCheckpointHook', 'CheckpointFitHook', 'FiniteLossHook',
    'KNNEvalHook', 'LazyRuntimeInfoHook', 'read_scalars',
    'PretrainedKeysHook', 'ReconstructionVisualizationHook',
    'UnreadableImagesHook', 'non_finite_tensors', 'preserved_random_state',
    'ExactResumeEpochBasedTrainLoop', 'AutocastOptimWrapper',
    'LayerDecayOptimWrapperConstructor', 'AccumulationAwareRunner',
    'accumulative_counts', 'compile_regions', 'mid_accumulation',
    'GroupFloorCosineAnnealingLR', 'scheduler_cfgs',
    'LarsExcludeOptimWrapperConstructor',
    'ParamwiseOptionsSummary', 'summarise_paramwise_options'
]
