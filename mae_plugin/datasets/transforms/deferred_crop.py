"""Random-resized crops made on the model's device.

The dataloader workers of the CPU pipeline spend half their time decoding
JPEGs (``docs/benchmarks.md``, "The data loader alone"). Here a worker only
reads the file, parses its header and draws the crop and the flip
(:class:`DeferredRandomResizedCrop`); :func:`deferred_crop_collate` packs
a batch's files into one buffer, and the model's data preprocessor
(:class:`~mae_plugin.models.DeviceCropDataPreprocessor`) decodes them all
at once on the model's device (nvJPEG on a GPU), cuts the crops out and
resamples them.

A collated batch is ``dict(inputs=..., data_samples=[DataSample])`` whose
``inputs`` holds, for ``N`` images of which ``K`` are JPEG files:

* ``jpeg_bytes``: ``uint8 [sum of the K files' sizes]``, the files one
  after the other; ``jpeg_sizes``: ``int64 [K]``;
* ``pixels``: ``uint8`` RGB crops that a worker decoded itself (files the
  device decoder is not given: other formats, CMYK and EXIF-rotated
  JPEGs), flattened one after the other; ``pixel_shapes``:
  ``int64 [N - K, 2]``, each crop's ``(h, w)``;
* ``from_jpeg``: ``bool [N]``, which images are JPEG files, in batch order
  (the others take the next crop of ``pixels``);
* ``boxes``: ``int64 [N, 4]``, ``(top, left, height, width)`` of each crop
  in its decoded image (the whole crop for ``pixels``);
* ``flips``: ``bool [N]``, which crops to flip horizontally;
* ``paths``: ``list[str]``, the files, named in errors.
"""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmpretrain.structures import DataSample

from mae_plugin.registry import FUNCTIONS, TRANSFORMS
from mae_plugin.utils import check_number
from .fused_crop import RandomResizedCropDraw, read_jpeg_header
from .loading import BaseImageLoader, decode_image


@TRANSFORMS.register_module()
class DeferredRandomResizedCrop(BaseImageLoader, RandomResizedCropDraw):
    """Read an image file and draw its random-resized crop and horizontal
    flip, leaving the decoding and resampling to the data preprocessor
    (:class:`~mae_plugin.models.DeviceCropDataPreprocessor`).

    The draws are those of :class:`DecodeRandomResizedCrop` followed by
    mmcv's ``RandomFlip(prob=flip_prob)``, from NumPy's global generator
    in the same order (:func:`random_resized_crop_params`, then the flip's
    ``np.random.choice``), so a seed gives the same crop and flip.

    A complete 8-bit grey or colour JPEG stored upright (EXIF orientation
    1, or none) is kept as its file's bytes: ``results['jpeg']``
    (``uint8 [num_bytes]``), with the crop drawn from the size in its
    header. The worker does not decode it: a JPEG the device decoder
    refuses stops training with its file named, and one whose corrupt data
    still decodes goes unnoticed (:class:`DecodeRandomResizedCrop` refuses
    it, reading libjpeg's warnings). Any other file (PNG, CMYK,
    EXIF-rotated, ...) is decoded here by :func:`decode_image` and its
    crop cut out: ``results['pixels']`` (``uint8`` RGB ``[crop_h, crop_w,
    3]``); a file it cannot read (empty, truncated, no image) is named, or
    skipped with ``on_error='skip'``, as by the CPU pipeline.

    Sets ``crop_box`` (``(top, left, height, width)`` in the image the
    preprocessor decodes; the whole of ``pixels``), ``flip`` (bool) and
    ``ori_shape`` (the image's ``(H, W)``).

    Args:
        crop_ratio_range (Sequence[float]): Crop area over image area,
            ``(min, max)`` with ``0 < min <= max <= 1``. Defaults to
            (0.08, 1.0).
        aspect_ratio_range (Sequence[float]): Crop width over height,
            sampled log-uniformly. Defaults to (3/4, 4/3).
        max_attempts (int): Draws before falling back to the central crop.
            Defaults to 10.
        flip_prob (float): Probability of a horizontal flip, in [0, 1].
            Defaults to 0.5.
        on_error, background, backend_args: As for
            :class:`BaseImageLoader`.
    """

    def __init__(self,
                 crop_ratio_range: Tuple[float, float] = (0.08, 1.0),
                 aspect_ratio_range: Tuple[float, float] = (3. / 4., 4. / 3.),
                 max_attempts: int = 10,
                 flip_prob: float = 0.5,
                 on_error: str = 'raise',
                 background: int = 255,
                 backend_args: Optional[dict] = None) -> None:
        BaseImageLoader.__init__(self, 'color', on_error, background,
                                 backend_args)
        RandomResizedCropDraw.__init__(self, crop_ratio_range,
                                       aspect_ratio_range, max_attempts)
        self.flip_prob = check_number('flip_prob', flip_prob, 0, 1)

    def draw_flip(self) -> bool:
        """Whether to flip, drawn as mmcv's ``RandomFlip`` draws its
        direction."""
        return np.random.choice(['horizontal', None],
                                p=[self.flip_prob,
                                   1 - self.flip_prob]) is not None

    def load(self, data: bytes, filename: str, results: dict) -> dict:
        header = read_jpeg_header(data)
        if header is not None and header[2] == 1:
            width, height, _ = header
            box = self.crop_params(height, width)
            # writable (a tensor of it may be written to)
            results['jpeg'] = np.frombuffer(bytearray(data), np.uint8)
        else:
            img = decode_image(data, filename, 'color', self.background)
            height, width = img.shape[:2]
            top, left, crop_h, crop_w = self.crop_params(height, width)
            # [crop_h, crop_w, 3], BGR -> RGB as the device decoder's
            results['pixels'] = np.ascontiguousarray(
                img[top:top + crop_h, left:left + crop_w, ::-1])
            box = (0, 0, crop_h, crop_w)
        results['crop_box'] = box
        results['flip'] = self.draw_flip()
        results['ori_shape'] = (height, width)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.crop_repr()}, '
                f'flip_prob={self.flip_prob}, on_error={self.on_error!r})')


