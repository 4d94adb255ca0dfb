"""Fixed 2D sine-cosine position embeddings, laid out as in the MAE paper's
code: the first half of the channels encodes a patch's column, the second
half its row, each half as ``[sin(pos * omega), cos(pos * omega)]`` with
``omega_d = 1 / 10000^(d / (D/4))``."""
from typing import Tuple

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
    omega = torch.arange(dims // 2, dtype=torch.float64) / (dims / 2.)
    omega = 1. / 10000**omega  # [dims/2]
    angles = positions.double()[:, None] * omega[None]  # [M, dims/2]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


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
    if dims % 4 != 0:
        raise ValueError(
            f'sin-cos position embedding needs embed dims divisible by 4, '
            f'got {dims}')
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
    grid) is replaced by the sin-cos of ``grid_size``, not interpolated;
    one of the module's length is left as stored.

    Args:
        state_dict (dict): The state dict being loaded, changed in place.
        key (str): Key of the embedding in ``state_dict``.
        pos_embed (Tensor): The module's ``[1, 1 + h*w, D]`` embedding.
        grid_size (tuple[int, int]): The module's patch grid ``(h, w)``.
    """
    stored = state_dict.get(key)
    if stored is None or stored.shape == pos_embed.shape:
        return
    MMLogger.get_current_instance().info(
        f'{key}: regenerated the fixed sin-cos embedding for the grid '
        f'{tuple(grid_size)} instead of loading one of shape '
        f'{tuple(stored.shape)}')
    state_dict[key] = sincos_2d(grid_size,
                                pos_embed.shape[-1]).to(stored.dtype)
