"""Hugging Face ``ViTMAEForPreTraining`` / ``ViTMAEModel`` <-> plugin.

Hugging Face keeps query, key and value as three Linear layers; the plugin
(like the official code) has one ``qkv`` layer whose output rows are
``[q; k; v]``, so they are concatenated one way and split the other.
``ViTMAEForPreTraining`` prefixes the encoder with ``vit.``,
``ViTMAEModel`` has no prefix and no decoder.

Hugging Face's layer norms default to ``eps=1e-12``, the plugin's (and the
official code's) to ``1e-6``: :func:`hf_vitmae_config` builds the HF
config of a plugin architecture with the plugin's eps, and
:func:`mae_config_from_hf` the plugin config of an HF one.
"""
import copy
from typing import Optional, Tuple

from mae_plugin.models import mae_config
from mae_plugin.models.factory import DEFAULT_DECODER

from .key_map import (ConversionReport, Part, Rule, StateDict,
                      convert_state_dict, decoder_part, encoder_part,
                      module_rules)

HF = 'Hugging Face ViTMAE'
HF_BLOCK = ('layernorm_before',
            ('attention.attention.query', 'attention.attention.key',
             'attention.attention.value'), 'attention.output.dense',
            'layernorm_after', 'intermediate.dense', 'output.dense')


def _encoder(prefix: str) -> Part:
    """The encoder of ``ViTMAEModel`` (``prefix=''``) or of
    ``ViTMAEForPreTraining`` (``prefix='vit.'``)."""
    return encoder_part(
        (Rule('backbone.cls_token', (f'{prefix}embeddings.cls_token', )),
         Rule('backbone.pos_embed',
              (f'{prefix}embeddings.position_embeddings', )),
         *module_rules([('backbone.patch_embed.projection',
                         f'{prefix}embeddings.patch_embeddings.projection'),
                        ('backbone.ln1', f'{prefix}layernorm')])),
        prefix + 'encoder.layer.{i}.', HF_BLOCK)


DECODER = decoder_part('decoder.', 'decoder.decoder_layers.{i}.', HF_BLOCK)
PRETRAINING_LAYOUT = (_encoder('vit.'), DECODER)
MODEL_LAYOUT = (_encoder(''), )

#: The input normalisation of the Hugging Face MAE models: the ImageNet
#: mean and standard deviation of ``facebook/vit-mae-*``'s image processor
#: configs (and of the official code), on RGB images; scaled to 0-255 and
#: in the form of the plugin's configs (``configs/_base_/models``), whose
#: loaders give BGR images (``to_rgb=True``). ``ViTImageProcessor``'s own
#: defaults (0.5, 0.5) are not those of the MAE checkpoints.
HF_DATA_PREPROCESSOR = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

NOTES = [
    'query/key/value concatenated into qkv (and split back)',
    'position embeddings copied as stored (fixed sin-cos, the plugin '
    'layout)',
    'use layer_norm_eps=1e-6 in the HF config (its default is 1e-12)'
]


def convert_hf_vitmae(
        state_dict: StateDict,
        progress: bool = False) -> Tuple[StateDict, ConversionReport]:
    """``ViTMAEForPreTraining`` or ``ViTMAEModel`` state dict -> plugin.

    Args:
        state_dict (dict): The Hugging Face model's state dict.
        progress (bool): Show a progress bar. Defaults to False.

    Returns:
        tuple: plugin state dict and :class:`ConversionReport`.
    """
    pretraining = any(k.startswith('vit.') for k in state_dict)
    layout = PRETRAINING_LAYOUT if pretraining else MODEL_LAYOUT
    return convert_state_dict(
        state_dict, layout, True, HF, 'plugin', progress, notes=NOTES)


def convert_to_hf_vitmae(
        state_dict: StateDict,
        pretraining: bool = True,
        progress: bool = False) -> Tuple[StateDict, ConversionReport]:
    """Plugin -> Hugging Face ViTMAE.

    Args:
        state_dict (dict): Plugin state dict (``backbone.*``, ``neck.*``).
        pretraining (bool): ``ViTMAEForPreTraining`` keys (encoder under
            ``vit.``, plus the decoder) if True, else ``ViTMAEModel`` keys
            (the decoder reported as a ``dropped`` part). Defaults to
            True.
        progress (bool): Show a progress bar. Defaults to False.

    Returns:
        tuple: Hugging Face state dict and :class:`ConversionReport`.
    """
    layout = PRETRAINING_LAYOUT if pretraining else MODEL_LAYOUT
    return convert_state_dict(
        state_dict, layout, False, 'plugin', HF, progress, notes=NOTES)


