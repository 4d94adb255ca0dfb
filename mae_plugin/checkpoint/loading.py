"""Load weights into a model, and compare a model with a checkpoint, every
key accounted for in a :class:`~.report.LoadReport`.

:func:`load_weights` is the lenient load of converted weights (position
embeddings fitted, the rest reported); :func:`load_encoder_weights` the
strict one of a pretrained encoder into a transfer backbone (an error when
a key the checkpoint should hold is missing or has another shape);
:func:`compare_with_checkpoint` only compares, for hooks that check what a
run loaded.
"""
import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Callable, Collection, List, Optional, Tuple

from mmengine.logging import MMLogger
from torch import nn

from .converters.key_map import count_blocks
from .position import fit_position_embeddings
from .reading import load_prefixed_state_dict
from .report import LoadReport, StateDict, compare_state_dicts


#: Key prefix of encoder block ``{i}`` in a prefix-stripped state dict.
_BLOCK = 'layers.{i}.'


def _load_matched(model: nn.Module, state_dict: StateDict,
                  report: LoadReport) -> None:
    """Copy the ``matched`` tensors of ``state_dict`` into ``model``."""
    model.load_state_dict(
        OrderedDict((key, state_dict[key]) for key in report.matched),
        strict=False)


def load_weights(model: nn.Module,
                 state_dict: StateDict,
                 src_grid_size: Optional[Tuple[int, int]] = None,
                 strict: bool = False) -> LoadReport:
    """Load a (converted) state dict, fitting position embeddings to the
    model's grid and reporting every key.

    Args:
        model (nn.Module): Target model.
        state_dict (dict): Weights, e.g. from a converter or
            :func:`~.reading.load_state_dict_file` (which reads a file).
        src_grid_size (tuple[int, int], optional): Patch grid of the stored
            position embeddings, needed when it is not square.
        strict (bool): Raise when any key is missing, unexpected or
            mismatched. Defaults to False.

    Returns:
        LoadReport: matched (loaded), missing, unexpected, mismatched and
        resized keys.

    Raises:
        TypeError: If ``state_dict`` is not a mapping (a checkpoint's
            path: read it with :func:`~.reading.load_state_dict_file`).
        ValueError: If no key matches the model, or ``strict`` fails.
    """
    if not isinstance(state_dict, Mapping):
        got = (f'{state_dict!r} ({type(state_dict).__name__})' if isinstance(
            state_dict, (str, os.PathLike)) else type(state_dict).__name__)
        raise TypeError(
            'state_dict must be a mapping of parameter names to tensors '
            '(load_state_dict_file reads one from a checkpoint file), got '
            f'{got}')
    state_dict = OrderedDict(state_dict)
    resized = fit_position_embeddings(model, state_dict, src_grid_size)
    own = model.state_dict()
    report = compare_state_dicts(own, state_dict, values=False)
    report.resized = resized
    if not report.matched:
        raise ValueError(
            f'state_dict: none of its {len(state_dict)} keys loads into '
            f'{type(model).__name__} (first keys: {list(state_dict)[:3]}, '
            f'model keys: {list(own)[:3]})')
    _load_matched(model, state_dict, report)
    if strict and (report.missing or report.unexpected or report.mismatched):
        raise ValueError(f'strict load failed:\n{report.summary()}')
    return report


def compare_with_checkpoint(module: nn.Module,
                            checkpoint: str,
                            prefix: Optional[str] = None) -> LoadReport:
    """Compare a module's weights with those a checkpoint holds for it.

    Args:
        module (nn.Module): The module that was initialised from the file.
        checkpoint (str): Checkpoint path.
        prefix (str, optional): Key prefix of the module in the checkpoint
            (``'backbone.'`` for an encoder in a pretraining checkpoint).
            Defaults to None (the whole state dict).

    The file's position embeddings are first fitted to the module's grid
    as the loaders fit them (mmpretrain's ViT resizes its own as it loads;
    a transfer backbone with an ``adapt_pretrained`` method, as
    :class:`~mae_plugin.models.DenseViT`, is given the file's weights
    through it, as its ``init_weights`` does), so an embedding of another
    grid is ``resized`` and compared with the module's, not
    ``mismatched``.

    Returns:
        LoadReport: matched keys (the weights the module can hold from the
        file), changed ones (matched, but the module's value now differs
        from the file's), missing, unexpected, mismatched and resized keys.
    """
    state_dict = load_prefixed_state_dict(checkpoint, prefix or '')
    resized = fit_position_embeddings(module, state_dict)
    adapt = getattr(module, 'adapt_pretrained', None)
    if callable(adapt):
        adapted = adapt(state_dict)
        resized += _reshaped(
            state_dict, adapted,
            f' by {type(module).__name__}.adapt_pretrained')
        state_dict = adapted
    report = compare_state_dicts(module.state_dict(), state_dict)
    report.resized = resized
    return report


