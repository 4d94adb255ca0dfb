"""Load a pretrained encoder into a transfer backbone, loudly.

mmengine's ``Pretrained`` initializer loads with ``strict=False`` and only
warns about missing keys, so a checkpoint whose keys do not fit (another
prefix, another layout) initialises nothing without failing. Here the keys
that match are counted and logged, and a checkpoint that matches none of the
backbone's keys is an error.
"""
from typing import Callable, Dict, Optional

from mmengine.logging import MMLogger
from torch import nn


def load_encoder_weights(
        module: nn.Module,
        checkpoint: str,
        prefix: str = 'backbone.',
        adapt: Optional[Callable[[dict], dict]] = None) -> Dict[str, list]:
    """Load the ``prefix`` weights of a checkpoint into ``module``.

    Args:
        module (nn.Module): The backbone to fill.
        checkpoint (str): Checkpoint path, read by
            :func:`mae_plugin.converters.load_prefixed_state_dict`.
        prefix (str): Prefix of the encoder's keys in the checkpoint; an
            empty string takes every key. Defaults to ``'backbone.'``.
        adapt (callable, optional): Maps the encoder's state dict to the
            module's layout before matching (for example to resize the
            position embedding). Defaults to None.

    Returns:
        dict: ``matched`` (loaded keys), ``missing`` (module keys left as
        initialised) and ``unused`` (checkpoint encoder keys the module has
        no use for).

    Raises:
        ValueError: If no key matches, or a matching key has another shape.
    """
    # imported here: the converters build on the models package
    from mae_plugin.converters import load_prefixed_state_dict
    state_dict = load_prefixed_state_dict(checkpoint, prefix)
    if adapt is not None:
        state_dict = adapt(state_dict)
    own = module.state_dict()
    matched = [key for key in own if key in state_dict]
    if not matched:
        raise ValueError(
            f'none of the {len(own)} keys of {type(module).__name__} is in '
            f'checkpoint {checkpoint!r} under prefix {prefix!r} '
            f'({len(state_dict)} keys there); check the prefix and that the '
            'checkpoint is in the plugin layout (convert official ones first)')
    wrong_shape = [
        f'{key}: checkpoint {tuple(state_dict[key].shape)} vs model '
        f'{tuple(own[key].shape)}' for key in matched
        if state_dict[key].shape != own[key].shape
    ]
    if wrong_shape:
        raise ValueError(f'checkpoint {checkpoint!r} does not fit '
                         f'{type(module).__name__}: ' + '; '.join(wrong_shape))
    module.load_state_dict({key: state_dict[key]
                            for key in matched},
                           strict=False)
    report = dict(
        matched=matched,
        missing=[key for key in own if key not in state_dict],
        unused=[key for key in state_dict if key not in own])
    logger = MMLogger.get_current_instance()
    logger.info(
        f'{type(module).__name__}: loaded {len(matched)} of {len(own)} '
        f'encoder keys from {checkpoint} (prefix {prefix!r})')
    if report['missing']:
        logger.info('newly initialised (not in the checkpoint): ' +
                    ', '.join(report['missing']))
    if report['unused']:
        logger.info('checkpoint encoder keys not used: ' +
                    ', '.join(report['unused']))
    return report
