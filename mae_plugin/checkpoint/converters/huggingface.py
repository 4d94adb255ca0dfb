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
import math
from typing import Optional, Tuple, Union

from mae_plugin.models import mae_config
from mae_plugin.models.backbones.mae_vit import arch_settings
from mae_plugin.models.factory import DEFAULT_DECODER
from mae_plugin.models.utils import DEFAULT_NORM_CFG, norm_cfg_over_default
from mae_plugin.utils import check_img_size

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


#: The decoder keys of :func:`~mae_plugin.models.mae_config` that a
#: ``ViTMAEConfig`` holds (``norm_cfg`` apart: one eps for all norms).
HF_DECODER_KEYS = ('embed_dims', 'num_layers', 'num_heads', 'mlp_ratio')


def _layer_norm_eps(name: str, norm_cfg: Optional[dict]) -> float:
    """The eps of a plugin ``norm_cfg`` (:data:`DEFAULT_NORM_CFG`'s, 1e-6,
    when None; one without ``type`` sets its keys over that default, as
    the models take it); ``ViTMAEConfig`` has layer norms only, of one
    ``layer_norm_eps``."""
    if norm_cfg is None:
        return DEFAULT_NORM_CFG['eps']
    norm_cfg = norm_cfg_over_default(norm_cfg)
    others = sorted(set(norm_cfg) - {'type', 'eps'})
    if norm_cfg.get('type') != 'LN' or others:
        raise ValueError(
            f'{name}={norm_cfg!r}: a ViTMAEConfig has layer norms '
            f"(dict(type='LN', eps=...)) and no other setting of them")
    return norm_cfg.get('eps', 1e-5)  # nn.LayerNorm's default


def hf_vitmae_config(arch: Union[str, dict] = 'base',
                     img_size: Union[int, Tuple[int, int]] = 224,
                     patch_size: int = 16,
                     decoder: Optional[dict] = None,
                     mask_ratio: float = 0.75,
                     norm_pix: bool = True,
                     in_channels: int = 3,
                     norm_cfg: Optional[dict] = None,
                     **kwargs):
    """The Hugging Face ``ViTMAEConfig`` of a plugin MAE architecture, with
    the plugin's layer-norm eps (1e-6); the arguments are named and mean
    as those of :func:`~mae_plugin.models.mae_config` (``decoder`` is the
    fourth positional one here).

    ``data_preprocessor`` has no place in a ``ViTMAEConfig`` (Hugging
    Face's image processor normalises the images) and is refused, as are
    ``ViTMAEConfig`` arguments that the plugin's ones set
    (``num_channels``: give ``in_channels``).

    Args:
        arch (str | dict): Encoder size, a name or a dict with
            ``embed_dims``, ``num_layers``, ``num_heads`` and
            ``feedforward_channels``, as :class:`MAEViT`'s ``arch``.
            Defaults to ``'base'``.
        img_size (int | tuple): Input side, or a square ``(H, W)`` (the
            Hugging Face model's position table is a square grid).
            Defaults to 224.
        patch_size (int): Patch side. Defaults to 16.
        decoder (dict, optional): Decoder ``embed_dims``, ``num_layers``,
            ``num_heads`` and ``mlp_ratio`` (:class:`MAEDecoder`'s
            defaults, those of
            :data:`~mae_plugin.models.factory.DEFAULT_DECODER`, for the
            ones left out) and a ``norm_cfg`` of the same eps as the
            encoder's. Defaults to
            :data:`~mae_plugin.models.factory.DEFAULT_DECODER`.
        mask_ratio (float): Fraction of patches removed. Defaults to 0.75.
        norm_pix (bool): Per-patch normalised pixel targets. Defaults to
            True.
        in_channels (int): Image channels (``num_channels``). Defaults to
            3.
        norm_cfg (dict, optional): Layer norms of encoder and decoder,
            ``dict(type='LN', eps=...)`` (``layer_norm_eps``). Defaults to
            None (the plugin's, eps 1e-6).
        **kwargs: Other ``ViTMAEConfig`` arguments (for example
            ``attn_implementation``).

    Returns:
        transformers.ViTMAEConfig: The config.

    Raises:
        ValueError: If an argument has no equivalent in ``ViTMAEConfig``:
            ``data_preprocessor``, a non-square ``img_size``, a norm other
            than a layer norm, decoder keys other than those above,
            different eps for encoder and decoder, or a ``ViTMAEConfig``
            argument that a plugin argument sets.
    """
    from transformers import ViTMAEConfig  # optional dependency
    if 'data_preprocessor' in kwargs:
        raise ValueError(
            'data_preprocessor: a ViTMAEConfig has no input normalisation '
            "(Hugging Face's image processor normalises the images)")
    arch = arch_settings(arch)
    height, width = check_img_size(img_size)
    if height != width:
        raise ValueError(
            f'img_size={img_size!r}: the Hugging Face ViTMAE position '
            f'table is a square grid; give a square size')
    decoder = {**DEFAULT_DECODER, **(decoder or {})}
    others = sorted(set(decoder) - {*HF_DECODER_KEYS, 'norm_cfg'})
    if others:
        raise ValueError(
            f'decoder keys {others}: a ViTMAEConfig holds the decoder\'s '
            f'{", ".join(HF_DECODER_KEYS)} only')
    eps = _layer_norm_eps('norm_cfg', norm_cfg)
    if 'norm_cfg' in decoder:
        decoder_eps = _layer_norm_eps("decoder['norm_cfg']",
                                      decoder['norm_cfg'])
        if decoder_eps != eps:
            raise ValueError(
                f"decoder['norm_cfg'] eps {decoder_eps} differs from the "
                f"encoder's {eps}: a ViTMAEConfig has one layer_norm_eps")
    settings = dict(
        hidden_size=arch['embed_dims'],
        num_hidden_layers=arch['num_layers'],
        num_attention_heads=arch['num_heads'],
        intermediate_size=arch['feedforward_channels'],
        image_size=height,
        patch_size=patch_size,
        num_channels=in_channels,
        decoder_hidden_size=decoder['embed_dims'],
        decoder_num_hidden_layers=decoder['num_layers'],
        decoder_num_attention_heads=decoder['num_heads'],
        decoder_intermediate_size=int(
            decoder['mlp_ratio'] * decoder['embed_dims']),
        mask_ratio=mask_ratio,
        norm_pix_loss=norm_pix,
        layer_norm_eps=eps)
    given_twice = sorted(set(settings) & set(kwargs))
    if given_twice:
        raise ValueError(
            f'{given_twice}: set by the plugin arguments (arch, img_size, '
            f'patch_size, in_channels, decoder, mask_ratio, norm_pix, '
            f'norm_cfg); give those')
    return ViTMAEConfig(**settings, **kwargs)


def _mlp_ratio(embed_dims: int, hidden: int) -> float:
    """The ``mlp_ratio`` from which :class:`MAEDecoder` makes MLPs of
    ``hidden`` units (``int(mlp_ratio * embed_dims)``): the plain quotient
    floors one unit short for some widths (``60 / 44 * 44`` is
    ``59.99...``), so it is raised by the fewest float steps that reach
    ``hidden``."""
    ratio = hidden / embed_dims
    while int(ratio * embed_dims) < hidden:
        ratio = math.nextafter(ratio, math.inf)
    return ratio


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
            mlp_ratio=_mlp_ratio(config.decoder_hidden_size,
                                 config.decoder_intermediate_size)),
        norm_pix=config.norm_pix_loss,
        norm_cfg=dict(type='LN', eps=config.layer_norm_eps),
        data_preprocessor=data_preprocessor)
