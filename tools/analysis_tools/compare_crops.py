"""Measure how far DecodeRandomResizedCrop's crops (OpenCV resampling, or
PIL's antialiased one; reduced or full JPEG decoding) lie from torchvision's
RandomResizedCrop on PIL images for the same boxes, and their cost per
image, on JPEGs cut from the photos that ship with scikit-image and
scikit-learn.

Example (docs/crop_resize.md):
    python tools/analysis_tools/compare_crops.py --image-size 500 375 \
        --scale 224
"""
import argparse
import tempfile

import mae_plugin  # noqa: F401
from mae_plugin.experiments import (PipelineSpec, format_crop_report,
                                    measure_crop_fidelity, time_crops,
                                    write_benchmark_images)
from mae_plugin.experiments.cli import pipeline_spec_args, spec_from_args
from mae_plugin.utils import argparse_type, check_positive_int, check_seed


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    pipeline_spec_args(parser, num_images=32)
    parser.add_argument('--crops-per-image', default=4,
                        type=argparse_type(check_positive_int,
                                           'crops_per_image'))
    parser.add_argument('--rounds', default=3,
                        type=argparse_type(check_positive_int, 'rounds'))
    parser.add_argument(
        '--seed', type=argparse_type(check_seed, 'seed'), default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    spec = spec_from_args(PipelineSpec, args)
    with tempfile.TemporaryDirectory() as folder:
        paths = write_benchmark_images(folder, spec, seed=args.seed)
        fidelity = measure_crop_fidelity(paths, spec.scale,
                                         args.crops_per_image,
                                         spec.crop_ratio_range, args.seed)
        ms_per_image = time_crops(paths, spec.scale, spec.crop_ratio_range,
                                  args.rounds)
    print(f'{len(paths)} JPEGs of {spec.image_size[0]}x{spec.image_size[1]} '
          f'(quality {spec.quality}), {args.crops_per_image} crops each to '
          f'{spec.scale}x{spec.scale}, bicubic, crop scale '
          f'{spec.crop_ratio_range}; difference from torchvision on PIL\n')
    print(format_crop_report(fidelity, ms_per_image))


if __name__ == '__main__':
    main()
