"""The official MAE layout (facebookresearch/mae, timm names) <-> plugin,
and the layouts of timm's VisionTransformer and mmdet's ViTDet backbone,
which read the same encoder names.

Official checkpoints are ``{'model': state_dict}`` with

* encoder: ``cls_token``, ``pos_embed``, ``patch_embed.proj.*``,
  ``blocks.{i}.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*``,
  ``norm.*`` (pretrained, or fine-tuned on the class token);
* decoder (full pretrained): ``mask_token``, ``decoder_pos_embed``,
  ``decoder_embed.*``, ``decoder_blocks.{i}.*``, ``decoder_norm.*``,
  ``decoder_pred.*``;
* classifier (fine-tuned): ``fc_norm.*`` (global pooling, ``norm``
  removed) and ``head.*``; (linearly probed, on the class token after
  ``norm`` or, with global pooling, ``fc_norm``): ``head.0.*``, the
  statistics of a BatchNorm without affine parameters, and ``head.1.*``,
  the linear classifier.

On the plugin side the encoder is ``backbone.*`` (the keys of
``mmpretrain.models.VisionTransformer``), the decoder ``neck.*``
(:class:`MAEDecoder`) and the classifier ``backbone.ln2`` (the norm after
average pooling) plus ``head.fc.*`` (mmpretrain's ``LinearClsHead``), so a
fine-tuned checkpoint loads into an mmpretrain ``ImageClassifier``; a linear
probe's BatchNorm is ``neck.bn.*`` (mmpretrain's ``ClsBatchNormNeck``).
"""
import math
from typing import List, Tuple

from mae_plugin.models.utils import sincos_grid
from .key_map import (TIMM_BLOCK, ConversionReport, Part, Rule, StateDict,
                      convert_state_dict, decoder_part, encoder_part, exporter,
                      module_rules)

OFFICIAL = 'official MAE'

ENCODER_RULES = (Rule('backbone.cls_token', ('cls_token', )),
                 Rule('backbone.pos_embed', ('pos_embed', )), *module_rules([
                     ('backbone.patch_embed.projection', 'patch_embed.proj')
                 ]))
ENCODER = encoder_part(ENCODER_RULES, 'blocks.{i}.', TIMM_BLOCK)
FINAL_NORM = Part('final norm',
                  tuple(module_rules([('backbone.ln1', 'norm')])))
FC_NORM = Part('fc_norm (global pool)',
               tuple(module_rules([('backbone.ln2', 'fc_norm')])))
HEAD = Part('classifier head', tuple(module_rules([('head.fc', 'head')])))
LINEAR_PROBE_HEAD = Part(
    'linear-probe head (BatchNorm, classifier)',
    tuple(
        module_rules([('neck.bn', 'head.0')],
                     ('running_mean', 'running_var', 'num_batches_tracked')) +
        module_rules([('head.fc', 'head.1')])))
DECODER = decoder_part('', 'decoder_blocks.{i}.', TIMM_BLOCK)

OFFICIAL_LAYOUT = (ENCODER, FINAL_NORM, FC_NORM, HEAD, DECODER)
#: The same with the linear probe's head in place of the fine-tuned one
#: (both would claim the classifier).
LINEAR_PROBE_LAYOUT = (ENCODER, FINAL_NORM, FC_NORM, LINEAR_PROBE_HEAD)
TIMM_LAYOUT = (ENCODER, FINAL_NORM, FC_NORM, HEAD)
VITDET_LAYOUT = (Part(
    'encoder',
    rules=(Rule('backbone.pos_embed', ('pos_embed', )), *module_rules(
        [('backbone.patch_embed.projection', 'patch_embed.proj')])),
    blocks=ENCODER.blocks,
    plugin_block=ENCODER.plugin_block,
    foreign_block=ENCODER.foreign_block), )

#: The official names of the position embeddings and the plugin's.
POS_EMBED_KEYS = (('pos_embed', 'backbone.pos_embed'),
                  ('decoder_pos_embed', 'neck.decoder_pos_embed'))


def pos_embed_notes(state_dict: StateDict, to_plugin: bool) -> List[str]:
    """What the conversion does with the position embeddings that
    ``state_dict`` holds (none: no note): fixed sin-cos tables are the
    plugin's layout; learned ones (a fine-tuned encoder's) are copied as
    values of their own."""
    sincos, learned = [], []
    for official, plugin in POS_EMBED_KEYS:
        stored = state_dict.get(official if to_plugin else plugin)
        if stored is not None:
            kind = sincos if sincos_grid(stored) else learned
            kind.append(official)
    notes = []
    if sincos:
        notes.append(
            f'{"/".join(sincos)} copied as stored: the official fixed 2D '
            'sin-cos (column in the first half of the channels) is the '
            "plugin's layout")
    if learned:
        notes.append(
            f'{"/".join(learned)} copied as stored: learned values (as '
            'fine-tuning leaves them), not a fixed sin-cos table')
    return notes


