"""Read and write checkpoint files safely, and load converted weights into
a model with every key accounted for."""
import math
import os.path as osp
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import torch
from mmengine.runner import CheckpointLoader
from mmpretrain.models import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from torch import nn

from mae_plugin.models import MAEDecoder
from mae_plugin.models.utils import sincos_2d
from .key_map import StateDict, summarize


def read_checkpoint_file(path: str) -> object:
    """Whatever a checkpoint file holds, read without running its code.

    ``.safetensors`` files are read by safetensors; every other file by
    mmengine's loader for local paths, which importing the plugin makes
    ``torch.load(weights_only=True)`` (see
    ``mae_plugin/engine/safe_loading.py``).

    Args:
        path (str): Checkpoint file.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not a checkpoint of its kind (the
            message names the file).
        pickle.UnpicklingError: If the pickle names a global outside the
            weights-only allowlist.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint: no such file {path}')
    if not path.endswith('.safetensors'):
        return CheckpointLoader.load_checkpoint(
            path, map_location='cpu', logger='silent')
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        return load_file(path)
    except SafetensorError as error:
        raise ValueError(f'checkpoint {path} is not a readable safetensors '
                         f'file (empty, truncated or another format): '
                         f'{error}') from error


def load_state_dict_file(path: str) -> StateDict:
    """The state dict of a checkpoint file, read by
    :func:`read_checkpoint_file`.

    The ``state_dict`` (mmengine) or ``model`` (official MAE, timm, ViTDet)
    entry is returned when present, else the whole dict.

    Args:
        path (str): ``.pth``/``.bin`` or ``.safetensors`` file.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not a readable checkpoint.
        TypeError: If the file holds no dict of tensors.
    """
    checkpoint = read_checkpoint_file(path)
    if not isinstance(checkpoint, dict):
        raise TypeError(f'{path}: expected a dict, got {type(checkpoint)}')
    for entry in ('state_dict', 'model'):
        if isinstance(checkpoint.get(entry), dict):
            checkpoint = checkpoint[entry]
            break
    others = [k for k, v in checkpoint.items() if not torch.is_tensor(v)]
    if others:
        raise TypeError(f'{path}: not a state dict, the values of '
                        f'{others[:3]} are not tensors')
    return checkpoint


def load_prefixed_state_dict(path: str, prefix: str = '') -> StateDict:
    """The weights under ``prefix`` of a checkpoint file, with the prefix
    removed (``'backbone'`` and ``'backbone.'`` mean the same, as in
    mmengine's ``Pretrained`` initializer).

    Args:
        path (str): Checkpoint file, read by :func:`load_state_dict_file`.
        prefix (str): Key prefix of the sub-module; an empty string keeps
            every key. Defaults to ``''``.

    Returns:
        dict: Parameter name (without the prefix) to tensor.
    """
    if prefix and not prefix.endswith('.'):
        prefix += '.'
    return {
        key[len(prefix):]: value
        for key, value in load_state_dict_file(path).items()
        if key.startswith(prefix)
    }


@dataclass
class LoadReport:
    """What loading a state dict into a model did.

    Attributes:
        matched (list[str]): Keys loaded into the model.
        missing (list[str]): Model keys the state dict lacks.
        unexpected (list[str]): State-dict keys the model lacks.
        mismatched (list[str]): Common keys of another shape, not loaded.
        resized (list[str]): Position embeddings fitted to the model grid.
    """
    matched: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[str] = field(default_factory=list)
    resized: List[str] = field(default_factory=list)

    def summary(self) -> str:
        """A human-readable summary, one item per line."""
        return summarize(self, f'{len(self.matched)} matched,',
                         ('missing', 'unexpected', 'mismatched', 'resized'))


def _position_embeddings(model: nn.Module):
    """``(key, parameter, grid, learnable)`` of every position embedding
    of the plugin's and mmpretrain's ViTs and of :class:`MAEDecoder`."""
    for name, module in model.named_modules():
        prefix = f'{name}.' if name else ''
        if (isinstance(module, VisionTransformer)
                and module.pos_embed is not None):
            yield (prefix + 'pos_embed', module.pos_embed,
                   tuple(module.patch_resolution),
                   module.pos_embed.requires_grad)
        elif isinstance(module, MAEDecoder):
            yield (prefix + 'decoder_pos_embed', module.decoder_pos_embed,
                   module.grid_size, False)


def _source_grid(key: str, stored: torch.Tensor, num_extra: int,
                 src_grid_size: Optional[Tuple[int, int]]):
    num_patches = stored.shape[1] - num_extra
    if src_grid_size is not None:
        if src_grid_size[0] * src_grid_size[1] != num_patches:
            raise ValueError(
                f'src_grid_size {tuple(src_grid_size)} does not fit the '
                f'{num_patches} patches of {key}')
        return tuple(src_grid_size)
    side = math.isqrt(num_patches)
    if side * side != num_patches:
        raise ValueError(f'{key} has {num_patches} patches, not a square '
                         f'grid: pass src_grid_size=(h, w)')
    return side, side


def fit_position_embeddings(
        model: nn.Module,
        state_dict: StateDict,
        src_grid_size: Optional[Tuple[int, int]] = None) -> List[str]:
    """Fit the position embeddings of a state dict to the model's grids,
    in place.

    Learnable embeddings are resized bicubically on their grid part, the
    class row kept; fixed sin-cos ones (``requires_grad=False``) are
    regenerated for the model's grid. Embeddings of the model's grid are
    left untouched.

    Args:
        model (nn.Module): The model to load into.
        state_dict (dict): Its future weights, changed in place.
        src_grid_size (tuple[int, int], optional): Patch grid ``(h, w)`` of
            the stored embeddings; square when None.

    Returns:
        list[str]: one line per fitted embedding.
    """
    fitted = []
    for key, param, grid, learnable in _position_embeddings(model):
        stored = state_dict.get(key)
        if stored is None or (src_grid_size is None
                              and stored.shape == param.shape):
            continue  # the model's grid
        num_extra = param.shape[1] - grid[0] * grid[1]
        src_grid = _source_grid(key, stored, num_extra, src_grid_size)
        if src_grid == grid:
            continue
        if learnable:
            state_dict[key] = resize_pos_embed(stored, src_grid, grid,
                                               'bicubic', num_extra)
            how = 'bicubic resize'
        else:
            state_dict[key] = sincos_2d(grid, param.shape[-1]).to(stored)
            how = 'regenerated sin-cos'
        fitted.append(f'{key}: {how} {src_grid} -> {grid}')
    return fitted


def load_weights(model: nn.Module,
                 state_dict: StateDict,
                 src_grid_size: Optional[Tuple[int, int]] = None,
                 strict: bool = False) -> LoadReport:
    """Load a (converted) state dict, fitting position embeddings to the
    model's grid and reporting every key.

    Args:
        model (nn.Module): Target model.
        state_dict (dict): Weights, e.g. from a converter.
        src_grid_size (tuple[int, int], optional): Patch grid of the stored
            position embeddings, needed when it is not square.
        strict (bool): Raise when any key is missing, unexpected or of
            another shape. Defaults to False.

    Returns:
        LoadReport: what was loaded, missing, unexpected, resized.

    Raises:
        ValueError: If no key matches the model, or ``strict`` fails.
    """
    state_dict = OrderedDict(state_dict)
    report = LoadReport()
    report.resized = fit_position_embeddings(model, state_dict, src_grid_size)
    own = model.state_dict()
    report.mismatched = [
        f'{k}: {tuple(v.shape)} vs model {tuple(own[k].shape)}'
        for k, v in state_dict.items() if k in own and v.shape != own[k].shape
    ]
    loadable = OrderedDict((k, v) for k, v in state_dict.items()
                           if k not in own or v.shape == own[k].shape)
    report.matched = [k for k in loadable if k in own]
    if not report.matched:
        raise ValueError(
            f'state_dict: none of its {len(state_dict)} keys loads into '
            f'{type(model).__name__} (first keys: {list(state_dict)[:3]}, '
            f'model keys: {list(own)[:3]})')
    result = model.load_state_dict(loadable, strict=False)
    report.missing = list(result.missing_keys)
    report.unexpected = list(result.unexpected_keys)
    if strict and (report.missing or report.unexpected or report.mismatched):
        raise ValueError(f'strict load failed:\n{report.summary()}')
    return report
