"""Fit the position embeddings of a state dict to a model's patch grid."""
import math
from typing import List, Optional, Tuple

import torch
from mmpretrain.models import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from torch import nn

from mae_plugin.models import MAEDecoder, MAEViT
from mae_plugin.models.utils import sincos_2d, sincos_grid
from .report import StateDict


def _position_embeddings(model: nn.Module):
    """``(key, parameter, grid, learnable)`` of every position embedding
    of the plugin's and mmpretrain's ViTs and of :class:`MAEDecoder`.

    Learnable is told from the module, not from ``requires_grad`` (which
    mmpretrain's ``frozen_stages`` clears): :class:`MAEViT` and
    :class:`MAEDecoder` hold fixed sin-cos embeddings, mmpretrain's
    ``VisionTransformer`` learned ones."""
    for name, module in model.named_modules():
        prefix = f'{name}.' if name else ''
        if (isinstance(module, VisionTransformer)
                and module.pos_embed is not None):
            yield (prefix + 'pos_embed', module.pos_embed,
                   tuple(module.patch_resolution),
                   not isinstance(module, MAEViT))
        elif isinstance(module, MAEDecoder):
            yield (prefix + 'decoder_pos_embed', module.decoder_pos_embed,
                   module.grid_size, False)


def _source_layout(key: str, stored: torch.Tensor, num_extra: int,
                   src_grid_size: Optional[Tuple[int, int]]):
    """``(extra, grid)`` of a stored ``[1, extra + h*w, D]`` embedding:
    whether it has a class row (``extra`` 1) or not (0), told from its
    length (no length fits both ways), and its patch grid ``(h, w)``;
    square unless ``src_grid_size`` is given."""
    length = stored.shape[1]
    if src_grid_size is not None:
        h, w = src_grid_size
        extra = length - h * w
        if extra not in (0, 1):
            raise ValueError(
                f'src_grid_size {tuple(src_grid_size)} ({h * w} patches) '
                f'does not fit the {length} rows of {key}, with a class row '
                'or without')
        return extra, (h, w)
    for extra in (num_extra, 1 - num_extra):
        side = math.isqrt(max(length - extra, 0))
        if side > 0 and side * side == length - extra:
            return extra, (side, side)
    raise ValueError(
        f'{key} has {length} rows, neither a square grid nor a class row '
        'plus one: pass src_grid_size=(h, w)')


def fit_position_embeddings(
        model: nn.Module,
        state_dict: StateDict,
        src_grid_size: Optional[Tuple[int, int]] = None) -> List[str]:
    """Fit the position embeddings of a state dict to the model's grids,
    in place.

    Whether the stored embedding has a class row is told from its length
    (and ``src_grid_size``). Learnable embeddings (mmpretrain's
    ``VisionTransformer``, frozen or not) lose a class row the model has
    no class token for (as mmpretrain's own loading) and are resized
    bicubically on their grid part, the class row kept; fixed sin-cos ones
    (:class:`MAEViT`, :class:`MAEDecoder`) are regenerated for the model's
    grid, in the stored one's layout (mmpretrain's transposed one too).
    Embeddings of the model's layout are left untouched.

    Args:
        model (nn.Module): The model to load into.
        state_dict (dict): Its future weights, changed in place.
        src_grid_size (tuple[int, int], optional): Patch grid ``(h, w)`` of
            the stored embeddings; square when None.

    Returns:
        list[str]: one line per fitted embedding.

    Raises:
        ValueError: If a stored embedding is no grid of ``src_grid_size``
            (or square) with or without a class row, or a learnable one
            lacks the class row the model has.
    """
    fitted = []
    for key, param, grid, learnable in _position_embeddings(model):
        stored = state_dict.get(key)
        if stored is None or (src_grid_size is None
                              and stored.shape == param.shape):
            continue  # the model's layout
        num_extra = param.shape[1] - grid[0] * grid[1]
        extra, src_grid = _source_layout(key, stored, num_extra,
                                         src_grid_size)
        if (extra, src_grid) == (num_extra, grid):
            continue
        if not learnable:
            _, transposed = sincos_grid(stored, bool(extra)) or (None, False)
            state_dict[key] = sincos_2d(grid, param.shape[-1],
                                        bool(num_extra),
                                        transposed).to(stored)
            layout = " (mmpretrain's transposed layout)" if transposed else ''
            fitted.append(
                f'{key}: regenerated sin-cos {src_grid} -> {grid}{layout}')
            continue
        if extra < num_extra:
            raise ValueError(
                f'{key}: stored without a class row ({tuple(stored.shape)}'
                f'), the model has a class token ({tuple(param.shape)}); '
                'there is no class row to load')
        how = []
        if extra > num_extra:
            stored = stored[:, extra - num_extra:]
            how.append('dropped the class row (the model has no class '
                       'token)')
        if src_grid != grid:
            stored = resize_pos_embed(stored, src_grid, grid, 'bicubic',
                                      num_extra)
            how.append(f'bicubic resize {src_grid} -> {grid}')
        state_dict[key] = stored
        fitted.append(f'{key}: ' + '; '.join(how))
    return fitted
