from .device_crop import DeviceCropDataPreprocessor, decode_jpegs

__all__ = ['DeviceCropDataPreprocessor', 'decode_jpegs']
