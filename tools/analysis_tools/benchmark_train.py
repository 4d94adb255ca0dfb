"""Pretraining images per second end to end (tools/train.py's runner on a
folder of JPEG files) beside the step alone of the same run.

Example (ViT-B on one GPU, 8,192 ImageNet-sized JPEGs written first, the
rate with 15 and with 8 data-loading processes):
    python tools/analysis_tools/benchmark_train.py \\
        configs/mae/mae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py \\
        --make-jpegs 8192 --data-root /tmp/jpegs --batch-size 256 \\
        --workers 15 8 --amp

With --loader-only the same runner's data loader runs alone, its batches
drawn and dropped: the rate at which the data path can feed the step; then
the model's data preprocessor is timed alone on a loaded batch (on the
GPU, where the device-crop config decodes and resamples).
"""
import argparse
import dataclasses
import os.path as osp
import tempfile

import numpy as np

import mae_plugin  # noqa: F401
from mae_plugin.experiments import (PipelineSpec, benchmark_config,
                                    benchmark_loader, benchmark_training,
                                    format_loader_report,
                                    format_training_report, quiet_logger,
                                    write_benchmark_images, write_json)
from mae_plugin.experiments.cli import add_cfg_options, add_json_arg
from mae_plugin.utils import (add_config_arg, argparse_type, check_int,
                              check_output_folder, check_positive_int,
                              report_input_errors)


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arg(parser, 'pretraining config')
    parser.add_argument(
        '--data-root', required=True, help='folder of training images')
    parser.add_argument(
        '--make-jpegs',
        type=argparse_type(check_positive_int, 'make_jpegs'),
        metavar='N',
        help='first write N 500x375 quality-90 JPEGs (cut from the photos '
        'that ship with scikit-image and scikit-learn) into --data-root')
    parser.add_argument(
        '--batch-size',
        type=argparse_type(check_positive_int, 'batch_size'),
        required=True)
    parser.add_argument(
        '--workers',
        type=argparse_type(check_int, 'workers', minimum=0),
        nargs='+',
        default=[8],
        help='data-loading processes; one run for each number given')
    parser.add_argument(
        '--epochs',
        type=argparse_type(check_positive_int, 'epochs'),
        default=2)
    parser.add_argument(
        '--warmup',
        type=argparse_type(check_int, 'warmup', minimum=0),
        default=2,
        help='first iterations (or batches) left out of the times')
    parser.add_argument(
        '--profile',
        type=argparse_type(check_int, 'profile', minimum=0),
        default=0,
        metavar='N',
        help="torch's profiler over N iterations after the warm-up: a table "
        'of the operators by their own time, in the report and the JSON')
    parser.add_argument(
        '--amp', action='store_true', help='as tools/train.py --amp')
    parser.add_argument(
        '--loader-only',
        action='store_true',
        help="only draw the batches of the runner's data loader (no model "
        'step; --profile and --amp do not apply)')
    parser.add_argument(
        '--work-dir',
        type=argparse_type(check_output_folder, 'work_dir', str),
        help='runner logs, one folder per worker count (default: a new '
        'temporary folder, kept and named in the output)')
    add_cfg_options(parser, 'the config')
    add_json_arg(parser)
    args = parser.parse_args()
    if args.loader_only and (args.profile or args.amp):
        parser.error('--profile and --amp need the model step, which '
                     '--loader-only leaves out')
    if args.make_jpegs:  # --data-root is an output too
        try:
            check_output_folder('--data-root', args.data_root)
        except (OSError, ValueError) as error:
            parser.error(f'with --make-jpegs: {error}')
    return args


def main():
    args = parse_args()
    if args.make_jpegs:
        write_benchmark_images(args.data_root,
                               PipelineSpec(num_images=args.make_jpegs))
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='benchmark_train_')
    # every run's config and data before the first run, quietly: each run
    # builds its config again and logs its warnings then
    with report_input_errors('benchmark_train'), quiet_logger():
        for workers in args.workers:
            benchmark_config(args.config, args.data_root,
                             run_dir(work_dir, workers), args.batch_size,
                             workers, args.epochs, args.amp,
                             args.cfg_options)
    print(f'runner logs in {work_dir}')
    results = []
    for workers in args.workers:
        kwargs = dict(
            batch_size=args.batch_size,
            num_workers=workers,
            epochs=args.epochs,
            warmup=args.warmup,
            cfg_options=args.cfg_options)
        if args.loader_only:
            result = benchmark_loader(args.config, args.data_root,
                                      run_dir(work_dir, workers), **kwargs)
            print(format_loader_report(args.config, result))
        else:
            result = benchmark_training(
                args.config,
                args.data_root,
                run_dir(work_dir, workers),
                amp=args.amp,
                profile_iters=args.profile,
                **kwargs)
            print(format_training_report(args.config, result))
        results.append(result)
    if args.json:
        write_json([json_record(r) for r in results], args.json)


def run_dir(work_dir: str, workers: int) -> str:
    """The runner's folder of the run with ``workers`` processes."""
    return osp.join(work_dir, f'workers{workers}')


def json_record(result) -> dict:
    """A result with its arrays as lists and its rates."""
    record = {
        name: value.tolist() if isinstance(value, np.ndarray) else value
        for name, value in dataclasses.asdict(result).items()
    }
    for rate in ('images_per_s', 'step_images_per_s',
                 'preprocess_images_per_s'):
        if hasattr(result, rate):
            record[rate] = getattr(result, rate)
    return record


if __name__ == '__main__':
    main()
