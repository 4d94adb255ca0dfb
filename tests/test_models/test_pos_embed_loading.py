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
