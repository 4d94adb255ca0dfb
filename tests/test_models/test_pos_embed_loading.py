"""Loading a state dict of another patch grid into the encoder and the
decoder regenerates their fixed sin-cos embeddings (load-state-dict
pre-hooks), and keeps the stored ones on the same grid."""
import pytest
import torch

from mae_plugin.models import MAEDecoder, MAEViT
from mae_plugin.models.utils import sincos_2d
from ..conftest import TINY_ARCH


def encoder(img_size):
    return MAEViT(arch=TINY_ARCH, img_size=img_size, patch_size=8)


def decoder(img_size):
    return MAEDecoder(
        in_channels=32,
        embed_dims=16,
        num_layers=1,
        num_heads=2,
        img_size=img_size,
        patch_size=8)


@pytest.mark.parametrize('build,key,dims',
                         [(encoder, 'pos_embed', 32),
                          (decoder, 'decoder_pos_embed', 16)])
def test_another_grid_is_regenerated_not_interpolated(build, key, dims):
    source = build(32).state_dict()
    source[key] = torch.randn_like(source[key])  # anything but sin-cos
    model = build((48, 64))
    model.load_state_dict(source, strict=True)
    assert torch.equal(getattr(model, key), sincos_2d((6, 8), dims))

    same = build(32)
    same.load_state_dict(source, strict=True)
    assert torch.equal(getattr(same, key), source[key])


@pytest.mark.parametrize('build,key,dims',
                         [(encoder, 'pos_embed', 32),
                          (decoder, 'decoder_pos_embed', 16)])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_a_transposed_grid_of_the_same_length_is_regenerated(
        build, key, dims, dtype):
    """A 4x8 grid's embedding has the length of an 8x4 grid's: its values
    tell them apart, saved in any floating dtype."""
    source = build((32, 64)).to(dtype).state_dict()
    model = build((64, 32))  # grid (8, 4)
    model.load_state_dict(source, strict=True)
    assert torch.equal(getattr(model, key), sincos_2d((8, 4), dims))

    same = build((32, 64))
    same.load_state_dict(source, strict=True)
    assert torch.equal(getattr(same, key), source[key].float())


@pytest.mark.parametrize('as_list', [False, True])
@pytest.mark.parametrize('img_size, grid', [(32, (4, 4)), ((48, 64), (6, 8))])
def test_pretrained_init_cfg_keeps_the_fixed_encoder_embedding(
        tmp_path, as_list, img_size, grid):
    """A ``Pretrained`` init_cfg, a dict or a list, loads the checkpoint
    and leaves sin-cos positions (mmpretrain's ViT redrew them at random
    after loading a list)."""
    source = encoder(32)
    source.init_weights()
    checkpoint = str(tmp_path / 'encoder.pth')
    torch.save(source.state_dict(), checkpoint)
    init_cfg = dict(type='Pretrained', checkpoint=checkpoint)
    model = MAEViT(arch=TINY_ARCH, img_size=img_size, patch_size=8,
                   init_cfg=[init_cfg] if as_list else init_cfg)
    model.init_weights()
    assert torch.equal(model.pos_embed, sincos_2d(grid, 32))
    assert torch.equal(model.cls_token, source.cls_token)  # loaded
