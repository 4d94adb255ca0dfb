from fractions import Fraction

import numpy as np
import pytest
import torch

from mae_plugin.models import (BlockMasking, GridMasking, RandomMasking,
                               masking_from_noise)
from mae_plugin.models.masking.generators import _Uniforms


@pytest.mark.parametrize('ratio', [0.0, 0.1, 0.5, 0.75, 0.9])
@pytest.mark.parametrize('grid', [(14, 14), (7, 10), (3, 5)])
def test_random_masking_keeps_exact_count(ratio, grid):
    n, num_patches = 5, grid[0] * grid[1]
    ids_keep, mask, ids_restore = RandomMasking(ratio)(n, grid)
    # in exact arithmetic: 70 patches at 0.9 keep 7 (floats give 6.99...)
    num_keep = int(num_patches * (1 - Fraction(str(ratio))))
    assert ids_keep.shape == (n, num_keep)
    assert mask.shape == (n, num_patches)
    assert (mask.sum(1) == num_patches - num_keep).all()
    # the kept indices are exactly the zeros of the mask
    for i in range(n):
        assert set(ids_keep[i].tolist()) == set(
            torch.nonzero(mask[i] == 0).flatten().tolist())


def test_ids_restore_inverts_the_shuffle():
    noise = torch.rand(4, 49)
    ids_shuffle = torch.argsort(noise, dim=1)
    _, mask, ids_restore = masking_from_noise(noise, 12)
    tokens = torch.arange(49).expand(4, -1)
    shuffled = torch.gather(tokens, 1, ids_shuffle)
    assert torch.equal(torch.gather(shuffled, 1, ids_restore), tokens)
    # the 12 lowest-noise patches stay visible
    lowest = noise.argsort(1)[:, :12]
    assert (torch.gather(mask, 1, lowest) == 0).all()


def test_masks_reproduce_from_a_generator_and_from_noise():
    masking = RandomMasking(0.75)
    a = masking(3, (8, 8), generator=torch.Generator().manual_seed(7))
    b = masking(3, (8, 8), generator=torch.Generator().manual_seed(7))
    c = masking(3, (8, 8), generator=torch.Generator().manual_seed(8))
    assert torch.equal(a.mask, b.mask)
    assert not torch.equal(a.mask, c.mask)
    noise = torch.rand(3, 64)
    d = masking(3, (8, 8), noise=noise)
    assert torch.equal(d.ids_restore,
                       torch.argsort(torch.argsort(noise, 1), 1))


@pytest.mark.parametrize(
    'masking', [RandomMasking(0.75),
                BlockMasking(0.5, min_num_patches=2),
                GridMasking()])
def test_one_generator_per_sample_draws_each_samples_mask_alone(masking):
    """A list of generators masks sample ``i`` as ``generators[i]`` masks
    a batch of one (what ``MAE.predict`` relies on); a list of another
    length than the batch is refused by name."""
    def generators(*seeds):
        return [torch.Generator().manual_seed(seed) for seed in seeds]

    both = masking(2, (8, 8), generator=generators(3, 4)).mask
    for row, seed in zip(both, (3, 4)):
        assert torch.equal(row, masking(1, (8, 8),
                                        generator=generators(seed)).mask[0])
    with pytest.raises(
            ValueError, match=r'^generator must be a torch.Generator or '
            r'one per sample \(3\), got 2$'):
        masking(3, (8, 8), generator=generators(3, 4))


@pytest.mark.parametrize('seeded', [False, True])
def test_every_sample_draws_its_own_mask(seeded):
    """As the MAE code's ``random_masking``: one uniform noise value per
    patch *and sample*, ``torch.rand(N, L)``, the lowest kept; from the
    global RNG as from a generator."""
    n, grid, num_keep = 8, (4, 4), 4
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0) if seeded else None
    masking = RandomMasking(0.75)(n, grid, generator=generator)
    reference = torch.Generator().manual_seed(0) if seeded else None
    torch.manual_seed(0)
    noise = torch.rand(n, 16, generator=reference)
    expected = torch.ones(n, 16)
    expected.scatter_(1, noise.argsort(1)[:, :num_keep], 0)
    assert torch.equal(masking.mask, expected)
    # 1820 masks of 4 visible patches of 16: 8 draws are not all the same
    assert len({tuple(row.tolist()) for row in masking.mask}) > 1


def test_noise_of_wrong_shape_is_refused():
    with pytest.raises(ValueError, match='noise must have shape'):
        RandomMasking(0.5)(2, (4, 4), noise=torch.rand(2, 15))


@pytest.mark.parametrize('ratio', [-0.1, 1.0, 1.5])
def test_mask_ratio_outside_unit_interval_is_refused(ratio):
    with pytest.raises(ValueError, match='mask_ratio'):
        RandomMasking(ratio)
    with pytest.raises(ValueError, match='mask_ratio'):
        BlockMasking(ratio)


