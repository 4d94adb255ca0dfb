"""Masking generators: which patches the encoder sees.

Every generator scores the patches of each sample with a ``noise`` tensor
``[N, L]``; the ``num_keep`` patches with the lowest noise stay visible.
:func:`masking_from_noise` turns a noise tensor into the argsort/gather
indices of the MAE paper's code, so all strategies share one code path and a
given noise (or ``torch.Generator`` state) reproduces a mask exactly.
"""
import math
from typing import NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from mae_plugin.registry import MODELS
from mae_plugin.utils import check_number, check_positive_int


class Masking(NamedTuple):
    """The result of masking a batch of patch grids.

    Attributes:
        ids_keep (Tensor): ``[N, L_keep]`` indices of the visible patches.
        mask (Tensor): ``[N, L]``, 0 for visible, 1 for removed patches.
        ids_restore (Tensor): ``[N, L]``, the permutation that puts the
            shuffled sequence ``[visible, removed]`` back in patch order.
    """
    ids_keep: torch.Tensor
    mask: torch.Tensor
    ids_restore: torch.Tensor


def masking_from_noise(noise: torch.Tensor, num_keep: int) -> Masking:
    """Keep the ``num_keep`` lowest-noise patches of every sample.

    Args:
        noise (Tensor): ``[N, L]`` scores, low means visible.
        num_keep (int): Visible patches per sample.

    Returns:
        Masking: indices and binary mask.
    """
    n, num_patches = noise.shape
    ids_shuffle = torch.argsort(noise, dim=1)  # [N, L], visible first
    ids_restore = torch.argsort(ids_shuffle, dim=1)  # [N, L]
    ids_keep = ids_shuffle[:, :num_keep]  # [N, L_keep]
    mask = torch.ones(n, num_patches, device=noise.device)
    mask[:, :num_keep] = 0
    mask = torch.gather(mask, dim=1, index=ids_restore)  # [N, L]
    return Masking(ids_keep, mask, ids_restore)


class BaseMasking:
    """Common interface of the masking generators.

    Subclasses define :meth:`num_keep`, :meth:`sample_noise` and a
    ``mask_ratio`` attribute (the fraction they are configured to remove,
    which :meth:`check_grid` names).
    """

    def num_keep(self, grid_size: Tuple[int, int]) -> int:
        """Number of visible patches per sample on a ``(h, w)`` grid."""
        raise NotImplementedError

    def check_grid(self, grid_size: Tuple[int, int]) -> None:
        """Raise ``ValueError`` if this masking cannot mask a ``(h, w)``
        grid as configured: here, if no patch would stay visible (a
        ``mask_ratio`` below 1 can still round that low)."""
        num_patches = grid_size[0] * grid_size[1]
        if self.num_keep(grid_size) < 1:
            raise ValueError(
                f'{type(self).__name__}(mask_ratio={self.mask_ratio}) keeps '
                f'0 of the {num_patches} patches of a {grid_size[0]}x'
                f'{grid_size[1]} grid visible, so the encoder would see '
                'nothing; lower mask_ratio until one patch stays '
                f'(int({num_patches} * (1 - mask_ratio)) >= 1)')

    def mask_ratio_on(self, grid_size: Tuple[int, int]) -> float:
        """Fraction of the patches of a ``(h, w)`` grid that are removed."""
        num_patches = grid_size[0] * grid_size[1]
        return 1 - self.num_keep(grid_size) / num_patches

    def sample_noise(self, batch_size: int, grid_size: Tuple[int, int],
                     device: torch.device,
                     generator: Optional[torch.Generator]) -> torch.Tensor:
        """Draw ``[N, h*w]`` noise; the lowest ``num_keep`` stay visible."""
        raise NotImplementedError

    def __call__(self,
                 batch_size: int,
                 grid_size: Tuple[int, int],
                 device: Optional[torch.device] = None,
                 generator: Union[torch.Generator, Sequence[torch.Generator],
                                  None] = None,
                 noise: Optional[torch.Tensor] = None) -> Masking:
        """Mask a batch.

        Args:
            batch_size (int): Samples ``N``.
            grid_size (tuple[int, int]): Patch grid ``(h, w)``.
            device (torch.device, optional): Where to build the indices.
                Defaults to the CPU.
            generator (torch.Generator | Sequence[torch.Generator],
                optional): Source of randomness, or one per sample, each
                drawing its sample's noise alone (a sample's mask then does
                not depend on the others of its batch); the global RNG
                when None. Defaults to None.
            noise (Tensor, optional): ``[N, h*w]`` noise to use instead of
                drawing it, for an exactly reproduced mask. Defaults to None.

        Returns:
            Masking: indices and binary mask.

        Raises:
            ValueError: The grid cannot be masked so
                (:meth:`check_grid`), ``noise`` is not
                ``[N, h*w]``, or ``generator`` is a sequence of another
                length than ``N``.
        """
        num_patches = grid_size[0] * grid_size[1]
        self.check_grid(grid_size)
        if noise is None and isinstance(generator, (list, tuple)):
            if len(generator) != batch_size:
                raise ValueError(
                    'generator must be a torch.Generator or one per sample '
                    f'({batch_size}), got {len(generator)}')
            noise = torch.cat([
                self.sample_noise(1, grid_size, device, one)
                for one in generator
            ])  # [N, L]
        elif noise is None:
            noise = self.sample_noise(batch_size, grid_size, device, generator)
        elif noise.shape != (batch_size, num_patches):
            raise ValueError(
                f'noise must have shape {(batch_size, num_patches)} '
                f'(batch, patches), got {tuple(noise.shape)}')
        return masking_from_noise(noise, self.num_keep(grid_size))


