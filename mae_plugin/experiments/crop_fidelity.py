"""How far :class:`DecodeRandomResizedCrop`'s crops, and those of the
device-crop data path (:class:`DeferredRandomResizedCrop` and
:class:`~mae_plugin.models.DeviceCropDataPreprocessor`, run on the CPU), lie
from those of torchvision's ``RandomResizedCrop`` on PIL images (the
official MAE code's pretraining crops), box for box, and what each
resampling costs per image.

For every crop the same box is drawn twice from the same NumPy seed: once
by the transform (from the JPEG header) and once by
:func:`random_resized_crop_params` for the reference, which PIL decodes
and torchvision's ``resized_crop`` resamples (PIL's antialiased filters).
"""
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

from mae_plugin.datasets.transforms import (DecodeRandomResizedCrop,
                                            DeferredRandomResizedCrop,
                                            PackDeferredCrop,
                                            deferred_crop_collate,
                                            random_resized_crop_params)
from mae_plugin.evaluation import psnr
from mae_plugin.models import DeviceCropDataPreprocessor
from mae_plugin.utils import check_positive_int
from .pipeline_benchmark import one_thread
from .report import markdown_table

#: Settings compared: the transform's arguments besides the crop's.
CROP_SETTINGS = {
    'opencv': dict(),
    'opencv, full decode': dict(max_decode_factor=1),
    'antialias': dict(antialias=True),
    'antialias, full decode': dict(antialias=True, max_decode_factor=1),
    'antialias, torch': dict(antialias=True, antialias_backend='torch'),
    'antialias, torch, full decode': dict(
        antialias=True, antialias_backend='torch', max_decode_factor=1),
}
REFERENCE = 'torchvision on PIL'
#: The device-crop data path, its preprocessor on the CPU (libjpeg-turbo
#: decoding; nvJPEG's on a GPU may differ).
DEVICE_CROP = 'device crop, on the CPU'


def _no_sums() -> List[float]:
    return [0., 0., 0, 0, 0]


@dataclass
class CropFidelity:
    """Differences of one setting's crops from the reference crops, summed
    over all crops and by decode factor.

    Attributes:
        sums (list): ``[absolute, squared differences, values, crops,
            values equal to the reference's]``, pixel differences in 0-255
            levels.
        by_factor (dict): Decode factor -> the same sums.
        largest (float): The largest absolute difference of any value.
    """
    sums: List[float] = field(default_factory=_no_sums)
    by_factor: Dict[int, List[float]] = field(default_factory=dict)
    largest: float = 0.

    def add(self, crop: np.ndarray, reference: np.ndarray,
            factor: int) -> None:
        """Count one crop decoded at ``1 / factor`` of the size."""
        diff = np.abs(crop.astype(np.float64) - reference)
        values = (diff.sum(), np.square(diff).sum(), diff.size, 1,
                  diff.size - np.count_nonzero(diff))
        self.largest = max(self.largest, float(diff.max()))
        for sums in (self.sums, self.by_factor.setdefault(factor, _no_sums())):
            for i, value in enumerate(values):
                sums[i] += value


def mad_psnr(sums: Sequence[float]) -> Tuple[float, float]:
    """Mean absolute difference and PSNR (:func:`~mae_plugin.evaluation.psnr`,
    dB, peak 255: inf for crops equal to the reference's) of the sums of
    :class:`CropFidelity`."""
    abs_error, sq_error, values = sums[:3]
    return abs_error / values, psnr(sq_error / values)


def reference_crop(image: Image.Image, box: Sequence[int],
                   scale: int) -> np.ndarray:
    """torchvision's bicubic ``resized_crop`` of ``box`` (``offset_h,
    offset_w, crop_h, crop_w``) from a PIL image: RGB ``uint8 [s, s, 3]``.
    """
    return np.asarray(
        F.resized_crop(image, *box, [scale, scale], InterpolationMode.BICUBIC))


def load_rgb(path: str) -> Image.Image:
    """A file decoded by PIL, in RGB."""
    with Image.open(path) as opened:
        return opened.convert('RGB')


def device_crop(
        scale: int,
        crop_ratio_range: Tuple[float, float]) -> Callable[[str], np.ndarray]:
    """The device-crop data path on one file, without flips, on the CPU:
    a function of the path that returns the RGB ``uint8 [s, s, 3]`` crop.
    """
    draw = DeferredRandomResizedCrop(crop_ratio_range, flip_prob=0.)
    pack = PackDeferredCrop()
    preprocessor = DeviceCropDataPreprocessor(scale, to_rgb=True)

    def crop(path: str) -> np.ndarray:
        batch = deferred_crop_collate([pack(draw(dict(img_path=path)))])
        crops = preprocessor(batch)['inputs']  # [1, 3, s, s] in 0-255
        return crops[0].permute(1, 2, 0).to(torch.uint8).numpy()

    return crop


