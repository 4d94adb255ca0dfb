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
from mae_plugin.analysis import (PipelineSpec, format_crop_report,
                                 measure_crop_fidelity, time_crops,
                                 write_benchmark_images)


def parse_args():
    spec = PipelineSpec()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--num-images', type=int, default=32)
    parser.add_argument(
        '--image-size',
        type=int,
        nargs=2,
        default=spec.image_size,
        metavar=('W', 'H'))
    parser.add_argument('--quality', type=int, default=spec.quality)
    parser.add_argument('--scale', type=int, default=spec.scale)
    parser.add_argument('--crops-per-image', type=int, default=4)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    spec = PipelineSpec(
        num_images=args.num_images,
        image_size=tuple(args.image_size),
        quality=args.quality,
        scale=args.scale)
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
