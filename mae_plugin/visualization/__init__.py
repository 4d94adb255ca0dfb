from .model_figures import (Reconstruction, as_rgb, caption_lines,
                            masking_name, masking_title, panel_titles,
                            reconstruction_figures)
from .reconstruction import (PANEL_TITLES, add_caption, enlarge, masked_mse,
                             pixel_mask, reconstruction_figure, stack_rows,
                             target_description, title_panel, to_uint8_hwc)

__all__ = [
    'PANEL_TITLES', 'Reconstruction', 'add_caption', 'as_rgb', 'caption_lines',
    'enlarge', 'masked_mse', 'masking_name', 'masking_title', 'panel_titles',
    'pixel_mask', 'reconstruction_figure', 'reconstruction_figures',
    'stack_rows', 'target_description', 'title_panel', 'to_uint8_hwc'
]
