"""Weight initializers that load checkpoints: mmengine's ``Pretrained``
that says how many keys it loaded, and ``PretrainedEncoder``, the strict
load of a pretrained encoder into a transfer backbone.

mmengine's initializer loads with ``strict=False`` and warns only about
missing and unexpected keys: a log shows no count, and a wrong ``prefix``
reads like a long list of warnings. Importing ``mae_plugin`` (for example
through ``custom_imports``) registers :class:`CountingPretrainedInit` under
the same name in mmengine's root registry, so every
``init_cfg=dict(type='Pretrained')`` of any OpenMMLab model (mmpretrain,
mmdet, mmseg) logs one line::

    VisionTransformer: 28 of 28 keys matched in epoch_30.pth (prefix
    'backbone.')

Why the models ask for ``PretrainedEncoder`` by name: the models layer sits
below this one and imports nothing of it, not even lazily (that was an
import cycle through the converters). A backbone that wants its encoder
loaded strictly (:class:`~mae_plugin.models.DenseViT`) builds
``dict(type='PretrainedEncoder', _scope_='mae_plugin', ...)`` from the
plugin's ``WEIGHT_INITIALIZERS`` registry, which this module fills (the
registry's ``locations`` import it on first use), and calls it on itself,
as mmengine calls any initializer. The dependency points down: the
checkpoint layer knows the registry, the model knows only a name.
"""
from typing import Callable, Collection, Optional

from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit, update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_INITIALIZERS
from mmengine.runner.checkpoint import (_load_checkpoint,
                                        _load_checkpoint_to_model,
                                        load_state_dict)
from torch import nn

from mae_plugin.registry import WEIGHT_INITIALIZERS
from .converters import conversion_hint
from .loading import load_encoder_weights
from .position import fit_position_embeddings
from .reading import weights_of
from .report import StateDict, compare_state_dicts


@MMENGINE_INITIALIZERS.register_module(name='Pretrained', force=True)
class CountingPretrainedInit(PretrainedInit):
    """:class:`mmengine.model.PretrainedInit` that logs how many of the
    module's keys the checkpoint held with the same shape and which it held
    with another (:meth:`~.report.LoadReport.count_line`, the line of
    :class:`~mae_plugin.engine.PretrainedKeysHook` too), and names the
    file when none is
    under ``prefix`` (mmengine: ``AssertionError: backbone. is not in the
    pretrained model``). Arguments as mmengine's, except that ``prefix=''``
    takes the whole file as ``prefix=None`` does (mmengine reads it as
    ``'.'``, which no key starts with), as the plugin's loaders and
    :class:`~mae_plugin.engine.PretrainedKeysHook` read it.

    Raises:
        ValueError: No key of the checkpoint starts with ``prefix``; the
            message names the file, its first keys and, for a checkpoint in
            another layout (official MAE, Hugging Face, mmpretrain), the
            converter.
    """

    def __call__(self, module: nn.Module) -> None:
        checkpoint = _load_checkpoint(
            self.checkpoint, map_location=self.map_location)
        weights = checkpoint.get('state_dict', checkpoint)
        if not self.prefix:  # None, or '' as in the plugin's own loaders
            _load_checkpoint_to_model(
                module, checkpoint, strict=False, logger='current')
            # mmengine strips the 'module.' of wrapped models' keys
            state_dict = {
                key.removeprefix('module.'): value
                for key, value in weights.items()
            }
        else:
            state_dict = self._under_prefix(module, checkpoint, weights)
            load_state_dict(module, state_dict, strict=False, logger='current')
        # mmengine skips the keys of another shape, unless the module
        # fits them as it loads (mmpretrain's ViT resizes its pos_embed, the
        # plugin's MAEViT regenerates its sin-cos one): those are counted
        # as matched and named resized, as PretrainedKeysHook names them
        state_dict = dict(state_dict)
        try:
            resized = fit_position_embeddings(module, state_dict)
        except ValueError:  # a table the module could not fit either
            resized = []
        report = compare_state_dicts(module.state_dict(), state_dict, False)
        report.resized = resized
        print_log(
            report.count_line(
                type(module).__name__, self.checkpoint, self.prefix,
                ('mismatched', 'resized')),
            logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _under_prefix(self, module: nn.Module, checkpoint: dict,
                      weights: StateDict) -> StateDict:
        """The weights under ``prefix``, the prefix removed, as mmengine's
        ``_load_checkpoint_with_prefix`` selects them."""
        prefix = self.prefix if self.prefix.endswith('.') else (
            self.prefix + '.')
        state_dict = {
            key[len(prefix):]: value
            for key, value in weights.items() if key.startswith(prefix)
        }
        if not state_dict:
            raise ValueError(
                f'init_cfg Pretrained of {type(module).__name__}: '
                f'{self.checkpoint} has no key under prefix {prefix!r} '
                f'(first keys: {list(weights_of(checkpoint))[:3]})' +
                conversion_hint(checkpoint))
        return state_dict


@WEIGHT_INITIALIZERS.register_module(name='PretrainedEncoder')
class PretrainedEncoderInit(PretrainedInit):
    """Load a pretrained encoder with :func:`~.loading.load_encoder_weights`:
    the count logged, an error when a key the checkpoint should hold is
    missing or has another shape.

    Args:
        checkpoint (str): Checkpoint path.
        prefix (str): Prefix of the encoder's keys in the checkpoint; ``''``
            takes every key. Defaults to ``'backbone.'``.
        adapt (callable, optional): Maps the encoder's state dict to the
            module's layout before matching. Defaults to None.
        optional_keys (Collection[str]): The module's keys the checkpoint
            need not hold. Defaults to () (every key is needed).
    """

    def __init__(self,
                 checkpoint: str,
                 prefix: str = 'backbone.',
                 adapt: Optional[Callable[[StateDict], StateDict]] = None,
                 optional_keys: Collection[str] = ()):
        super().__init__(checkpoint, prefix)
        self.adapt = adapt
        self.optional_keys = optional_keys

    def __call__(self, module: nn.Module) -> None:
        load_encoder_weights(module, self.checkpoint, self.prefix, self.adapt,
                             self.optional_keys)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())
