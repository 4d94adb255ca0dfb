from .mae_pixel_head import MAEPixelHead

__all__ = ['MAEPixelHead']
