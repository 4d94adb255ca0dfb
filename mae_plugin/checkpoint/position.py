"""Fit the position embeddings of a state dict to a model's patch grid."""
import math
from typing import List, Optional, Tuple

import torch
from mmpretrain.models import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from torch import nn

from mae_plugin.models import MAEDecoder
from mae_plugin.models.utils import sincos_2d
from .report import StateDict


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
