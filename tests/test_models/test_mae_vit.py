import math

import pytest
import torch
from mmpretrain.models import VisionTransformer

from mae_plugin.models import MAEViT
from mae_plugin.models.utils import sincos_2d
from ..conftest import TINY_ARCH


def build(**kwargs):
    cfg = dict(arch=TINY_ARCH, img_size=32, patch_size=8)
    cfg.update(kwargs)
    model = MAEViT(**cfg)
    model.init_weights()
    model.eval()
    return model


def test_masked_forward_shapes_and_kept_count():
    model = build(masking=dict(type='RandomMasking', mask_ratio=0.75))
    latent, mask, ids_restore = model(torch.randn(3, 3, 32, 32))
    assert latent.shape == (3, 1 + 4, 32)  # 16 patches, 4 visible
    assert mask.shape == ids_restore.shape == (3, 16)
    assert (mask.sum(1) == 12).all()


def test_encoder_sees_only_visible_patches():
    model = build()
    x = torch.randn(2, 3, 32, 32)
    noise = torch.rand(2, 16)
    latent, mask, _ = model(x, noise=noise)
    # Overwrite every removed patch: the latent must not change.
    pixel_mask = mask.reshape(2, 1, 4, 1, 4, 1).expand(2, 3, 4, 8, 4, 8)
    y = torch.where(
        pixel_mask.reshape(2, 3, 32, 32).bool(),
        torch.randn_like(x) * 100, x)
    latent_y, mask_y, _ = model(y, noise=noise)
    assert torch.equal(mask, mask_y)
    torch.testing.assert_close(latent, latent_y, rtol=0, atol=1e-5)


def test_zero_mask_ratio_equals_the_plain_vit_over_all_tokens():
    model = build(masking=dict(type='RandomMasking', mask_ratio=0.0))
    x = torch.randn(2, 3, 32, 32)
    latent, mask, ids_restore = model(x)
    assert mask.sum() == 0
    full = model(x, mask=False)[0]  # out_type='raw': [N, 1+L, D]
    restored = torch.gather(latent[:, 1:], 1,
                            ids_restore[..., None].expand(-1, -1, 32))
    torch.testing.assert_close(restored, full[:, 1:], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(latent[:, 0], full[:, 0], rtol=1e-5, atol=1e-5)


def test_pre_norm_acts_as_on_all_tokens_and_is_trained():
    """``pre_norm`` acts on the visible tokens as on all of them (with
    mask ratio 0 the masked and plain paths agree) and is trained."""
    model = build(
        masking=dict(type='RandomMasking', mask_ratio=0.0), pre_norm=True)
    x = torch.randn(2, 3, 32, 32)
    latent, _, ids_restore = model(x)
    full = model(x, mask=False)[0]
    restored = torch.gather(latent[:, 1:], 1,
                            ids_restore[..., None].expand(-1, -1, 32))
    torch.testing.assert_close(restored, full[:, 1:], rtol=1e-5, atol=1e-5)
    model.train()
    model(x)[0].sum().backward()
    assert model.pre_norm.weight.grad.abs().sum() > 0


def test_dropout_after_positions_sees_only_the_visible_tokens():
    model = build(
        masking=dict(type='RandomMasking', mask_ratio=0.75), drop_rate=0.5)
    model.train()
    seen = []
    model.drop_after_pos.register_forward_hook(
        lambda module, args, out: seen.append(args[0].detach()))
    x = torch.randn(2, 3, 32, 32)
    noise = torch.rand(2, 16)
    model(x, noise=noise)
    # 16 patches, 25% of them visible: the class token plus 4 patches
    assert [t.shape for t in seen] == [(2, 1 + 4, 32)]
    # ... and they are the 4 lowest-noise patches, in that order
    tokens, _ = model.embed_patches(x)
    keep = noise.argsort(1)[:, :4]
    visible = torch.stack([tokens[i, keep[i]] for i in range(2)])
    torch.testing.assert_close(seen[0][:, 1:], visible)
    torch.testing.assert_close(seen[0][:, 0], model.class_token(2)[:, 0])


def test_state_dict_matches_mmpretrain_vit_and_unmasked_output_agrees():
    model = build(out_type='cls_token')
    vit = VisionTransformer(
        arch=TINY_ARCH, img_size=32, patch_size=8, out_type='cls_token')
    assert set(model.state_dict()) == set(vit.state_dict())
    vit.load_state_dict(model.state_dict(), strict=True)
    vit.eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(x, mask=False)[0], vit(x)[0])


