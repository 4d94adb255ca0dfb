"""Reconstruct images with a pretrained MAE and save the paper's figure:
original | masked | reconstruction | reconstruction + visible."""
import argparse
import os
import os.path as osp

import cv2
import numpy as np
from mmengine.config import DictAction

from mae_plugin.apis import init_model, reconstruct_images


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('img', help='image file')
    parser.add_argument(
        '--out-file', default='reconstruction.png', help='output PNG')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the random mask')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value')
    return parser.parse_args()


def main():
    args = parse_args()
    if not osp.isfile(args.img):
        raise FileNotFoundError(f'img: no such file {args.img}')
    model = init_model(
        args.config,
        args.checkpoint,
        device=args.device,
        cfg_options=args.cfg_options)
    figure = reconstruct_images(model, [args.img], seed=args.seed)[0]
    if figure.shape[2] == 3 and model.data_preprocessor._channel_conversion:
        figure = np.ascontiguousarray(figure[..., ::-1])  # RGB -> BGR
    os.makedirs(osp.dirname(osp.abspath(args.out_file)), exist_ok=True)
    if not cv2.imwrite(args.out_file, figure):
        raise OSError(f'could not write {args.out_file}')
    print(f'wrote {args.out_file} ({figure.shape[1]}x{figure.shape[0]})')


if __name__ == '__main__':
    main()
