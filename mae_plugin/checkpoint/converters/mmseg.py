"""Plugin -> the backbones of mmsegmentation: ``VisionTransformer`` and
``MAE``.

Both read ``checkpoint['state_dict']`` (or the bare dict) with backbone
keys and no prefix, in their own ``init_weights``; they resize a square
``pos_embed`` bicubically themselves.

* ``VisionTransformer`` keeps attention in ``nn.MultiheadAttention``:
  ``qkv`` becomes ``attn.attn.in_proj_weight``/``in_proj_bias`` (the same
  ``[q; k; v]`` rows), ``proj`` becomes ``attn.attn.out_proj``. Build it
  with ``patch_bias=True``, ``final_norm=True`` and
  ``norm_cfg=dict(type='LN', eps=1e-6)``.
* ``MAE`` (BEiT-style) has the plugin's key names. Its relative position
  tables (and their index buffers) and layer scales ``gamma_1/2`` are
  converted when the source has them (a ``DenseViT`` with
  ``use_rel_pos_bias=True``); MAE pretraining has neither, and mmseg's
  ``MAE`` then keeps its own initialisation (zero tables, layer scales at
  ``init_values``), as in the MAE paper's segmentation recipe. Build it
  as mmseg's ADE20K config does (:data:`MMSEG_MAE_KWARGS`): layer scales
  started at ``init_values=1.0`` (mmseg's default, 0.1, scales every
  block's residual branches by 0.1, so the loaded encoder computes other
  features than the plugin's: 2.0 apart on a 2-block test encoder) and
  without a final norm (the checkpoint's ``ln1`` is then unused;
  ``final_norm=True`` would use it).
"""
from typing import Tuple

from .key_map import (ENCODER_BLOCK, PLUGIN_BLOCK, Part, Rule, encoder_part,
                      exporter, module_rules)

GLOBAL_RULES = (Rule('backbone.cls_token', ('cls_token', )),
                Rule('backbone.pos_embed', ('pos_embed', )),
                *module_rules([('backbone.patch_embed.projection',
                                'patch_embed.projection'),
                               ('backbone.ln1', 'ln1')]))
PLUGIN_LAYER = ENCODER_BLOCK
MMSEG_LAYER = 'layers.{i}.'


def _same_name_part(name: str, keys: Tuple[str, ...]) -> Part:
    """A part of per-block keys named alike in the plugin and mmseg."""
    return Part(
        name,
        rules=(),
        blocks=tuple(
            Rule(PLUGIN_LAYER + key, (MMSEG_LAYER + key, )) for key in keys),
        plugin_block=PLUGIN_LAYER,
        foreign_block=MMSEG_LAYER)


MMSEG_MAE_LAYOUT = (
    encoder_part(GLOBAL_RULES, MMSEG_LAYER, PLUGIN_BLOCK),
    # DenseViT(use_rel_pos_bias=True, layer_scale_init_value > 0)
    _same_name_part(
        'relative position bias',
        ('attn.relative_position_bias_table', 'attn.relative_position_index')),
    _same_name_part('layer scale', ('gamma_1', 'gamma_2')),
)

MMSEG_VIT_LAYOUT = (Part(
    'encoder',
    rules=GLOBAL_RULES,
    blocks=tuple([
        Rule(PLUGIN_LAYER + f'attn.qkv.{param}',
             (MMSEG_LAYER + f'attn.attn.in_proj_{param}', ))
        for param in ('weight', 'bias')
    ] + module_rules([(PLUGIN_LAYER + plugin, MMSEG_LAYER + mmseg)
                      for plugin, mmseg in (
                          ('ln1', 'ln1'), ('attn.proj', 'attn.attn.out_proj'),
                          ('ln2', 'ln2'), ('ffn.layers.0.0', 'ffn.layers.0.0'),
                          ('ffn.layers.1', 'ffn.layers.1'))])),
    plugin_block=PLUGIN_LAYER,
    foreign_block=MMSEG_LAYER), )

#: What to build each mmseg backbone with, for the reports.
VIT_NOTE = ("VisionTransformer(patch_bias=True, final_norm=True, "
            "norm_cfg=dict(type='LN', eps=1e-6))")
#: mmseg ``MAE`` arguments under which a converted MAE encoder computes
#: the plugin's features (with the zero relative position tables it keeps).
MMSEG_MAE_KWARGS = dict(init_values=1.0, norm_cfg=dict(type='LN', eps=1e-6))
MAE_NOTE = ("MAE(init_values=1.0, norm_cfg=dict(type='LN', eps=1e-6)), as "
            "mmseg's ADE20K config (mmseg's default init_values=0.1 would "
            "scale every block's residual branches by 0.1; final_norm=True "
            "would also normalise the last block's features, which that "
            'recipe does not); relative position tables and gamma_1/gamma_2 '
            "not in the source keep mmseg's initialisation (zeros, "
            'init_values)')

convert_to_mmseg_vit = exporter(
    'convert_to_mmseg_vit', MMSEG_VIT_LAYOUT, 'mmseg VisionTransformer',
    [VIT_NOTE], """Plugin -> mmseg ``VisionTransformer``; save as
    ``{'state_dict': state_dict}``.""")

convert_to_mmseg_mae = exporter(
    'convert_to_mmseg_mae', MMSEG_MAE_LAYOUT, 'mmseg MAE', [MAE_NOTE],
    """Plugin -> mmseg ``MAE`` backbone; save as
    ``{'state_dict': state_dict}``.""")
