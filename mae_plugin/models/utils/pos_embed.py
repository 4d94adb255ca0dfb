"""Fixed 2D sine-cosine position embeddings, laid out as in the MAE paper's
code: the first half of the channels encodes a patch's column, the second
half its row, each half as ``[sin(pos * omega), cos(pos * omega)]`` with
``omega_d = 1 / 10000^(d / (D/4))``.

mmpretrain's ``build_2d_sincos_position_embedding`` numbers the patches
column by column instead (``transposed`` here: on a square grid each
patch gets the embedding of its mirror across the diagonal). A model
pretrained with it keeps that layout when loaded here, on every grid."""
from typing import Optional, Tuple

import torch
from mmengine.logging import MMLogger


def sincos_1d(positions: torch.Tensor, dims: int) -> torch.Tensor:
    """Embed 1D positions.

    Args:
        positions (Tensor): Positions of shape ``[M]``.
        dims (int): Output channels, even.

    Returns:
        Tensor: ``[M, dims]``, sines then cosines.
    """
    if dims % 2:
        raise ValueError(f'sin-cos embedding needs even dims, got {dims}')
    omega = torch.arange(dims // 2, dtype=torch.float64) / (dims / 2.)
    omega = 1. / 10000**omega  # [dims/2]
    angles = positions.double()[:, None] * omega[None]  # [M, dims/2]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def check_sincos_dims(name: str, dims: int) -> None:
    """Raise ``ValueError``, naming ``name``, unless ``dims`` channels can
    hold a 2D sin-cos embedding (sines and cosines of rows and of
    columns: a multiple of 4)."""
    if dims % 4:
        raise ValueError(f'{name} must be a multiple of 4 for the 2D sin-cos '
                         f'position embedding, got {dims}')


def sincos_2d(grid_size: Tuple[int, int],
              dims: int,
              cls_token: bool = True,
              transposed: bool = False) -> torch.Tensor:
    """Build the 2D sin-cos embedding of a patch grid.

    Args:
        grid_size (tuple[int, int]): Patch grid ``(h, w)``; patches are
            numbered row by row.
        dims (int): Embedding channels, a multiple of 4.
        cls_token (bool): Prepend an all-zero row for the class token.
            Defaults to True.
        transposed (bool): mmpretrain's layout: patch ``m`` gets the
            column half of ``m // h`` and the row half of ``m % h``.
            Defaults to False (the MAE paper's code: ``m % w`` and
            ``m // w``).

    Returns:
        Tensor: float32 ``[1, (1 +) h * w, dims]``.
    """
    check_sincos_dims('dims', dims)
    h, w = grid_size
    index = torch.arange(h * w)  # [h*w], row by row
    cols, rows = (index // h, index % h) if transposed else (index % w,
                                                              index // w)
    embed = torch.cat([
        sincos_1d(cols, dims // 2),
        sincos_1d(rows, dims // 2)
    ], dim=1)  # [h*w, dims]
    if cls_token:
        embed = torch.cat([embed.new_zeros(1, dims), embed], dim=0)
    return embed.float().unsqueeze(0)


def regenerate_sincos_on_load(state_dict: dict, key: str,
                              pos_embed: torch.Tensor,
                              grid_size: Tuple[int, int],
                              transposed: bool) -> bool:
    """Load-time fit of a fixed sin-cos embedding to a module's grid.

    A stored embedding of another length (another image size or patch
    grid), or of the same length holding the sin-cos of another grid (a
    ``(4, 8)`` one for a ``(8, 4)`` grid), is replaced by the sin-cos of
    ``grid_size`` in the stored one's layout (mmpretrain's transposed one
    when it is that), not interpolated. Any other one of the module's
    length is loaded as stored (the module's own, or other values).

    Args:
        state_dict (dict): The state dict being loaded, changed in place.
        key (str): Key of the embedding in ``state_dict``.
        pos_embed (Tensor): The module's ``[1, 1 + h*w, D]`` embedding.
        grid_size (tuple[int, int]): The module's patch grid ``(h, w)``.
        transposed (bool): The layout of the module's embedding now.

    Returns:
        bool: the layout of the module's embedding once loaded: whether it
        is mmpretrain's (``transposed`` when ``key`` is not stored), for
        the module's sin-cos of other grids.
    """
    stored = state_dict.get(key)
    if stored is None:
        return transposed
    grid, transposed = sincos_grid(stored) or (None, False)
    if stored.shape == pos_embed.shape and grid in (None, tuple(grid_size)):
        return transposed
    source = (f'shape {tuple(stored.shape)}'
              if stored.shape != pos_embed.shape else f'the grid {grid}')
    layout = " in mmpretrain's transposed layout" if transposed else ''
    MMLogger.get_current_instance().info(
        f'{key}: regenerated the fixed sin-cos embedding{layout} for the '
        f'grid {tuple(grid_size)} instead of loading one of {source}')
    state_dict[key] = sincos_2d(
        grid_size, pos_embed.shape[-1],
        transposed=transposed).to(pos_embed.dtype)
    return transposed


def sincos_grid(stored: torch.Tensor,
                cls_token: bool = True
                ) -> Optional[Tuple[Tuple[int, int], bool]]:
    """The patch grid and layout ``((h, w), transposed)`` whose sin-cos
    ``stored`` (``[1, (1 +) L, D]``) is, within half a bfloat16 step (so
    saved in any floating dtype), the paper's layout first; None when it
    is none (learned values, another formula or shape)."""
    if stored.dim() != 3:
        return None
    num_patches = stored.shape[1] - int(cls_token)
    dims = stored.shape[-1]
    if dims % 4 or num_patches < 1:
        return None
    values = stored.float().cpu()
    for h in range(1, num_patches + 1):
        if num_patches % h:
            continue
        grid = (h, num_patches // h)
        for transposed in (False, True):
            if torch.allclose(values, sincos_2d(grid, dims, cls_token,
                                                transposed),
                              rtol=0, atol=4e-3):
                return grid, transposed
    return None
