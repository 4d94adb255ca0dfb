"""Resampling a box of an image, possibly decoded at reduced size, to the
output size of a random-resized crop: OpenCV's resampling (as mmpretrain's
``RandomResizedCrop(backend='cv2')``) or an antialiased one, PIL's (as
torchvision's ``RandomResizedCrop`` on PIL images) or torch's."""
import math
from typing import Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmcv.image.geometric import cv2_interp_codes
from PIL import Image

REDUCED_FACTORS = (8, 4, 2)
# EXIF orientation -> whether the displayed x and y axes run against the
# stored axes they come from (5-8 also swap the axes).
REVERSED_AXES = {
    2: (True, False),
    3: (True, True),
    4: (False, True),
    6: (True, False),
    7: (True, True),
    8: (False, True),
}
Box = Tuple[float, float, float, float]
# Libraries that resample with antialiasing, and the interpolations torch's
# antialiased ``interpolate`` has.
ANTIALIAS_BACKENDS = ('pillow', 'torch')
TORCH_ANTIALIAS_MODES = ('bilinear', 'bicubic')
# PIL's filters for mmcv's interpolation names ('area' averages a box)
PIL_FILTERS = {
    'nearest': Image.Resampling.NEAREST,
    'bilinear': Image.Resampling.BILINEAR,
    'bicubic': Image.Resampling.BICUBIC,
    'area': Image.Resampling.BOX,
    'lanczos': Image.Resampling.LANCZOS,
}


def reduced_decode_factor(crop_size: Tuple[int, int],
                          out_size: Tuple[int, int],
                          max_factor: int = 8) -> int:
    """The largest JPEG reduction ``f`` (8, 4, 2, else 1) at which the crop
    still measures at least the output size: ``crop_w / f >= out_w`` and
    ``crop_h / f >= out_h``. Resizing the reduced crop then never enlarges
    it more than resizing the full-resolution crop would.

    Args:
        crop_size (tuple[int, int]): ``(crop_w, crop_h)`` in full-size
            pixels.
        out_size (tuple[int, int]): ``(out_w, out_h)``.
        max_factor (int): Largest factor allowed. Defaults to 8.
    """
    crop_w, crop_h = crop_size
    out_w, out_h = out_size
    for factor in REDUCED_FACTORS:
        if (factor <= max_factor and crop_w >= factor * out_w
                and crop_h >= factor * out_h):
            return factor
    return 1


def reduced_box(box: Box,
                image_size: Tuple[int, int],
                factor: int,
                orientation: int = 1) -> Box:
    """Map a box of the full image, as displayed, into OpenCV's image
    decoded at ``1 / factor`` of the size.

    The decoder turns each ``f x f`` block of the *stored* image into one
    pixel, starting at the stored top-left corner, and keeps a partial
    block at the stored right and bottom edges: a stored side of length
    ``L`` becomes ``ceil(L / f)`` pixels, ``pad = ceil(L / f) * f - L``
    full-size pixels more than ``L / f``. Then it applies the EXIF
    orientation. Along a displayed axis that runs the same way as its
    stored axis, the coordinate ``x`` maps to ``x / f``; along one that the
    orientation reverses, the partial block comes first and ``x`` maps to
    ``(x + pad) / f``.

    Args:
        box (tuple): ``(x0, y0, x1, y1)`` pixel-edge coordinates of the
            full displayed image (``x1``, ``y1`` exclusive).
        image_size (tuple[int, int]): ``(width, height)`` of the full
            displayed image.
        factor (int): Reduction, 1, 2, 4 or 8.
        orientation (int): EXIF orientation, 1-8. Defaults to 1.

    Returns:
        tuple: ``(x0, y0, x1, y1)`` in the reduced image, floats.
    """
    width, height = image_size
    reverse_x, reverse_y = REVERSED_AXES.get(orientation, (False, False))
    pad_x = -width % factor if reverse_x else 0
    pad_y = -height % factor if reverse_y else 0
    x0, y0, x1, y1 = box
    return ((x0 + pad_x) / factor, (y0 + pad_y) / factor,
            (x1 + pad_x) / factor, (y1 + pad_y) / factor)


