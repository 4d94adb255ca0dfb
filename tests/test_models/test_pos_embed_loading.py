"""Loading a state dict of another patch grid into the encoder and the
decoder regenerates their fixed sin-cos embeddings (load-state-dict
pre-hooks), and keeps the stored ones on the same grid."""
import pytest
import torch

from mae_plugin.models import MAEDecoder, MAEViT
from mae_plugin.models.utils import sincos_2d
from ..conftest import TINY_ARCH


def encoder(img_size, init_cfg=None):
    return MAEViT(arch=TINY_ARCH, img_size=img_size, patch_size=8,
                  init_cfg=init_cfg)


def decoder(img_size, init_cfg=None):
    return MAEDecoder(
        in_channels=32,
        embed_dims=16,
        num_layers=1,
        num_heads=2,
        img_size=img_size,
        patch_size=8,
        init_cfg=init_cfg)


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


@pytest.mark.parametrize('build,key,dims,token',
                         [(encoder, 'pos_embed', 32, 'cls_token'),
                          (decoder, 'decoder_pos_embed', 16, 'mask_token')])
@pytest.mark.parametrize('as_list', [False, True])
@pytest.mark.parametrize('img_size, grid', [(32, (4, 4)), ((48, 64), (6, 8))])
def test_pretrained_init_cfg_keeps_the_loaded_weights_and_fixed_positions(
        tmp_path, build, key, dims, token, as_list, img_size, grid):
    """A ``Pretrained`` init_cfg, a dict or a list, loads the checkpoint
    (no weight is drawn again after it) and leaves sin-cos positions of
    the model's own grid (mmpretrain's ViT redrew them at random after
    loading a list)."""
    source = build(32)
    source.init_weights()
    checkpoint = str(tmp_path / 'weights.pth')
    torch.save(source.state_dict(), checkpoint)
    init_cfg = dict(type='Pretrained', checkpoint=checkpoint)
    model = build(img_size, [init_cfg] if as_list else init_cfg)
    model.init_weights()
    assert torch.equal(getattr(model, key), sincos_2d(grid, dims))
    loaded = source.state_dict()
    for name, value in model.state_dict().items():
        if name != key:
            assert torch.equal(value, loaded[name]), name
    assert torch.equal(getattr(model, token), getattr(source, token))
