"""MAE (He et al., 2021) as an OpenMMLab 2.0 plugin.

Importing the package registers every component in the ``mae_plugin``
scope and, through :mod:`mae_plugin.checkpoint`, allowlists the types of
mmengine checkpoints for safe (``weights_only``) loading.
"""
import warnings

# With mmcv-lite (the demo's set-up) mmcv warns at import that its compiled
# deformable attention is missing; nothing here uses it, and mmdet/mmseg
# models that do fail loudly on their own.
warnings.filterwarnings(
    'ignore', message='Fail to import ``MultiScaleDeformableAttention``')

from . import apis, checkpoint, datasets, engine  # noqa: E402
from . import evaluation, models, visualization  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = [
    'apis', 'checkpoint', 'datasets', 'engine', 'evaluation', 'models',
    'visualization', '__version__'
]