def test_position_embedding_is_fixed_sincos():
    model = build()
    assert not model.pos_embed.requires_grad
    assert torch.equal(model.pos_embed.data, sincos_2d((4, 4), 32))
    assert torch.equal(model.pos_embed[0, 0], torch.zeros(32))


def assert_uniform(values, bound, name):
    """``values`` look drawn from U(-bound, bound): std bound / sqrt(3)
    within 5 standard errors (relative, sqrt(0.2 / n) for n uniform
    values: 10% for 512), none beyond the bound and the largest close to
    it, mean within 5 standard errors of 0."""
    std = bound / math.sqrt(3)
    tolerance = 5 * math.sqrt(0.2 / values.numel())
    assert abs(values.std().item() / std - 1) < tolerance, name
    assert values.abs().max() <= bound, name
    assert values.abs().max() > 0.97 * bound, name
    assert abs(values.mean().item()) < 5 * std / math.sqrt(values.numel()), \
        name


def assert_xavier_uniform(weight, name):
    """``weight`` [fan_out, fan_in] looks drawn from U(-a, a) with
    a = sqrt(6 / (fan_in + fan_out))."""
    fan_out, fan_in = weight.shape
    assert_uniform(weight, math.sqrt(6 / (fan_in + fan_out)), name)


def test_init_is_the_paper_init():
    """As ``initialize_weights`` of the MAE paper's code: xavier-uniform
    Linear weights with zero biases, LayerNorm weight 1 / bias 0, the patch
    projection xavier-uniform as a [D, C*p*p] matrix, class and mask
    tokens normal(std=.02); the positions stay the fixed sin-cos. The
    patch projection's bias is never re-initialised there (nor by
    mmpretrain's MAE): it keeps PyTorch's Conv2d default,
    U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    dims = 512  # wide enough for tight estimates of the statistics
    model = MAEViT(
        arch=dict(
            embed_dims=dims,
            num_layers=1,
            num_heads=8,
            feedforward_channels=2 * dims),
        img_size=32,
        patch_size=8,
        mask_token_in_encoder=True)
    model.init_weights()
    shapes = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            shapes[name] = tuple(module.weight.shape)
            assert_xavier_uniform(module.weight.detach(), name)
            assert torch.count_nonzero(module.bias) == 0, name
        if isinstance(module, torch.nn.LayerNorm):
            assert torch.equal(module.weight, torch.ones(dims)), name
            assert torch.equal(module.bias, torch.zeros(dims)), name
    # qkv, attention output and the two MLP layers were all checked
    assert shapes == {
        'layers.0.attn.qkv': (3 * dims, dims),
        'layers.0.attn.proj': (dims, dims),
        'layers.0.ffn.layers.0.0': (2 * dims, dims),
        'layers.0.ffn.layers.1': (dims, 2 * dims)
    }
    proj = model.patch_embed.projection
    assert proj.weight.shape == (dims, 3, 8, 8)
    # fan_in 3*8*8 = 192 and fan_out 512 of the 2-D view; a conv init would
    # count fan_out as 512*8*8
    assert_xavier_uniform(proj.weight.detach().reshape(dims, 3 * 8 * 8),
                          'patch projection')
    assert_uniform(proj.bias.detach(), 1 / math.sqrt(3 * 8 * 8),
                   'patch projection bias')
    for name in ('cls_token', 'mask_token'):
        token = getattr(model, name).detach()
        assert abs(token.std().item() / 0.02 - 1) < 0.15, name
        assert abs(token.mean().item()) < 0.005, name
    assert torch.equal(model.pos_embed.data, sincos_2d((4, 4), dims))


@pytest.mark.parametrize('patch', [8, 14, 16])
@pytest.mark.parametrize('channels', [1, 4])
def test_any_patch_size_non_square_and_channels(patch, channels):
    img = (2 * patch, 3 * patch)
    model = build(img_size=img, patch_size=patch, in_channels=channels)
    latent, mask, _ = model(torch.randn(2, channels, *img))
    assert mask.shape == (2, 6)
    assert latent.shape == (2, 1 + int(6 * 0.25), 32)


def test_other_input_size_regenerates_positions():
    model = build()
    x = torch.randn(1, 3, 48, 40)
    latent, mask, _ = model(x)
    assert mask.shape == (1, 30)
    feats = build(out_type='featmap')(x, mask=False)[0]
    assert feats.shape == (1, 32, 6, 5)


def test_other_input_size_gets_the_sincos_of_its_own_grid():
    """A 48x40 input is a 6x5 grid (rows x columns): its patches get the
    sin-cos of that grid, not of the transposed 5x6 one."""
    model = build()
    x = torch.randn(1, 3, 48, 40)
    tokens, grid = model.embed_patches(x)
    assert grid == (6, 5)
    projected = model.patch_embed.projection(x).flatten(2).transpose(1, 2)
    torch.testing.assert_close(tokens - projected,
                               sincos_2d((6, 5), 32)[:, 1:])


def test_learned_positions_of_mmpretrains_vit_load_and_agree():
    """A ViT with learned positions (a non-zero class row included) loads
    as stored, and the class token gets its row as in mmpretrain's ViT."""
    vit = VisionTransformer(
        arch=TINY_ARCH, img_size=32, patch_size=8, out_type='raw')
    vit.pos_embed.data.normal_(generator=torch.Generator().manual_seed(0))
    vit.eval()
    model = build()
    model.load_state_dict(vit.state_dict(), strict=True)
    assert torch.equal(model.pos_embed, vit.pos_embed)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(x, mask=False)[0], vit(x)[0])


