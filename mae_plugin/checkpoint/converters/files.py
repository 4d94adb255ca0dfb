"""Convert checkpoint files between the layouts, through the plugin's."""
import io
from typing import Callable, Dict, List, Optional, Tuple

import torch

from mae_plugin.utils import atomic_write, check_output_file, check_path
from ..reading import load_state_dict_file, weights_of
from .huggingface import convert_hf_vitmae, convert_to_hf_vitmae
from .key_map import ConversionReport, StateDict, check_floating
from .mmpretrain import convert_mmpretrain_mae, convert_to_mmpretrain_mae
from .mmseg import convert_to_mmseg_mae, convert_to_mmseg_vit
from .official import (convert_official_mae, convert_to_official_mae,
                       convert_to_timm_vit, convert_to_vitdet)

Converter = Callable[..., Tuple[StateDict, ConversionReport]]

#: Layouts that convert to the plugin's.
SOURCES: Dict[str, Converter] = {
    'official': convert_official_mae,
    'hf': convert_hf_vitmae,
    'mmpretrain': convert_mmpretrain_mae,
}


def _hf_model(state_dict: StateDict,
              progress: bool = False) -> Tuple[StateDict, ConversionReport]:
    """Plugin -> ``ViTMAEModel`` (encoder only)."""
    return convert_to_hf_vitmae(
        state_dict, pretraining=False, progress=progress)


#: Layouts the plugin's converts to, and the entry of the saved file that
#: holds the state dict (None: the bare state dict).
TARGETS: Dict[str, Tuple[Converter, Optional[str]]] = {
    'official': (convert_to_official_mae, 'model'),
    'timm': (convert_to_timm_vit, 'model'),
    'vitdet': (convert_to_vitdet, 'model'),
    'hf': (convert_to_hf_vitmae, None),
    'hf-model': (_hf_model, None),
    'mmpretrain': (convert_to_mmpretrain_mae, 'state_dict'),
    'mmseg-vit': (convert_to_mmseg_vit, 'state_dict'),
    'mmseg-mae': (convert_to_mmseg_mae, 'state_dict'),
}
#: Every layout the converters write, and those they read.
FORMATS = sorted({'plugin', *SOURCES, *TARGETS})
SOURCE_FORMATS = sorted({'plugin', *SOURCES})


class PartialConversionError(ValueError):
    """A conversion that left target keys missing or source keys unused
    (dropped parts aside), so nothing was written.

    Attributes:
        reports (list[ConversionReport]): What each step did.
    """

    def __init__(self, message: str, reports: List[ConversionReport]):
        super().__init__(message)
        self.reports = reports


def _check_complete(reports: List[ConversionReport], dst: str) -> None:
    """Raise :class:`PartialConversionError` if a report has missing or
    unexpected keys; dropped parts are fine."""
    partial = [
        f'{r.source} -> {r.target}: {len(r.missing)} missing, '
        f'{len(r.unexpected)} unexpected keys' for r in reports
        if r.missing or r.unexpected
    ]
    if partial:
        raise PartialConversionError(
            f'{dst} not written: ' + '; '.join(partial), reports)


def detect_format(state_dict: StateDict, path: str = 'state_dict') -> str:
    """The source layout of a state dict, told from its keys.

    ``backbone.*`` keys are the plugin's, or mmpretrain's ``MAE`` when its
    decoder norm is ``neck.ln1`` (their encoders share every key);
    ``vit.``/``embeddings.`` keys are Hugging Face's; ``blocks.``/
    ``patch_embed.proj`` keys the official code's (and timm's).

    Args:
        state_dict (dict): The loaded weights.
        path (str): Where they came from, for the message.

    Returns:
        str: ``'plugin'``, ``'mmpretrain'``, ``'hf'`` or ``'official'``.

    Raises:
        ValueError: If no known layout has the keys.
    """
    keys = list(state_dict)
    if any(k.startswith('backbone.') for k in keys):
        return 'mmpretrain' if 'neck.ln1.weight' in keys else 'plugin'
    if any(k.startswith(('vit.embeddings.', 'embeddings.')) for k in keys):
        return 'hf'
    if any(k.startswith(('blocks.', 'patch_embed.proj.')) for k in keys):
        return 'official'
    raise ValueError(
        f'{path}: the keys are in none of the layouts plugin, mmpretrain, '
        f'hf, official (first keys: {keys[:5]}); give the source format')


