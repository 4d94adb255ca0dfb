"""Check that decoding JPEGs on the GPU does not overwrite memory that
kernels queued on the current stream still read: torchvision's
decode_jpeg called as is, and the plugin's decode_jpegs, which the
device-crop data preprocessor decodes with (see
mae_plugin/experiments/decode_check.py). Exits with 1 when the plugin's
decoding is not clean.

Example (docs/benchmarks.md; the GPU script's stage decode_check):
    python tools/analysis_tools/check_gpu_decode.py --num-images 16 \
        --rounds 50 --json work_dirs/decode_check.json
"""
import argparse
import dataclasses
import os.path as osp
import sys
import tempfile

import torch
from torchvision.io import read_file

import mae_plugin  # noqa: F401
from mae_plugin.experiments import (DECODERS, PipelineSpec, check_decoder,
                                    format_decode_check,
                                    write_benchmark_images, write_json)
from mae_plugin.experiments.cli import (add_json_arg, pipeline_spec_args,
                                        spec_from_args)
from mae_plugin.utils import (add_device_arg, argparse_type,
                              check_device_arg, check_positive_int)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    # the JPEGs are decoded whole: no --scale
    pipeline_spec_args(
        parser, num_images=16, names=('num_images', 'image_size', 'quality'))
    add_device_arg(parser, default='cuda')
    parser.add_argument(
        '--decoders', nargs='+', default=list(DECODERS), choices=DECODERS)
    for name, default in (('rounds', 50), ('busy_size', 4096),
                          ('busy_kernels', 30)):
        parser.add_argument(
            '--' + name.replace('_', '-'),
            type=argparse_type(check_positive_int, name),
            default=default)
    add_json_arg(parser)
    args = parser.parse_args()
    check_device_arg(parser, args)
    return args


def main():
    args = parse_args()
    spec = spec_from_args(PipelineSpec, args)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_benchmark_images(osp.join(tmp, 'jpg'), spec)
        files = [read_file(path) for path in paths]
        results = [
            check_decoder(name, files, paths, device, args.rounds,
                          args.busy_size, args.busy_kernels)
            for name in args.decoders
        ]
    print(f'{len(paths)} JPEGs of {spec.image_size[0]}x{spec.image_size[1]}'
          f' decoded on {device}, {args.busy_kernels} products of '
          f'{args.busy_size}x{args.busy_size} matrices queued before the '
          'reads in every round')
    print(format_decode_check(results))
    if args.json:
        write_json([dataclasses.asdict(r) for r in results], args.json)
    if not all(r.clean for r in results if r.decoder == 'mae_plugin'):
        sys.exit(1)


if __name__ == '__main__':
    main()
