import math

import pytest
import torch
from torch import nn

from mae_plugin.models import DenseViT, MAEDecoder, MAEViT
from mae_plugin.models.utils import (patchify, sincos_1d, sincos_2d,
                                     unpatchify)
from ..conftest import TINY_ARCH


def test_sincos_values_follow_the_formula():
    dims, grid = 16, (3, 5)
    embed = sincos_2d(grid, dims, cls_token=True)[0]
    assert embed.shape == (1 + 15, dims)
    assert torch.equal(embed[0], torch.zeros(dims))
    quarter = dims // 4
    for row in range(3):
        for col in range(5):
            e = embed[1 + row * 5 + col]
            for d in range(quarter):
                omega = 1 / 10000**(d / quarter)
                # first half: column; second half: row; sin then cos
                expected = [
                    math.sin(col * omega), math.cos(col * omega),
                    math.sin(row * omega), math.cos(row * omega)
                ]
                got = [e[d], e[quarter + d], e[2 * quarter + d],
                       e[3 * quarter + d]]
                for g, x in zip(got, expected):
                    assert abs(float(g) - x) < 1e-6


def test_sincos_rejects_dims_not_divisible_by_4():
    with pytest.raises(
            ValueError,
            match='^dims must be a multiple of 4 for the 2D sin-cos '
            'position embedding, got 6$'):
        sincos_2d((2, 2), 6)


@pytest.mark.parametrize('channels', [1, 3, 4])
@pytest.mark.parametrize('patch', [8, 14, 16])
def test_patchify_round_trip_and_layout(channels, patch):
    h, w = 2 * patch, 3 * patch  # non-square
    imgs = torch.randn(2, channels, h, w)
    patches = patchify(imgs, patch)
    assert patches.shape == (2, 6, patch * patch * channels)
    # patch 4 = row 1, column 1; values in (p_row, p_col, channel) order
    block = imgs[1, :, patch:2 * patch, patch:2 * patch]
    assert torch.equal(patches[1, 4], block.permute(1, 2, 0).flatten())
    assert torch.equal(unpatchify(patches, patch, (2, 3)), imgs)


def test_patchify_rejects_sizes_that_are_not_multiples():
    with pytest.raises(ValueError, match='not a multiple of patch_size 16'):
        patchify(torch.zeros(1, 3, 32, 40), 16)
    with pytest.raises(ValueError, match='cannot unpatchify'):
        unpatchify(torch.zeros(1, 6, 48), 4, (2, 2))


def test_sincos_1d_refuses_odd_dims():
    with pytest.raises(ValueError, match='even dims, got 5'):
        sincos_1d(torch.arange(3), 5)


# The three components whose norm layers default to LN with eps 1e-6.
NORMED = [
    lambda **kw: MAEViT(arch=TINY_ARCH, img_size=32, patch_size=8, **kw),
    lambda **kw: DenseViT(arch=TINY_ARCH, img_size=32, pretrain_img_size=32,
                          patch_size=8, final_norm=True, **kw),
    lambda **kw: MAEDecoder(in_channels=32, embed_dims=32, num_layers=2,
                            num_heads=4, img_size=32, patch_size=8, **kw),
]


def layer_norm_eps(model):
    """The eps of every norm layer of ``model``, all LayerNorms."""
    norms = [m for m in model.modules() if 'Norm' in type(m).__name__]
    assert norms and all(isinstance(m, nn.LayerNorm) for m in norms)
    return {m.eps for m in norms}


@pytest.mark.parametrize('build', NORMED)
def test_a_norm_cfg_without_type_sets_its_keys_over_the_default(build):
    """What ``--cfg-options model.backbone.norm_cfg.eps=1e-5`` passes to a
    config that relies on the default: ``dict(eps=1e-5)`` failed in
    mmpretrain's build_norm_layer with 'the cfg dict must contain the key
    "type"'. A norm_cfg with a type is used as it is."""
    assert layer_norm_eps(build()) == {1e-6}
    assert layer_norm_eps(build(norm_cfg=dict(eps=1e-5))) == {1e-5}
    assert layer_norm_eps(build(norm_cfg=dict(type='LN'))) == {1e-5}
    with pytest.raises(
            TypeError, match=r"^norm_cfg must be a dict such as \{'type': "
            r"'LN', 'eps': 1e-06\}, got 'LN' \(str\)$"):
        build(norm_cfg='LN')
