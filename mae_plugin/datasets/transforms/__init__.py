from .box_resize import (reduced_box, reduced_decode_factor, resize_box,
                         resize_box_antialiased)
from .deferred_crop import (DeferredRandomResizedCrop, PackDeferredCrop,
                            deferred_crop_collate)
from .fused_crop import (DecodeRandomResizedCrop, random_resized_crop_params,
                         read_jpeg_header)
from .loading import (IMAGE_EXTENSIONS, BaseImageLoader,
                      RobustLoadImageFromFile, UnreadableImageError,
                      decode_image, imdecode_checked, printable)

__all__ = [
    'IMAGE_EXTENSIONS', 'imdecode_checked', 'printable',
    'BaseImageLoader', 'DecodeRandomResizedCrop', 'DeferredRandomResizedCrop',
    'PackDeferredCrop', 'deferred_crop_collate', 'RobustLoadImageFromFile',
    'UnreadableImageError', 'decode_image', 'random_resized_crop_params',
    'read_jpeg_header', 'reduced_box', 'reduced_decode_factor', 'resize_box',
    'resize_box_antialiased'
]