def convert_official_mae(
        state_dict: StateDict,
        progress: bool = False) -> Tuple[StateDict, ConversionReport]:
    """Official MAE (encoder-only, full pretrained or fine-tuned) ->
    plugin.

    Args:
        state_dict (dict): The ``model`` entry of an official checkpoint.
        progress (bool): Show a progress bar. Defaults to False.

    Returns:
        tuple: plugin state dict (``backbone.*``, ``neck.*``,
        ``head.fc.*`` as present) and the :class:`ConversionReport`.
    """
    notes = pos_embed_notes(state_dict, to_plugin=True)
    linear_probe = 'head.0.running_mean' in state_dict
    if linear_probe:
        backbone = ("out_type='avg_featmap', final_norm=False"
                    if 'fc_norm.weight' in state_dict else
                    "out_type='cls_token', final_norm=True")
        notes.append(
            f'linearly probed: load into mmpretrain VisionTransformer('
            f'{backbone}) with a ClsBatchNormNeck(affine=False, eps=1e-6) '
            'and a LinearClsHead')
    elif 'fc_norm.weight' in state_dict:
        notes.append(
            'fine-tuned with global pooling: load into mmpretrain '
            "VisionTransformer(out_type='avg_featmap', final_norm=False) "
            'with a LinearClsHead (fc_norm -> backbone.ln2)')
    elif 'head.weight' in state_dict:
        notes.append(
            'fine-tuned on the class token: load into mmpretrain '
            "VisionTransformer(out_type='cls_token') with a LinearClsHead")
    layout = LINEAR_PROBE_LAYOUT if linear_probe else OFFICIAL_LAYOUT
    return convert_state_dict(state_dict, layout, True, OFFICIAL, 'plugin',
                              progress, notes)


def convert_to_official_mae(
        state_dict: StateDict,
        progress: bool = False) -> Tuple[StateDict, ConversionReport]:
    """Plugin -> official MAE layout (the inverse of
    :func:`convert_official_mae`); save it as ``{'model': state_dict}``.

    A linear probe (``neck.bn.*``) gets the official linear probe's head,
    ``head.0`` (BatchNorm) and ``head.1`` (classifier).
    """
    layout = (LINEAR_PROBE_LAYOUT if 'neck.bn.running_mean' in state_dict
              else OFFICIAL_LAYOUT)
    return convert_state_dict(state_dict, layout, False, 'plugin', OFFICIAL,
                              progress,
                              pos_embed_notes(state_dict, to_plugin=False))

convert_to_timm_vit = exporter(
    'convert_to_timm_vit', TIMM_LAYOUT, 'timm ViT', [
        "timm VisionTransformer(class_token=True, qkv_bias=True, "
        "norm_layer=LayerNorm(eps=1e-6)); use global_pool='avg' when "
        'fc_norm is present'
    ], """Plugin -> timm ``VisionTransformer`` (encoder, norms, head).

    The decoder is not part of timm's model: it is reported as one
    ``dropped`` part. Save as ``{'model': state_dict}`` or bare; timm reads
    both.""")


def convert_to_vitdet(
        state_dict: StateDict,
        progress: bool = False) -> Tuple[StateDict, ConversionReport]:
    """Plugin -> mmdet's ViTDet ``ViT`` backbone (projects/ViTDet).

    ViTDet reads ``checkpoint['model']`` with timm block names: save the
    result as ``{'model': state_dict}``. It has no class token and no
    final norm (reported, with the decoder, as ``dropped`` parts); it
    keeps the pretraining ``pos_embed`` with its class row and
    interpolates the square grid at run time, and initialises its
    relative positions to zero.

    Raises:
        ValueError: If the position embedding's grid is not square.
    """
    out, report = convert_state_dict(state_dict, VITDET_LAYOUT, False,
                                     'plugin', 'ViTDet', progress)
    if 'pos_embed' in out and 'patch_embed.proj.weight' in out:
        num_patches = out['pos_embed'].shape[1] - 1
        side = math.isqrt(num_patches)
        if side * side != num_patches:
            raise ValueError(
                f'backbone.pos_embed: ViTDet needs a square pretraining '
                f'grid, got {num_patches} patches')
        patch = out['patch_embed.proj.weight'].shape[-1]
        report.notes.append(
            f'ViT(patch_size={patch}, pretrain_img_size={side * patch}, '
            "pretrain_use_cls_token=True, norm_cfg=dict(type='LN', "
            'eps=1e-6))')
    return out, report
