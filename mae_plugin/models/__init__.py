from .algorithms import MAE
from .backbones import DenseViT, LinearProbeViT, MAEViT
from .data_preprocessors import DeviceCropDataPreprocessor
from .factory import mae_config
from .heads import MAEPixelHead
from .masking import (BaseMasking, BlockMasking, GridMasking, Masking,
                      RandomMasking, masking_from_noise)
from .necks import MAEDecoder, SimpleFeaturePyramid

__all__ = [
    'MAE', 'DenseViT', 'LinearProbeViT', 'MAEViT',
    'DeviceCropDataPreprocessor', 'mae_config', 'MAEPixelHead', 'BaseMasking',
    'BlockMasking', 'GridMasking', 'Masking', 'RandomMasking',
    'masking_from_noise', 'MAEDecoder', 'SimpleFeaturePyramid'
]
