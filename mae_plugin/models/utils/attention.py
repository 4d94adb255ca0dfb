"""The Transformer block of the MAE encoder and decoder, the attention it
builds (multi-head self-attention that splits its packed q/k/v without
copies), their norm layers' default, and a block's run with activation
checkpointing."""
from typing import Any, Type

import torch
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModule
from mmpretrain.models.backbones.vision_transformer import \
    TransformerEncoderLayer
from mmpretrain.models.utils import MultiheadAttention, build_norm_layer
from torch import nn
from torch.utils.checkpoint import checkpoint


#: The norm layers of the MAE encoders and decoder: LayerNorm with the MAE
#: code's eps.
DEFAULT_NORM_CFG = dict(type='LN', eps=1e-6)


def norm_cfg_over_default(norm_cfg: Any) -> dict:
    """``norm_cfg``, or, where it has no ``type``, :data:`DEFAULT_NORM_CFG`
    with its keys set over it.

    A component's ``norm_cfg`` defaults to :data:`DEFAULT_NORM_CFG`; a
    config that relies on that default and is given
    ``--cfg-options model.backbone.norm_cfg.eps=1e-5`` passes
    ``dict(eps=1e-5)``, which mmpretrain's ``build_norm_layer`` refused
    with 'the cfg dict must contain the key "type"'. It now keeps the
    default's ``type``, as the merge would had the config written the
    default. A ``norm_cfg`` with a ``type`` is used as it is (as
    mmpretrain's components use theirs), so every config that built before
    builds the same layers.

    Raises:
        TypeError: ``norm_cfg`` is not a dict.
    """
    if not isinstance(norm_cfg, dict):
        raise TypeError(f'norm_cfg must be a dict such as '
                        f'{DEFAULT_NORM_CFG}, got {norm_cfg!r} '
                        f'({type(norm_cfg).__name__})')
    return dict(norm_cfg) if 'type' in norm_cfg else {
        **DEFAULT_NORM_CFG,
        **norm_cfg
    }


def run_block(block: nn.Module, x: torch.Tensor,
              with_cp: bool) -> torch.Tensor:
    """``block(x)``; with ``with_cp`` where gradients flow through it (to
    ``x`` or to the block's own weights: the first block after frozen
    ones has an input without), recomputed in the backward pass instead of
    keeping its activations (activation checkpointing; torch's
    non-reentrant one, which restores the RNG state, so a recomputed
    dropout or drop path draws as it did)."""
    if with_cp and torch.is_grad_enabled() and (
            x.requires_grad
            or any(p.requires_grad for p in block.parameters())):
        return checkpoint(block, x, use_reentrant=False)
    return block(x)


class UnbindQKVAttention(MultiheadAttention):
    """mmpretrain's :class:`MultiheadAttention` (same parameters, buffers
    and arithmetic) with the packed ``qkv`` projection split by one
    ``unbind``.

    mmpretrain indexes ``qkv[0]``, ``qkv[1]``, ``qkv[2]`` of a permuted
    tensor. In the backward pass each index allocates a zero tensor the
    size of all three and copies its gradient in, and the permute's
    reshape copies once more. Here q, k and v are strided views of
    ``[N, L, 3, H, d]``; the backward of ``unbind`` stacks their gradients
    straight into that layout, which is the ``qkv`` output's, so nothing
    else is copied.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, L, D]`` to ``[N, L, D]``."""
        n, length, _ = x.shape
        qkv = self.qkv(x).reshape(n, length, 3, self.num_heads,
                                  self.head_dims)  # [N, L, 3, H, d]
        # views [N, H, L, d]
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(2))
        attn_drop = self.attn_drop if self.training else 0.
        x = self.scaled_dot_product_attention(q, k, v, dropout_p=attn_drop)
        x = x.transpose(1, 2).reshape(n, length, self.embed_dims)
        x = self.proj(x)
        x = self.out_drop(self.gamma1(self.proj_drop(x)))
        if self.v_shortcut:
            x = v.squeeze(1) + x
        return x


class TransformerBlock(TransformerEncoderLayer):
    """mmpretrain's ViT block (pre-norm attention and MLP, each with a
    residual, stochastic depth and optional layer scale) that builds the
    attention class it is given.

    Same sub-modules in the same order (``ln1``, ``attn``, ``ln2``,
    ``ffn``), so the same state-dict keys and arithmetic as
    :class:`mmpretrain.models.backbones.vision_transformer.
    TransformerEncoderLayer` (its MLP only, not the SwiGLU option).

    Args:
        embed_dims (int): Token width ``D``.
        num_heads (int): Attention heads.
        feedforward_channels (int): Hidden width of the MLP.
        attention (type): The attention class, called with the arguments of
            :class:`mmpretrain.models.utils.MultiheadAttention`. Defaults
            to :class:`UnbindQKVAttention`.
        layer_scale_init_value (float): Start value of the per-channel
            scales of both branches; 0 for none. Defaults to 0.
        drop_rate (float): Dropout after the attention projection and in
            the MLP. Defaults to 0.
        attn_drop_rate (float): Dropout of the attention weights.
            Defaults to 0.
        drop_path_rate (float): Stochastic depth of each branch.
            Defaults to 0.
        num_fcs (int): Linear layers of the MLP. Defaults to 2.
        qkv_bias (bool): Bias in the qkv projection. Defaults to True.
        act_cfg (dict): MLP activation. Defaults to ``dict(type='GELU')``.
        norm_cfg (dict): Norm layers. Defaults to ``dict(type='LN')``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 feedforward_channels: int,
                 attention: Type[MultiheadAttention] = UnbindQKVAttention,
                 layer_scale_init_value: float = 0.,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 num_fcs: int = 2,
                 qkv_bias: bool = True,
                 act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='LN'),
                 init_cfg: dict = None) -> None:
        BaseModule.__init__(self, init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.ln1 = build_norm_layer(norm_cfg, embed_dims)
        # both residual branches: layer scale, then stochastic depth
        branch = dict(
            dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate),
            layer_scale_init_value=layer_scale_init_value)
        self.attn = attention(
            embed_dims,
            num_heads,
            attn_drop=attn_drop_rate,
            proj_drop=drop_rate,
            qkv_bias=qkv_bias,
            **branch)
        self.ln2 = build_norm_layer(norm_cfg, embed_dims)
        self.ffn = FFN(
            embed_dims,
            feedforward_channels,
            num_fcs,
            act_cfg,
            ffn_drop=drop_rate,
            **branch)
