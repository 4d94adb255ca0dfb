"""Images per second of the MAE training data pipeline (load, random-resized
crop, flip, pack) against mmpretrain's ImageNet pipeline with its pillow
and cv2 backends, torchvision's, and the plugin's two-step pipeline that
the fused transform replaced (``RobustLoadImageFromFile`` then
``RandomResizedCrop``), on the same JPEGs, in one process with one
thread, alternating the pipelines over repeated rounds.

Every pipeline ends in a ``uint8`` tensor ``[3, scale, scale]`` and uses
the same crop scale range and interpolation.
"""
import os
import os.path as osp
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.dataset import Compose
from mmpretrain.registry import TRANSFORMS as MMPRETRAIN_TRANSFORMS
from torchvision import transforms
from torchvision.datasets.folder import pil_loader

from mae_plugin.datasets.demo_photos import packaged_photos
from mae_plugin.datasets.transforms.fused_crop import (
    random_resized_crop_params, reduced_decode_factor)
from mae_plugin.registry import TRANSFORMS
from .step_benchmark import PeerResult

PIPELINES = ('mmpretrain_pillow', 'mmpretrain_cv2', 'torchvision',
             'mae_plugin_two_step', 'mae_plugin')
OURS = 'mae_plugin'


@dataclass
class PipelineSpec:
    """What to benchmark.

    Attributes:
        num_images (int): JPEGs written and loaded per round.
        image_size (tuple[int, int]): ``(w, h)`` of the landscape JPEGs;
            every fourth is portrait (``(h, w)``).
        quality (int): JPEG quality.
        scale (int): Output side.
        crop_ratio_range (tuple[float, float]): Crop area over image area.
        interpolation (str): ``'bilinear'`` or ``'bicubic'``, for every
            pipeline.
    """
    num_images: int = 64
    image_size: Tuple[int, int] = (500, 375)
    quality: int = 90
    scale: int = 224
    crop_ratio_range: Tuple[float, float] = (0.2, 1.0)
    interpolation: str = 'bicubic'


def write_benchmark_images(folder: str, spec: PipelineSpec,
                           seed: int = 0) -> List[str]:
    """Cut ``spec.num_images`` JPEGs from the photos that ship inside
    scikit-image and scikit-learn: image ``i`` is the largest crop of
    photo ``i % num_photos`` with the aspect ratio of ``spec.image_size``
    at a random position, resized to that size.

    Returns:
        list[str]: the written paths.
    """
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    photos = packaged_photos()
    paths = []
    for i in range(spec.num_images):
        name, rgb = photos[i % len(photos)]
        width, height = spec.image_size
        if i % 4 == 3:
            width, height = height, width
        photo_h, photo_w = rgb.shape[:2]
        cut = min(photo_w / width, photo_h / height)
        cut_w, cut_h = int(width * cut), int(height * cut)
        top = rng.integers(0, photo_h - cut_h + 1)
        left = rng.integers(0, photo_w - cut_w + 1)
        img = cv2.resize(
            rgb[top:top + cut_h, left:left + cut_w, ::-1], (width, height),
            interpolation=cv2.INTER_AREA)  # BGR [height, width, 3]
        path = osp.join(folder, f'{i:04d}_{name}.jpg')
        if not cv2.imwrite(path, img,
                           [cv2.IMWRITE_JPEG_QUALITY, spec.quality]):
            raise OSError(f'could not write {path}')
        paths.append(path)
    return paths


def build_pipeline(name: str, spec: PipelineSpec) -> Callable[[str], object]:
    """A function from an image path to the pipeline's output."""
    if name == 'torchvision':
        pipeline = transforms.Compose([
            transforms.RandomResizedCrop(
                spec.scale,
                scale=spec.crop_ratio_range,
                interpolation=transforms.InterpolationMode[
                    spec.interpolation.upper()]),
            transforms.RandomHorizontalFlip(),
            transforms.PILToTensor(),
        ])
        return lambda path: pipeline(pil_loader(path))
    crop = dict(
        type='RandomResizedCrop',
        scale=spec.scale,
        crop_ratio_range=spec.crop_ratio_range,
        interpolation=spec.interpolation)
    if name == OURS:
        registry = TRANSFORMS
        steps = [dict(crop, type='DecodeRandomResizedCrop')]
    elif name == 'mae_plugin_two_step':
        registry = TRANSFORMS
        steps = [
            dict(type='RobustLoadImageFromFile'),
            dict(crop, backend='cv2')
        ]
    else:
        registry = MMPRETRAIN_TRANSFORMS
        backend = name.split('_')[1]  # pillow or cv2
        steps = [
            dict(type='LoadImageFromFile', imdecode_backend=backend),
            dict(crop, backend=backend)
        ]
    steps += [dict(type='RandomFlip', prob=0.5), dict(type='PackInputs')]
    pipeline = Compose([registry.build(step) for step in steps])
    return lambda path: pipeline(dict(img_path=path))['inputs']


