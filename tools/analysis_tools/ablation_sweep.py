"""Pretrain a config once per value of an ablated field (decoder depth, mask
ratio) with the same budget, evaluate every checkpoint, and write per sweep
a JSON of results, a Markdown table and a PNG plot with the MAE paper's
ViT-L numbers beside ours. A point shared by two sweeps runs once.

The Fashion-MNIST sweep (linear probe, kNN and fine-tuning per point) is
this tool on
configs/mae/mae_vit-tiny-p4_1xb256-coslr-4e_fashion-mnist-sweep.py.
With --seeds it runs instead the config's own point once per seed and
writes seed_spread.md and seed_spread_results.json: the spread that a
difference between two points must exceed to be more than the seed's
doing.
"""
import argparse
import os
import os.path as osp

import mae_plugin  # noqa: F401  (registers the plugin)
from mae_plugin.experiments import (SWEEP_EVALUATORS, SWEEPS, plot_sweep,
                                    results_table, run_seed_spread, run_sweep,
                                    seed_spread_table, write_markdown)
from mae_plugin.experiments.cli import (add_cfg_options, add_config_args,
                                        add_seeds_arg)


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
    add_seeds_arg(
        parser,
        minimum=2,
        help="instead of the sweeps, run the config's own point once per "
        'randomness.seed (at least two) and report the spread')
    add_cfg_options(parser, 'every sweep point')
    return parser.parse_args()


def seed_spread(args) -> None:
    """Run and report the seed spread of the config's own point."""
    summary = run_seed_spread(
        args.config,
        args.seeds,
        args.work_dir,
        evaluators=args.evaluators,
        cfg_options=args.cfg_options)
    table = seed_spread_table(summary)
    write_markdown([table], osp.join(args.work_dir, 'seed_spread.md'))
    print(table)


def main():
    args = parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    if args.seeds:
        seed_spread(args)
        return
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