@TRANSFORMS.register_module()
class PackDeferredCrop(BaseTransform):
    """Pack what :class:`DeferredRandomResizedCrop` set for
    :func:`deferred_crop_collate`: ``inputs`` is a dict with ``jpeg`` or
    ``pixels`` (tensors), ``crop_box``, ``flip`` and ``path``;
    ``data_samples`` a ``DataSample`` with the ``img_path``,
    ``ori_shape``, ``crop_box`` and ``flip`` meta information."""

    def transform(self, results: dict) -> dict:
        source = 'jpeg' if 'jpeg' in results else 'pixels'
        inputs = {
            source: torch.from_numpy(results[source]),
            'crop_box': results['crop_box'],
            'flip': results['flip'],
            'path': results['img_path'],
        }
        sample = DataSample(
            metainfo={
                key: results[key]
                for key in ('img_path', 'ori_shape', 'crop_box', 'flip')
            })
        return dict(inputs=inputs, data_samples=sample)


def _concatenated(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """The tensors flattened one after the other (``uint8 [0]`` for
    none)."""
    if not tensors:
        return torch.zeros(0, dtype=torch.uint8)
    return torch.cat([t.reshape(-1) for t in tensors])


@FUNCTIONS.register_module()
def deferred_crop_collate(data_batch: Sequence[dict]) -> dict:
    """Collate :class:`PackDeferredCrop` samples into one batch (layout in
    the module's docstring): a few tensors per batch, whatever its size,
    so a worker hands the main process few shared-memory buffers.

    Config: ``collate_fn=dict(type='mae_plugin.deferred_crop_collate')``
    (mmengine's runner looks collate functions up in its root registry,
    so the scope is written).
    """
    inputs = [sample['inputs'] for sample in data_batch]
    jpegs = [x['jpeg'] for x in inputs if 'jpeg' in x]
    pixels = [x['pixels'] for x in inputs if 'jpeg' not in x]
    batch = dict(
        jpeg_bytes=_concatenated(jpegs),
        jpeg_sizes=torch.tensor([len(j) for j in jpegs], dtype=torch.int64),
        pixels=_concatenated(pixels),
        pixel_shapes=torch.tensor([p.shape[:2] for p in pixels],
                                  dtype=torch.int64).reshape(-1, 2),
        from_jpeg=torch.tensor(['jpeg' in x for x in inputs]),
        boxes=torch.tensor([x['crop_box'] for x in inputs],
                           dtype=torch.int64).reshape(-1, 4),
        flips=torch.tensor([x['flip'] for x in inputs], dtype=torch.bool),
        paths=[x['path'] for x in inputs])
    return dict(
        inputs=batch,
        data_samples=[sample['data_samples'] for sample in data_batch])