def shift_kernel(interpolation: str, delta: float) -> Tuple[np.ndarray, int]:
    """OpenCV's interpolation weights for the value at ``delta`` (in
    [0, 1)) past a pixel: 2 taps from that pixel on for ``'bilinear'``,
    4 taps from the pixel before for ``'bicubic'`` (a = -0.75, as in
    ``cv2.resize``).

    Returns:
        tuple: the weights ``[taps]`` and the index of the tap on the
        pixel itself (the anchor for ``cv2.sepFilter2D``).
    """
    if interpolation == 'bilinear':
        return np.array([1 - delta, delta], np.float64), 0
    a = -0.75
    distance = np.array([1 + delta, delta, 1 - delta, 2 - delta], np.float64)
    near = ((a + 2) * distance - (a + 3)) * distance**2 + 1
    far = ((a * distance - 5 * a) * distance + 8 * a) * distance - 4 * a
    return np.where(distance <= 1, near, far), 1


def resize_box(img: np.ndarray,
               box: Box,
               out_size: Tuple[int, int],
               interpolation: str = 'bicubic') -> np.ndarray:
    """Resample the region ``box`` of ``img`` to ``out_size`` with
    ``cv2.resize``'s pixel mapping: output pixel centre ``u + 0.5`` falls
    at ``x0 + (u + 0.5) * (x1 - x0) / out_w``.

    A box on whole pixels is cut out and passed to ``cv2.resize``, exactly
    as mmpretrain's ``RandomResizedCrop`` does. A box with fractional
    edges (from :func:`reduced_box`; ``'bilinear'`` and ``'bicubic'``
    only) is first shifted by the fraction of its top-left corner with the
    same interpolation kernel (``cv2.sepFilter2D``, on the box and the
    neighbours the kernels reach), then scaled by exactly ``out_w / (x1 -
    x0)`` and ``out_h / (y1 - y0)`` (``cv2.resize`` with ``fx``, ``fy``),
    about half the cost of ``cv2.warpAffine``'s bicubic sampling. Where
    that scaling would not change the size of the cut, for which
    ``cv2.resize`` returns its input unchanged, ``cv2.warpAffine`` samples
    the box instead.

    Args:
        img (np.ndarray): ``[H, W]`` or ``[H, W, C]``.
        box (tuple): ``(x0, y0, x1, y1)`` pixel-edge coordinates.
        out_size (tuple[int, int]): ``(out_w, out_h)``.
        interpolation (str): A name from mmcv's ``cv2_interp_codes``.
            Defaults to ``'bicubic'``.

    Returns:
        np.ndarray: ``[out_h, out_w]`` or ``[out_h, out_w, C]``.
    """
    code = cv2_interp_codes[interpolation]
    if all(float(edge).is_integer() for edge in box):
        x0, y0, x1, y1 = (int(edge) for edge in box)
        return cv2.resize(img[y0:y1, x0:x1], out_size, interpolation=code)
    if interpolation not in ('bilinear', 'bicubic'):
        raise ValueError(f'{interpolation} interpolation needs a box on '
                         f'whole pixels, got {box}')
    x0, y0, x1, y1 = box
    out_w, out_h = out_size
    scale_x, scale_y = (x1 - x0) / out_w, (y1 - y0) / out_h
    left, top = math.floor(x0), math.floor(y0)
    # the box and the neighbours that the two kernels reach, [h, w(, C)]
    row0, col0 = max(top - 2, 0), max(left - 2, 0)
    region = img[row0:math.ceil(y1) + 4, col0:math.ceil(x1) + 4]
    cut_h = region.shape[0] - (top - row0)
    cut_w = region.shape[1] - (left - col0)
    if (round(cut_w / scale_x), round(cut_h / scale_y)) == (cut_w, cut_h):
        # output pixel (u, v) -> source pixel index (centres at i + 0.5)
        matrix = np.array([[scale_x, 0., x0 + 0.5 * scale_x - 0.5],
                           [0., scale_y, y0 + 0.5 * scale_y - 0.5]])
        return cv2.warpAffine(
            img,
            matrix,
            out_size,
            flags=code | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE)
    kernel_x, anchor_x = shift_kernel(interpolation, x0 - left)
    kernel_y, anchor_y = shift_kernel(interpolation, y0 - top)
    region = cv2.sepFilter2D(
        region,
        -1,
        kernel_x,
        kernel_y,
        anchor=(anchor_x, anchor_y),
        borderType=cv2.BORDER_REPLICATE)
    # region[i, j] is now img at (row0 + i + y0 - top, col0 + j + x0 - left)
    resized = cv2.resize(
        region[top - row0:, left - col0:],
        None,
        fx=1 / scale_x,
        fy=1 / scale_y,
        interpolation=code)
    return resized[:out_h, :out_w]


