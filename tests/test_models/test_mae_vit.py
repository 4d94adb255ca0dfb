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
    y = torch.where(pixel_mask.reshape(2, 3, 32, 32).bool(),
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
    torch.testing.assert_close(latent[:, 0], full[:, 0], rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize('options', [
    dict(pre_norm=True), dict(drop_rate=0.5)])
def test_masked_and_plain_forward_run_the_same_encoder(options):
    """``pre_norm`` and the dropout after the positions act on the visible
    tokens as on all of them (with mask ratio 0 the two paths agree)."""
    model = build(masking=dict(type='RandomMasking', mask_ratio=0.0),
                  **options)
    x = torch.randn(2, 3, 32, 32)
    latent, _, ids_restore = model(x)
    full = model(x, mask=False)[0]
    restored = torch.gather(latent[:, 1:], 1,
                            ids_restore[..., None].expand(-1, -1, 32))
    torch.testing.assert_close(restored, full[:, 1:], rtol=1e-5, atol=1e-5)
    model.train()
    if 'pre_norm' in options:  # trained by pretraining
        model(x)[0].sum().backward()
        assert model.pre_norm.weight.grad.abs().sum() > 0
    else:  # the dropout after the positions sees the visible tokens
        seen = []
        model.drop_after_pos.register_forward_hook(
            lambda module, args, out: seen.append(args[0].shape))
        model(x)
        assert seen == [(2, 1 + 16, 32)]


def test_state_dict_matches_mmpretrain_vit_and_unmasked_output_agrees():
    model = build(out_type='cls_token')
    vit = VisionTransformer(arch=TINY_ARCH, img_size=32, patch_size=8,
                            out_type='cls_token')
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


def test_init_is_the_paper_init():
    model = build()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            assert torch.count_nonzero(module.bias) == 0, name
            fan_in, fan_out = module.weight.shape[1], module.weight.shape[0]
            bound = (6 / (fan_in + fan_out))**0.5
            assert module.weight.abs().max() <= bound
        if isinstance(module, torch.nn.LayerNorm):
            assert torch.equal(module.weight, torch.ones_like(module.weight))
    big = MAEViT(arch=dict(embed_dims=256, num_layers=1, num_heads=4,
                           feedforward_channels=256), img_size=32,
                 patch_size=8)
    big.init_weights()
    assert abs(big.cls_token.std().item() - 0.02) < 0.005


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


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="unknown arch 'giant'"):
        MAEViT(arch='giant')
    with pytest.raises(ValueError, match='not a multiple of patch_size 16'):
        MAEViT(arch=TINY_ARCH, img_size=(224, 200), patch_size=16)
    with pytest.raises(ValueError, match='mask_ratio'):
        MAEViT(arch=TINY_ARCH, img_size=32, patch_size=8,
               masking=dict(type='RandomMasking', mask_ratio=1.0))
    model = build()
    with pytest.raises(ValueError, match='in_channels=3'):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match='not a multiple of patch_size 8'):
        model(torch.randn(1, 3, 32, 36))


@pytest.mark.parametrize('arch,dims,depth,heads', [
    ('small', 384, 12, 6), ('base', 768, 12, 12), ('large', 1024, 24, 16),
    ('huge', 1280, 32, 16)])
def test_presets(arch, dims, depth, heads):
    settings = MAEViT.arch_zoo[arch]
    assert (settings['embed_dims'], settings['num_layers'],
            settings['num_heads'],
            settings['feedforward_channels']) == (dims, depth, heads,
                                                  4 * dims)
