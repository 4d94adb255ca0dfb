"""TransformerBlock and UnbindQKVAttention: mmpretrain's block and
attention, same weights and results, fewer copies in the backward pass,
the attention chosen at construction."""

import pytest
import torch
from mmpretrain.models.backbones.vision_transformer import \
    TransformerEncoderLayer
from mmpretrain.models.utils import MultiheadAttention

from mae_plugin.models.utils import TransformerBlock, UnbindQKVAttention
from mae_plugin.registry import MODELS
from tests.conftest import tiny_mae_cfg


def forward_backward(module, x):
    x = x.clone().requires_grad_()
    out = module(x)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    return out, x.grad, {n: p.grad for n, p in module.named_parameters()}


@pytest.mark.parametrize('options', [
    dict(),
    dict(layer_scale_init_value=0.1, qkv_bias=False, num_fcs=3),
])
def test_same_outputs_and_gradients_as_mmpretrain(options):
    theirs = TransformerEncoderLayer(
        embed_dims=32, num_heads=4, feedforward_channels=64, **options)
    ours = TransformerBlock(
        embed_dims=32, num_heads=4, feedforward_channels=64, **options)
    assert type(ours.attn) is UnbindQKVAttention
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 7, 32)
    out, x_grad, grads = forward_backward(ours, x)
    ref_out, ref_x_grad, ref_grads = forward_backward(theirs, x)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(x_grad, ref_x_grad)
    assert grads.keys() == ref_grads.keys()
    assert 'attn.qkv.weight' in grads
    for name, grad in grads.items():
        torch.testing.assert_close(grad, ref_grads[name], msg=name)


@pytest.mark.parametrize('options', [
    dict(num_heads=4, input_dims=24, qk_scale=0.5, proj_bias=False),
    dict(num_heads=4, layer_scale_init_value=0.1),
    # mmpretrain adds v to the output, which it can with one head only
    dict(num_heads=1, v_shortcut=True),
])
def test_the_attention_alone_matches_mmpretrain(options):
    """Every option of mmpretrain's attention that the blocks do not set,
    against mmpretrain's own module with the same weights."""
    theirs = MultiheadAttention(embed_dims=32, **options)
    ours = UnbindQKVAttention(embed_dims=32, **options)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 7, options.get('input_dims', 32))
    out, x_grad, grads = forward_backward(ours, x)
    ref_out, ref_x_grad, ref_grads = forward_backward(theirs, x)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(x_grad, ref_x_grad)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, ref_grads[name], msg=name)


def test_the_backward_pass_allocates_no_zero_filled_qkv_gradients():
    theirs = MultiheadAttention(embed_dims=32, num_heads=4, qkv_bias=True)
    ours = UnbindQKVAttention(embed_dims=32, num_heads=4, qkv_bias=True)
    ours.load_state_dict(theirs.state_dict())

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


def test_the_block_builds_the_attention_it_is_given():
    block = TransformerBlock(
        embed_dims=32,
        num_heads=4,
        feedforward_channels=64,
        attention=MultiheadAttention)
    assert type(block.attn) is MultiheadAttention


def test_encoder_blocks_start_as_mmpretrain_builds_them():
    """MAEViT replaces mmpretrain's blocks: same weights at construction and
    the same random-number stream afterwards (so seeded runs keep their
    initialisation)."""
    from mmpretrain.models import VisionTransformer

    from mae_plugin.models import MAEViT
    arch = dict(
        embed_dims=32, num_layers=2, num_heads=4, feedforward_channels=64)
    torch.manual_seed(0)
    ours = MAEViT(arch=arch, img_size=32, patch_size=8)
    next_ours = torch.rand(3)
    torch.manual_seed(0)
    theirs = VisionTransformer(arch=arch, img_size=32, patch_size=8)
    next_theirs = torch.rand(3)
    assert all(type(b.attn) is UnbindQKVAttention for b in ours.layers)
    for (name, value), (_, ref) in zip(ours.layers.state_dict().items(),
                                       theirs.layers.state_dict().items()):
        assert torch.equal(value, ref), name
    assert torch.equal(next_ours, next_theirs)
