"""Benchmark the MAE training data pipeline against mmpretrain's ImageNet
pipeline (pillow and cv2 backends) and torchvision's.

Example (64 ImageNet-sized JPEGs, 224-pixel crops, 5 rounds):
    python tools/analysis_tools/benchmark_pipeline.py --num-images 64 \
        --rounds 5 --json work_dirs/pipeline_benchmark.json
"""
import argparse
import dataclasses
import os.path as osp
import tempfile

import mae_plugin  # noqa: F401
from mae_plugin.experiments import (PIPELINES, PipelineSpec,
                                    decode_factor_shares,
                                    format_pipeline_report,
                                    run_pipeline_benchmark,
                                    write_benchmark_images, write_json)
from mae_plugin.experiments.cli import (add_json_arg, add_spec_args,
                                        add_timing_args, pipeline_spec_args,
                                        spec_from_args)
from mae_plugin.experiments.pipeline_benchmark import enlargements


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    pipeline_spec_args(parser, num_images=PipelineSpec().num_images)
    add_spec_args(
        parser,
        PipelineSpec(),
        names=('crop_ratio_range', 'interpolation'),
        crop_ratio_range=dict(metavar=('MIN', 'MAX')),
        interpolation=dict(choices=['bilinear', 'bicubic']))
    parser.add_argument(
        '--pipelines', nargs='+', default=list(PIPELINES), choices=PIPELINES)
    add_timing_args(parser, warmup=1, rounds=5)
    parser.add_argument(
        '--image-dir',
        help='write the JPEGs here and keep them (default: a temporary '
        'folder)')
    add_json_arg(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    spec = spec_from_args(PipelineSpec, args)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_benchmark_images(
            args.image_dir or osp.join(tmp, 'jpg'), spec)
        results, factor_counts = run_pipeline_benchmark(
            paths,
            spec,
            args.pipelines,
            warmup=args.warmup,
            rounds=args.rounds)
    print(
        format_pipeline_report(spec, results, factor_counts,
                               enlargements(spec)))
    if args.json:
        write_json(
            dict(
                spec=dataclasses.asdict(spec),
                # mae_plugin's crops in the timed passes
                decode_factor_counts=factor_counts,
                decode_factor_shares=decode_factor_shares(factor_counts),
                pipelines={
                    name: dict(images_per_s=r.images_per_s)
                    for name, r in results.items()
                }),
            args.json,
            indent=2)


if __name__ == '__main__':
    main()
