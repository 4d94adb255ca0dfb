"""Write the photos that ship with scikit-image and scikit-learn into a
folder, the data of the CPU demo config (no download)."""
import argparse

from mae_plugin.datasets import export_demo_photos
from mae_plugin.utils import argparse_type, check_output_folder


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        '--out-dir',
        type=argparse_type(check_output_folder, 'out_dir', str),
        default='data/demo_photos',
        help='target folder, created when missing')
    args = parser.parse_args()
    paths = export_demo_photos(args.out_dir)
    print(f'wrote {len(paths)} photos to {args.out_dir}')


if __name__ == '__main__':
    main()
