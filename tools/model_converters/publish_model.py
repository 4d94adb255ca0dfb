"""Publish a training checkpoint: keep its weights and a minimal meta,
drop the optimizer and the message hub, and put the first 8 hex digits of
the file's SHA-256 in its name. The result loads with plain
``torch.load(weights_only=True)``, without mae_plugin."""
import argparse
import pickle

from mae_plugin.checkpoint import publish_checkpoint
from mae_plugin.utils import report_input_errors


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('in_file', help='checkpoint of a training run')
    parser.add_argument(
        'out_file', help='output; OUT.pth is written as OUT-<sha256[:8]>.pth')
    return parser.parse_args()


def main():
    args = parse_args()
    with report_input_errors('publish_model', pickle.UnpicklingError):
        path = publish_checkpoint(args.in_file, args.out_file)
    print(f'wrote {path}')


if __name__ == '__main__':
    main()
