from .algorithms import MAE
from .backbones import DenseViT, MAEViT
from .factory import mae_config
from .heads import MAEPixelHead
from .masking import (BaseMasking, BlockMasking, GridMasking, Masking,
                      RandomMasking, masking_from_noise)
from .necks import MAEDecoder, SimpleFeaturePyramid

__all__ = [
    'MAE', 'DenseViT', 'MAEViT', 'mae_config', 'MAEPixelHead', 'BaseMasking',
    'BlockMasking', 'GridMasking', 'Masking', 'RandomMasking',
    'masking_from_noise', 'MAEDecoder', 'SimpleFeaturePyramid'
]
