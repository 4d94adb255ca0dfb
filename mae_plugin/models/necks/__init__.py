from .mae_decoder import MAEDecoder
from .simple_feature_pyramid import SimpleFeaturePyramid

__all__ = ['MAEDecoder', 'SimpleFeaturePyramid']
