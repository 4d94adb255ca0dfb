from .reconstruction import (PANEL_TITLES, add_caption, enlarge, pixel_mask,
                             reconstruction_figure, stack_rows, title_panel,
                             target_description, to_uint8_hwc)

__all__ = [
    'PANEL_TITLES', 'add_caption', 'enlarge', 'pixel_mask',
    'reconstruction_figure', 'stack_rows', 'target_description',
    'title_panel', 'to_uint8_hwc'
]
