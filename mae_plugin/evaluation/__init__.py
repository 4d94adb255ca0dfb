from .knn import (extract_encoder_features, weighted_knn_accuracy,
                  weighted_knn_predict)
from .reconstruction_metric import ReconstructionMetric

__all__ = [
    'ReconstructionMetric', 'extract_encoder_features',
    'weighted_knn_accuracy', 'weighted_knn_predict'
]
