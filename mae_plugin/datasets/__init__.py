from .demo_photos import export_demo_photos
from .fashion_mnist import DEBIAN_FASHION_MNIST, FashionMNISTIdx
from .image_folder import (ImageFolder, check_image_folder,
                           check_image_folders)
from .transforms import (IMAGE_EXTENSIONS, BaseImageLoader,
                         DecodeRandomResizedCrop, DeferredRandomResizedCrop,
                         PackDeferredCrop, RobustLoadImageFromFile,
                         UnreadableImageError, decode_image,
                         deferred_crop_collate, imdecode_checked, printable)

__all__ = [
    'export_demo_photos', 'DEBIAN_FASHION_MNIST', 'FashionMNISTIdx',
    'ImageFolder', 'check_image_folder', 'check_image_folders',
    'IMAGE_EXTENSIONS', 'BaseImageLoader',
    'DecodeRandomResizedCrop', 'DeferredRandomResizedCrop', 'PackDeferredCrop',
    'deferred_crop_collate', 'RobustLoadImageFromFile',
    'UnreadableImageError', 'decode_image', 'imdecode_checked', 'printable'
]
