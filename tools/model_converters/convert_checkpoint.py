"""Convert MAE checkpoints between the official, Hugging Face, mmpretrain,
timm, ViTDet and mmseg layouts and the plugin's, and print what happened
to every key."""
import argparse

from mae_plugin.converters.files import FORMATS, convert_checkpoint


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        'src', help='source checkpoint (.pth/.bin/.safetensors)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument(
        '--src-format',
        default='official',
        choices=FORMATS,
        help='layout of src: plugin, official, hf or mmpretrain')
    parser.add_argument(
        '--dst-format',
        default='plugin',
        choices=FORMATS,
        help='layout of dst')
    return parser.parse_args()


def main():
    args = parse_args()
    reports = convert_checkpoint(
        args.src, args.dst, args.src_format, args.dst_format, progress=True)
    for report in reports:
        print(report.summary())
    print(f'wrote {args.dst}')


if __name__ == '__main__':
    main()
