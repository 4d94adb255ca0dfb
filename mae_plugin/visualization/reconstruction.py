"""The MAE paper's reconstruction figure:
original | masked | reconstruction | reconstruction + visible."""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

PANEL_TITLES = ('original', 'masked', 'reconstruction',
                'reconstruction + visible')


def pixel_mask(mask: torch.Tensor, patch_size: int) -> np.ndarray:
    """``[h, w]`` patch mask to a boolean ``[h*p, w*p]`` pixel mask."""
    mask = mask.detach().cpu().numpy().astype(bool)
    return mask.repeat(patch_size, 0).repeat(patch_size, 1)


def masked_mse(original: torch.Tensor,
               reconstruction: torch.Tensor,
               mask: torch.Tensor,
               patch_size: int,
               size: Optional[Tuple[int, int]] = None) -> float:
    """Squared error over the removed pixels of an image, averaged over
    them and the channels (as :meth:`MAE.predict` measures it), counting
    only its top-left ``size``: the padding that made the input a
    multiple of the patch size is not part of the image.

    Args:
        original (Tensor): ``[C, H, W]`` input pixel values.
        reconstruction (Tensor): ``[C, H, W]`` predicted pixel values.
        mask (Tensor): ``[H/p, W/p]``, 1 for removed patches.
        patch_size (int): Patch side ``p``.
        size (tuple[int, int], optional): ``(H', W')`` of the image
            within the input. Defaults to None (the whole input).

    Returns:
        float: the MSE, 0 when no pixel of the image was removed.
    """
    height, width = size or original.shape[1:]
    error = (reconstruction.float() - original.float()).pow(2).mean(dim=0)
    removed = torch.from_numpy(pixel_mask(mask, patch_size)).to(error.device)
    removed = removed[:height, :width]  # [H', W']
    if not removed.any():
        return 0.
    return float(error[:height, :width][removed].mean())


def to_uint8_hwc(img: torch.Tensor) -> np.ndarray:
    """``[C, H, W]`` pixel values to a clipped ``uint8 [H, W, C]`` array."""
    img = img.detach().float().cpu().clamp(0, 255).round()
    return img.permute(1, 2, 0).numpy().astype(np.uint8)


def enlarge(img: np.ndarray, scale: int) -> np.ndarray:
    """Repeat every pixel of ``[H, W, C]`` ``scale`` times along both
    axes (nearest-neighbour: patches stay sharp squares)."""
    return img.repeat(scale, 0).repeat(scale, 1)