def decode_factor_shares(image_sizes: Sequence[Tuple[int, int]],
                         spec: PipelineSpec,
                         draws: int = 1000) -> Dict[int, float]:
    """The share of crops that :class:`DecodeRandomResizedCrop` decodes at
    ``1 / f`` of the size, for images of ``image_sizes`` (``(w, h)``)."""
    counts = dict.fromkeys((1, 2, 4, 8), 0)
    for width, height in image_sizes:
        for _ in range(draws):
            _, _, crop_h, crop_w = random_resized_crop_params(
                height, width, spec.crop_ratio_range)
            counts[reduced_decode_factor((crop_w, crop_h),
                                         (spec.scale, spec.scale))] += 1
    total = sum(counts.values())
    return {factor: count / total for factor, count in counts.items()}


def run_pipeline_benchmark(paths: Sequence[str],
                           spec: PipelineSpec,
                           pipelines: Sequence[str] = PIPELINES,
                           warmup: int = 1,
                           rounds: int = 5,
                           log: Callable[[str], None] = print
                           ) -> Dict[str, PeerResult]:
    """Time one pass of each pipeline over ``paths`` per round, the
    pipelines alternating, with OpenCV and torch on one thread.

    Args:
        paths (Sequence[str]): The images.
        spec (PipelineSpec): Crop scale, range and interpolation.
        pipelines (Sequence[str]): Names from :data:`PIPELINES`.
        warmup (int): Untimed passes per pipeline first. Defaults to 1.
        rounds (int): Timed passes per pipeline. Defaults to 5.
        log (callable): Progress output. Defaults to print.

    Returns:
        dict: name -> :class:`PeerResult` (images per second per round).
    """
    unknown = set(pipelines) - set(PIPELINES)
    if unknown:
        raise ValueError(f'unknown pipelines {sorted(unknown)}; choose from '
                         f'{PIPELINES}')
    threads = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    try:
        np.random.seed(0)
        torch.manual_seed(0)
        runners = {name: build_pipeline(name, spec) for name in pipelines}
        for name, runner in runners.items():
            shape = tuple(runner(paths[0]).shape)
            if shape != (3, spec.scale, spec.scale):
                raise RuntimeError(f'{name} made {shape}, not '
                                   f'(3, {spec.scale}, {spec.scale})')
            for _ in range(warmup):
                for path in paths:
                    runner(path)
        results = {name: PeerResult(name) for name in pipelines}
        for r in range(rounds):
            for name, runner in runners.items():
                start = time.perf_counter()
                for path in paths:
                    runner(path)
                results[name].images_per_s.append(
                    len(paths) / (time.perf_counter() - start))
            log(f'round {r + 1}/{rounds}: ' + '  '.join(
                f'{n} {results[n].images_per_s[-1]:.0f} img/s'
                for n in pipelines))
    finally:
        cv2.setNumThreads(threads[0])
        torch.set_num_threads(threads[1])
    return results


def format_pipeline_report(spec: PipelineSpec, results: Dict[str, PeerResult],
                           factor_shares: Dict[int, float]) -> str:
    """A markdown table of the results, the ratios of ours to each peer and
    the sizes at which ours decoded."""
    width, height = spec.image_size
    lines = [
        f'{spec.num_images} JPEGs of {width}x{height} (every fourth '
        f'{height}x{width}), quality {spec.quality}; crop scale '
        f'{spec.crop_ratio_range} to {spec.scale}x{spec.scale}, '
        f'{spec.interpolation}; one process, one thread', '',
        '| pipeline | images/s (median) | spread |', '|---|---|---|'
    ]
    for r in results.values():
        lines.append(
            f'| {r.name} | {r.median:.1f} | {100 * r.spread:.1f}% |')
    if OURS in results:
        lines.append('')
        ours = results[OURS].median
        for name, r in results.items():
            if name != OURS:
                lines.append(f'- {OURS} / {name}: {ours / r.median:.2f}x')
        sizes = ', '.join(
            f"{'full size' if factor == 1 else f'1/{factor}'} "
            f'{100 * share:.0f}%' for factor, share in factor_shares.items()
            if share)
        lines.append(f'- {OURS} decoded its crops at: {sizes}')
    return '\n'.join(lines)
