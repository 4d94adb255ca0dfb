"""Reconstruct images with a pretrained MAE and save the paper's figure,
one row per image: original | masked | reconstruction | reconstruction +
visible, each panel titled (the masking named), under a caption that
states the masking and how predictions were mapped back to pixels; print
the masked-patch MSE of every image."""
import argparse
import os.path as osp

import cv2

from mae_plugin.apis import (MASKING_STRATEGIES, CheckpointMismatchError,
                             init_model, list_images, reconstruct_images,
                             set_masking)
from mae_plugin.evaluation import psnr
from mae_plugin.utils import (CfgOptionsAction, add_config_arg,
                              add_device_arg, argparse_type, atomic_write,
                              check_device_arg, check_generator_seed,
                              check_int, check_number, check_output_file,
                              check_positive_int, report_input_errors)
from mae_plugin.visualization import (add_caption, as_rgb, caption_lines,
                                      panel_titles, stack_rows)

#: The largest side ``--img-size`` takes, far past the 224 pixels the
#: configs pretrain at and the sides of common photos: a mistyped side
#: (100000) failed in OpenCV's allocation of the resized image (30 GB).
MAX_IMG_SIDE = 4096


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    add_config_arg(parser, 'model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        'images', nargs='+', help='image files and/or folders of images')
    parser.add_argument(
        '--out-file', default='reconstruction.png', help='output PNG')
    parser.add_argument(
        '--masking',
        choices=sorted(MASKING_STRATEGIES),
        help='masking strategy (default: the config\'s)')
    parser.add_argument(
        '--mask-ratio',
        type=argparse_type(
            check_number,
            'mask_ratio',
            convert=float,
            low=0,
            high=1,
            high_open=True),
        help='fraction of patches removed (default: the config\'s)')
    parser.add_argument(
        '--seed',
        type=argparse_type(check_generator_seed, 'seed'),
        default=0,
        help='seed of the masks')
    parser.add_argument(
        '--img-size',
        type=argparse_type(
            check_int, 'img_size', minimum=1, maximum=MAX_IMG_SIDE),
        nargs=2,
        metavar=('H', 'W'),
        help=f'resize every image to H x W, each at most {MAX_IMG_SIDE} '
        '(default: keep its own size)')
    parser.add_argument(
        '--scale',
        type=argparse_type(check_positive_int, 'scale'),
        default=1,
        help='enlarge every panel this many times, nearest-neighbour '
        '(default: 1)')
    add_device_arg(parser, default='cpu')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config settings, key=value')
    args = parser.parse_args()
    check_device_arg(parser, args)
    # Checked before the model runs: OpenCV picks the format by extension.
    if not cv2.haveImageWriter(args.out_file):
        parser.error(f'--out-file {args.out_file}: OpenCV writes no image '
                     'with this extension (use e.g. .png or .jpg)')
    return args


def main():
    args = parse_args()
    with report_input_errors('visualize_reconstruction',
                             CheckpointMismatchError):
        images = list_images(args.images)  # before the model is built
        check_output_file('--out-file', args.out_file, images)
        model = init_model(
            args.config,
            args.checkpoint,
            device=args.device,
            cfg_options=args.cfg_options)
    set_masking(model, args.masking, args.mask_ratio)
    rows = reconstruct_images(
        model,
        images,
        seed=args.seed,
        img_size=args.img_size,
        scale=args.scale,
        titles=panel_titles(model))
    caption = caption_lines(model)[1:]  # the panels carry their titles
    figure = as_rgb(
        add_caption(stack_rows([row.figure for row in rows]), caption), model)
    encoded, data = cv2.imencode(
        osp.splitext(args.out_file)[1], figure[..., ::-1])  # RGB -> BGR
    if not encoded:
        raise OSError(f'could not encode {args.out_file}')
    atomic_write(data.tobytes(), args.out_file)  # no half-written figure
    print('\n'.join(caption))
    for path, row in zip(images, rows):
        print(f'{path}: masked-patch MSE {row.masked_mse:.1f} '
              f'(PSNR {psnr(row.masked_mse):.2f} dB, 0-255 pixels)')
    print(f'wrote {args.out_file}: {len(images)} image(s), '
          f'{figure.shape[1]}x{figure.shape[0]}')


if __name__ == '__main__':
    main()
