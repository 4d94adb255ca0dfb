"""Checkpoints: read a file safely, select a prefix, convert between
layouts, fit position embeddings, load into a model, and report every key
in one :class:`LoadReport`.

The layer sits above ``models`` (it knows the plugin's modules, for their
position embeddings) and below ``engine`` (whose hooks check what a run
loaded with :func:`compare_with_checkpoint`). Importing it allowlists the
types of mmengine checkpoints for ``torch.load(weights_only=True)`` and
makes that mmengine's loader of local files and URLs
(:mod:`.safe_loading`), and
registers the weight initializers of :mod:`.pretrained_init`::

    from mae_plugin.checkpoint import (convert_official_mae, load_weights,
                                       load_state_dict_file)
    state_dict, report = convert_official_mae(
        load_state_dict_file('mae_pretrain_vit_base.pth'))
    print(report.summary())
    print(load_weights(model, state_dict).summary())
"""
from .converters import (FORMATS, SOURCE_FORMATS, ConversionReport,
                         PartialConversionError, conversion_hint,
                         convert_checkpoint, convert_hf_vitmae,
                         convert_mmpretrain_mae, convert_official_mae,
                         convert_to_hf_vitmae,
                         convert_to_mmpretrain_mae, convert_to_mmseg_mae,
                         convert_to_mmseg_vit, convert_to_official_mae,
                         convert_to_timm_vit, convert_to_vitdet, detect_format,
                         hf_vitmae_config, mae_config_from_hf)
from .loading import (compare_with_checkpoint, load_encoder_weights,
                      load_weights)
from .position import fit_position_embeddings
from .pretrained_init import CountingPretrainedInit, PretrainedEncoderInit
from .publish import GRADS_KEY, drop_optimizer_state, publish_checkpoint
from .reading import (check_checkpoint_path, load_prefixed_state_dict,
                      load_state_dict_file, read_checkpoint_file,
                      weights_of)
from .report import LoadReport, compare_state_dicts
from .safe_loading import (MMENGINE_CHECKPOINT_GLOBALS,
                           allow_mmengine_checkpoints, load_checkpoint_safely,
                           load_from_http_safely, load_from_local_safely,
                           use_safe_loaders)

allow_mmengine_checkpoints()
use_safe_loaders()

__all__ = [
    'ConversionReport', 'CountingPretrainedInit', 'FORMATS', 'GRADS_KEY',
    'LoadReport',
    'MMENGINE_CHECKPOINT_GLOBALS', 'PartialConversionError',
    'PretrainedEncoderInit', 'SOURCE_FORMATS',
    'allow_mmengine_checkpoints', 'check_checkpoint_path',
    'compare_state_dicts',
    'compare_with_checkpoint', 'conversion_hint', 'convert_checkpoint',
    'convert_hf_vitmae',
    'convert_mmpretrain_mae', 'convert_official_mae', 'convert_to_hf_vitmae',
    'convert_to_mmpretrain_mae', 'convert_to_mmseg_mae',
    'convert_to_mmseg_vit', 'convert_to_official_mae', 'convert_to_timm_vit',
    'convert_to_vitdet', 'detect_format', 'drop_optimizer_state',
    'fit_position_embeddings',
    'hf_vitmae_config', 'load_checkpoint_safely', 'load_encoder_weights',
    'load_from_http_safely', 'load_from_local_safely',
    'load_prefixed_state_dict',
    'load_state_dict_file', 'load_weights', 'mae_config_from_hf',
    'publish_checkpoint', 'read_checkpoint_file', 'weights_of',
    'use_safe_loaders'
]