@pytest.mark.parametrize('ratio', [0.5, 0.75])
def test_block_masking_is_exact_and_blocky(ratio):
    grid = (14, 14)
    masking = BlockMasking(ratio)
    gen = torch.Generator().manual_seed(0)
    _, mask, _ = masking(8, grid, generator=gen)
    num_keep = int(196 * (1 - ratio))
    assert (mask.sum(1) == 196 - num_keep).all()

    # Block masks have far more removed-removed neighbours than random ones.
    def neighbour_agreement(m):
        m = m.reshape(-1, *grid)
        return ((m[:, 1:] == m[:, :-1]).float().mean()
                + (m[:, :, 1:] == m[:, :, :-1]).float().mean()) / 2
    _, random_mask, _ = RandomMasking(ratio)(8, grid, generator=gen)
    assert neighbour_agreement(mask) > neighbour_agreement(random_mask) + 0.1


def test_block_masking_draws_tall_and_wide_blocks():
    """BEiT's block aspect ratio (height over width), log-uniform in
    ``(min_aspect, 1 / min_aspect)``: about as many tall blocks as wide
    ones (some round to squares); and every position a block fits in can
    be drawn, the grid's edges included. 200 blocks on empty 14x14
    grids."""
    masking = BlockMasking(min_num_patches=4, min_aspect=0.3)
    uniform = _Uniforms(torch.Generator().manual_seed(0))
    tall = wide = 0
    edges = np.zeros(4, dtype=int)  # blocks on the top, bottom, left, right
    for _ in range(200):
        blocks = np.zeros((14, 14), dtype=np.float32)
        assert masking._add_block(blocks, 40, uniform) > 0
        rows, cols = blocks.any(1), blocks.any(0)
        assert blocks.sum() == rows.sum() * cols.sum()  # one rectangle
        tall += int(rows.sum() > cols.sum())
        wide += int(rows.sum() < cols.sum())
        edges += [rows[0], rows[-1], cols[0], cols[-1]]
    # each side's chance is about 0.45: 90 of 200, 7 standard deviations
    # (7 blocks) above 40
    assert tall > 40 and wide > 40
    # a block has at most 14 places along a side: each edge's chance is at
    # least 1/14, 14 of 200 blocks or more; none at all has a chance of
    # (13/14)**200 < 1e-6
    assert (edges > 0).all(), edges


def test_grid_masking_keeps_one_of_each_2x2():
    ids_keep, mask, _ = GridMasking(stride=2)(2, (4, 6))
    expected = torch.ones(4, 6)
    expected[::2, ::2] = 0
    assert torch.equal(mask[0].reshape(4, 6), expected)
    assert torch.equal(mask[0], mask[1])
    assert ids_keep[0].tolist() == [0, 2, 4, 12, 14, 16]
    assert GridMasking(2).mask_ratio == 0.75


def test_mask_ratio_on_a_grid_is_the_fraction_removed():
    grid_masking = GridMasking(stride=2)
    assert grid_masking.mask_ratio_on((8, 8)) == 0.75
    # a 7x7 grid keeps rows and columns 0, 2, 4, 6: 16 of 49 patches
    assert grid_masking.mask_ratio_on((7, 7)) == pytest.approx(33 / 49)
    _, mask, _ = grid_masking(1, (7, 7))
    assert mask.sum() == 33
    # int(49 * 0.25) = 12 kept
    assert RandomMasking(0.75).mask_ratio_on((7, 7)) == pytest.approx(37 / 49)


def test_block_masking_refuses_a_grid_no_block_fits():
    """A grid on which no rectangle of ``min_num_patches`` can be drawn
    (the default 16 on a 4x4 grid: a block is at most 3x3) would be masked
    at random; it is refused, with the largest ``min_num_patches`` that
    fits. What ``_block_fits`` says is checked against ``_add_block``
    itself: 2,000 tries on an empty grid place a block exactly where it
    says one fits."""
    def places_a_block(masking, grid):
        # a budget of min_num_patches: every try draws that area
        uniform = _Uniforms(torch.Generator().manual_seed(0))
        return any(
            masking._add_block(
                np.zeros(grid, np.float32), masking.min_num_patches, uniform)
            for _ in range(2000))

    # the narrowest of these fits in a 1.7% slice of the log-aspect range
    for grid, min_num_patches in [((4, 4), 16), ((4, 4), 12), ((4, 4), 13),
                                  ((5, 5), 16), ((2, 30), 7), ((2, 30), 8),
                                  ((14, 14), 16)]:
        masking = BlockMasking(min_num_patches=min_num_patches,
                               max_attempts=1)
        assert masking._block_fits(grid, min_num_patches) == places_a_block(
            masking, grid), (grid, min_num_patches)
    BlockMasking(min_num_patches=12).check_grid((4, 4))
    with pytest.raises(
            ValueError,
            match=r'^BlockMasking\(min_num_patches=16, min_aspect=0.3\) fits '
            r'no block in a 4x4 grid \(a block is at most 3x3, its height '
            r'over width within 0.3..3.33\), so every patch would be '
            r'removed at random: lower min_num_patches to 12 or less$'):
        BlockMasking()(2, (4, 4))
    with pytest.raises(ValueError, match='use a larger grid$'):
        BlockMasking(min_num_patches=2)(2, (1, 8))
