"""Image loading that converts every common image kind to 8-bit colour and
names the file when it cannot."""
import copy
import io
import logging
import multiprocessing
import os
import re
import struct
import sys
import tempfile
import threading
from multiprocessing.context import get_spawning_popen
from multiprocessing.sharedctypes import Synchronized
from typing import Optional, Tuple

import cv2
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log
from PIL import ExifTags, Image

from mae_plugin.registry import TRANSFORMS
from mae_plugin.utils import check_bool, check_choice, check_int

# The file extensions of the formats decode_image reads (Pillow's decoders
# that need no outside program), lower case.
IMAGE_EXTENSIONS = ('.bmp', '.gif', '.jp2', '.jpe', '.jpeg', '.jpg', '.pbm',
                    '.pgm', '.png', '.pnm', '.ppm', '.tga', '.tif', '.tiff',
                    '.webp')
# Pillow's names of the formats OpenCV decodes as JPEG: MPO is the
# multi-picture JPEG of many cameras (the first picture a plain JPEG, the
# others after its end marker), whose first picture both decoders read.
JPEG_FORMATS = ('JPEG', 'MPO')
# libjpeg's warnings about damaged entropy-coded data, which it writes to
# stderr and decodes past (grey or smeared blocks). Junk bytes right before
# the end marker (0xd9) follow a complete image and are let through.
CORRUPT_JPEG = re.compile(
    rb'(Corrupt JPEG data: (?!\d+ extraneous bytes before marker 0xd9)'
    rb'[^\n]*|Premature end of JPEG file)')
_STDERR_LOCK = threading.Lock()
# EXIF orientation -> the transposition that shows the stored pixels
# upright (1 and unknown values: none).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def printable(text: str) -> str:
    """``text`` with the undecodable bytes of a file name (surrogate
    escapes, as ``os.fsdecode`` gives them) written as ``\\xNN``, so
    that any log handler can write it."""
    try:
        raw = text.encode('utf-8', 'surrogateescape')
    except UnicodeEncodeError:  # a lone surrogate that is no escape
        return text.encode('utf-8', 'backslashreplace').decode('utf-8')
    return raw.decode('utf-8', 'backslashreplace')


class UnreadableImageError(ValueError):
    """An image file that is empty, truncated, corrupt or not an image.
    The message is made :func:`printable`."""

    def __init__(self, message: str) -> None:
        super().__init__(printable(message))


def imdecode_checked(data: bytes, flags: int,
                     filename: str) -> Optional[np.ndarray]:
    """``cv2.imdecode(data, flags)``, raising on corrupt JPEG data.

    libjpeg only warns (on stderr) when the entropy-coded data of a JPEG
    is damaged (a cut in the middle of the file, flipped bytes) and
    returns a picture with grey or smeared blocks. Here its stderr is
    captured during the call (``fd`` 2, under a lock: decodes in threads
    of one process wait for each other) and written back to it.

    Raises:
        UnreadableImageError: libjpeg reported corrupt data (the message
            names ``filename`` and quotes libjpeg).
    """
    with _STDERR_LOCK, tempfile.TemporaryFile() as capture:
        if sys.stderr is not None:
            sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        messages = capture.read()
    if messages:  # passed on, whatever they say
        os.write(2, messages)
    corrupt = CORRUPT_JPEG.search(messages)
    if corrupt:
        raise UnreadableImageError(
            f'{filename}: corrupt JPEG data (libjpeg: '
            f'{corrupt.group(0).decode(errors="replace")})')
    return img


def exif_orientation(image: Image.Image) -> int:
    """The orientation tag of ``image``'s EXIF data, 1-8 (1 without one):
    from the EXIF block (``info['exif']``: a JPEG's APP1 segment, a PNG's
    or WebP's EXIF chunk), else a PNG's EXIF text (``'Raw profile type
    exif'``), else a TIFF's own tags; never from XMP. Pillow's
    ``getexif`` falls back to XMP's ``tiff:Orientation``, which OpenCV's
    JPEG decoder ignores; all the loaders read the orientation here, so
    that they agree with OpenCV and with each other.

    EXIF data that cannot be parsed, and a tag outside 1-8, give 1, as
    OpenCV's decoder leaves such an image unturned: the pixels of a photo
    with a damaged EXIF block are fine (torchvision's and PIL's loaders
    never read it).
    """
    raw = image.info.get('exif')
    try:
        if raw is None and 'Raw profile type exif' in image.info:
            # '\nexif\n    size\nhex digits, on lines'
            text = image.info['Raw profile type exif'].split('\n')[3:]
            raw = bytes.fromhex(''.join(text))
        if raw is None:  # a TIFF's tags, or none
            tags = getattr(image, 'tag_v2', None) or {}
        else:
            tags = Image.Exif()
            tags.load(raw)
        orientation = tags.get(ExifTags.Base.Orientation, 1)
    except (SyntaxError, ValueError, OSError, struct.error):
        return 1
    return orientation if orientation in UPRIGHT else 1


