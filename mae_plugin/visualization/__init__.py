from .reconstruction import (PANEL_TITLES, pixel_mask, reconstruction_figure,
                             to_uint8_hwc)

__all__ = [
    'PANEL_TITLES', 'pixel_mask', 'reconstruction_figure', 'to_uint8_hwc'
]
