"""Write the photos that ship with scikit-image and scikit-learn into a
folder, the data of the CPU demo config (no download)."""
import argparse

from mae_plugin.datasets import export_demo_photos


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        '--out-dir', default='data/demo_photos', help='target folder')
    args = parser.parse_args()
    paths = export_demo_photos(args.out_dir)
    print(f'wrote {len(paths)} photos to {args.out_dir}')


if __name__ == '__main__':
    main()