def _integer_to_8_bits(image: Image.Image, bits: int, signed: bool,
                       filename: str) -> Image.Image:
    """Scale a ``bits``-bit integer image (mode ``I*``) to 8 bits:
    ``round(v * 255 / (2**bits - 1))`` (``2**(bits - 1) - 1`` when signed),
    so that the largest value maps to 255; never clip. An image with a
    transparent value (``info['transparency']``, as a PNG's ``tRNS``
    chunk gives) becomes grey with alpha (mode ``LA``), transparent where
    the ``bits``-bit value is that one (compared before the scaling,
    which may give other values its 8-bit level).

    Raises:
        UnreadableImageError: A value is negative or above the largest
            ``bits``-bit one.
    """
    values = np.asarray(image)
    if not signed and bits == 32 and values.dtype == np.int32:
        values = values.view(np.uint32)  # Pillow keeps 32 bits as int32
    top = 2**(bits - signed) - 1
    if values.size and (values.min() < 0 or values.max() > top):
        raise UnreadableImageError(
            f'{filename}: values {values.min()}..{values.max()} outside the '
            f'range 0..{top} of its {bits}-bit samples')
    grey = (values.astype(np.float64) * (255 / top)).round().astype(np.uint8)
    if 'transparency' not in image.info:
        return Image.fromarray(grey)
    opaque = values != image.info['transparency']
    return Image.fromarray(np.dstack([grey, opaque * np.uint8(255)]), 'LA')


def _sample_format(image: Image.Image) -> Tuple[int, bool]:
    """Bits per sample and signedness of an integer image: from a TIFF's
    ``BitsPerSample`` and ``SampleFormat`` tags, else 16-bit unsigned
    (Pillow's ``I`` and ``I;16`` images of PNG, PNM, ...)."""
    tags = getattr(image, 'tag_v2', None) or {}
    bits, sample_format = tags.get(258, 16), tags.get(339, 1)
    bits = max(bits) if isinstance(bits, tuple) else bits
    if isinstance(sample_format, tuple):
        sample_format = sample_format[0]
    return int(bits), sample_format == 2