def _generator_device(generator: Optional[torch.Generator]) -> torch.device:
    """The device ``generator`` draws on; the CPU for the global RNG."""
    return torch.device('cpu') if generator is None else generator.device


class _RatioMasking(BaseMasking):
    """A masking that keeps ``int(L * (1 - mask_ratio))`` of the ``L``
    patches of every sample, in exact arithmetic (100 patches at a ratio of
    0.8 keep 20, not the 19 of the product in floats).

    Args:
        mask_ratio (float): Fraction of patches removed, in [0, 1).
            Defaults to 0.75.
    """

    def __init__(self, mask_ratio: float = 0.75) -> None:
        self.mask_ratio = check_number(
            'mask_ratio', mask_ratio, 0, 1, high_open=True)

    def num_keep(self, grid_size: Tuple[int, int]) -> int:
        # Rounded off before flooring: in floats 100 * (1 - 0.8) is
        # 19.999999999999996, and 100 patches at a ratio of 0.8 keep 20.
        keep = grid_size[0] * grid_size[1] * (1 - self.mask_ratio)
        return int(round(keep, 9))


@MODELS.register_module()
class RandomMasking(_RatioMasking):
    """Uniform random masking of the MAE paper: every sample keeps exactly
    ``int(L * (1 - mask_ratio))`` patches drawn without replacement.

    Args:
        mask_ratio (float): Fraction of patches removed, in [0, 1).
            Defaults to 0.75.
    """

    def sample_noise(self, batch_size, grid_size, device, generator):
        size = (batch_size, grid_size[0] * grid_size[1])
        if generator is None:
            # torch.compile cannot trace ``generator=None`` with a dynamic
            # batch size
            return torch.rand(size, device=device)
        # Drawn on the generator's device and moved: a CPU generator masks
        # inputs on any device, with the same masks on every one.
        return torch.rand(
            size, generator=generator, device=generator.device).to(device)


