from .attention import (DEFAULT_NORM_CFG, TransformerBlock,
                        UnbindQKVAttention, norm_cfg_over_default, run_block)
from .init import (init_mae_weights, init_patch_projection, is_pretrained_init,
                   pretrained_entries)
from .patchify import (check_divisible, check_image_dtype, patchify,
                       unpatchify)
from .pos_embed import (check_sincos_dims, regenerate_sincos_on_load,
                        sincos_1d, sincos_2d, sincos_grid)

__all__ = [
    'DEFAULT_NORM_CFG', 'TransformerBlock', 'UnbindQKVAttention',
    'norm_cfg_over_default', 'run_block', 'init_mae_weights',
    'init_patch_projection', 'is_pretrained_init', 'pretrained_entries',
    'check_divisible', 'check_image_dtype', 'check_sincos_dims',
    'patchify', 'unpatchify',
    'regenerate_sincos_on_load', 'sincos_1d', 'sincos_2d', 'sincos_grid'
]
