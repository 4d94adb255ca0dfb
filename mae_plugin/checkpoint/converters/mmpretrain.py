"""mmpretrain's own ``MAE`` (``MAEViT`` + ``MAEPretrainDecoder``) <->
plugin.

The encoders share every key (both are ``VisionTransformer`` subclasses);
the decoders differ only in the name of the final norm: mmpretrain's
``neck.ln1`` is the plugin's ``neck.decoder_norm``.

mmpretrain numbers the positions of its fixed sin-cos embeddings column
by column, the official code and the plugin row by row (on a square grid,
mmpretrain's table is the plugin's with each patch's row and column
swapped). The converter copies ``pos_embed`` and ``decoder_pos_embed`` as
stored, so the converted model computes exactly what the mmpretrain model
computes on the same grid; the plugin's encoder and decoder tell that
layout from the loaded tables and keep it on every other grid.
"""
from typing import Tuple

from .key_map import (DECODER_BLOCK, ENCODER_BLOCK, PLUGIN_BLOCK,
                      ConversionReport, Rule, StateDict, convert_state_dict,
                      decoder_part, encoder_part, exporter, module_rules)

MMPRETRAIN = 'mmpretrain MAE'

#: The encoder's tensors outside the blocks: the same keys in both.
ENCODER_RULES = [
    Rule(key, (key, )) for key in ('backbone.cls_token', 'backbone.pos_embed')
] + module_rules(
    [(m, m) for m in ('backbone.patch_embed.projection', 'backbone.ln1')])
ENCODER = encoder_part(ENCODER_RULES, ENCODER_BLOCK, PLUGIN_BLOCK)
DECODER = decoder_part('neck.', DECODER_BLOCK, PLUGIN_BLOCK, norm='ln1')
MMPRETRAIN_LAYOUT = (ENCODER, DECODER)
POS_EMBED_NOTE = (
    'pos_embed/decoder_pos_embed copied as stored: mmpretrain numbers the '
    'sin-cos positions column by column, the plugin row by row; the plugin '
    "keeps mmpretrain's layout for these weights on every grid")


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


convert_to_mmpretrain_mae = exporter(
    'convert_to_mmpretrain_mae', MMPRETRAIN_LAYOUT, MMPRETRAIN,
    [POS_EMBED_NOTE], """Plugin -> mmpretrain ``MAE`` (the inverse of
    :func:`convert_mmpretrain_mae`).""")
