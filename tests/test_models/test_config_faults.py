"""Point 5: config faults in the plugin's components give errors naming the
key, and properties of patchify / masking hold over patch size, image
size, channels and mask ratio."""
import copy
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mae_plugin.models.masking import RandomMasking
from mae_plugin.models.utils import patchify, unpatchify
from mae_plugin.registry import MODELS
from tests.conftest import tiny_mae_cfg


def with_change(path, value=None, delete=False):
    """tiny_mae_cfg() with ``path`` (dotted) set to ``value`` or deleted."""
    cfg = copy.deepcopy(tiny_mae_cfg())
    *parents, key = path.split('.')
    node = cfg
    for parent in parents:
        node = node[parent]
    if delete:
        del node[key]
    else:
        node[key] = value
    return cfg


@pytest.mark.parametrize('path', [
    'backbone.patch_szie', 'neck.embed_dim', 'head.norm_pixel',
    'backbone.masking.mask_ration', 'nek'
])
def test_misspelled_key_is_named(path):
    key = path.split('.')[-1]
    with pytest.raises(
            TypeError, match=f"unexpected keyword argument '{key}'"):
        MODELS.build(with_change(path, 1))


@pytest.mark.parametrize('path, value, message', [
    ('backbone.img_size', '32', 'img_size must be an int or a pair'),
    ('backbone.img_size', (32, 32.0), 'img_size must be an int'),
    ('backbone.patch_size', 8.0, 'patch_size must be an int'),
    ('backbone.in_channels', 0, 'in_channels must be an int >= 1'),
    ('backbone.masking.mask_ratio', '0.75', 'mask_ratio must be a number'),
    ('backbone.masking.mask_ratio', 1.0,
     r'mask_ratio must be a number in \[0, 1\)'),
    ('neck.num_layers', '1', 'num_layers must be an int'),
    ('neck.embed_dims', 16.0, 'embed_dims must be an int'),
    ('neck.mlp_ratio', None, 'mlp_ratio must be a number'),
    ('neck.mlp_ratio', -1, 'mlp_ratio must give the MLPs a hidden width'),
    ('neck.mlp_ratio', 0.01, r'int\(mlp_ratio \* embed_dims\) >= 1, got '
     'mlp_ratio=0.01 with embed_dims=16'),
    ('head.eps', -1, r'eps must be a number in \(0, inf\), got -1'),
    ('head.eps', 0., r'eps must be a number in \(0, inf\), got 0.0'),
    ('head.eps', float('inf'),
     r'eps must be a number in \(0, inf\), got inf'),
    ('neck.embed_dims', 18, '^embed_dims must be a multiple of 4 for the '
     '2D sin-cos position embedding, got 18$'),
    ('backbone.masking', None,
     'masking must be the config of a masking generator.*got None'),
    ('head.patch_size', '8', 'patch_size must be an int'),
    ('head.norm_pix', 'yes', 'norm_pix must be True or False'),
    ('backbone.mask_token_in_encoder', 'False',
     'mask_token_in_encoder must be True or False'),
    ('backbone.with_cp', 1, 'with_cp must be True or False'),
    ('neck.with_cp', 'yes', 'with_cp must be True or False'),
    ('backbone.arch.num_heads', 5,
     r'arch embed_dims \(32\) must be a multiple of arch num_heads \(5\)'),
    ('backbone.arch.num_layers', 0, 'arch num_layers must be an int >= 1'),
    ('neck.num_heads', 3,
     r'^embed_dims must be a multiple of num_heads \(3\), got 16$'),
    ('neck.mlp_ratio', float('inf'), 'mlp_ratio must be a number, got inf'),
    ('predict_seed', None, 'predict_seed must be an int'),
    ('backbone.masking', dict(type='GridMasking',
                              stride=2.5), 'stride must be an int'),
    ('backbone.masking', dict(type='BlockMasking', min_num_patches='4'),
     'min_num_patches must be an int'),
    # the 4x4 grid of 32-pixel images in patches of 8
    ('backbone.masking', dict(type='BlockMasking'),
     r'^BlockMasking\(min_num_patches=16, min_aspect=0.3\) fits no block '
     r'in a 4x4 grid .* lower min_num_patches to 12 or less$'),
])
def test_wrong_type_or_value_is_named(path, value, message):
    with pytest.raises((TypeError, ValueError), match=message):
        MODELS.build(with_change(path, value))


