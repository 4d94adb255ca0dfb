"""UnbindQKVAttention: mmpretrain's attention, same weights and results,
fewer copies in the backward pass."""
import copy

import pytest
import torch
from mmpretrain.models.backbones.vision_transformer import \
    TransformerEncoderLayer
from mmpretrain.models.utils import MultiheadAttention
from torch import nn

from mae_plugin.models.utils import UnbindQKVAttention, unbind_qkv_attention
from mae_plugin.registry import MODELS
from tests.conftest import tiny_mae_cfg


def forward_backward(module, x):
    x = x.clone().requires_grad_()
    out = module(x)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    return out, x.grad, {n: p.grad for n, p in module.named_parameters()}


def test_same_outputs_and_gradients_as_mmpretrain():
    theirs = TransformerEncoderLayer(
        embed_dims=32, num_heads=4, feedforward_channels=64)
    ours = copy.deepcopy(theirs)
    unbind_qkv_attention([ours])
    assert type(ours.attn) is UnbindQKVAttention
    x = torch.randn(3, 7, 32)
    out, x_grad, grads = forward_backward(ours, x)
    ref_out, ref_x_grad, ref_grads = forward_backward(theirs, x)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(x_grad, ref_x_grad)
    assert grads.keys() == ref_grads.keys()
    assert {'attn.qkv.weight', 'attn.qkv.bias'} < grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grad, ref_grads[name], msg=name)


def test_the_backward_pass_allocates_no_zero_filled_qkv_gradients():
    theirs = MultiheadAttention(embed_dims=32, num_heads=4, qkv_bias=True)
    ours = copy.deepcopy(theirs)
    ours.__class__ = UnbindQKVAttention

    def backward_ops(attn):
        x = torch.randn(3, 7, 32, requires_grad=True)
        out = attn(x).sum()
        with torch.profiler.profile() as prof:
            out.backward()
        return {e.key for e in prof.key_averages()}

    assert 'SelectBackward0' in backward_ops(theirs)
    ops = backward_ops(ours)
    assert 'UnbindBackward0' in ops and 'SelectBackward0' not in ops


def test_mae_encoder_and_decoder_use_it_with_unchanged_keys():
    mae = MODELS.build(tiny_mae_cfg())
    blocks = [*mae.backbone.layers, *mae.neck.decoder_blocks]
    assert all(type(b.attn) is UnbindQKVAttention for b in blocks)
    assert 'backbone.layers.0.attn.qkv.weight' in mae.state_dict()
    assert 'neck.decoder_blocks.0.attn.proj.bias' in mae.state_dict()


def test_other_attention_is_refused_by_name():
    block = nn.Module()
    block.attn = nn.MultiheadAttention(8, 2)
    with pytest.raises(TypeError, match='got MultiheadAttention'):
        unbind_qkv_attention([block])
