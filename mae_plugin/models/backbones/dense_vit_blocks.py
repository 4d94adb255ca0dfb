"""The two kinds of Transformer block of :class:`~mae_plugin.models.
DenseViT`: ViTDet's (windowed or global attention on the patch grid) and
BEiT's segmentation block (class token, relative position bias table, layer
scale)."""
from typing import Tuple

import torch
from mmcv.cnn.bricks.drop import DropPath
from mmpretrain.models.backbones.beit import BEiTTransformerEncoderLayer
from mmpretrain.models.backbones.vit_sam import (TransformerEncoderLayer,
                                                 window_partition,
                                                 window_unpartition)
from torch import nn


class WindowedBlock(TransformerEncoderLayer):
    """mmpretrain's windowed ViT block (SAM's) with stochastic depth on the
    attention branch as well as on the MLP, as in ViTDet and the MAE
    fine-tuning code. Same parameters and keys as its parent.

    Args:
        drop_path_rate (float): Probability of dropping each residual
            branch of a sample. Defaults to 0.
        **kwargs: Arguments of
            :class:`mmpretrain.models.backbones.vit_sam.
            TransformerEncoderLayer`.
    """

    def __init__(self, drop_path_rate: float = 0., **kwargs) -> None:
        super().__init__(drop_path_rate=drop_path_rate, **kwargs)
        self.drop_path = DropPath(drop_path_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, h, w, D]`` tokens in, the same shape out."""
        h, w = x.shape[1:3]
        shortcut = x
        x = self.ln1(x)
        if self.window_size > 0:
            x, padded_size = window_partition(x, self.window_size)
        x = self.attn(x)  # [N * windows, window, window, D] or [N, h, w, D]
        if self.window_size > 0:
            x = window_unpartition(x, self.window_size, padded_size, (h, w))
        x = shortcut + self.drop_path(x)
        return self.ffn(self.ln2(x), identity=x)


class RelPosBiasBlock(BEiTTransformerEncoderLayer):
    """BEiT's block as its segmentation code (and mmseg's ``MAE``) use it:
    global attention over ``[class token, patches]`` plus a learnable
    relative position bias, one scalar per head and relative offset in the
    patch grid and three more for class-to-patch, patch-to-class and
    class-to-class (table ``[(2h-1)(2w-1) + 3, heads]``, zero-initialised
    as in the MAE paper), and optional layer scale (``gamma_1``,
    ``gamma_2``). Stochastic depth once per branch (mmpretrain's parent
    class drops the MLP branch twice: in its FFN and after it).

    Args:
        grid (tuple[int, int]): The patch grid ``(h, w)`` of the inputs.
        layer_scale_init_value (float): Start value of the per-channel
            scales of both branches; 0 for none.
        qkv_bias (bool): Bias in the qkv projection. Defaults to True.
        **kwargs: Other arguments of :class:`mmpretrain.models.backbones.
            beit.BEiTTransformerEncoderLayer`.
    """

    def __init__(self,
                 grid: Tuple[int, int],
                 layer_scale_init_value: float,
                 qkv_bias: bool = True,
                 **kwargs) -> None:
        super().__init__(
            layer_scale_init_value=layer_scale_init_value,
            window_size=grid,
            use_rel_pos_bias=True,
            bias=qkv_bias,
            ffn_cfg=dict(add_identity=False, dropout_layer=None),
            **kwargs)
        self.layer_scale_init_value = layer_scale_init_value

    def init_weights(self) -> None:
        """Zero bias table, layer scales at their start value."""
        nn.init.zeros_(self.attn.relative_position_bias_table)
        for gamma in (self.gamma_1, self.gamma_2):
            if gamma is not None:
                nn.init.constant_(gamma, self.layer_scale_init_value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 1 + h*w, D]`` tokens in, the same shape out."""
        return super().forward(x, rel_pos_bias=None)
