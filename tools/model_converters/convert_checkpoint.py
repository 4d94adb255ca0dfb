"""Convert MAE checkpoints between the official, Hugging Face, mmpretrain,
timm, ViTDet and mmseg layouts and the plugin's, and print what happened
to every key."""
import argparse
import pickle
import sys

from mae_plugin.checkpoint import FORMATS, convert_checkpoint


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        'src', help='source checkpoint (.pth/.bin/.safetensors)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument(
        '--src-format',
        choices=FORMATS,
        help=f'layout of src, one of {", ".join(FORMATS)} (default: told '
        'from its keys)')
    parser.add_argument(
        '--dst-format',
        default='plugin',
        choices=FORMATS,
        help=f'layout of dst, one of {", ".join(FORMATS)}')
    return parser.parse_args()


def main():
    args = parse_args()
    # a progress bar only on a terminal: redrawn into a log file it is noise
    try:
        reports = convert_checkpoint(
            args.src, args.dst, args.src_format, args.dst_format,
            progress=sys.stdout.isatty())
    except (OSError, ValueError, TypeError, pickle.UnpicklingError) as error:
        sys.exit(f'convert_checkpoint: {error}')
    for report in reports:
        print(report.summary())
    print(f'wrote {args.dst}')


if __name__ == '__main__':
    main()