def test_stochastic_depth_rises_linearly_over_the_blocks():
    """As the MAE code's ``dpr = torch.linspace(0, drop_path_rate,
    depth)``: no drop path in the first block, the full rate in the last,
    on both residual branches of every block."""
    model = build(arch=dict(TINY_ARCH, num_layers=3), drop_path_rate=0.3)
    for layer, rate in zip(model.layers, torch.linspace(0, 0.3, 3).tolist()):
        probs = [m.drop_prob for m in layer.modules()
                 if hasattr(m, 'drop_prob')]
        assert probs == pytest.approx([rate, rate])


def test_frozen_stages_freeze_what_mmpretrains_vit_freezes():
    """mmpretrain's ViT freezes its first ``frozen_stages`` blocks while it
    is built, before MAEViT swaps in its own blocks: the swapped-in ones
    are frozen as mmpretrain's are (the patch embedding and class token
    with them), the later ones train."""
    arch = dict(TINY_ARCH, num_layers=3)
    ours = MAEViT(arch=arch, img_size=32, patch_size=8, frozen_stages=2)
    theirs = VisionTransformer(arch=arch, img_size=32, patch_size=8,
                               frozen_stages=2)
    trains = {name: param.requires_grad
              for name, param in ours.named_parameters()}
    assert trains == {name: param.requires_grad
                      for name, param in theirs.named_parameters()}
    frozen = {name for name, train in trains.items() if not train}
    assert frozen == {name for name in trains if name.startswith(
        ('layers.0.', 'layers.1.', 'patch_embed.', 'cls_token', 'pos_embed'))}
    assert [layer.training for layer in ours.layers] == [
        layer.training for layer in theirs.layers] == [False, False, True]


