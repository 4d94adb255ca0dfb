"""Checkpoint converters: official MAE, Hugging Face ViTMAE and mmpretrain
MAE to the plugin and back, and the plugin to timm, mmseg and ViTDet.

Every converter takes a state dict and returns ``(state_dict, report)``;
:func:`convert_checkpoint` converts whole files.
"""
from .files import (FORMATS, SOURCE_FORMATS, PartialConversionError,
                    conversion_hint, convert_checkpoint, detect_format)
from .huggingface import (convert_hf_vitmae, convert_to_hf_vitmae,
                          hf_vitmae_config, mae_config_from_hf)
from .key_map import ConversionReport
from .mmpretrain import convert_mmpretrain_mae, convert_to_mmpretrain_mae
from .mmseg import convert_to_mmseg_mae, convert_to_mmseg_vit
from .official import (convert_official_mae, convert_to_official_mae,
                       convert_to_timm_vit, convert_to_vitdet)

__all__ = [
    'ConversionReport', 'FORMATS', 'PartialConversionError',
    'SOURCE_FORMATS', 'conversion_hint', 'convert_checkpoint',
    'convert_hf_vitmae',
    'convert_mmpretrain_mae', 'convert_official_mae', 'convert_to_hf_vitmae',
    'convert_to_mmpretrain_mae', 'convert_to_mmseg_mae',
    'convert_to_mmseg_vit', 'convert_to_official_mae', 'convert_to_timm_vit',
    'convert_to_vitdet', 'detect_format', 'hf_vitmae_config',
    'mae_config_from_hf'
]
