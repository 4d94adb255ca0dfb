"""The lightweight MAE decoder."""
import math
from typing import Optional, Tuple, Union

import torch
from mmengine.model import BaseModule, ModuleList
from mmpretrain.models.utils import build_norm_layer
from torch import nn

from mae_plugin.registry import MODELS
from mae_plugin.utils import (check_bool, check_img_size, check_number,
                              check_positive_int)
from ..utils import (DEFAULT_NORM_CFG, TransformerBlock, check_divisible,
                     check_sincos_dims, init_mae_weights, is_pretrained_init,
                     norm_cfg_over_default, regenerate_sincos_on_load,
                     run_block, sincos_2d)


@MODELS.register_module()
class MAEDecoder(BaseModule):
    """Decoder of MAE: restores the full token sequence and predicts pixels.

    The encoded visible tokens are projected to the decoder width, one
    shared learnable mask token fills every removed position, ``ids_restore``
    puts the sequence back in patch order, fixed 2D sin-cos positions are
    added and ``num_layers`` Transformer blocks and a norm run before a
    linear layer predicts the ``p*p*C`` pixel values of every patch. The
    class token's output is dropped. It knows nothing about images beyond
    the patch grid its positions are built for.

    Args:
        in_channels (int): Encoder width. Defaults to 1024.
        embed_dims (int): Decoder width, a multiple of 4 (its sin-cos
            positions) and of ``num_heads``. Defaults to 512.
        num_layers (int): Decoder blocks. Defaults to 8.
        num_heads (int): Attention heads. Defaults to 16.
        mlp_ratio (float): Hidden width of the MLPs over ``embed_dims``;
            ``int(mlp_ratio * embed_dims)`` must be >= 1. Defaults to 4.
        img_size (int | tuple): Training image size ``(H, W)``.
            Defaults to 224.
        patch_size (int): Patch side. Defaults to 16.
        out_channels (int): Image channels ``C`` of the predicted pixels.
            Defaults to 3.
        norm_cfg (dict): Norm layers; one without ``type``
            (``dict(eps=1e-5)``) sets its keys over the default. Defaults
            to ``dict(type='LN', eps=1e-6)``.
        with_cp (bool): Recompute each block in the backward pass instead
            of keeping its activations (activation checkpointing). Defaults
            to False.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int = 1024,
                 embed_dims: int = 512,
                 num_layers: int = 8,
                 num_heads: int = 16,
                 mlp_ratio: float = 4.,
                 img_size: Union[int, Tuple[int, int]] = 224,
                 patch_size: int = 16,
                 out_channels: int = 3,
                 norm_cfg: dict = DEFAULT_NORM_CFG,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value in (('in_channels', in_channels), ('embed_dims',
                                                           embed_dims),
                            ('num_layers', num_layers), ('num_heads',
                                                         num_heads),
                            ('patch_size', patch_size), ('out_channels',
                                                         out_channels)):
            check_positive_int(name, value)
        mlp_ratio = check_number('mlp_ratio', mlp_ratio, high=math.inf,
                                 high_open=True)  # finite
        if not mlp_ratio * embed_dims >= 1:
            raise ValueError('mlp_ratio must give the MLPs a hidden width '
                             'int(mlp_ratio * embed_dims) >= 1, got mlp_ratio='
                             f'{mlp_ratio} with embed_dims={embed_dims}')
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims must be a multiple of num_heads '
                             f'({num_heads}), got {embed_dims}')
        check_sincos_dims('embed_dims', embed_dims)
        norm_cfg = norm_cfg_over_default(norm_cfg)
        img_size = check_img_size(img_size)
        check_divisible(*img_size, patch_size, name='img_size')
        self.img_size = img_size
        self.grid_size = (img_size[0] // patch_size, img_size[1] // patch_size)
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.patch_size = patch_size
        self.out_channels = out_channels
        self.with_cp = check_bool('with_cp', with_cp)

        self.decoder_embed = nn.Linear(in_channels, embed_dims)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.decoder_pos_embed = nn.Parameter(
            sincos_2d(self.grid_size, embed_dims), requires_grad=False)
        self.sincos_transposed = False  # mmpretrain's layout, as MAEViT's
        self.decoder_blocks = ModuleList([
            TransformerBlock(
                embed_dims=embed_dims,
                num_heads=num_heads,
                feedforward_channels=int(mlp_ratio * embed_dims),
                qkv_bias=True,
                norm_cfg=norm_cfg) for _ in range(num_layers)
        ])
        self.decoder_norm = build_norm_layer(norm_cfg, embed_dims)
        self.decoder_pred = nn.Linear(embed_dims, patch_size**2 * out_channels)
        self._register_load_state_dict_pre_hook(self._prepare_pos_embed)

    def init_weights(self) -> None:
        """Initialise as the MAE paper's code, unless loading weights."""
        super().init_weights()
        if is_pretrained_init(self.init_cfg):
            return
        self.decoder_pos_embed.data.copy_(
            sincos_2d(self.grid_size, self.embed_dims))
        self.sincos_transposed = False
        init_mae_weights(self)
        nn.init.normal_(self.mask_token, std=.02)

    def _prepare_pos_embed(self, state_dict: dict, prefix: str, *args,
                           **kwargs) -> None:
        """Load-state-dict pre-hook: a stored ``decoder_pos_embed`` of
        another grid is regenerated as sin-cos for this decoder's grid, in
        its layout."""
        self.sincos_transposed = regenerate_sincos_on_load(
            state_dict, prefix + 'decoder_pos_embed', self.decoder_pos_embed,
            self.grid_size, self.sincos_transposed)

    def position_embedding(self, grid_size: Tuple[int, int]) -> torch.Tensor:
        """``[1, 1 + h*w, D_dec]`` positions for a ``(h, w)`` grid."""
        if tuple(grid_size) == self.grid_size:
            return self.decoder_pos_embed
        return sincos_2d(
            grid_size, self.embed_dims,
            transposed=self.sincos_transposed).to(self.decoder_pos_embed)

    def forward(self,
                latent: torch.Tensor,
                ids_restore: torch.Tensor,
                grid_size: Optional[Tuple[int, int]] = None) -> torch.Tensor:
        """Predict the pixels of every patch.

        Args:
            latent (Tensor): Encoder output ``[N, 1+L_keep, D]``, or
                ``[N, 1+L, D]`` (shuffled order) when the encoder ran on
                mask tokens (then the decoder adds none).
            ids_restore (Tensor): ``[N, L]`` from the encoder's masking.
            grid_size (tuple[int, int], optional): Patch grid ``(h, w)``
                with ``h*w == L``; the training grid when None.

        Returns:
            Tensor: ``[N, L, p*p*C]`` predicted patches in patch order.
        """
        grid_size = tuple(grid_size or self.grid_size)
        n, num_patches = ids_restore.shape
        if grid_size[0] * grid_size[1] != num_patches:
            raise ValueError(f'ids_restore has {num_patches} patches but '
                             f'the grid {grid_size} has '
                             f'{grid_size[0] * grid_size[1]}')
        if latent.shape[-1] != self.in_channels:
            raise ValueError(
                f'latent width {latent.shape[-1]} differs from the '
                f'decoder in_channels {self.in_channels}')
        if not 2 <= latent.shape[1] <= 1 + num_patches:
            raise ValueError(
                f'latent has {latent.shape[1]} tokens; with the {num_patches} '
                'patches of ids_restore it must have the class token and '
                f'1 to {num_patches} patches')
        x = self.decoder_embed(latent)  # [N, 1+L_keep, D_dec] (or 1+L)
        num_masked = num_patches + 1 - x.shape[1]
        mask_tokens = self.mask_token.expand(n, num_masked, -1)
        patches = torch.cat([x[:, 1:], mask_tokens], dim=1)  # [N, L, D_dec]
        patches = torch.gather(
            patches, 1,
            ids_restore.unsqueeze(-1).expand(-1, -1, patches.shape[-1]))
        x = torch.cat([x[:, :1], patches], dim=1)  # [N, 1+L, D_dec]
        x = x + self.position_embedding(grid_size)
        for block in self.decoder_blocks:
            x = run_block(block, x, self.with_cp)
        x = self.decoder_norm(x)
        return self.decoder_pred(x)[:, 1:]  # [N, L, p*p*C]