def measure_crop_fidelity(paths: Sequence[str],
                          scale: int = 224,
                          crops_per_image: int = 4,
                          crop_ratio_range: Tuple[float, float] = (0.2, 1.0),
                          seed: int = 0) -> Dict[str, CropFidelity]:
    """Compare every setting of :data:`CROP_SETTINGS` and the device-crop
    path (:data:`DEVICE_CROP`, a full decode) with the reference on
    ``crops_per_image`` bicubic crops of each JPEG (seeds ``seed``,
    ``seed + 1``, ... crop after crop).

    Returns:
        dict: setting name -> :class:`CropFidelity`.
    """
    check_positive_int('crops_per_image', crops_per_image)
    results = {name: CropFidelity() for name in CROP_SETTINGS}
    results[DEVICE_CROP] = CropFidelity()
    device = device_crop(scale, crop_ratio_range)
    for i, path in enumerate(paths):
        image = load_rgb(path)
        for j in range(crops_per_image):
            crop_seed = seed + i * crops_per_image + j
            np.random.seed(crop_seed)
            box = random_resized_crop_params(image.height, image.width,
                                             crop_ratio_range)
            reference = reference_crop(image, box, scale)
            for name, settings in CROP_SETTINGS.items():
                transform = DecodeRandomResizedCrop(scale, crop_ratio_range,
                                                    **settings)
                np.random.seed(crop_seed)  # the same box
                crop = transform(dict(img_path=path))['img'][..., ::-1]
                (factor, ) = transform.decode_factors
                results[name].add(crop, reference, factor)
            np.random.seed(crop_seed)
            results[DEVICE_CROP].add(device(path), reference, 1)
    return results


def time_crops(paths: Sequence[str],
               scale: int = 224,
               crop_ratio_range: Tuple[float, float] = (0.2, 1.0),
               rounds: int = 3) -> Dict[str, float]:
    """Milliseconds per image to decode a file and crop it, for each
    setting, the device-crop path on the CPU and the reference, on one
    thread: the best of ``rounds`` passes over ``paths``, the settings
    taking turns within a round.

    Returns:
        dict: setting name (and :data:`DEVICE_CROP`, :data:`REFERENCE`) ->
        ms per image.
    """
    check_positive_int('rounds', rounds)
    runs = {
        name: DecodeRandomResizedCrop(scale, crop_ratio_range, **settings)
        for name, settings in CROP_SETTINGS.items()
    }
    runs = {
        name: (lambda path, t=transform: t(dict(img_path=path)))
        for name, transform in runs.items()
    }

    def torchvision_on_pil(path: str) -> np.ndarray:
        image = load_rgb(path)
        box = random_resized_crop_params(image.height, image.width,
                                         crop_ratio_range)
        return reference_crop(image, box, scale)

    runs[DEVICE_CROP] = device_crop(scale, crop_ratio_range)
    runs[REFERENCE] = torchvision_on_pil
    best = {name: float('inf') for name in runs}
    with one_thread():
        for _ in range(rounds):
            for name, run in runs.items():
                np.random.seed(0)
                start = time.perf_counter()
                for path in paths:
                    run(path)
                seconds = (time.perf_counter() - start) / len(paths)
                best[name] = min(best[name], 1e3 * seconds)
    return best


def format_crop_report(fidelity: Dict[str, CropFidelity],
                       ms_per_image: Dict[str, float]) -> str:
    """Markdown tables: difference from the reference and cost per setting,
    then the difference by decode factor."""
    costs = [(name, *_mad_psnr_cells(result.sums),
              f'{100 * result.sums[4] / result.sums[2]:.1f}%',
              f'{result.largest:.0f}', f'{ms_per_image[name]:.2f}')
             for name, result in fidelity.items()]
    costs.append(
        (REFERENCE, 0, 'inf', '100%', 0, f'{ms_per_image[REFERENCE]:.2f}'))
    by_factor = [(name, f'1/{factor}', sums[3], *_mad_psnr_cells(sums))
                 for name, result in fidelity.items()
                 for factor, sums in sorted(result.by_factor.items())]
    lines = markdown_table([
        'setting', 'MAD (0-255)', 'PSNR (dB)', 'values equal', 'largest',
        'ms / image'
    ], costs)
    lines.append('')
    lines += markdown_table(
        ['setting', 'decode factor', 'crops', 'MAD (0-255)', 'PSNR (dB)'],
        by_factor)
    return '\n'.join(lines)


def _mad_psnr_cells(sums: Sequence[float]) -> Tuple[str, str]:
    """:func:`mad_psnr` as two table cells."""
    return tuple(f'{x:.2f}' for x in mad_psnr(sums))