def _reshaped(stored: StateDict, adapted: StateDict,
              by: str = '') -> List[str]:
    """``'key: (stored shape) -> (adapted shape)'`` (and ``by``) for each
    key an ``adapt_pretrained`` gave another shape."""
    return [
        f'{key}: {tuple(stored[key].shape)} -> {tuple(value.shape)}{by}'
        for key, value in adapted.items()
        if key in stored and value.shape != stored[key].shape
    ]


def _log_encoder_load(module: nn.Module, report: LoadReport, checkpoint: str,
                      prefix: str) -> None:
    logger = MMLogger.get_current_instance()
    logger.info(
        report.count_line(type(module).__name__, checkpoint, prefix,
                          ('resized', )))
    if report.missing:
        logger.info('newly initialised (not in the checkpoint): ' +
                    ', '.join(report.missing))
    if report.unexpected:
        logger.info('checkpoint encoder keys not used: ' +
                    ', '.join(report.unexpected))


def _check_required_keys(module: nn.Module, report: LoadReport,
                         optional: Collection[str], checkpoint: str,
                         prefix: str, num_stored: int) -> None:
    """Raise if a missing key of ``module`` is not in ``optional``."""
    absent = [key for key in report.missing if key not in optional]
    if not absent:
        return
    # encoder blocks (mmpretrain's ViT keys, without the prefix)
    stored = count_blocks(
        report.matched + report.mismatched + report.unexpected, _BLOCK)
    own = count_blocks(module.state_dict(), _BLOCK)
    if 0 < stored < own and all(
            count_blocks([key], _BLOCK) > stored for key in absent):
        raise ValueError(
            f'checkpoint {checkpoint!r} under prefix {prefix!r} holds an '
            f'encoder of {stored} blocks, and {type(module).__name__} has '
            f'{own}: give it the arch of the pretrained encoder (a '
            'checkpoint of fewer blocks is another arch, not loaded in '
            'part)')
    required = len(report.matched) + len(absent)
    raise ValueError(
        f'checkpoint {checkpoint!r} under prefix {prefix!r} ({num_stored} '
        f'keys there) holds {len(report.matched)} of the {required} keys '
        f'{type(module).__name__} needs from an encoder; missing, e.g. '
        f'{absent[:5]}. Check the prefix and that the checkpoint is in the '
        'plugin layout: convert others with '
        'tools/model_converters/convert_checkpoint.py')


def load_encoder_weights(
    module: nn.Module,
    checkpoint: str,
    prefix: str = 'backbone.',
    adapt: Optional[Callable[[StateDict], StateDict]] = None,
    optional_keys: Collection[str] = ()
) -> LoadReport:
    """Load the ``prefix`` weights of a checkpoint into a transfer
    backbone, loudly.

    mmengine's ``Pretrained`` initializer loads with ``strict=False`` and
    only warns about missing keys, so a checkpoint of another prefix or
    layout initialises nothing, or only the few keys its layout shares,
    without failing. Here the matched keys are counted and logged, and a
    checkpoint that lacks a key of the module (other than the
    ``optional_keys``), or holds one with another shape, is an error.

    Args:
        module (nn.Module): The backbone to fill.
        checkpoint (str): Checkpoint path, read by
            :func:`~.reading.load_prefixed_state_dict`.
        prefix (str): Prefix of the encoder's keys in the checkpoint; an
            empty string takes every key. Defaults to ``'backbone.'``.
        adapt (callable, optional): Maps the encoder's state dict to the
            module's layout before matching (for example to resize the
            position embedding). Defaults to None.
        optional_keys (Collection[str]): The module's keys the checkpoint
            need not hold, which keep their initialisation (for example
            weights the module adds to the encoder's). Defaults to ()
            (every key is needed).

    Returns:
        LoadReport: matched (loaded), missing (optional, left as
        initialised), unexpected (checkpoint encoder keys the module has
        no use for) and resized (stored shape -> loaded shape of what
        ``adapt`` fitted, logged with the count).

    Raises:
        ValueError: If a key the checkpoint should hold is missing (naming
            some), a matching key has another shape, or ``adapt`` refuses a
            tensor (its message, after the file's name).
    """
    stored = load_prefixed_state_dict(checkpoint, prefix)
    state_dict = stored
    if adapt is not None:
        try:
            state_dict = adapt(stored)
        except ValueError as error:  # a stored tensor it cannot adapt
            raise ValueError(f'checkpoint {checkpoint!r}: {error}') from None
    report = compare_state_dicts(module.state_dict(), state_dict, values=False)
    # what ``adapt`` fitted (a position embedding of another grid), logged
    report.resized = _reshaped(stored, state_dict)
    _check_required_keys(module, report, optional_keys, checkpoint, prefix,
                         len(state_dict))
    if report.mismatched:
        raise ValueError(f'checkpoint {checkpoint!r} does not fit '
                         f'{type(module).__name__}: ' +
                         '; '.join(report.shape_lines()))
    _load_matched(module, state_dict, report)
    _log_encoder_load(module, report, checkpoint, prefix)
    return report
