"""Fixed 2D sine-cosine position embeddings, laid out as in the MAE paper's
code: the first half of the channels encodes a patch's column, the second
half its row, each half as ``[sin(pos * omega), cos(pos * omega)]`` with
``omega_d = 1 / 10000^(d / (D/4))``."""
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
              cls_token: bool = True) -> torch.Tensor:
    """Build the 2D sin-cos embedding of a patch grid.

    Args:
        grid_size (tuple[int, int]): Patch grid ``(h, w)``; patches are
            numbered row by row.
        dims (int): Embedding channels, a multiple of 4.
        cls_token (bool): Prepend an all-zero row for the class token.
            Defaults to True.

    Returns:
        Tensor: float32 ``[1, (1 +) h * w, dims]``.
    """
    check_sincos_dims('dims', dims)
    h, w = grid_size
    rows, cols = torch.meshgrid(
        torch.arange(h), torch.arange(w), indexing='ij')  # [h, w] each
    embed = torch.cat([
        sincos_1d(cols.flatten(), dims // 2),
        sincos_1d(rows.flatten(), dims // 2)
    ], dim=1)  # [h*w, dims]
    if cls_token:
        embed = torch.cat([embed.new_zeros(1, dims), embed], dim=0)
    return embed.float().unsqueeze(0)


def regenerate_sincos_on_load(state_dict: dict, key: str,
                              pos_embed: torch.Tensor,
                              grid_size: Tuple[int, int]) -> None:
    """Load-time fit of a fixed sin-cos embedding to a module's grid.

    A stored embedding of another length (another image size or patch
    grid), or of the same length holding the sin-cos of another grid (a
    ``(4, 8)`` one for a ``(8, 4)`` grid), is replaced by the sin-cos of
    ``grid_size``, not interpolated. Any other one of the module's length
    is loaded as stored (the module's own, or values such as mmpretrain's,
    whose sin-cos lays out the grid transposed).

    Args:
        state_dict (dict): The state dict being loaded, changed in place.
        key (str): Key of the embedding in ``state_dict``.
        pos_embed (Tensor): The module's ``[1, 1 + h*w, D]`` embedding.
        grid_size (tuple[int, int]): The module's patch grid ``(h, w)``.
    """
    stored = state_dict.get(key)
    if stored is None:
        return
    if stored.shape != pos_embed.shape:
        source = f'shape {tuple(stored.shape)}'
    else:
        source = _other_sincos_grid(stored, tuple(grid_size))
        if source is None:
            return
    MMLogger.get_current_instance().info(
        f'{key}: regenerated the fixed sin-cos embedding for the grid '
        f'{tuple(grid_size)} instead of loading one of {source}')
    state_dict[key] = sincos_2d(grid_size,
                                pos_embed.shape[-1]).to(pos_embed.dtype)


def _other_sincos_grid(stored: torch.Tensor,
                       grid_size: Tuple[int, int]) -> Optional[str]:
    """``'the grid (h, w)'`` when ``stored`` (``[1, 1 + L, D]``) is the
    sin-cos of a grid of ``L`` patches other than ``grid_size`` (within
    half a bfloat16 step, so in any floating dtype); None otherwise."""
    num_patches, dims = stored.shape[1] - 1, stored.shape[-1]
    for h in range(1, num_patches + 1):
        grid = (h, num_patches // h)
        if num_patches % h or grid == grid_size:
            continue
        if torch.allclose(stored.float().cpu(), sincos_2d(grid, dims),
                          rtol=0, atol=4e-3):
            return f'the grid {grid}'
    return None
