"""Multi-head self-attention that splits its packed q/k/v without copies."""
from typing import Iterable

import torch
from mmpretrain.models.utils import MultiheadAttention
from torch import nn


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


def unbind_qkv_attention(blocks: Iterable[nn.Module]) -> None:
    """Switch the ``attn`` of each of mmpretrain's Transformer blocks to
    :class:`UnbindQKVAttention` in place (the subclass adds no state, so
    the module keeps its parameters and state-dict keys)."""
    for block in blocks:
        if type(block.attn) is not MultiheadAttention:
            raise TypeError(f'expected mmpretrain MultiheadAttention, got '
                            f'{type(block.attn).__name__}')
        block.attn.__class__ = UnbindQKVAttention
