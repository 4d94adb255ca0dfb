"""Random-resized crops that decode a JPEG only at the resolution the crop
needs.

A random-resized crop of a large photo to 224 x 224 throws most of the
decoded pixels away: the crop covers 20-100% of the image and is then
shrunk. JPEG decoders can produce the image at 1/2, 1/4 or 1/8 of its size
for less work (the inverse DCT of each 8 x 8 block is computed at the
smaller size; the entropy decoding stays), so
:class:`DecodeRandomResizedCrop` reads the image size from the file header,
draws the crop first, and decodes at the smallest size that still holds
the crop at no less than the output resolution.
"""
import io
import math
from collections import Counter
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.image.geometric import cv2_interp_codes
from PIL import Image

from mae_plugin.registry import TRANSFORMS
from mae_plugin.utils import (check_bool, check_choice, check_int, check_pair,
                              check_range)
from .box_resize import (ANTIALIAS_BACKENDS, TORCH_ANTIALIAS_MODES,
                         reduced_box, reduced_decode_factor, resize_box,
                         resize_box_antialiased)
from .loading import (JPEG_FORMATS, BaseImageLoader, decode_image,
                      exif_orientation, imdecode_checked)

IMREAD_FLAGS = {
    ('color', 1): cv2.IMREAD_COLOR,
    ('color', 2): cv2.IMREAD_REDUCED_COLOR_2,
    ('color', 4): cv2.IMREAD_REDUCED_COLOR_4,
    ('color', 8): cv2.IMREAD_REDUCED_COLOR_8,
    ('grayscale', 1): cv2.IMREAD_GRAYSCALE,
    ('grayscale', 2): cv2.IMREAD_REDUCED_GRAYSCALE_2,
    ('grayscale', 4): cv2.IMREAD_REDUCED_GRAYSCALE_4,
    ('grayscale', 8): cv2.IMREAD_REDUCED_GRAYSCALE_8,
}
JPEG_END = b'\xff\xd9'


def random_resized_crop_params(
        height: int,
        width: int,
        crop_ratio_range: Tuple[float, float] = (0.08, 1.0),
        aspect_ratio_range: Tuple[float, float] = (3. / 4., 4. / 3.),
        max_attempts: int = 10) -> Tuple[int, int, int, int]:
    """Draw a crop as mmpretrain's ``RandomResizedCrop`` does, with the same
    calls to NumPy's global random generator (so a seed gives the same
    crop).

    Each attempt draws an area fraction uniformly from
    ``crop_ratio_range`` and an aspect ratio (width / height)
    log-uniformly from ``aspect_ratio_range``; the first crop that fits
    gets a uniform position. After ``max_attempts`` misses the crop is the
    central one of the whole image, its aspect ratio clamped to the range
    but its sides at least one pixel (mmpretrain and torchvision would
    make an empty crop of an image less than a pixel wide or high at the
    clamped ratio, such as a 1-pixel-wide one with a least ratio above 2).

    Args:
        height (int): Image height.
        width (int): Image width.
        crop_ratio_range (tuple[float, float]): Crop area over image area.
            Defaults to (0.08, 1.0).
        aspect_ratio_range (tuple[float, float]): Crop width over height.
            Defaults to (3/4, 4/3).
        max_attempts (int): Draws before the central fallback. Defaults
            to 10.

    Returns:
        tuple[int, int, int, int]: ``(offset_h, offset_w, crop_h, crop_w)``.
    """
    area = height * width
    log_lo, log_hi = (math.log(r) for r in aspect_ratio_range)
    for _ in range(max_attempts):
        crop_area = np.random.uniform(*crop_ratio_range) * area
        aspect_ratio = math.exp(np.random.uniform(log_lo, log_hi))
        crop_w = round(math.sqrt(crop_area * aspect_ratio))
        crop_h = round(math.sqrt(crop_area / aspect_ratio))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            offset_h = np.random.randint(0, height - crop_h + 1)
            offset_w = np.random.randint(0, width - crop_w + 1)
            return offset_h, offset_w, crop_h, crop_w
    crop_h, crop_w = height, width
    if width / height < aspect_ratio_range[0]:  # too tall: cut height
        crop_h = max(1, round(width / aspect_ratio_range[0]))
    elif width / height > aspect_ratio_range[1]:  # too wide: cut width
        crop_w = max(1, round(height * aspect_ratio_range[1]))
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