def decode_image(data: bytes,
                 filename: str,
                 color_type: str = 'color',
                 background: int = 255) -> np.ndarray:
    """Decode image bytes to ``uint8`` BGR ``[H, W, 3]`` or grey ``[H, W]``.

    * integer images wider than 8 bits are scaled to 8 bits by their
      sample width (16-bit: ``round(v / 257)``, so 65535 maps to 255;
      32-bit TIFFs by ``2**32 - 1``, or ``2**31 - 1`` when signed), not
      clipped;
    * a JPEG (or MPO, see ``JPEG_FORMATS``) whose data libjpeg reports as
      corrupt is refused (see :func:`imdecode_checked`);
    * grey-level and palette images are expanded to three channels;
    * images with transparency (an alpha channel, or a transparent
      value, 16-bit ones too) are composited onto a uniform
      ``background`` (the RGB values under transparent pixels are
      undefined and would otherwise leak into the training data);
    * the EXIF orientation is applied, as OpenCV's decoder does (XMP's is
      not: see :func:`exif_orientation`).

    Args:
        data (bytes): Encoded image.
        filename (str): Named in errors.
        color_type (str): ``'color'`` or ``'grayscale'``. Defaults to
            ``'color'``.
        background (int): Grey level behind transparent pixels. Defaults
            to 255 (white).

    Raises:
        UnreadableImageError: ``data`` is empty, truncated, corrupt or no
            image.
    """
    if not data:
        raise UnreadableImageError(f'{filename}: empty file (0 bytes)')
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # decodes fully: truncation raises here
            sample_format = _sample_format(image)
            is_jpeg = image.format in JPEG_FORMATS
            upright = UPRIGHT.get(exif_orientation(image))
            image = image.copy() if upright is None else image.transpose(
                upright)
    except (OSError, SyntaxError, ValueError,
            Image.DecompressionBombError) as error:
        raise UnreadableImageError(
            f'{filename}: not a readable image ({error})') from None
    if is_jpeg:  # Pillow ignores libjpeg's warnings; OpenCV's are read
        imdecode_checked(
            data, cv2.IMREAD_REDUCED_GRAYSCALE_8
            | cv2.IMREAD_IGNORE_ORIENTATION, filename)
    if image.mode == 'F':
        raise UnreadableImageError(
            f'{filename}: floating-point images (mode F) are not supported')
    if image.mode.startswith('I'):  # 16- or 32-bit grey levels
        image = _integer_to_8_bits(image, *sample_format, filename)
    if image.mode in ('RGBA', 'LA', 'PA') or 'transparency' in image.info:
        image = image.convert('RGBA')
        canvas = Image.new('RGBA', image.size, (background, ) * 3 + (255, ))
        image = Image.alpha_composite(canvas, image)
    if color_type == 'grayscale':
        return np.asarray(image.convert('L'))
    rgb = np.asarray(image.convert('RGB'))
    return np.ascontiguousarray(rgb[..., ::-1])  # RGB -> BGR, as OpenCV


def _skip_counter() -> Synchronized:
    """A new shared count of skipped loads, made in the spawn context: its
    lock can be passed to worker processes started by any method (one
    made in the fork context cannot go to a spawned process)."""
    return multiprocessing.get_context('spawn').Value('q', 0)


class BaseImageLoader(BaseTransform):
    """Read ``results['img_path']``, hand its bytes to :meth:`load`, and
    name or skip a file that cannot be read.

    With ``on_error='raise'`` the error names the file, with a note that
    ``on_error='skip'`` would skip it. With ``on_error='skip'`` an
    unreadable (or missing) file returns ``None``, which makes mmengine's
    ``BaseDataset`` draw another sample; each file is warned about once
    per process, and
    :class:`~mae_plugin.engine.UnreadableImagesHook` logs the number of
    skipped loads at the end of every training, validation and test epoch.
    Test-mode datasets refuse ``None``; the others (the demo's validation
    set) replace the sample with another, which the hook's message says.

    The count is shared with the dataloader workers, whether forked or
    spawned, and with deep copies of the loader (``copy.deepcopy``,
    ``BaseDataset.get_subset``), whose skips it counts too. A loader
    pickled other than to start a process is unpickled with a count of
    its own, from zero.

    Args:
        color_type (str): ``'color'`` (BGR ``[H, W, 3]``) or
            ``'grayscale'`` (``[H, W]``). Defaults to ``'color'``.
        on_error (str): ``'raise'`` or ``'skip'``. Defaults to ``'raise'``.
        background (int): Grey level behind transparent pixels, 0-255.
            Defaults to 255.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.
    """

    def __init__(self,
                 color_type: str = 'color',
                 on_error: str = 'raise',
                 background: int = 255,
                 backend_args: Optional[dict] = None) -> None:
        self.color_type = check_choice('color_type', color_type,
                                       ('color', 'grayscale'))
        self.on_error = check_choice('on_error', on_error, ('raise', 'skip'))
        self.background = check_int('background', background, 0, 255)
        self.backend_args = backend_args
        # Shared with forked/spawned dataloader workers and deep copies.
        self.num_skipped = _skip_counter() if on_error == 'skip' else None
        self._warned = set()

    def __deepcopy__(self, memo: dict) -> 'BaseImageLoader':
        """A deep copy that shares :attr:`num_skipped` with this loader."""
        memo[id(self.num_skipped)] = self.num_skipped
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        clone.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return clone

    def __getstate__(self) -> dict:
        """The attributes to pickle: :attr:`num_skipped` travels to a
        process being started (which shares it); other pickles leave it
        out, as it can only be shared by starting a process."""
        state = self.__dict__.copy()
        if get_spawning_popen() is None:
            state['num_skipped'] = None
        return state

    def __setstate__(self, state: dict) -> None:
        """Restore the pickled attributes; a count left out is new."""
        self.__dict__.update(state)
        if self.on_error == 'skip' and self.num_skipped is None:
            self.num_skipped = _skip_counter()

    def load(self, data: bytes, filename: str, results: dict) -> dict:
        """Decode ``data``, the bytes of ``filename``, into ``results``;
        raise :class:`UnreadableImageError` when it cannot."""
        raise NotImplementedError

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            return self.load(
                fileio.get(filename, backend_args=self.backend_args), filename,
                results)
        except (UnreadableImageError, OSError) as error:
            if self.on_error == 'raise':
                error.add_note(
                    f"{type(self).__name__}(on_error='skip') would skip such "
                    'files instead (and count them), set in the pipeline of '
                    'each dataset that reads them: the training, '
                    "validation and test loaders' and a hook's have their "
                    'own')
                raise
            self._skip(filename, error)
            return None

    def _skip(self, filename: str, error: Exception) -> None:
        with self.num_skipped.get_lock():
            self.num_skipped.value += 1
        if filename not in self._warned:
            self._warned.add(filename)
            print_log(
                printable(f'skipping unreadable image {filename} ({error})'),
                logger='current',
                level=logging.WARNING)

    def pop_num_skipped(self) -> int:
        """Loads skipped since the last call (all processes together)."""
        if self.num_skipped is None:
            return 0
        with self.num_skipped.get_lock():
            count, self.num_skipped.value = self.num_skipped.value, 0
        return count


