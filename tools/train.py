"""Train a model from a config with the mmengine runner."""
import argparse

from mae_plugin.apis import (add_runner_args, build_runner,
                             check_train_inputs, close_distributed,
                             init_cpu_distributed, parse_runner_args,
                             train_config)
from mae_plugin.utils import add_config_arg, report_input_errors


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    add_config_arg(parser, 'train config file path')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work dir when no path is given')
    parser.add_argument(
        '--amp', action='store_true', help='mixed precision training')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='skip validation during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by the effective batch (processes x batch_size '
        'x optim_wrapper.accumulative_counts) over '
        'auto_scale_lr.base_batch_size')
    add_runner_args(parser)
    return parse_runner_args(parser)


def main():
    args = parse_args()
    with report_input_errors('train'):  # before the runner is built
        cfg = train_config(
            args.config,
            work_dir=args.work_dir,
            resume=args.resume,
            amp=args.amp,
            auto_scale_lr=args.auto_scale_lr,
            no_validate=args.no_validate,
            launcher=args.launcher,
            cfg_options=args.cfg_options,
            allow_partial_checkpoint=args.allow_partial_checkpoint)
        check_train_inputs(cfg)
    init_cpu_distributed(cfg)
    build_runner(cfg).train()
    close_distributed()


if __name__ == '__main__':
    main()
