from .accumulated_gradients_hook import AccumulatedGradientsHook
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .checkpoint_fit_hook import CheckpointFitHook
from .finite_loss_hook import FiniteLossHook, non_finite_tensors
from .knn_hook import KNNEvalHook
from .lazy_runtime_info_hook import LazyRuntimeInfoHook, read_scalars
from .pretrained_keys_hook import PretrainedKeysHook
from .reconstruction_hook import (ReconstructionVisualizationHook,
                                  preserved_random_state)
from .unreadable_images_hook import UnreadableImagesHook

__all__ = [
    'AccumulatedGradientsHook', 'AtomicCheckpointHook', 'CheckpointFitHook',
    'FiniteLossHook', 'KNNEvalHook', 'LazyRuntimeInfoHook',
    'PretrainedKeysHook', 'ReconstructionVisualizationHook',
    'UnreadableImagesHook', 'non_finite_tensors', 'preserved_random_state',
    'read_scalars'
]
