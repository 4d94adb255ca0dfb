"""A data preprocessor that decodes a batch of JPEG files on the model's
device and makes their random-resized crops there."""
import functools
from typing import List, Sequence, Union

import torch
import torch.nn.functional as F
from mmpretrain.models.utils import SelfSupDataPreprocessor
from torchvision.io import ImageReadMode, decode_jpeg

from mae_plugin.registry import MODELS
from mae_plugin.utils import check_choice, check_pair

#: Interpolations of torch's antialiased ``interpolate``.
INTERPOLATIONS = ('bilinear', 'bicubic')


def decode_jpegs(files: Sequence[torch.Tensor], paths: Sequence[str],
                 device: torch.device) -> List[torch.Tensor]:
    """Decode JPEG files to ``uint8`` RGB ``[3, H, W]`` on ``device``:
    with nvJPEG, all at once, on a CUDA device; with libjpeg-turbo on the
    CPU.

    On a CUDA device the images are ready for the current stream, and
    the decoder is given memory that no kernel queued on it still reads
    (:func:`decoding_stream` says why).

    Args:
        files (Sequence[Tensor]): Each file's bytes, ``uint8 [num_bytes]``
            on the CPU.
        paths (Sequence[str]): The files' names, for errors.
        device (torch.device): Where to decode.

    Raises:
        RuntimeError: A file the decoder refuses, named (the batch is
            decoded again one by one to find it).
    """
    if not files:
        return []
    if device.type != 'cuda':
        return _decode_jpegs(files, paths, device)
    current = torch.cuda.current_stream(device)
    decoding = decoding_stream(device)
    with torch.cuda.stream(decoding):
        images = _decode_jpegs(files, paths, device)
    current.wait_stream(decoding)
    for img in images:
        # freed after the current stream's last use, not before
        img.record_stream(current)
    return images


@functools.lru_cache(maxsize=None)
def _decoding_stream(device: torch.device) -> torch.cuda.Stream:
    return torch.cuda.Stream(device)


def decoding_stream(device: torch.device) -> torch.cuda.Stream:
    """The CUDA stream :func:`decode_jpegs` decodes with on ``device``:
    one of its own, on which nothing is ever queued.

    torchvision's nvJPEG decoder takes its output memory from the caching
    allocator of the current stream but writes it from a stream of its
    own that does not wait for the current one (pytorch/vision#9606). With
    the training stream current, it can be handed memory the previous step
    freed while kernels that read it were still queued, and overwrite it
    under them, silently (reported on H100s, for nvJPEG's hardware and
    software paths). With this stream current instead, the decoder only
    gets memory freed on it, which the images' ``record_stream`` keeps
    from reuse until the training stream is done with them.
    """
    if device.index is None:
        device = torch.device('cuda', torch.cuda.current_device())
    return _decoding_stream(device)


def _decode_jpegs(files: Sequence[torch.Tensor], paths: Sequence[str],
                  device: torch.device) -> List[torch.Tensor]:
    """:func:`decode_jpegs` with the current stream (on a CUDA device)."""
    try:
        return decode_jpeg(list(files), mode=ImageReadMode.RGB, device=device)
    except RuntimeError as batch_error:
        for data, path in zip(files, paths):
            try:
                decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
            except RuntimeError as error:
                raise RuntimeError(f'{path}: the JPEG decoder on {device} '
                                   f'cannot decode it ({error})') from None
        raise batch_error