def layout_hint(state_dict: StateDict) -> str:
    """Which layout the keys look like, for an error message."""
    try:
        return f'the keys look like the {detect_format(state_dict)} layout'
    except ValueError:
        return 'the keys are in none of the known layouts'


def conversion_hint(checkpoint: dict) -> str:
    """For a checkpoint that does not fit a plugin model: where its weights
    are in a layout :func:`convert_checkpoint` reads other than the
    plugin's, ``' (its keys are in the <layout> layout: ...)'`` naming the
    converter; else ``''``."""
    try:
        layout = detect_format(weights_of(checkpoint))
    except ValueError:  # in no known layout
        return ''
    if layout == 'plugin':
        return ''
    return (f' (its keys are in the {layout} layout: '
            f'tools/model_converters/convert_checkpoint.py converts it)')


def save_state_dict(state_dict: StateDict, path: str,
                    entry: Optional[str]) -> None:
    """Save under ``entry`` (bare if None); ``.safetensors`` files are
    always bare, with the metadata ``{'format': 'pt'}`` of Hugging Face's
    own files (its ``from_pretrained`` reads ``metadata['format']`` and
    fails on a file without metadata). The file appears whole or not at
    all (an interrupted write leaves an existing ``path`` as it was): see
    :func:`~mae_plugin.utils.atomic_write`."""
    if path.endswith('.safetensors'):
        from safetensors.torch import save
        data = save({k: v.contiguous() for k, v in state_dict.items()},
                    metadata={'format': 'pt'})
    else:
        buffer = io.BytesIO()
        torch.save(state_dict if entry is None else {entry: state_dict},
                   buffer)
        data = buffer.getvalue()
    atomic_write(data, path)


def convert_checkpoint(src: str,
                       dst: str,
                       src_format: Optional[str] = None,
                       dst_format: str = 'plugin',
                       progress: bool = False,
                       allow_partial: bool = True) -> List[ConversionReport]:
    """Convert a checkpoint file; two formats other than the plugin's are
    converted through it.

    Args:
        src (str | os.PathLike): Source checkpoint.
        dst (str | os.PathLike): Output file, written whole or not at
            all; its folder is created when missing.
        src_format (str, optional): One of :data:`SOURCE_FORMATS`
            (``hf``, ``mmpretrain``, ``official``, ``plugin``). Defaults to
            None (:func:`detect_format`).
        dst_format (str): One of :data:`FORMATS`. Defaults to
            ``'plugin'``.
        progress (bool): Show progress bars. Defaults to False.
        allow_partial (bool): Write the output even when a step leaves
            target keys missing or source keys unused (dropped parts, such
            as the decoder for an encoder-only target, are always allowed).
            Defaults to True.

    Returns:
        list[ConversionReport]: one report per conversion step.

    Raises:
        PartialConversionError: If ``allow_partial`` is False and a step
            has missing or unexpected keys; ``dst`` is not written.
        ValueError: If a format is unknown or cannot be a source, the
            source's layout cannot be told from its keys, or ``dst`` is
            ``src`` (which the output would overwrite).
        IsADirectoryError: If ``dst`` is a folder.
        TypeError: If ``src`` or ``dst`` is not a path, or a weight is not
            floating point.
    """
    src, dst = check_path('src', src), check_path('dst', dst)
    check_output_file('dst', dst, [src])
    if src_format not in (None, *SOURCE_FORMATS):
        raise ValueError(f'src_format {src_format!r} cannot be converted '
                         f'from; choose from {SOURCE_FORMATS}')
    if dst_format != 'plugin' and dst_format not in TARGETS:
        raise ValueError(f'dst_format {dst_format!r}: choose from {FORMATS}')
    state_dict = load_state_dict_file(src)
    src_format = src_format or detect_format(state_dict, src)
    reports = []
    if src_format == dst_format == 'plugin':
        check_floating(state_dict, state_dict)
    if src_format != 'plugin':
        try:
            state_dict, report = SOURCES[src_format](
                state_dict, progress=progress)
        except ValueError as error:
            raise ValueError(f'{src}: {error}; {layout_hint(state_dict)}')
        reports.append(report)
    entry = 'state_dict'
    if dst_format != 'plugin':
        convert, entry = TARGETS[dst_format]
        state_dict, report = convert(state_dict, progress=progress)
        reports.append(report)
    if not allow_partial:
        _check_complete(reports, dst)
    save_state_dict(state_dict, dst, entry)
    return reports