@pytest.mark.parametrize('path, exception, message', [
    ('neck', TypeError, "missing 1 required positional argument: 'neck'"),
    ('backbone.masking.type', KeyError, 'must contain the key "type"'),
    ('backbone.arch.num_heads', KeyError,
     r"arch must be .*, got one without \['num_heads'\]"),
])
def test_missing_field_is_named(path, exception, message):
    with pytest.raises(exception, match=message):
        MODELS.build(with_change(path, delete=True))


def test_unknown_type_is_named():
    with pytest.raises(KeyError, match='RandomMask is not in'):
        MODELS.build(with_change('backbone.masking.type', 'RandomMask'))


def test_parts_that_do_not_fit_are_named():
    with pytest.raises(
            ValueError,
            match='head.patch_size=4 does not match '
            'backbone.patch_size=8'):
        MODELS.build(with_change('head.patch_size', 4))


@pytest.mark.parametrize('in_channels, preprocessor, message', [
    (1, dict(mean=[127.5] * 3, std=[64.] * 3, to_rgb=True),
     'data_preprocessor.to_rgb (bgr_to_rgb, rgb_to_bgr) swaps 3 colour '
     'channels, but backbone.in_channels=1'),
    (1, dict(mean=[127.5], std=[64.], bgr_to_rgb=True),
     'data_preprocessor.to_rgb (bgr_to_rgb, rgb_to_bgr) swaps 3 colour '
     'channels, but backbone.in_channels=1'),
    (1, dict(mean=[127.5] * 3, std=[64.] * 3),
     'data_preprocessor.mean and std have 3 values, but '
     'backbone.in_channels=1'),
    (4, dict(mean=[127.5] * 3, std=[64.] * 3),
     'data_preprocessor.mean and std have 3 values, but '
     'backbone.in_channels=4'),
])
def test_a_preprocessor_that_does_not_fit_the_channels_is_named(
        in_channels, preprocessor, message):
    """The first batch failed with a bare IndexError (the channel swap)
    or a broadcast error deep in mmpretrain's preprocessor."""
    cfg = tiny_mae_cfg(in_channels=in_channels)
    cfg['data_preprocessor'] = dict(type='SelfSupDataPreprocessor',
                                    **preprocessor)
    with pytest.raises(ValueError, match=f'^{re.escape(message)}$'):
        MODELS.build(cfg)


def assert_keeps_lowest_noise(noise, num_keep, masking):
    """``masking`` of the distinct-valued ``noise`` (NumPy ``[N, L]``)
    keeps the ``num_keep`` lowest-noise patches, lowest first."""
    ids_keep, mask, ids_restore = (t.numpy() for t in masking)
    batch, length = noise.shape
    order = np.argsort(noise, axis=1)  # patch indices, lowest noise first
    np.testing.assert_array_equal(ids_keep, order[:, :num_keep])
    expected_mask = np.ones((batch, length))
    for row in range(batch):
        expected_mask[row, order[row, :num_keep]] = 0
    np.testing.assert_array_equal(mask, expected_mask)
    # ids_restore[n, i] is the rank of patch i's noise in its sample
    ranks = (noise[:, None, :] < noise[:, :, None]).sum(-1)
    np.testing.assert_array_equal(ids_restore, ranks)
    # in the shuffled order [visible, removed] the mask reads 0..0 1..1
    ids_shuffle = torch.argsort(torch.from_numpy(ids_restore), dim=1)
    shuffled = torch.from_numpy(mask).gather(1, ids_shuffle)
    expected = torch.ones(batch, length, dtype=shuffled.dtype)
    expected[:, :num_keep] = 0
    assert torch.equal(shuffled, expected)


