from .knn_hook import KNNEvalHook
from .pretrained_keys_hook import PretrainedKeysHook, compare_with_checkpoint
from .reconstruction_hook import (ReconstructionVisualizationHook,
                                  preserved_random_state)

__all__ = [
    'KNNEvalHook', 'PretrainedKeysHook', 'ReconstructionVisualizationHook',
    'compare_with_checkpoint', 'preserved_random_state'
]