@MODELS.register_module()
class BlockMasking(_RatioMasking):
    """Block-wise masking as in BEiT: rectangles of random area and aspect
    ratio are removed until the target count is reached.

    A rectangle never makes the count overshoot; if no rectangle fits any
    more, the remaining patches are removed at random, so every sample keeps
    exactly ``int(L * (1 - mask_ratio))`` patches, as with
    :class:`RandomMasking`.

    Args:
        mask_ratio (float): Fraction of patches removed, in [0, 1).
            Defaults to 0.75.
        min_num_patches (int): Smallest rectangle, in patches. Defaults to 16.
        min_aspect (float): Smallest aspect ratio of a rectangle; the largest
            is its inverse. Defaults to 0.3.
        max_attempts (int): Tries to place one rectangle. Defaults to 10.
    """

    def __init__(self,
                 mask_ratio: float = 0.75,
                 min_num_patches: int = 16,
                 min_aspect: float = 0.3,
                 max_attempts: int = 10) -> None:
        super().__init__(mask_ratio)
        check_positive_int('min_num_patches', min_num_patches)
        check_positive_int('max_attempts', max_attempts)
        check_number('min_aspect', min_aspect, 0, 1, low_open=True)
        self.min_num_patches = min_num_patches
        self.log_aspect = (math.log(min_aspect), -math.log(min_aspect))
        self.max_attempts = max_attempts

    def _block_fits(self, grid_size: Tuple[int, int],
                    num_patches: int) -> bool:
        """Whether a rectangle of ``num_patches`` can be drawn on a
        ``(h, w)`` grid, narrower and lower than it as
        :meth:`_add_block` requires: some aspect ratio in
        ``(min_aspect, 1 / min_aspect)`` rounds its height below ``h`` and
        its width below ``w``."""
        h, w = grid_size
        # height sqrt(n * aspect) < h - 0.5, width sqrt(n / aspect) < w - 0.5
        low = max(self.log_aspect[0], math.log(num_patches / (w - 0.5)**2))
        high = min(self.log_aspect[1], math.log((h - 0.5)**2 / num_patches))
        return low < high

    def check_grid(self, grid_size: Tuple[int, int]) -> None:
        """Also raise ``ValueError`` if no rectangle of
        ``min_num_patches`` fits a ``(h, w)`` grid: every patch would then
        be removed at random, as by :class:`RandomMasking` (the default
        16 fits no block in a 4x4 grid, whose blocks are at most 3x3)."""
        super().check_grid(grid_size)
        if self._block_fits(grid_size, self.min_num_patches):
            return
        h, w = grid_size
        aspect = math.exp(self.log_aspect[1])
        fitting = [
            n for n in range(1, self.min_num_patches)
            if self._block_fits(grid_size, n)
        ]
        hint = (f'lower min_num_patches to {fitting[-1]} or less'
                if fitting else 'use a larger grid')
        raise ValueError(
            f'BlockMasking(min_num_patches={self.min_num_patches}, '
            f'min_aspect={math.exp(self.log_aspect[0]):.3g}) fits no block '
            f'in a {h}x{w} grid (a block is at most {h - 1}x{w - 1}, its '
            f'height over width within {1 / aspect:.3g}..{aspect:.3g}), so '
            f'every patch would be removed at random: {hint}')

    def _add_block(self, blocks: np.ndarray, budget: int,
                   uniform: '_Uniforms') -> int:
        """Remove one rectangle of at most ``budget`` new patches from the
        ``[h, w]`` ``blocks`` (1 = removed); returns how many patches it
        newly removed (0 when none fitted)."""
        h, w = blocks.shape
        for _ in range(self.max_attempts):
            area = uniform(self.min_num_patches, budget)
            aspect = math.exp(uniform(*self.log_aspect))
            bh = int(round(math.sqrt(area * aspect)))
            bw = int(round(math.sqrt(area / aspect)))
            if bh >= h or bw >= w or bh == 0 or bw == 0:
                continue
            top = int(uniform(0, h - bh + 1))  # uniform in 0 .. h - bh
            left = int(uniform(0, w - bw + 1))
            window = blocks[top:top + bh, left:left + bw]
            new = window.size - int(window.sum())
            if 0 < new <= budget:
                window.fill(1)
                return new
        return 0

    def sample_noise(self, batch_size, grid_size, device, generator):
        h, w = grid_size
        num_remove = h * w - self.num_keep(grid_size)
        # Drawn on the generator's device; the blocks are built on the CPU.
        noise = torch.rand(
            batch_size,
            h * w,
            generator=generator,
            device=_generator_device(generator)).cpu()  # [N, L]
        uniform = _Uniforms(generator)
        blocks = np.zeros((batch_size, h, w), dtype=np.float32)
        for sample_blocks in blocks:
            removed = 0
            while removed < num_remove:
                new = self._add_block(sample_blocks, num_remove - removed,
                                      uniform)
                if new == 0:
                    break
                removed += new
        # Removed blocks score in [1, 2) and sort after every visible
        # patch; a shortfall is filled at random among the rest.
        noise += torch.from_numpy(blocks).flatten(1)
        return noise.to(device)


class _Uniforms:
    """Uniform numbers for :class:`BlockMasking`'s rectangles, one Python
    float at a time, from ``generator`` (the global RNG when None).

    A rectangle takes four numbers per try, and a tensor per number cost
    more than all the rest of the masking (0.4 s for a batch of 512 on a
    14x14 grid); these are drawn ``chunk`` at a time.
    """

    def __init__(self, generator: Optional[torch.Generator],
                 chunk: int = 4096) -> None:
        self.generator = generator
        self.chunk = chunk
        self.values: list = []

    def __call__(self, low: float, high: float) -> float:
        """A number drawn uniformly between ``low`` and ``high``."""
        if not self.values:
            self.values = torch.rand(
                self.chunk,
                generator=self.generator,
                device=_generator_device(self.generator),
                dtype=torch.float64).tolist()
        return low + (high - low) * self.values.pop()


@MODELS.register_module()
class GridMasking(BaseMasking):
    """Regular grid masking: keep the top-left patch of every
    ``stride x stride`` cell.

    ``mask_ratio`` is ``1 - 1/stride**2`` (0.75 for ``stride=2``), the
    fraction removed from a grid whose sides are multiples of ``stride``.
    Other grids lose less (with ``stride=2`` a 7x7 grid keeps 16 of its 49
    patches, 67% removed); :meth:`mask_ratio_on` gives a grid's fraction.

    Args:
        stride (int): Cell side in patches. Defaults to 2.
    """

    def __init__(self, stride: int = 2) -> None:
        self.stride = check_positive_int('stride', stride)
        self.mask_ratio = 1 - 1 / stride**2

    def _visible(self, grid_size: Tuple[int, int]) -> torch.Tensor:
        h, w = grid_size
        rows = torch.arange(h)[:, None] % self.stride == 0
        cols = torch.arange(w)[None, :] % self.stride == 0
        return (rows & cols).flatten()  # [h*w]

    def num_keep(self, grid_size: Tuple[int, int]) -> int:
        return int(self._visible(grid_size).sum())

    def sample_noise(self, batch_size, grid_size, device, generator):
        # Ties inside each group keep patch order (argsort is stable on
        # distinct values, so rank visible patches by their index).
        visible = self._visible(grid_size)
        order = torch.arange(visible.numel(), dtype=torch.float32)
        noise = order + (~visible).float() * visible.numel()
        return noise.expand(batch_size, -1).to(device)
