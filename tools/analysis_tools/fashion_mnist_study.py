"""Run the Fashion-MNIST study (pretrain, probe, kNN, fine-tune) and write
its table, CPU times and plot to docs/.

The logic lives in :mod:`mae_plugin.experiments.fashion_mnist_study`.
"""
import argparse
import shlex
import sys

import mae_plugin  # noqa: F401  (registers the plugin)
from mae_plugin.datasets import DEBIAN_FASHION_MNIST
from mae_plugin.experiments import (EPOCH_CONFIGS, check_study_epochs,
                                    format_seed_summary,
                                    run_fashion_mnist_study, run_study_seeds)
from mae_plugin.experiments.cli import add_seeds_arg
from mae_plugin.utils import (argparse_type, check_output_folder,
                              check_positive_int)

#: The optional counts of the study, by keyword of
#: :func:`run_fashion_mnist_study`, and their help.
COUNTS = dict(
    pretrain_epochs="default: the config's train_cfg.max_epochs",
    finetune_epochs="default: the config's train_cfg.max_epochs",
    scratch_epochs='epochs of the equal-compute from-scratch baseline '
    "(default: as many as MAE's pretraining steps plus fine-tuning cost, "
    'in CPU-minutes of a from-scratch epoch)',
    train_subset='use the first N training images',
    test_subset='use the first N test images')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        '--work-dir',
        type=argparse_type(check_output_folder, 'work_dir', str),
        default='work_dirs/fashion_mnist_study',
        help='folder of the runs')
    parser.add_argument(
        '--out-dir',
        type=argparse_type(check_output_folder, 'out_dir', str),
        default='docs',
        help='folder of the report')
    parser.add_argument(
        '--data-root',
        default=DEBIAN_FASHION_MNIST,
        help='folder of the Fashion-MNIST idx files')
    parser.add_argument(
        '--probe-epochs',
        type=argparse_type(check_positive_int, 'probe_epochs'),
        nargs='*',
        default=[4],
        help='earlier pretraining epochs whose checkpoints are probed too')
    for name, help in COUNTS.items():
        # an epoch count at least what its configs' schedules take
        check = (
            argparse_type(
                check_study_epochs, name, configs=EPOCH_CONFIGS[name])
            if name in EPOCH_CONFIGS else argparse_type(
                check_positive_int, name))
        parser.add_argument(
            f'--{name.replace("_", "-")}', type=check, help=help)
    add_seeds_arg(
        parser,
        minimum=1,
        default=[0],
        help='randomness.seed of the training runs; several run the study '
        'once per seed (reports in OUT_DIR/seed_<s>) and write mean +- std '
        'to OUT_DIR/fashion_mnist_study_seeds.md')
    return parser.parse_args()


def main():
    args = parse_args()
    study = {name: getattr(args, name) for name in COUNTS}
    study.update(
        data_root=args.data_root,
        probe_epochs=args.probe_epochs,
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
