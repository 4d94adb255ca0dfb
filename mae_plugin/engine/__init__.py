from .optimizers import LayerDecayOptimWrapperConstructor
from .package_paths import patch_mmengine_config
from .safe_loading import MMENGINE_CHECKPOINT_GLOBALS, allow_mmengine_checkpoints

allow_mmengine_checkpoints()
patch_mmengine_config()

__all__ = [
    'LayerDecayOptimWrapperConstructor', 'MMENGINE_CHECKPOINT_GLOBALS',
    'allow_mmengine_checkpoints', 'patch_mmengine_config'
]