def test_bad_arguments_name_the_parameter():
    with pytest.raises(
            ValueError, match="arch must be one of .*, got 'giant'"):
        MAEViT(arch='giant')
    with pytest.raises(ValueError, match='not a multiple of patch_size 16'):
        MAEViT(arch=TINY_ARCH, img_size=(224, 200), patch_size=16)
    with pytest.raises(
            ValueError,
            match='^arch embed_dims must be a multiple of 4 for the 2D '
            'sin-cos position embedding, got 18$'):
        MAEViT(arch=dict(TINY_ARCH, embed_dims=18, num_heads=2))
    with pytest.raises(ValueError, match='mask_ratio'):
        MAEViT(
            arch=TINY_ARCH,
            img_size=32,
            patch_size=8,
            masking=dict(type='RandomMasking', mask_ratio=1.0))
    model = build()
    with pytest.raises(ValueError, match='in_channels=3'):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match='not a multiple of patch_size 8'):
        model(torch.randn(1, 3, 32, 36))


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(drop_path_rate=1.5), ValueError,
     r'^drop_path_rate must be a number in \[0, 1\), got 1.5$'),
    (dict(drop_path_rate=1.0), ValueError, r'^drop_path_rate must be '),
    (dict(drop_path_rate='0.1'), TypeError, r'^drop_path_rate must be '),
    (dict(drop_rate=1.5), ValueError,
     r'^drop_rate must be a number in \[0, 1\), got 1.5$'),
    (dict(qkv_bias='abc'), TypeError,
     r"^qkv_bias must be True or False, got 'abc' \(str\)$"),
    (dict(final_norm=0), TypeError,
     r'^final_norm must be True or False, got 0 \(int\)$'),
    (dict(pre_norm='yes'), TypeError, r'^pre_norm must be True or False'),
    (dict(frozen_stages=3), ValueError,
     r'^frozen_stages must be an int in \[-1, 2\], got 3$'),
    (dict(frozen_stages=1.5), TypeError, r'^frozen_stages must be an int'),
    (dict(layer_scale_init_value=-1.), ValueError,
     r'^layer_scale_init_value must be a number in \[0, inf\], got -1.0$'),
    (dict(mask_ratio=0.9), TypeError,
     r"^MAEViT takes no mask_ratio \(mmpretrain's MAEViT does\): the ratio "
     r"is the masking generator's, masking=dict\(type='RandomMasking', "
     r'mask_ratio=0.9\) \(--cfg-options '
     r'model.backbone.masking.mask_ratio=...\)$'),
])
def test_bad_arguments_of_mmpretrains_vit_name_the_parameter(
        kwargs, error, match):
    """Arguments passed on to mmpretrain's ViT: ``drop_path_rate=1.5``,
    ``qkv_bias='abc'``, ``final_norm=0``, ``pre_norm='yes'`` and
    ``layer_scale_init_value=-1`` built an encoder silently (1.0 made the
    last block's output NaN in training), ``frozen_stages=3`` failed with
    "index 2 is out of range" and ``drop_rate=1.5`` with torch's "dropout
    probability has to be between 0 and 1". mmpretrain's ``mask_ratio``
    failed as "VisionTransformer.__init__() got an unexpected keyword
    argument", naming neither MAEViT nor where the ratio goes."""
    with pytest.raises(error, match=match):
        build(**kwargs)


@pytest.mark.parametrize('arch,dims,depth,heads', [('base', 768, 12, 12),
                                                   ('large', 1024, 24, 16),
                                                   ('huge', 1280, 32, 16)])
def test_paper_presets(arch, dims, depth, heads):
    settings = MAEViT.arch_zoo[arch]
    assert (settings['embed_dims'], settings['num_layers'],
            settings['num_heads'],
            settings['feedforward_channels']) == (dims, depth, heads, 4 * dims)


@pytest.mark.parametrize('arch', ['small', 'deit-small', 'deit-tiny'])
def test_an_arch_name_is_the_same_encoder_in_mmpretrain(arch):
    """A pretrained encoder loads, every key with its shape, into
    mmpretrain's ViT of the same ``arch`` name (mmpretrain's 'small' is
    768x8; its 384x12 ViT-S is 'deit-small')."""
    ours = MAEViT(arch=arch, img_size=32, patch_size=16)
    theirs = VisionTransformer(arch=arch, img_size=32, patch_size=16)
    theirs.load_state_dict(ours.state_dict())  # strict