@MODELS.register_module()
class DeviceCropDataPreprocessor(SelfSupDataPreprocessor):
    """mmpretrain's ``SelfSupDataPreprocessor`` that also makes the crops
    of batches collated by
    :func:`~mae_plugin.datasets.transforms.deferred_crop_collate`: it
    decodes their JPEG files on the model's device (:func:`decode_jpegs`:
    nvJPEG on a GPU), cuts out each ``crop_box``, resamples it to ``scale``
    with torch's antialiased ``interpolate`` (PIL's filters, as the
    official MAE code's torchvision crops; in ``float32``, rounded to whole
    levels as ``uint8`` crops are), flips it where drawn and normalises.

    The crops of JPEG files come out RGB; they are given the channel order
    that batches of images (``uint8`` BGR from OpenCV, as the validation
    and test pipelines pack them) get from the parent class: RGB with
    ``to_rgb``/``bgr_to_rgb``/``rgb_to_bgr``, else BGR. Batches of images
    are preprocessed by the parent class unchanged.

    Args:
        scale (int | Sequence[int]): Crop output ``(h, w)``, or one side of
            a square. Defaults to 224.
        interpolation (str): ``'bilinear'`` or ``'bicubic'``. Defaults to
            ``'bicubic'``.
        **kwargs: Arguments of ``SelfSupDataPreprocessor`` (``mean``,
            ``std``, ``to_rgb``, ``non_blocking`` ...).
    """

    def __init__(self,
                 scale: Union[int, Sequence[int]] = 224,
                 interpolation: str = 'bicubic',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale = check_pair('scale', scale)
        self.interpolation = check_choice('interpolation', interpolation,
                                          INTERPOLATIONS)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Crops of a deferred-crop batch, normalised, or the parent
        class's preprocessing of a batch of images."""
        inputs = data['inputs']
        if not isinstance(inputs, dict):
            return super().forward(data, training)
        crops = self.make_crops(inputs)  # [N, 3, h, w] RGB, 0-255
        if not self._channel_conversion:
            crops = crops.flip(1)  # the BGR of the images' batches
        if self._enable_normalize:
            crops = (crops - self.mean) / self.std
        return {'inputs': crops, 'data_samples': data.get('data_samples')}

    def images(self, inputs: dict) -> List[torch.Tensor]:
        """The batch's images, ``uint8`` RGB ``[3, H, W]`` on the device in
        batch order: the JPEG files decoded, the workers' crops copied."""
        files = inputs['jpeg_bytes'].split(inputs['jpeg_sizes'].tolist())
        from_jpeg = inputs['from_jpeg'].tolist()
        paths = [p for p, jpeg in zip(inputs['paths'], from_jpeg) if jpeg]
        decoded = iter(decode_jpegs(files, paths, self.device))
        shapes = inputs['pixel_shapes'].tolist()
        crops = inputs['pixels'].split([h * w * 3 for h, w in shapes])
        copied = iter(
            crop.reshape(h, w, 3).permute(2, 0, 1).to(
                self.device, non_blocking=self._non_blocking)
            for crop, (h, w) in zip(crops, shapes))
        return [next(decoded if jpeg else copied) for jpeg in from_jpeg]

    def make_crops(self, inputs: dict) -> torch.Tensor:
        """``float32 [N, 3, h, w]`` crops in whole levels 0-255, RGB.

        Raises:
            ValueError: A crop box that leaves its image (a decoded size
                other than the header's), naming the file.
        """
        crops = []
        for img, box, path in zip(
                self.images(inputs), inputs['boxes'].tolist(),
                inputs['paths']):
            top, left, height, width = box
            window = img[:, top:top + height, left:left + width]
            if window.shape[1:] != (height, width):
                raise ValueError(
                    f'{path}: crop box (top, left, height, width) {box} '
                    f'leaves the decoded {tuple(img.shape[1:])} image')
            crops.append(
                F.interpolate(
                    window[None].float(),
                    self.scale,
                    mode=self.interpolation,
                    antialias=True,
                    align_corners=False))
        crops = torch.cat(crops).clamp_(0, 255).round_()  # [N, 3, h, w]
        flips = inputs['flips'].to(
            self.device, non_blocking=self._non_blocking)[:, None, None, None]
        return torch.where(flips, crops.flip(-1), crops)

    def extra_repr(self) -> str:
        return f'scale={self.scale}, interpolation={self.interpolation!r}'
