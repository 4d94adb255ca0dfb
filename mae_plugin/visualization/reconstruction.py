"""The MAE paper's reconstruction figure:
original | masked | reconstruction | reconstruction + visible."""
import numpy as np
import torch

PANEL_TITLES = ('original', 'masked', 'reconstruction',
                'reconstruction + visible')


def pixel_mask(mask: torch.Tensor, patch_size: int) -> np.ndarray:
    """``[h, w]`` patch mask to a boolean ``[h*p, w*p]`` pixel mask."""
    mask = mask.detach().cpu().numpy().astype(bool)
    return mask.repeat(patch_size, 0).repeat(patch_size, 1)


def to_uint8_hwc(img: torch.Tensor) -> np.ndarray:
    """``[C, H, W]`` pixel values to a clipped ``uint8 [H, W, C]`` array."""
    img = img.detach().float().cpu().clamp(0, 255).round()
    return img.permute(1, 2, 0).numpy().astype(np.uint8)


def reconstruction_figure(original: torch.Tensor,
                          reconstruction: torch.Tensor,
                          mask: torch.Tensor,
                          patch_size: int,
                          gap: int = 4,
                          fill_value: int = 128) -> np.ndarray:
    """Lay out the four panels of one image side by side.

    Args:
        original (Tensor): ``[C, H, W]`` input pixel values.
        reconstruction (Tensor): ``[C, H, W]`` predicted pixel values.
        mask (Tensor): ``[H/p, W/p]``, 1 for removed patches.
        patch_size (int): Patch side ``p``.
        gap (int): White columns between panels. Defaults to 4.
        fill_value (int): Grey level of removed patches in the masked panel.
            Defaults to 128.

    Returns:
        np.ndarray: ``uint8 [H, 4W + 3*gap, C]`` in the input's channel
        order, each panel the input's size.
    """
    orig = to_uint8_hwc(original)
    recon = to_uint8_hwc(reconstruction)
    removed = pixel_mask(mask, patch_size)[..., None]  # [H, W, 1]
    masked = np.where(removed, np.uint8(fill_value), orig)
    pasted = np.where(removed, recon, orig)
    height, _, channels = orig.shape
    spacer = np.full((height, gap, channels), 255, dtype=np.uint8)
    panels = [orig, masked, recon, pasted]
    row = []
    for i, panel in enumerate(panels):
        if i:
            row.append(spacer)
        row.append(panel)
    return np.concatenate(row, axis=1)
