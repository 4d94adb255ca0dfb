"""Convert MAE checkpoints between the official, Hugging Face, mmpretrain,
timm, ViTDet and mmseg layouts and the plugin's, and print what happened
to every key."""
import argparse
import pickle
import sys
from typing import List

from mae_plugin.checkpoint import (FORMATS, SOURCE_FORMATS, ConversionReport,
                                   PartialConversionError, convert_checkpoint)
from mae_plugin.utils import report_input_errors


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        'src', help='source checkpoint (.pth/.bin/.safetensors)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument(
        '--src-format',
        choices=SOURCE_FORMATS,
        help=f'layout of src, one of {", ".join(SOURCE_FORMATS)} (default: '
        'told from its keys)')
    parser.add_argument(
        '--dst-format',
        default='plugin',
        choices=FORMATS,
        help=f'layout of dst, one of {", ".join(FORMATS)} '
        '(default: plugin)')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        help='write dst even when keys are missing or unexpected (by '
        'default nothing is written and the exit status is 1; dropped '
        'parts, such as the decoder for timm, are always allowed)')
    return parser.parse_args()


def print_reports(reports: List[ConversionReport]) -> None:
    """Print the summary of every conversion step."""
    for report in reports:
        print(report.summary())


def main():
    args = parse_args()
    # a progress bar only on a terminal: redrawn into a log file it is noise
    with report_input_errors('convert_checkpoint', pickle.UnpicklingError):
        try:
            reports = convert_checkpoint(
                args.src, args.dst, args.src_format, args.dst_format,
                progress=sys.stdout.isatty(),
                allow_partial=args.allow_partial)
        except PartialConversionError as error:
            print_reports(error.reports)
            raise ValueError(f'{error} (--allow-partial writes it)') from None
    print_reports(reports)
    print(f'wrote {args.dst}')


if __name__ == '__main__':
    main()
