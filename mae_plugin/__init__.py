"""MAE (He et al., 2021) as an OpenMMLab 2.0 plugin.

Importing the package registers every component in the ``mae_plugin``
scope and allowlists the types of mmengine checkpoints for safe
(``weights_only``) loading.
"""
from . import apis, datasets, engine, evaluation, models, visualization
from .version import __version__

__all__ = [
    'apis', 'datasets', 'engine', 'evaluation', 'models', 'visualization',
    '__version__'
]