@TRANSFORMS.register_module()
class RobustLoadImageFromFile(BaseImageLoader):
    """Load an image; convert what can be converted, name what cannot.

    A drop-in for mmcv's ``LoadImageFromFile`` (same keys: ``img``,
    ``img_shape``, ``ori_shape`` from ``img_path``; BGR channel order),
    decoded with :func:`decode_image`. Unlike OpenCV, which returns a
    half-grey picture for a truncated JPEG and ``None`` for a non-image,
    every unreadable file raises an error naming it, or is skipped with
    ``on_error='skip'`` (see :class:`BaseImageLoader`). Results that
    already hold a decoded BGR ``img`` and no ``img_path`` (mmpretrain's
    inferencers load their inputs themselves) are passed on in this
    loader's colour type and dtype.

    Args:
        color_type: As for :class:`BaseImageLoader`.
        to_float32 (bool): Return ``float32`` instead of ``uint8``.
            Defaults to False.
        on_error, background, backend_args: As for
            :class:`BaseImageLoader`.

    Raises:
        TypeError: ``to_float32`` is not a bool (the string ``'False'``
            would convert).
    """

    def __init__(self,
                 color_type: str = 'color',
                 to_float32: bool = False,
                 on_error: str = 'raise',
                 background: int = 255,
                 backend_args: Optional[dict] = None) -> None:
        super().__init__(color_type, on_error, background, backend_args)
        self.to_float32 = check_bool('to_float32', to_float32)

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['img_path']``; an image already decoded, with
        no path (mmpretrain's inferencers, ``FeatureExtractor`` and
        ``ImageClassificationInferencer``, read their inputs themselves
        and drop mmcv's ``LoadImageFromFile`` from the test pipeline, not
        this one), is passed on as this loader would give it."""
        if 'img_path' in results or 'img' not in results:
            return super().transform(results)
        img = results['img']
        if not isinstance(img, np.ndarray):
            raise TypeError(f'{type(self).__name__}: results[\'img\'] must '
                            f'be a NumPy image, got {type(img).__name__}')
        if self.color_type == 'grayscale' and img.ndim == 3:
            # BGR -> grey levels as decode_image converts a file (PIL's L)
            img = np.asarray(Image.fromarray(img[..., ::-1]).convert('L'))
        return self.load_array(img, results)

    def load_array(self, img: np.ndarray, results: dict) -> dict:
        """Put a decoded image into ``results`` (``to_float32`` applied)."""
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def load(self, data: bytes, filename: str, results: dict) -> dict:
        return self.load_array(
            decode_image(data, filename, self.color_type, self.background),
            results)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(color_type={self.color_type!r}, '
                f'to_float32={self.to_float32}, on_error={self.on_error!r}, '
                f'background={self.background})')
