from .demo_photos import export_demo_photos
from .fashion_mnist import DEBIAN_FASHION_MNIST, FashionMNISTIdx
from .transforms import (BaseImageLoader, DecodeRandomResizedCrop,
                         RobustLoadImageFromFile, UnreadableImageError,
                         decode_image)

__all__ = [
    'export_demo_photos', 'DEBIAN_FASHION_MNIST', 'FashionMNISTIdx',
    'BaseImageLoader', 'DecodeRandomResizedCrop', 'RobustLoadImageFromFile',
    'UnreadableImageError', 'decode_image'
]
