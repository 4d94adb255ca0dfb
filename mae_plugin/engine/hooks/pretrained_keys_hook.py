"""Say which weights of a pretrained checkpoint a fine-tuning run uses."""
from typing import Dict, Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

from mae_plugin.checkpoint import LoadReport, compare_with_checkpoint
from mae_plugin.checkpoint.converters.key_map import count_blocks
from mae_plugin.models.utils import pretrained_entries
from mae_plugin.registry import HOOKS
from mae_plugin.utils import check_number

#: Key prefixes of encoder block ``{i}``: in an encoder (the keys of
#: mmpretrain's ViT) and in a whole model whose encoder is its backbone.
_BLOCK_PREFIXES = ('layers.{i}.', 'backbone.layers.{i}.')


def _depths(module: nn.Module, report: LoadReport):
    """``(stored, own)``: the encoder blocks of the checkpoint and of the
    module, where the module has more; None otherwise."""
    stored_keys = report.matched + report.mismatched + report.unexpected
    for prefix in _BLOCK_PREFIXES:
        own = count_blocks(module.state_dict(), prefix)
        stored = count_blocks(stored_keys, prefix)
        if 0 < stored < own:
            return stored, own
    return None


@HOOKS.register_module()
class PretrainedKeysHook(Hook):
    """Report, when training starts, which weights every sub-module with
    ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)`` (or
    such an entry in a list ``init_cfg``; each one is checked) took from
    its checkpoint: matched keys out of the module's, plus the missing,
    unexpected, mismatched (another shape), resized (position embeddings
    of another grid, fitted as they load) and changed ones.

    Without ``prefix`` the entry uses the module's default: its class
    attribute ``default_pretrained_prefix`` when its ``init_weights``
    applies one, else mmengine's (None, the whole state dict).

    mmengine only warns about missing keys; a wrong ``prefix`` or arch that
    matches nothing would silently fine-tune a random network. This hook
    fails then, and on a key the checkpoint holds with another shape (a
    patch embedding of another patch size, a block of another width),
    which mmengine leaves as initialised: in a linear probe such a weight
    even stays random and frozen. A position embedding of another grid is
    fitted as it loads (``resized``) and passes. An encoder deeper than the
    checkpoint's (another arch: its last blocks would train, or in a linear
    probe stay frozen, from their random initialisation) fails too, as
    :class:`~mae_plugin.models.DenseViT` refuses it. Missing keys of
    frozen parameters (a linear probe of a checkpoint without the encoder's
    final norm, e.g. a fine-tuned one) are warned of: they keep their
    initialisation for the whole run.

    :attr:`reports` maps each module name to its
    :class:`~mae_plugin.checkpoint.LoadReport` (``name[i]`` for entry ``i`` of
    a list ``init_cfg`` with several ``Pretrained`` entries).

    Args:
        min_matched (float): Smallest accepted fraction of a module's keys
            found in its checkpoint. Defaults to 0.5.
        allow_mismatched (Sequence[str]): Keys that may have another shape
            in the checkpoint and keep their initialisation, named as the
            report names them (relative to the module with the
            ``init_cfg``): the head of a whole-model checkpoint
            (``prefix=None``) trained on another number of classes,
            ``('head.fc.weight', 'head.fc.bias')``. Defaults to ``()``.

    Raises:
        TypeError: ``min_matched`` is not a number, or
            ``allow_mismatched`` not a list or tuple of strings.
        ValueError: ``min_matched`` is outside [0, 1].
    """
    priority = 'VERY_LOW'

    def __init__(self,
                 min_matched: float = 0.5,
                 allow_mismatched: Sequence[str] = ()) -> None:
        self.min_matched = check_number('min_matched', min_matched, 0, 1)
        if not (isinstance(allow_mismatched, (list, tuple))
                and all(isinstance(key, str) for key in allow_mismatched)):
            raise TypeError('allow_mismatched must be a list or tuple of '
                            f'key names, got {allow_mismatched!r}')
        self.allow_mismatched = tuple(allow_mismatched)
        self.reports: Dict[str, LoadReport] = {}

    def before_train(self, runner) -> None:
        if runner.iter > 0:  # resumed: the weights are the run's own now
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        for name, module in model.named_modules():
            init_cfg = getattr(module, 'init_cfg', None)
            entries = pretrained_entries(init_cfg)
            for i, entry in entries.items():
                key = name if len(entries) == 1 else f'{name}[{i}]'
                self._check(runner, key, module, entry)

    def _check(self, runner, key: str, module: nn.Module, entry: dict) -> None:
        """Compare ``module`` with the checkpoint of one ``Pretrained``
        entry, log the report, keep it as ``reports[key]`` and raise if
        too few keys matched or a key not in ``allow_mismatched`` has
        another shape."""
        checkpoint = entry['checkpoint']
        prefix = entry.get('prefix',
                           getattr(module, 'default_pretrained_prefix', None))
        report = compare_with_checkpoint(module, checkpoint, prefix)
        self.reports[key] = report
        total = len(module.state_dict())
        matched = len(report.matched)
        runner.logger.info(report.count_line(key or 'model', checkpoint,
                                             prefix))
        if matched < self.min_matched * total:
            raise ValueError(
                f'only {matched} of the {total} keys of {key!r} are in '
                f'{checkpoint} under prefix {prefix!r}; check the '
                'checkpoint, the prefix and the arch')
        depths = _depths(module, report)
        if depths is not None:
            stored, own = depths
            raise ValueError(
                f'{checkpoint} under prefix {prefix!r} holds an encoder of '
                f'{stored} blocks and {key or "model"!r} has {own}: blocks '
                f'{stored} to {own - 1} would be left as initialised; give '
                'it the arch of the pretrained encoder')
        frozen = {
            name
            for name, param in module.named_parameters()
            if not param.requires_grad
        }
        frozen_missing = [name for name in report.missing if name in frozen]
        if frozen_missing:
            runner.logger.warning(
                f'keys of {key or "model"!r} missing from {checkpoint} under '
                f'prefix {prefix!r} are frozen parameters, which keep their '
                'initialisation for the whole run: '
                f"{', '.join(frozen_missing)}")
        refused = [
            line for name, line in zip(report.mismatched,
                                       report.shape_lines())
            if name not in self.allow_mismatched
        ]
        if refused:
            raise ValueError(
                f'keys of {key or "model"!r} have another shape in '
                f'{checkpoint} under prefix {prefix!r} and were left as '
                f"initialised: {'; '.join(refused)}. Check that the arch and "
                'the patch size are those of the pretrained model, or name '
                "the keys in PretrainedKeysHook's allow_mismatched")
