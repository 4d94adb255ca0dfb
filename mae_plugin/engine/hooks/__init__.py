from .atomic_checkpoint_hook import AtomicCheckpointHook
from .finite_loss_hook import FiniteLossHook
from .knn_hook import KNNEvalHook
from .pretrained_keys_hook import PretrainedKeysHook, compare_with_checkpoint
from .reconstruction_hook import (ReconstructionVisualizationHook,
                                  preserved_random_state)
from .unreadable_images_hook import UnreadableImagesHook

__all__ = [
    'AtomicCheckpointHook', 'FiniteLossHook', 'KNNEvalHook',
    'PretrainedKeysHook', 'ReconstructionVisualizationHook',
    'UnreadableImagesHook', 'compare_with_checkpoint',
    'preserved_random_state'
]
