"""Checkpoint converters: official MAE, Hugging Face ViTMAE and mmpretrain
MAE to the plugin and back, and the plugin to timm, mmseg and ViTDet.

Every converter takes a state dict and returns ``(state_dict, report)``;
:func:`load_state_dict_file` reads checkpoints with
``torch.load(weights_only=True)`` and :func:`load_weights` loads the
result into a model, fitting position embeddings to its grid::

    from mae_plugin.converters import (convert_official_mae, load_weights,
                                       load_state_dict_file)
    state_dict, report = convert_official_mae(
        load_state_dict_file('mae_pretrain_vit_base.pth'))
    print(report.summary())
    print(load_weights(model, state_dict).summary())
"""
from .checkpoint import (LoadReport, fit_position_embeddings,
                         load_prefixed_state_dict, load_state_dict_file,
                         load_weights, read_checkpoint_file)
from .files import FORMATS, convert_checkpoint, detect_format
from .huggingface import (convert_hf_vitmae, convert_to_hf_vitmae,
                          mae_config_from_hf)
from .key_map import ConversionReport
from .mmpretrain import convert_mmpretrain_mae, convert_to_mmpretrain_mae
from .mmseg import convert_to_mmseg_mae, convert_to_mmseg_vit
from .official import (convert_official_mae, convert_to_official_mae,
                       convert_to_timm_vit, convert_to_vitdet)
from .publish import publish_checkpoint, sha256_of

__all__ = [
    'ConversionReport', 'FORMATS', 'LoadReport', 'convert_checkpoint',
    'convert_hf_vitmae', 'convert_mmpretrain_mae', 'convert_official_mae',
    'convert_to_hf_vitmae', 'convert_to_mmpretrain_mae',
    'convert_to_mmseg_mae', 'convert_to_mmseg_vit', 'convert_to_official_mae',
    'convert_to_timm_vit', 'convert_to_vitdet', 'detect_format',
    'fit_position_embeddings', 'load_prefixed_state_dict',
    'load_state_dict_file', 'load_weights', 'mae_config_from_hf',
    'publish_checkpoint', 'read_checkpoint_file', 'sha256_of'
]