# num_keep worked out by hand: floor(L * (1 - mask_ratio))
@pytest.mark.parametrize(
    'grid, mask_ratio, num_keep',
    [
        ((4, 4), 0.75, 4),  # 16 * 0.25 = 4
        ((4, 4), 0., 16),
        ((7, 7), 0.75, 12),  # 49 * 0.25 = 12.25
        ((14, 14), 0.75, 49),
        ((3, 5), 0.6, 6),  # 15 * 0.4 = 6
        ((3, 5), 0.7, 4),  # 15 * 0.3 = 4.5, rounded down
        ((5, 5), 0.9, 2),  # 25 * 0.1 = 2.5
        ((10, 10), 0.8, 20),  # 100 * 0.2, not the 19.99... of floats
        ((10, 10), 0.9, 10),  # not 9.99...
    ])
def test_random_masking_keeps_the_lowest_noise(grid, mask_ratio, num_keep):
    length = grid[0] * grid[1]
    rng = np.random.default_rng(length)
    noise = np.stack([rng.permutation(length) for _ in range(3)])
    noise = noise.astype(np.float32) / length  # distinct values in [0, 1)
    masking = RandomMasking(mask_ratio)(3, grid, noise=torch.from_numpy(noise))
    assert masking.ids_keep.shape == (3, num_keep)
    assert_keeps_lowest_noise(noise, num_keep, masking)


@settings(max_examples=60, deadline=None)
@given(
    patch=st.integers(1, 8),
    grid=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    channels=st.integers(1, 5),
    eighths=st.integers(0, 7),
    batch=st.integers(1, 3),
    seed=st.integers(0, 2**31 - 1))
def test_patchify_and_masking_properties(patch, grid, channels, eighths, batch,
                                         seed):
    h, w = grid
    generator = torch.Generator().manual_seed(seed)
    imgs = torch.randn(
        batch, channels, h * patch, w * patch, generator=generator)
    patches = patchify(imgs, patch)
    assert patches.shape == (batch, h * w, patch * patch * channels)
    assert torch.equal(unpatchify(patches, patch, grid), imgs)
    # patch (i, j) holds exactly the pixels of that image block
    i, j = h - 1, w - 1
    block = imgs[:, :, i * patch:(i + 1) * patch, j * patch:(j + 1) * patch]
    assert torch.equal(patches[:, i * w + j],
                       block.permute(0, 2, 3, 1).reshape(batch, -1))

    # a ratio of k/8 is exact in floats: L * (8 - k) / 8 rounded down
    masking = RandomMasking(eighths / 8)
    num_keep = h * w * (8 - eighths) // 8
    if num_keep == 0:  # no visible patch: refused, naming the ratio
        with pytest.raises(ValueError, match='keeps 0 of the'):
            masking(batch, grid, generator=generator)
        return
    rng = np.random.default_rng(seed)
    noise = np.stack([rng.permutation(h * w) for _ in range(batch)])
    noise = noise.astype(np.float32) / (h * w)
    assert_keeps_lowest_noise(
        noise, num_keep, masking(batch, grid, noise=torch.from_numpy(noise)))
    # drawn noise: the same count, and ids_restore puts each kept patch at
    # its place in the visible prefix
    ids_keep, mask, ids_restore = masking(batch, grid, generator=generator)
    assert ids_keep.shape == (batch, num_keep)
    assert (mask.sum(dim=1) == h * w - num_keep).all()
    assert (mask.gather(1, ids_keep) == 0).all()
    assert torch.equal(
        ids_restore.gather(1, ids_keep),
        torch.arange(num_keep).expand(batch, -1))
    assert torch.equal(
        ids_restore.sort(1).values,
        torch.arange(h * w).expand(batch, -1))
