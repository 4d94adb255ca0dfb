from .reconstruction import (PANEL_TITLES, add_caption, pixel_mask,
                             reconstruction_figure, stack_rows,
                             target_description, to_uint8_hwc)

__all__ = [
    'PANEL_TITLES', 'add_caption', 'pixel_mask', 'reconstruction_figure',
    'stack_rows', 'target_description', 'to_uint8_hwc'
]
