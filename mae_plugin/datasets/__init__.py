from .demo_photos import export_demo_photos

__all__ = ['export_demo_photos']
