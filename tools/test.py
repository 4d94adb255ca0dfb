"""Evaluate a checkpoint with the test loop of its config."""
import argparse

from mae_plugin.apis import (add_runner_args, build_runner, check_data_roots,
                             close_distributed, init_cpu_distributed,
                             parse_runner_args, test_config)


def parse_args():
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    add_runner_args(parser)
    return parse_runner_args(parser)


def main():
    args = parse_args()
    cfg = test_config(
        args.config,
        args.checkpoint,
        work_dir=args.work_dir,
        launcher=args.launcher,
        cfg_options=args.cfg_options,
        allow_partial_checkpoint=args.allow_partial_checkpoint)
    check_data_roots(cfg, 'test_dataloader')
    init_cpu_distributed(cfg)
    build_runner(cfg).test()
    close_distributed()


if __name__ == '__main__':
    main()
