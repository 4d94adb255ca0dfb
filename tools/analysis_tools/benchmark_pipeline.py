"""Benchmark the MAE training data pipeline against mmpretrain's ImageNet
pipeline (pillow and cv2 backends) and torchvision's.

Example (64 ImageNet-sized JPEGs, 224-pixel crops, 5 rounds):
    python tools/analysis_tools/benchmark_pipeline.py --num-images 64 \
        --rounds 5 --json work_dirs/pipeline_benchmark.json
"""
import argparse
import dataclasses
import json
import os.path as osp
import tempfile

import mae_plugin  # noqa: F401
from mae_plugin.analysis import (PIPELINES, PipelineSpec,
                                 decode_factor_shares, format_pipeline_report,
                                 run_pipeline_benchmark,
                                 write_benchmark_images)
from mae_plugin.analysis.pipeline_benchmark import enlargements


def count(minimum: int):
    """An argparse type: an int >= ``minimum`` (argparse's error names
    the flag)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'expected an int, got {text!r}') from None
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f'expected an int >= {minimum}, got {value}')
        return value

    return parse


def parse_args():
    spec = PipelineSpec()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        '--num-images', type=count(1), default=spec.num_images)
    parser.add_argument(
        '--image-size', type=int, nargs=2, default=spec.image_size,
        metavar=('W', 'H'))
    parser.add_argument('--quality', type=int, default=spec.quality)
    parser.add_argument('--scale', type=int, default=spec.scale)
    parser.add_argument(
        '--crop-ratio-range', type=float, nargs=2,
        default=spec.crop_ratio_range, metavar=('MIN', 'MAX'))
    parser.add_argument(
        '--interpolation', choices=['bilinear', 'bicubic'],
        default=spec.interpolation)
    parser.add_argument(
        '--pipelines', nargs='+', default=list(PIPELINES), choices=PIPELINES)
    parser.add_argument('--warmup', type=count(0), default=1)
    parser.add_argument('--rounds', type=count(1), default=5)
    parser.add_argument(
        '--image-dir',
        help='write the JPEGs here and keep them (default: a temporary '
        'folder)')
    parser.add_argument('--json', help='also write the results here')
    return parser.parse_args()


def main():
    args = parse_args()
    spec = PipelineSpec(
        num_images=args.num_images,
        image_size=tuple(args.image_size),
        quality=args.quality,
        scale=args.scale,
        crop_ratio_range=tuple(args.crop_ratio_range),
        interpolation=args.interpolation)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_benchmark_images(args.image_dir or osp.join(tmp, 'jpg'),
                                       spec)
        results, factor_counts = run_pipeline_benchmark(
            paths, spec, args.pipelines, warmup=args.warmup,
            rounds=args.rounds)
    print(format_pipeline_report(spec, results, factor_counts,
                                 enlargements(spec)))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(
                dict(
                    spec=dataclasses.asdict(spec),
                    # mae_plugin's crops in the timed passes
                    decode_factor_counts=factor_counts,
                    decode_factor_shares=decode_factor_shares(
                        factor_counts),
                    pipelines={
                        name: dict(images_per_s=r.images_per_s)
                        for name, r in results.items()
                    }),
                f,
                indent=2)


if __name__ == '__main__':
    main()
