"""Pretrain a config once per value of an ablated field (decoder depth, mask
ratio) with the same budget, evaluate every checkpoint, and write per sweep
a JSON of results, a Markdown table and a PNG plot with the MAE paper's
ViT-L numbers beside ours. A point shared by two sweeps runs once.

The Fashion-MNIST sweep (linear probe, kNN and fine-tuning per point) is
this tool on
configs/mae/mae_vit-tiny-p4_1xb256-coslr-4e_fashion-mnist-sweep.py.
"""
import argparse
import os
import os.path as osp

import mae_plugin  # noqa: F401  (registers the plugin)
from mae_plugin.experiments import (SWEEP_EVALUATORS, SWEEPS, plot_sweep,
                                    results_table, run_sweep, write_markdown)
from mae_plugin.experiments.cli import add_cfg_options, add_config_args


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    add_config_args(parser, 'pretraining config', 'work_dirs/ablation_sweep')
    parser.add_argument(
        '--sweeps',
        nargs='+',
        choices=sorted(SWEEPS),
        default=sorted(SWEEPS),
        help='which fields to sweep (default: all)')
    parser.add_argument(
        '--evaluators',
        nargs='+',
        choices=sorted(SWEEP_EVALUATORS),
        help="evaluations of every pretrained checkpoint (default: the "
        "config's `sweep_evaluation` keys, else reconstruction)")
    add_cfg_options(parser, 'every sweep point')
    return parser.parse_args()


def main():
    args = parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    finished = {}
    for sweep in args.sweeps:
        results = run_sweep(
            args.config,
            sweep,
            args.work_dir,
            evaluators=args.evaluators,
            cfg_options=args.cfg_options,
            finished=finished)
        table = results_table(sweep, results)
        write_markdown([table], osp.join(args.work_dir, f'{sweep}.md'))
        plot_sweep(sweep, results, osp.join(args.work_dir, f'{sweep}.png'))
        print(table)
    minutes = sum(p['pretrain_cpu_s'] + p['eval_cpu_s']
                  for p in finished.values()) / 60
    print(f'{len(finished)} points, {minutes:.1f} CPU minutes')


if __name__ == '__main__':
    main()
