"""mmpretrain's own ``MAE`` (``MAEViT`` + ``MAEPretrainDecoder``) <->
plugin.

The encoders share every key (both are ``VisionTransformer`` subclasses);
the decoders differ only in the name of the final norm: mmpretrain's
``neck.ln1`` is the plugin's ``neck.decoder_norm``.

mmpretrain builds its fixed sin-cos embeddings transposed with respect to
the official code and the plugin (the row in the first half of the
channels, not the column). The converter copies ``pos_embed`` and
``decoder_pos_embed`` as stored, so the converted model computes exactly
what the mmpretrain model computes on the same grid; on another grid the
plugin regenerates its own (column-first) sin-cos.
"""
from typing import Tuple

from .key_map import (PLUGIN_BLOCK, ConversionReport, Part, Rule, StateDict,
                      block_rules, convert_state_dict, module_rules)

MMPRETRAIN = 'mmpretrain MAE'


def _same(*keys: str) -> Tuple[Rule, ...]:
    return tuple(Rule(key, (key, )) for key in keys)


ENCODER = Part(
    'encoder',
    rules=_same('backbone.cls_token', 'backbone.pos_embed') + tuple(
        module_rules([
            (m, m) for m in ('backbone.patch_embed.projection', 'backbone.ln1')
        ])),
    blocks=tuple(
        block_rules('backbone.layers.{i}.', 'backbone.layers.{i}.',
                    PLUGIN_BLOCK)),
    plugin_block='backbone.layers.{i}.',
    foreign_block='backbone.layers.{i}.')
DECODER = Part(
    'decoder',
    rules=_same('neck.mask_token', 'neck.decoder_pos_embed') + tuple(
        module_rules([('neck.decoder_embed', 'neck.decoder_embed'),
                      ('neck.decoder_norm', 'neck.ln1'),
                      ('neck.decoder_pred', 'neck.decoder_pred')])),
    blocks=tuple(
        block_rules('neck.decoder_blocks.{i}.', 'neck.decoder_blocks.{i}.',
                    PLUGIN_BLOCK)),
    plugin_block='neck.decoder_blocks.{i}.',
    foreign_block='neck.decoder_blocks.{i}.')
MMPRETRAIN_LAYOUT = (ENCODER, DECODER)
POS_EMBED_NOTE = (
    'pos_embed/decoder_pos_embed copied as stored: mmpretrain encodes the '
    'row in the first half of the channels, the plugin the column; the '
    'copy keeps the numbers of the source model at its grid')


def convert_mmpretrain_mae(
        state_dict: StateDict,
        progress: bool = False) -> Tuple[StateDict, ConversionReport]:
    """mmpretrain ``MAE`` state dict -> plugin.

    Args:
        state_dict (dict): ``state_dict`` of an mmpretrain MAE checkpoint.
        progress (bool): Show a progress bar. Defaults to False.

    Returns:
        tuple: plugin state dict and :class:`ConversionReport`.
    """
    return convert_state_dict(
        state_dict,
        MMPRETRAIN_LAYOUT,
        True,
        MMPRETRAIN,
        'plugin',
        progress,
        notes=[POS_EMBED_NOTE])


def convert_to_mmpretrain_mae(
        state_dict: StateDict,
        progress: bool = False) -> Tuple[StateDict, ConversionReport]:
    """Plugin -> mmpretrain ``MAE`` (the inverse of
    :func:`convert_mmpretrain_mae`)."""
    return convert_state_dict(
        state_dict,
        MMPRETRAIN_LAYOUT,
        False,
        'plugin',
        MMPRETRAIN,
        progress,
        notes=[POS_EMBED_NOTE])
