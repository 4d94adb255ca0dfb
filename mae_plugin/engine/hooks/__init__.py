from .knn_hook import KNNEvalHook
from .pretrained_keys_hook import PretrainedKeysHook, compare_with_checkpoint

__all__ = ['KNNEvalHook', 'PretrainedKeysHook', 'compare_with_checkpoint']