def title_panel(panel: np.ndarray,
                title: str,
                font_scale: float = 0.5,
                margin: int = 4) -> np.ndarray:
    """A panel under a white band with its title in black, cut at the
    panel's width; the band's height depends on the font only, so panels
    titled alike line up."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (_, height), baseline = cv2.getTextSize('Ag', font, font_scale, 1)
    channels = panel.shape[2]
    band = np.full((height + baseline + 2 * margin, panel.shape[1], channels),
                   255, np.uint8)
    cv2.putText(band, title, (margin, margin + height), font, font_scale,
                (0, ) * channels, 1, cv2.LINE_AA)
    return np.concatenate([band, panel], axis=0)


def reconstruction_figure(
        original: torch.Tensor,
        reconstruction: torch.Tensor,
        mask: torch.Tensor,
        patch_size: int,
        gap: int = 4,
        fill_value: int = 128,
        size: Optional[Tuple[int, int]] = None,
        scale: int = 1,
        titles: Optional[Sequence[str]] = None) -> np.ndarray:
    """Lay out the four panels of one image side by side.

    Args:
        original (Tensor): ``[C, H, W]`` input pixel values.
        reconstruction (Tensor): ``[C, H, W]`` predicted pixel values.
        mask (Tensor): ``[H/p, W/p]``, 1 for removed patches.
        patch_size (int): Patch side ``p``.
        gap (int): White columns between panels. Defaults to 4.
        fill_value (int): Grey level of removed patches in the masked panel.
            Defaults to 128.
        size (tuple[int, int], optional): Crop every panel to its top-left
            ``(H', W')``, e.g. to drop the padding that made the input a
            multiple of the patch size. Defaults to None (no crop).
        scale (int): Enlarge every panel ``scale`` times
            (:func:`enlarge`). Defaults to 1.
        titles (Sequence[str], optional): One title per panel, written
            above it (:func:`title_panel`). Defaults to None (no titles).

    Returns:
        np.ndarray: ``uint8 [s*H + T, 4*s*W + 3*gap, C]`` in the input's
        channel order, each panel the input's size (``size`` when given)
        times ``s = scale``, ``T`` the titles' band (0 without titles).
    """
    height, width = size or original.shape[1:]
    orig = to_uint8_hwc(original)[:height, :width]
    recon = to_uint8_hwc(reconstruction)[:height, :width]
    removed = pixel_mask(mask, patch_size)[:height, :width, None]
    masked = np.where(removed, np.uint8(fill_value), orig)
    pasted = np.where(removed, recon, orig)
    panels = [enlarge(p, scale) for p in (orig, masked, recon, pasted)]
    if titles is not None:
        if len(titles) != len(panels):
            raise ValueError(f'titles: one per panel ({len(panels)}), got '
                             f'{len(titles)}')
        panels = [title_panel(p, t) for p, t in zip(panels, titles)]
    spacer = np.full((panels[0].shape[0], gap, orig.shape[2]), 255,
                     dtype=np.uint8)
    row = []
    for i, panel in enumerate(panels):
        if i:
            row.append(spacer)
        row.append(panel)
    return np.concatenate(row, axis=1)


def target_description(norm_pix: bool) -> str:
    """How the reconstruction panels map predictions back to pixels.

    Args:
        norm_pix (bool): Whether the model predicts per-patch normalised
            pixels (:class:`MAEPixelHead` ``norm_pix``).

    Returns:
        str: one line for the figure's caption.
    """
    if norm_pix:
        return ('norm-pix target: predictions mapped to pixels with each '
                'true patch\'s mean and std (removed ones too)')
    return 'pixel target: predicted pixel values, shown as they are'


def stack_rows(rows: Sequence[np.ndarray],
               gap: int = 4,
               fill_value: int = 255) -> np.ndarray:
    """Stack figures of one image each top to bottom.

    Rows of different widths are padded on the right; every panel keeps its
    size.

    Args:
        rows (Sequence[np.ndarray]): ``uint8 [H_i, W_i, C]`` figures.
        gap (int): Rows of ``fill_value`` between figures. Defaults to 4.
        fill_value (int): Grey level of the padding. Defaults to 255.

    Returns:
        np.ndarray: ``uint8 [sum H_i + gaps, max W_i, C]``.
    """
    if not rows:
        raise ValueError('rows: no figure to stack')
    width = max(row.shape[1] for row in rows)
    padded = []
    for i, row in enumerate(rows):
        if i:
            padded.append(
                np.full((gap, width, row.shape[2]), fill_value, np.uint8))
        padded.append(
            np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)),
                   constant_values=fill_value))
    return np.concatenate(padded, axis=0)


def add_caption(figure: np.ndarray,
                lines: List[str],
                font_scale: float = 0.4,
                margin: int = 4) -> np.ndarray:
    """Write lines of black text on a white band above a figure.

    The figure is padded on the right with white when a line is wider.

    Args:
        figure (np.ndarray): ``uint8 [H, W, C]``.
        lines (list[str]): Caption lines, top to bottom.
        font_scale (float): OpenCV Hershey font scale. Defaults to 0.4.
        margin (int): Pixels around and between lines. Defaults to 4.

    Returns:
        np.ndarray: ``uint8 [H + caption height, max(W, text width), C]``
        with the figure in its bottom-left corner.
    """
    font = cv2.FONT_HERSHEY_SIMPLEX
    sizes = [cv2.getTextSize(line, font, font_scale, 1) for line in lines]
    line_height = max(h + base for (_, h), base in sizes) + margin
    width = max([figure.shape[1]] + [w + 2 * margin for (w, _), _ in sizes])
    band = np.full((line_height * len(lines) + margin, width,
                    figure.shape[2]), 255, np.uint8)
    for i, (line, ((_, h), _)) in enumerate(zip(lines, sizes)):
        cv2.putText(band, line, (margin, margin + i * line_height + h), font,
                    font_scale, (0, ) * figure.shape[2], 1, cv2.LINE_AA)
    return stack_rows([band, figure], gap=0)
