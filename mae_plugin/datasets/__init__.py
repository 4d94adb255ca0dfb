from .demo_photos import export_demo_photos
from .fashion_mnist import DEBIAN_FASHION_MNIST, FashionMNISTIdx
from .image_folder import ImageFolder, ignored_entries
from .transforms import (IMAGE_EXTENSIONS, BaseImageLoader,
                         DecodeRandomResizedCrop, RobustLoadImageFromFile,
                         UnreadableImageError, decode_image, imdecode_checked,
                         printable)

__all__ = [
    'export_demo_photos', 'DEBIAN_FASHION_MNIST', 'FashionMNISTIdx',
    'ImageFolder', 'ignored_entries', 'IMAGE_EXTENSIONS', 'BaseImageLoader',
    'DecodeRandomResizedCrop', 'RobustLoadImageFromFile',
    'UnreadableImageError', 'decode_image', 'imdecode_checked', 'printable'
]
