from .dense_vit import DenseViT
from .mae_vit import MAEViT

__all__ = ['DenseViT', 'MAEViT']
