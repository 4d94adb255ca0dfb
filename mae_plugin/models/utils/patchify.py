"""Patchify and unpatchify images of any size, patch size and channel count.

A patch is flattened in ``(p_row, p_col, channel)`` order, the order of the
MAE paper's code, so the pixels of ``p*p*C`` vectors line up with official
checkpoints' decoder predictions.
"""
from typing import Tuple

import torch
from torch.amp import is_autocast_available


def check_divisible(height: int,
                    width: int,
                    patch_size: int,
                    name: str = 'image size') -> None:
    """Raise ``ValueError``, naming ``name``, unless both sides are
    multiples of the patch."""
    if height % patch_size or width % patch_size:
        raise ValueError(
            f'{name} {height}x{width} is not a multiple of patch_size '
            f'{patch_size}')


def check_image_dtype(imgs: torch.Tensor, weights: torch.dtype) -> None:
    """Refuse images that a patch projection with weights of dtype
    ``weights`` cannot take, before it fails with torch's "Input type
    (unsigned char) and bias type (float) should be the same": integer
    pixels, or a floating dtype other than the weights' that no
    ``torch.autocast`` casts (it casts float16, bfloat16 and float32, not
    float64).

    Args:
        imgs (Tensor): ``[N, C, H, W]`` images.
        weights (torch.dtype): The dtype of the projection's weights.

    Raises:
        TypeError: ``imgs`` is not floating point, or of another dtype
            than ``weights`` outside ``torch.autocast``.
    """
    if not imgs.is_floating_point():
        raise TypeError(
            'inputs must be floating-point images (the data '
            'preprocessor converts the loaded uint8 images to float), '
            f'got {imgs.dtype}')
    device = imgs.device.type
    if imgs.dtype != weights and not (
            imgs.dtype != torch.float64 and is_autocast_available(device)
            and torch.is_autocast_enabled(device)):
        raise TypeError(
            f'inputs must be {weights}, the dtype of the weights, '
            'outside torch.autocast (which casts float16, bfloat16 and '
            f'float32), got {imgs.dtype}')


def patchify(imgs: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Split images into flattened patches.

    Args:
        imgs (Tensor): ``[N, C, H, W]``, H and W multiples of the patch.
        patch_size (int): Side ``p`` of a square patch.

    Returns:
        Tensor: ``[N, L, p*p*C]`` with ``L = (H/p) * (W/p)``, row by row.
    """
    n, c, height, width = imgs.shape
    check_divisible(height, width, patch_size)
    p = patch_size
    h, w = height // p, width // p
    x = imgs.reshape(n, c, h, p, w, p)
    x = torch.einsum('nchpwq->nhwpqc', x)
    return x.reshape(n, h * w, p * p * c)


def unpatchify(patches: torch.Tensor, patch_size: int,
               grid_size: Tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`patchify`.

    Args:
        patches (Tensor): ``[N, L, p*p*C]``.
        patch_size (int): Side ``p`` of a square patch.
        grid_size (tuple[int, int]): Patch grid ``(h, w)``, ``h*w == L``.

    Returns:
        Tensor: ``[N, C, h*p, w*p]``.
    """
    n, num_patches, patch_dims = patches.shape
    h, w = grid_size
    p = patch_size
    if h * w != num_patches or patch_dims % (p * p):
        raise ValueError(
            f'cannot unpatchify {num_patches} patches of {patch_dims} values '
            f'into a {h}x{w} grid of {p}x{p} patches')
    c = patch_dims // (p * p)
    x = patches.reshape(n, h, w, p, p, c)
    x = torch.einsum('nhwpqc->nchpwq', x)
    return x.reshape(n, c, h * p, w * p)