def hf_vitmae_config(arch: dict,
                     img_size: int,
                     patch_size: int,
                     decoder: Optional[dict] = None,
                     mask_ratio: float = 0.75,
                     norm_pix: bool = True,
                     **kwargs):
    """The Hugging Face ``ViTMAEConfig`` of a plugin MAE architecture, with
    the plugin's layer-norm eps (1e-6); the arguments are those of
    :func:`~mae_plugin.models.mae_config`.

    Args:
        arch (dict): Encoder ``embed_dims``, ``num_layers``, ``num_heads``
            and ``feedforward_channels``, as :class:`MAEViT`'s ``arch``.
        img_size (int): Input side.
        patch_size (int): Patch side.
        decoder (dict, optional): Decoder ``embed_dims``, ``num_layers``,
            ``num_heads`` and ``mlp_ratio`` (4 when left out). Defaults to
            the paper's, :data:`~mae_plugin.models.factory.DEFAULT_DECODER`.
        mask_ratio (float): Fraction of patches removed. Defaults to 0.75.
        norm_pix (bool): Per-patch normalised pixel targets. Defaults to
            True.
        **kwargs: Other ``ViTMAEConfig`` arguments (for example
            ``attn_implementation``).

    Returns:
        transformers.ViTMAEConfig: The config.
    """
    from transformers import ViTMAEConfig  # optional dependency
    decoder = decoder or DEFAULT_DECODER
    return ViTMAEConfig(
        hidden_size=arch['embed_dims'],
        num_hidden_layers=arch['num_layers'],
        num_attention_heads=arch['num_heads'],
        intermediate_size=arch['feedforward_channels'],
        image_size=img_size,
        patch_size=patch_size,
        decoder_hidden_size=decoder['embed_dims'],
        decoder_num_hidden_layers=decoder['num_layers'],
        decoder_num_attention_heads=decoder['num_heads'],
        decoder_intermediate_size=int(
            decoder.get('mlp_ratio', 4.) * decoder['embed_dims']),
        mask_ratio=mask_ratio,
        norm_pix_loss=norm_pix,
        layer_norm_eps=1e-6,
        **kwargs)


def mae_config_from_hf(config,
                       data_preprocessor: Optional[dict] = None) -> dict:
    """The plugin ``MAE`` model config of a Hugging Face ``ViTMAEConfig``.

    The model normalises its inputs as the Hugging Face MAE models expect
    them (the ``ViTMAEConfig`` does not say it, their image processor
    does): 3-channel images get :data:`HF_DATA_PREPROCESSOR`, the ImageNet
    mean and standard deviation of ``facebook/vit-mae-*``'s image
    processors on RGB (the plugin's loaders give BGR, so ``to_rgb=True``);
    a model fed the same image through it and Hugging Face's
    ``ViTImageProcessor`` with those statistics computes the same loss.

    Args:
        config (transformers.ViTMAEConfig): Hugging Face config.
        data_preprocessor (dict, optional): The model's data preprocessor,
            for an image processor with other statistics or images of
            other than 3 channels. Defaults to None
            (:data:`HF_DATA_PREPROCESSOR` for 3 channels).

    Returns:
        dict: ``MAE`` config with backbone, neck, head and
        data_preprocessor.

    Raises:
        ValueError: If the config differs from the MAE architecture the
            plugin builds (non-GELU activation, no qkv bias, dropout), or
            has other than 3 channels and no ``data_preprocessor`` is
            given.
    """
    checks = [('hidden_act', config.hidden_act, 'gelu'),
              ('qkv_bias', config.qkv_bias, True),
              ('hidden_dropout_prob', config.hidden_dropout_prob, 0.0),
              ('attention_probs_dropout_prob',
               config.attention_probs_dropout_prob, 0.0)]
    for name, value, expected in checks:
        if value != expected:
            raise ValueError(f'ViTMAEConfig.{name}={value!r}: the plugin '
                             f'builds {expected!r}')
    if data_preprocessor is None:
        if config.num_channels != 3:
            raise ValueError(
                f'ViTMAEConfig.num_channels={config.num_channels}: the '
                f'ImageNet RGB normalisation of the Hugging Face MAE models '
                f'is for 3 channels; give the data_preprocessor (mean and '
                f'std of each channel, 0-255) of these images')
        data_preprocessor = copy.deepcopy(HF_DATA_PREPROCESSOR)
    return mae_config(
        arch=dict(
            embed_dims=config.hidden_size,
            num_layers=config.num_hidden_layers,
            num_heads=config.num_attention_heads,
            feedforward_channels=config.intermediate_size),
        img_size=config.image_size,
        patch_size=config.patch_size,
        in_channels=config.num_channels,
        mask_ratio=config.mask_ratio,
        decoder=dict(
            embed_dims=config.decoder_hidden_size,
            num_layers=config.decoder_num_hidden_layers,
            num_heads=config.decoder_num_attention_heads,
            mlp_ratio=config.decoder_intermediate_size /
            config.decoder_hidden_size),
        norm_pix=config.norm_pix_loss,
        norm_cfg=dict(type='LN', eps=config.layer_norm_eps),
        data_preprocessor=data_preprocessor)
