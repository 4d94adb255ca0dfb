"""Evaluate a checkpoint with the test loop of its config."""
import argparse

from mmengine.dist import is_main_process
from mmengine.fileio import dump

from mae_plugin.apis import (TEST_OUTPUTS, add_runner_args, build_runner,
                             check_datasets, check_test_output,
                             close_distributed, init_cpu_distributed,
                             parse_runner_args, test_config)
from mae_plugin.utils import add_config_arg, report_input_errors


def parse_args():
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    add_config_arg(parser, 'test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out',
        help='file to write the predictions of every test sample to (.pkl, '
        'as mmpretrain\'s test.py) or, with --out-item metrics, the metrics '
        '(.json, .yaml or .pkl)')
    parser.add_argument(
        '--out-item',
        choices=list(TEST_OUTPUTS),
        default='pred',
        help='what --out holds: the predictions (pred, the default) or the '
        'metrics')
    add_runner_args(parser)
    args = parse_runner_args(parser)
    if args.out is not None:
        try:  # before the model is built
            check_test_output(args.out, args.out_item)
        except (OSError, ValueError) as error:
            parser.error(f'argument --out: {error}')
    return args


def main():
    args = parse_args()
    with report_input_errors('test'):  # before the runner is built
        cfg = test_config(
            args.config,
            args.checkpoint,
            work_dir=args.work_dir,
            launcher=args.launcher,
            cfg_options=args.cfg_options,
            allow_partial_checkpoint=args.allow_partial_checkpoint,
            predictions_file=args.out if args.out_item == 'pred' else None)
        check_datasets(cfg, 'test_dataloader')
    init_cpu_distributed(cfg)
    metrics = build_runner(cfg).test()
    if args.out is not None and args.out_item == 'metrics' and (
            is_main_process()):
        dump(metrics, args.out)
    close_distributed()


if __name__ == '__main__':
    main()