def read_jpeg_header(data: bytes) -> Optional[Tuple[int, int, int]]:
    """``(width, height, orientation)`` of a complete 8-bit grey or colour
    JPEG (or MPO: its first picture), width and height as displayed
    (after the EXIF orientation, which OpenCV's decoder applies: see
    :func:`~.loading.exif_orientation`), read without decoding the
    pixels.

    Returns None for anything else: other formats, CMYK, a file that does
    not end with the JPEG end marker (truncated, which OpenCV would decode
    to a half-grey picture), or one the header parser rejects.
    """
    if not data.endswith(JPEG_END):
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            if (image.format not in JPEG_FORMATS
                    or image.mode not in ('L', 'RGB')):
                return None
            width, height = image.size
            orientation = exif_orientation(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    if orientation in (5, 6, 7, 8):  # a quarter turn or a transposition
        width, height = height, width
    return width, height, orientation


class RandomResizedCropDraw:
    """The crop settings of a random-resized crop and its draw
    (:func:`random_resized_crop_params`), for the loading transforms that
    draw crops.

    Args:
        crop_ratio_range (Sequence[float]): Crop area over image area,
            ``(min, max)`` with ``0 < min <= max <= 1``.
        aspect_ratio_range (Sequence[float]): Crop width over height,
            sampled log-uniformly; ``(min, max)`` with ``0 < min <= max``,
            finite.
        max_attempts (int): Draws before falling back to the central crop.
    """

    def __init__(self, crop_ratio_range: Tuple[float, float],
                 aspect_ratio_range: Tuple[float, float],
                 max_attempts: int) -> None:
        self.crop_ratio_range = check_range('crop_ratio_range',
                                            crop_ratio_range, 1)
        self.aspect_ratio_range = check_range('aspect_ratio_range',
                                              aspect_ratio_range)
        self.max_attempts = check_int('max_attempts', max_attempts, 0)

    def crop_params(self, height: int, width: int) -> Tuple[int, ...]:
        """``(offset_h, offset_w, crop_h, crop_w)`` drawn for an image of
        ``height`` x ``width``."""
        return random_resized_crop_params(height, width, self.crop_ratio_range,
                                          self.aspect_ratio_range,
                                          self.max_attempts)

    def crop_repr(self) -> str:
        """The crop settings for ``__repr__``."""
        return (f'crop_ratio_range={self.crop_ratio_range}, '
                f'aspect_ratio_range={self.aspect_ratio_range}, '
                f'max_attempts={self.max_attempts}')


@TRANSFORMS.register_module()
class DecodeRandomResizedCrop(BaseImageLoader, RandomResizedCropDraw):
    """Load an image and take a random-resized crop of it, decoding a JPEG
    at reduced resolution when the crop allows.

    Replaces ``RobustLoadImageFromFile`` followed by mmpretrain's
    ``RandomResizedCrop(backend='cv2')``: the crop has the same
    distribution (the same draws from NumPy's global generator, see
    :func:`random_resized_crop_params`) and the output the same keys:
    ``img`` (``uint8`` BGR ``[out_h, out_w, 3]``, or ``[out_h, out_w]``
    grey), ``img_shape`` (``img.shape``, as ``RandomResizedCrop`` sets it)
    and ``ori_shape`` (the full decoded image's ``(H, W)``).

    The reduced-decode rule: the crop is drawn from the image size in the
    JPEG header (as displayed, after EXIF orientation), then the file is
    decoded with ``cv2.imdecode`` and ``IMREAD_REDUCED_*_f`` for the
    largest ``f`` in (8, 4, 2) at which the crop, ``f`` times smaller,
    still measures at least ``scale`` in both dimensions
    (:func:`reduced_decode_factor`), else at full size (``f = 1``). The
    crop box is mapped into the reduced image (:func:`reduced_box`) and
    resampled to ``scale`` (:func:`resize_box`). With ``f = 1`` the output
    is, bit for bit, OpenCV's full decode followed by ``RandomResizedCrop``;
    with ``f > 1`` the decoder's block averaging replaces part of the
    shrinking (closer to an area-averaged shrinking than ``cv2.resize``'s
    bicubic one, which aliases). Photos of ImageNet's usual size (about
    500 x 375) never hold a crop of twice 224 pixels, so at that output
    size they are all decoded in full; larger photos and smaller outputs
    gain.

    A JPEG whose data libjpeg reports as corrupt raises (or is skipped)
    like a truncated file (:func:`~.loading.imdecode_checked`). Files
    other than complete 8-bit grey or colour JPEGs (PNG, CMYK,
    truncated, ...) and JPEGs OpenCV cannot decode are decoded in full by
    :func:`decode_image`, which converts 16-bit, palette and transparent
    images and raises :class:`UnreadableImageError` naming a file it
    cannot read. Without ``antialias`` only ``'bilinear'`` and
    ``'bicubic'`` interpolation decode at reduced size (:func:`resize_box`
    resamples a box with fractional edges with these two); the others
    always decode in full.

    ``antialias=True`` resamples with PIL instead
    (:func:`resize_box_antialiased`), as torchvision's
    ``RandomResizedCrop`` on PIL images (the official MAE code's) does:
    the crop distribution and the decoding stay the same, the shrinking
    averages every pixel it covers. ``antialias_backend='torch'``
    resamples boxes on whole pixels (every crop decoded in full, and some
    decoded at reduced size) with torch's antialiased kernels for
    ``uint8`` images instead, PIL's filters in fixed point (with AVX2
    instructions where the CPU has them): about five times faster, 97-100%
    of values equal to PIL's, the others a few levels apart at most
    (:func:`resize_box_antialiased`). ``docs/crop_resize.md`` measures
    them all against torchvision on PIL and their cost per image.

    The instance counts, in :attr:`decode_factors`, the crops it has
    decoded at ``1 / f`` of the size, by ``f`` (1 for a full decode), in
    the process that runs it (each dataloader worker counts its own).

    Args:
        scale (int | Sequence[int]): Output ``(h, w)``, or one side of a
            square; positive ints.
        crop_ratio_range (Sequence[float]): Crop area over image area,
            ``(min, max)`` with ``0 < min <= max <= 1``. Defaults to
            (0.08, 1.0).
        aspect_ratio_range (Sequence[float]): Crop width over height,
            sampled log-uniformly; ``(min, max)`` with ``0 < min <= max``,
            finite. Defaults to (3/4, 4/3).
        max_attempts (int): Draws before falling back to the central crop.
            Defaults to 10.
        interpolation (str): ``'nearest'``, ``'bilinear'``, ``'bicubic'``,
            ``'area'`` or ``'lanczos'``. Defaults to ``'bicubic'``.
        color_type (str): ``'color'`` or ``'grayscale'``. Defaults to
            ``'color'``.
        on_error (str): ``'raise'`` or ``'skip'`` (see
            :class:`BaseImageLoader`). Defaults to ``'raise'``.
        background (int): Grey level behind transparent pixels, 0-255.
            Defaults to 255.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.
        antialias (bool): Resample with PIL's antialiasing filters
            instead of OpenCV's. Defaults to False.
        max_decode_factor (int): Largest reduction (8, 4, 2 or 1: always
            decode in full). Defaults to 8.
        antialias_backend (str): ``'pillow'`` or ``'torch'`` (then
            ``interpolation`` must be ``'bilinear'`` or ``'bicubic'``);
            used with ``antialias=True``. Defaults to ``'pillow'``.
    """

    def __init__(self,
                 scale: Union[int, Sequence[int]],
                 crop_ratio_range: Tuple[float, float] = (0.08, 1.0),
                 aspect_ratio_range: Tuple[float, float] = (3. / 4., 4. / 3.),
                 max_attempts: int = 10,
                 interpolation: str = 'bicubic',
                 color_type: str = 'color',
                 on_error: str = 'raise',
                 background: int = 255,
                 backend_args: Optional[dict] = None,
                 antialias: bool = False,
                 max_decode_factor: int = 8,
                 antialias_backend: str = 'pillow') -> None:
        BaseImageLoader.__init__(self, color_type, on_error, background,
                                 backend_args)
        RandomResizedCropDraw.__init__(self, crop_ratio_range,
                                       aspect_ratio_range, max_attempts)
        self.scale = check_pair('scale', scale)  # (h, w)
        self.interpolation = check_choice('interpolation', interpolation,
                                          tuple(cv2_interp_codes))
        self.antialias = check_bool('antialias', antialias)
        self.antialias_backend = check_choice('antialias_backend',
                                              antialias_backend,
                                              ANTIALIAS_BACKENDS)
        if (antialias_backend == 'torch'
                and interpolation not in TORCH_ANTIALIAS_MODES):
            raise ValueError(
                f"antialias_backend='torch' resamples with "
                f'{" or ".join(TORCH_ANTIALIAS_MODES)} interpolation, got '
                f'interpolation={interpolation!r}')
        # sub-pixel boxes of reduced images: PIL's filters, and OpenCV's
        # bilinear and bicubic
        check_choice('max_decode_factor',
                     check_int('max_decode_factor', max_decode_factor),
                     (1, 2, 4, 8))
        self.max_factor = max_decode_factor if antialias or (interpolation in (
            'bilinear', 'bicubic')) else 1
        self.decode_factors = Counter()  # f -> crops decoded at 1 / f

    def load(self, data: bytes, filename: str, results: dict) -> dict:
        out_size = self.scale[::-1]  # (out_w, out_h)
        img = None
        header = read_jpeg_header(data)
        if header is not None:
            width, height, orientation = header
            offset_h, offset_w, crop_h, crop_w = self.crop_params(
                height, width)
            factor = reduced_decode_factor((crop_w, crop_h), out_size,
                                           self.max_factor)
            img = imdecode_checked(data, IMREAD_FLAGS[self.color_type, factor],
                                   filename)
            # [ceil(H / f), ceil(W / f)(, 3)] unless OpenCV failed
            if img is not None and img.shape[:2] != (-(-height // factor),
                                                     -(-width // factor)):
                img = None
        if img is None:  # not a plain JPEG, or one OpenCV cannot read
            # (the rare JPEG that OpenCV fails on draws its crop twice)
            img = decode_image(data, filename, self.color_type,
                               self.background)  # [H, W(, 3)]
            height, width = img.shape[:2]
            offset_h, offset_w, crop_h, crop_w = self.crop_params(
                height, width)
            factor, orientation = 1, 1
        self.decode_factors[factor] += 1
        box = reduced_box(
            (offset_w, offset_h, offset_w + crop_w, offset_h + crop_h),
            (width, height), factor, orientation)
        if self.antialias:
            img = resize_box_antialiased(img, box, out_size,
                                         self.interpolation,
                                         self.antialias_backend)
        else:
            img = resize_box(img, box, out_size, self.interpolation)
        results['img'] = img  # [out_h, out_w(, 3)]
        results['img_shape'] = img.shape
        results['ori_shape'] = (height, width)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'{self.crop_repr()}, interpolation={self.interpolation!r}, '
                f'antialias={self.antialias}, '
                f'antialias_backend={self.antialias_backend!r}, '
                f'color_type={self.color_type!r}, '
                f'on_error={self.on_error!r})')
