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
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from typing import (Callable, Dict, Iterator, List, Optional, Sequence, Tuple)

import cv2
import numpy as np
import torch
from mmengine.dataset import Compose
from mmpretrain.registry import TRANSFORMS as MMPRETRAIN_TRANSFORMS
from torchvision import transforms
from torchvision.datasets.folder import pil_loader

from mae_plugin.datasets import DecodeRandomResizedCrop
from mae_plugin.datasets.demo_photos import packaged_photos
from mae_plugin.utils import (check_choices, check_int, check_pair,
                              check_positive_int)
from mae_plugin.registry import TRANSFORMS
from .report import markdown_table
from .timing import PeerResult

PIPELINES = ('mmpretrain_pillow', 'mmpretrain_cv2', 'torchvision',
             'mae_plugin_two_step', 'mae_plugin')
OURS = 'mae_plugin'


@dataclass
class PipelineSpec:
    """What to benchmark.

    Attributes:
        num_images (int): JPEGs written and loaded per round.
        image_size (int | tuple[int, int]): ``(w, h)`` of the landscape
            JPEGs (an int: squares); every fourth is portrait
            (``(h, w)``).
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

    def __post_init__(self) -> None:
        check_positive_int('num_images', self.num_images)
        # (w, h), or one side of a square; (H, W) order is check_pair's
        self.image_size = check_pair('image_size', self.image_size)
        # OpenCV's range (it clips a value outside it without a word).
        check_int('quality', self.quality, minimum=0, maximum=100)


def photo_cuts(
        spec: PipelineSpec
) -> Iterator[Tuple[str, np.ndarray, int, int, float]]:
    """For each image :func:`write_benchmark_images` writes: the name and
    RGB pixels of the photo it comes from (image ``i`` from photo ``i %
    num_photos``), its ``width`` and ``height`` (every fourth image
    portrait), and the photo pixels per image pixel of the largest cut of
    the photo with the image's aspect ratio (below 1 the photo is smaller
    than the image, and the cut is enlarged).
    """
    photos = packaged_photos()
    for i in range(spec.num_images):
        name, rgb = photos[i % len(photos)]
        width, height = spec.image_size
        if i % 4 == 3:
            width, height = height, width
        photo_h, photo_w = rgb.shape[:2]
        yield name, rgb, width, height, min(photo_w / width, photo_h / height)


def enlargements(spec: PipelineSpec) -> List[float]:
    """Image pixels per photo pixel of each image
    :func:`write_benchmark_images` writes: above 1 for an image enlarged
    from a smaller photo."""
    return [1 / cut for *_, cut in photo_cuts(spec)]


def write_benchmark_images(folder: str,
                           spec: PipelineSpec,
                           seed: int = 0) -> List[str]:
    """Cut ``spec.num_images`` JPEGs from the photos that ship inside
    scikit-image and scikit-learn (:func:`photo_cuts`): image ``i`` is the
    largest crop of photo ``i % num_photos`` with the aspect ratio of
    ``spec.image_size`` at a random position, resized to that size with
    ``cv2.INTER_AREA``.

    The 16 photos measure 384x303 to 1411x1411 pixels, all but two at
    most 640x512, so an image larger than its photo is the photo enlarged
    (:func:`enlargements`; ``INTER_AREA`` enlarges by repeating pixels,
    blending only where they meet), with less detail than a photo taken
    at that size: 5 of every 16 images at 500x375 (by up to 1.3x), 15 of
    every 16 at 1024x768 (by up to 2.7x).

    Returns:
        list[str]: the written paths.
    """
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i, (name, rgb, width, height, cut) in enumerate(photo_cuts(spec)):
        photo_h, photo_w = rgb.shape[:2]
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


@contextmanager
def one_thread() -> Iterator[None]:
    """Run OpenCV and torch on one thread inside the block, restoring
    their thread counts afterwards."""
    threads = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads[0])
        torch.set_num_threads(threads[1])


def build_pipeline(
    name: str, spec: PipelineSpec
) -> Tuple[Callable[[str], object], Optional[DecodeRandomResizedCrop]]:
    """A function from an image path to the pipeline's output, and the
    pipeline's :class:`DecodeRandomResizedCrop` (None but for
    ``mae_plugin``), which counts the sizes it decodes at."""
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
        return lambda path: pipeline(pil_loader(path)), None
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
    built = [registry.build(step) for step in steps]
    pipeline = Compose(built)
    return (lambda path: pipeline(dict(img_path=path))['inputs'],
            built[0] if name == OURS else None)


def decode_factor_shares(counts: Dict[int, int]) -> Dict[int, float]:
    """Each factor's share of the crops in ``counts`` (factor ``f`` ->
    crops decoded at ``1 / f`` of the size), by increasing factor."""
    total = sum(counts.values())
    return {factor: counts[factor] / total for factor in sorted(counts)}


def run_pipeline_benchmark(
    paths: Sequence[str],
    spec: PipelineSpec,
    pipelines: Sequence[str] = PIPELINES,
    warmup: int = 1,
    rounds: int = 5,
    log: Callable[[str], None] = print
) -> Tuple[Dict[str, PeerResult], Dict[int, int]]:
    """Time one pass of each pipeline over ``paths`` per round, the
    pipelines alternating, with OpenCV and torch on one thread.

    Args:
        paths (Sequence[str]): The images, at least one.
        spec (PipelineSpec): Crop scale, range and interpolation.
        pipelines (Sequence[str]): Names from :data:`PIPELINES`.
        warmup (int): Untimed passes per pipeline first, >= 0. Defaults
            to 1.
        rounds (int): Timed passes per pipeline, >= 1. Defaults to 5.
        log (callable): Progress output. Defaults to print.

    Returns:
        tuple: name -> :class:`PeerResult` (images per second per round),
        and the factors ``mae_plugin``'s :class:`DecodeRandomResizedCrop`
        decoded its crops at in the timed passes (factor ``f`` -> crops
        decoded at ``1 / f`` of the size; empty without ``mae_plugin``).
    """
    check_choices('pipelines', pipelines, PIPELINES)
    check_int('warmup', warmup, minimum=0)
    check_positive_int('rounds', rounds)
    if not paths:
        raise ValueError('paths must name at least one image, got none')
    with one_thread():
        np.random.seed(0)
        torch.manual_seed(0)
        built = {name: build_pipeline(name, spec) for name in pipelines}
        runners = {name: runner for name, (runner, _) in built.items()}
        for name, runner in runners.items():
            shape = tuple(runner(paths[0]).shape)
            if shape != (3, spec.scale, spec.scale):
                raise RuntimeError(f'{name} made {shape}, not '
                                   f'(3, {spec.scale}, {spec.scale})')
            for _ in range(warmup):
                for path in paths:
                    runner(path)
        decode_factors = Counter()  # of the timed passes only
        if OURS in built:
            decode_factors = built[OURS][1].decode_factors
            decode_factors.clear()
        results = {name: PeerResult(name) for name in pipelines}
        for r in range(rounds):
            for name, runner in runners.items():
                start = time.perf_counter()
                for path in paths:
                    runner(path)
                results[name].images_per_s.append(
                    len(paths) / (time.perf_counter() - start))
            log(f'round {r + 1}/{rounds}: ' +
                '  '.join(f'{n} {results[n].images_per_s[-1]:.0f} img/s'
                          for n in pipelines))
    return results, dict(decode_factors)


def format_pipeline_report(spec: PipelineSpec, results: Dict[str, PeerResult],
                           factor_counts: Dict[int, int],
                           enlargements: Sequence[float]) -> str:
    """A markdown table of the results, the ratios of ours to each peer and
    the sizes at which ours decoded its crops in the timed passes
    (``factor_counts``, from :func:`run_pipeline_benchmark`);
    ``enlargements`` are those of :func:`enlargements` for ``spec``."""
    width, height = spec.image_size
    enlarged = [e for e in enlargements if e > 1]
    source = (f'{len(enlarged)} enlarged from smaller photos, by up to '
              f'{max(enlarged):.1f}x' if enlarged else 'none enlarged')
    lines = [
        f'{spec.num_images} JPEGs of {width}x{height} (every fourth '
        f'{height}x{width}) cut from the packaged photos ({source}), '
        f'quality {spec.quality}; crop scale '
        f'{spec.crop_ratio_range} to {spec.scale}x{spec.scale}, '
        f'{spec.interpolation}; one process, one thread', ''
    ]
    lines += markdown_table(
        ['pipeline', 'images/s (median)', 'spread'],
        [(r.name, f'{r.median:.1f}', f'{100 * r.spread:.1f}%')
         for r in results.values()])
    if OURS in results:
        lines.append('')
        ours = results[OURS].median
        for name, r in results.items():
            if name != OURS:
                lines.append(f'- {OURS} / {name}: {ours / r.median:.2f}x')
        sizes = ', '.join(
            f"{'full size' if factor == 1 else f'1/{factor}'} "
            f'{100 * share:.0f}%'
            for factor, share in decode_factor_shares(factor_counts).items()
            if share)
        lines.append(f'- {OURS} decoded the {sum(factor_counts.values())} '
                     f'crops of its timed passes at: {sizes}')
    return '\n'.join(lines)