def resize_box_antialiased(img: np.ndarray,
                           box: Box,
                           out_size: Tuple[int, int],
                           interpolation: str = 'bicubic',
                           backend: str = 'pillow') -> np.ndarray:
    """Resample the region ``box`` of ``img`` to ``out_size`` with an
    antialiasing filter: PIL's ``Image.resize(box=...)``, the resampling of
    torchvision's ``RandomResizedCrop`` on PIL images, or torch's
    ``interpolate(antialias=True)``.

    PIL widens its filter by the shrinking factor, so each output pixel
    weighs all the input pixels it covers (antialiasing); OpenCV's bicubic
    ``cv2.resize`` keeps 4 taps per axis whatever the factor and aliases
    when it shrinks. PIL's bicubic kernel has ``a = -0.5`` (OpenCV's
    ``-0.75``). A box on whole pixels is cut out first, as torchvision
    does (the filter then stops at the cut's edges); one with fractional
    edges (from :func:`reduced_box`) is resampled in place, the filter
    reaching past its edges.

    ``backend='torch'`` resamples a box on whole pixels with torch's
    antialiased ``'bilinear'`` or ``'bicubic'`` kernels for ``uint8``
    images: PIL's filters in fixed point, with AVX2 instructions where the
    CPU has them, about five times faster than PIL, 97-100% of values
    equal to PIL's, the others a few levels apart at most
    (``docs/crop_resize.md`` measures both).
    A box with fractional edges goes to PIL whatever the backend: torch's
    ``interpolate`` cannot start between pixels.

    Args:
        img (np.ndarray): ``uint8`` ``[H, W]`` or ``[H, W, 3]`` (the
            channel order is kept).
        box (tuple): ``(x0, y0, x1, y1)`` pixel-edge coordinates.
        out_size (tuple[int, int]): ``(out_w, out_h)``.
        interpolation (str): A key of :data:`PIL_FILTERS`; one of
            :data:`TORCH_ANTIALIAS_MODES` with ``backend='torch'``.
            Defaults to ``'bicubic'``.
        backend (str): One of :data:`ANTIALIAS_BACKENDS`. Defaults to
            ``'pillow'``.

    Returns:
        np.ndarray: ``[out_h, out_w]`` or ``[out_h, out_w, 3]``, writable
        (transforms after the crop, e.g. ``RandomErasing``, write in place).
    """
    if not all(float(edge).is_integer() for edge in box):
        resized = Image.fromarray(img).resize(
            out_size, PIL_FILTERS[interpolation], box=tuple(map(float, box)))
        return np.array(resized)  # writable, unlike np.asarray's view
    x0, y0, x1, y1 = (int(edge) for edge in box)
    cut = img[y0:y1, x0:x1]  # [h, w(, C)]
    if backend == 'pillow':
        resized = Image.fromarray(cut).resize(out_size,
                                              PIL_FILTERS[interpolation])
        return np.array(resized)  # writable, unlike np.asarray's view
    # [h, w, C] in one writable block: torch's SIMD kernels for uint8 read
    # and write that layout (channels last), twice as fast, no copy after
    cut = np.require(cut, requirements=('C', 'W')).reshape(*cut.shape[:2], -1)
    resized = F.interpolate(
        torch.from_numpy(cut)[None].permute(0, 3, 1, 2),  # [1, C, h, w]
        size=out_size[::-1],
        mode=interpolation,
        antialias=True)[0].permute(1, 2, 0)  # [out_h, out_w, C]
    return resized.numpy().reshape(out_size[::-1] + img.shape[2:])
