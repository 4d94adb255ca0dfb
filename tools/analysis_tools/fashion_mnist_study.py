"""Run the Fashion-MNIST study (pretrain, probe, kNN, fine-tune) and write
its table, CPU times and plot to docs/.

The logic lives in :mod:`mae_plugin.experiments.fashion_mnist_study`.
"""
import argparse
import shlex
import sys

import mae_plugin  # noqa: F401  (registers the plugin)
from mae_plugin.datasets import DEBIAN_FASHION_MNIST
from mae_plugin.experiments import (format_seed_summary,
                                    run_fashion_mnist_study, run_study_seeds)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        '--work-dir',
        default='work_dirs/fashion_mnist_study',
        help='folder of the runs')
    parser.add_argument(
        '--out-dir', default='docs', help='folder of the report')
    parser.add_argument(
        '--data-root',
        default=DEBIAN_FASHION_MNIST,
        help='folder of the Fashion-MNIST idx files')
    parser.add_argument(
        '--pretrain-epochs', type=int, help="default: the config's (16)")
    parser.add_argument(
        '--probe-epochs',
        type=int,
        nargs='*',
        default=[4],
        help='earlier pretraining epochs whose checkpoints are probed too')
    parser.add_argument(
        '--finetune-epochs', type=int, help="default: the config's (3)")
    parser.add_argument(
        '--scratch-epochs',
        type=int,
        help='epochs of the from-scratch baseline (default: the '
        'fine-tuning epochs); more give it the compute of pretraining too')
    parser.add_argument(
        '--train-subset', type=int, help='use the first N training images')
    parser.add_argument(
        '--test-subset', type=int, help='use the first N test images')
    parser.add_argument(
        '--seeds',
        type=int,
        nargs='+',
        default=[0],
        help='randomness.seed of the training runs; several run the study '
        'once per seed (reports in OUT_DIR/seed_<s>) and write mean +- std '
        'to OUT_DIR/fashion_mnist_study_seeds.md')
    return parser.parse_args()


def main():
    args = parse_args()
    study = dict(
        data_root=args.data_root,
        pretrain_epochs=args.pretrain_epochs,
        probe_epochs=args.probe_epochs,
        finetune_epochs=args.finetune_epochs,
        scratch_epochs=args.scratch_epochs,
        train_subset=args.train_subset,
        test_subset=args.test_subset,
        command=shlex.join(['python'] + sys.argv))
    if len(args.seeds) > 1:
        summary = run_study_seeds(args.seeds, args.work_dir, args.out_dir,
                                  **study)
        print(format_seed_summary(summary))
        return
    results = run_fashion_mnist_study(
        work_dir=args.work_dir,
        out_dir=args.out_dir,
        seed=args.seeds[0],
        **study)
    for row in results['probes']:
        print(f'{row["features"]}: linear {row["linear"]:.1f}, '
              f'kNN {row["knn"]:.1f}')
    for name, top1 in results['finetune'].items():
        print(f'fine-tuning, {name}: {top1:.1f}')


if __name__ == '__main__':
    main()
