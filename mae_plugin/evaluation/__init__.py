from .knn import (extract_encoder_features, weighted_knn_accuracy,
                  weighted_knn_predict)
from .linear_probe import logistic_regression_accuracy
from .reconstruction_metric import ReconstructionMetric, psnr

__all__ = [
    'ReconstructionMetric', 'extract_encoder_features',
    'logistic_regression_accuracy', 'psnr',
    'weighted_knn_accuracy', 'weighted_knn_predict'
]
