from .demo_photos import export_demo_photos
from .transforms import (RobustLoadImageFromFile, UnreadableImageError,
                         decode_image)

__all__ = [
    'export_demo_photos', 'RobustLoadImageFromFile', 'UnreadableImageError',
    'decode_image'
]
