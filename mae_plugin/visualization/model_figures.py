"""Reconstruction figures of a model: its predictions drawn as panels,
titled and captioned with its masking and target.

The model is read by duck typing (an :class:`MAE`: ``data_preprocessor``,
``predict``, ``to_pixels``, ``backbone.masking``, ``backbone.patch_size``,
``head.norm_pix``), so this layer imports nothing from ``models``.
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch

from .reconstruction import (PANEL_TITLES, masked_mse,
                             reconstruction_figure, target_description)


class Reconstruction(NamedTuple):
    """The figure row of one image and the masked-patch MSE it shows
    (0-255 pixel values, over the removed pixels of the image shown, see
    :func:`masked_mse`)."""
    figure: np.ndarray
    masked_mse: float


def reconstruction_figures(
        model: torch.nn.Module,
        data_batch: dict,
        sizes: Optional[Sequence[Tuple[int, int]]] = None,
        scale: int = 1,
        titles: Optional[Sequence[str]] = None) -> List[Reconstruction]:
    """The four-panel figure of every image of a collated batch.

    Masks come from :meth:`MAE.predict`, i.e. from a generator seeded with
    ``model.predict_seed``: the same batch always gets the same masks.

    Args:
        model (nn.Module): An :class:`MAE`.
        data_batch (dict): ``inputs`` and ``data_samples`` as collated by
            ``default_collate``.
        sizes (Sequence[tuple[int, int]], optional): ``(H, W)`` to crop
            the panels of every image to. Defaults to None (no crop).
        scale (int): Enlargement of the panels. Defaults to 1.
        titles (Sequence[str], optional): Panel titles. Defaults to None.

    Returns:
        list[Reconstruction]: figures (``uint8``, in the model's input
        channel order, see :func:`reconstruction_figure`) with the
        masked-patch MSE of the pixels they show (inside ``sizes``).
    """
    p = model.backbone.patch_size
    data = model.data_preprocessor(data_batch, training=False)
    samples = model.predict(data['inputs'])  # reconstructions [C, H, W]
    originals = model.to_pixels(data['inputs'])  # [N, C, H, W], 0-255
    sizes = sizes or [None] * len(samples)
    return [
        Reconstruction(
            reconstruction_figure(
                orig,
                sample.reconstruction,
                sample.mask,
                p,
                size=size,
                scale=scale,
                titles=titles),
            masked_mse(orig, sample.reconstruction, sample.mask, p, size))
        for orig, sample, size in zip(originals, samples, sizes)
    ]


def masking_name(masking) -> str:
    """The command-line name of a masking generator: ``'random'`` for
    ``RandomMasking``, ``'block'``, ``'grid'``."""
    return type(masking).__name__.replace('Masking', '').lower()


def masking_title(model: torch.nn.Module) -> str:
    """The masking of a model in a few words: ``'75% random'``,
    ``'grid, 1 of 2x2 kept'``."""
    masking = model.backbone.masking
    if masking_name(masking) == 'grid':
        return f'grid, 1 of {masking.stride}x{masking.stride} kept'
    return f'{masking.mask_ratio:.0%} {masking_name(masking)}'


def panel_titles(model: torch.nn.Module) -> List[str]:
    """Titles of the four panels, the masking and (for norm-pix models,
    mapped back with the true patches' statistics) the target named."""
    target = ' (norm-pix)' if model.head.norm_pix else ''
    return [
        'original', f'masked: {masking_title(model)}',
        f'reconstruction{target}', 'reconstruction + visible'
    ]


def caption_lines(model: torch.nn.Module) -> List[str]:
    """What a reconstruction figure shows: panels, masking and target.

    Args:
        model (nn.Module): An :class:`MAE`.

    Returns:
        list[str]: caption lines.
    """
    masking = model.backbone.masking
    p = model.backbone.patch_size
    if masking_name(masking) == 'grid':  # its share depends on the grid
        removed = (f'the top-left {p}x{p} patch of every '
                   f'{masking.stride}x{masking.stride} kept')
    else:
        removed = f'{masking.mask_ratio:.0%} of the {p}x{p} patches removed'
    return [
        ' | '.join(PANEL_TITLES),
        f'{type(masking).__name__}: {removed}, mask seed '
        f'{model.predict_seed}',
        target_description(model.head.norm_pix),
    ]


def as_rgb(figure: np.ndarray, model: torch.nn.Module) -> np.ndarray:
    """A figure in the model's input channel order as RGB ``[H, W, 3]``.

    The input is RGB when the data preprocessor converts channels
    (``to_rgb=True``) and BGR, as OpenCV loads it, otherwise; one channel
    becomes grey RGB.
    """
    if figure.shape[2] == 1:
        return np.repeat(figure, 3, axis=2)
    if figure.shape[2] != 3:
        raise ValueError(
            f'figure: {figure.shape[2]} channels cannot be shown as RGB')
    if model.data_preprocessor._channel_conversion:
        return figure
    return np.ascontiguousarray(figure[..., ::-1])
