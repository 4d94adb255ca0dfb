from .loading import (RobustLoadImageFromFile, UnreadableImageError,
                      decode_image)

__all__ = ['RobustLoadImageFromFile', 'UnreadableImageError', 'decode_image']
