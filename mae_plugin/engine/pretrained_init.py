"""mmengine's ``Pretrained`` initializer, saying how many keys it loaded.

mmengine's initializer loads with ``strict=False`` and warns only about
missing and unexpected keys: a log shows no count, and a wrong ``prefix``
reads like a long list of warnings. Importing ``mae_plugin`` (for example
through ``custom_imports``) registers this subclass under the same name in
mmengine's root registry, so every ``init_cfg=dict(type='Pretrained')`` of
any OpenMMLab model (mmpretrain, mmdet, mmseg) logs one line::

    VisionTransformer: 28 of 28 keys found in epoch_30.pth (prefix
    'backbone.')
"""
from typing import Dict

import torch
from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit, update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS
from mmengine.runner.checkpoint import (_load_checkpoint,
                                        _load_checkpoint_to_model,
                                        _load_checkpoint_with_prefix,
                                        load_state_dict)
from torch import nn


def loaded_keys_line(module: nn.Module, state_dict: Dict[str, torch.Tensor],
                     checkpoint: str, prefix) -> str:
    """How many of ``module``'s keys ``state_dict`` holds, and which of
    those have another shape there (mmengine skips them)."""
    own = module.state_dict()
    found = [key for key in own if key in state_dict]
    reshaped = [
        key for key in found if state_dict[key].shape != own[key].shape
    ]
    line = (f'{type(module).__name__}: {len(found)} of {len(own)} keys '
            f'found in {checkpoint} (prefix {prefix!r})')
    if reshaped:
        line += f', of another shape there: {", ".join(reshaped)}'
    return line


@WEIGHT_INITIALIZERS.register_module(name='Pretrained', force=True)
class CountingPretrainedInit(PretrainedInit):
    """:class:`mmengine.model.PretrainedInit` that logs the count of the
    module's keys the checkpoint held. Arguments as mmengine's."""

    def __call__(self, module: nn.Module) -> None:
        if self.prefix is None:
            checkpoint = _load_checkpoint(
                self.checkpoint, map_location=self.map_location)
            _load_checkpoint_to_model(
                module, checkpoint, strict=False, logger='current')
            weights = checkpoint.get('state_dict', checkpoint)
            # mmengine strips the 'module.' of wrapped models' keys
            state_dict = {
                key.removeprefix('module.'): value
                for key, value in weights.items()
            }
        else:
            state_dict = _load_checkpoint_with_prefix(
                self.prefix, self.checkpoint, map_location=self.map_location)
            load_state_dict(module, state_dict, strict=False, logger='current')
        print_log(
            loaded_keys_line(module, state_dict, self.checkpoint,
                             self.prefix),
            logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())
