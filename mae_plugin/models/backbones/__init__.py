from .dense_vit import DenseViT
from .linear_probe_vit import LinearProbeViT
from .mae_vit import MAEViT

__all__ = ['DenseViT', 'LinearProbeViT', 'MAEViT']
