"""Train a config three times — fp32, bf16 autocast from the same seed, and
fp32 from another seed — and compare the loss curves: the bf16 run matches
fp32 within noise when its gap to fp32 is well below the gap between the
two fp32 runs. Writes a JSON of the losses, a PNG plot and a Markdown
table.

The short Fashion-MNIST run of docs/benchmarks.md (316 iterations each):
    python tools/analysis_tools/compare_precision.py \
        configs/mae/mae_vit-tiny-p4_1xb256-coslr-4e_fashion-mnist-sweep.py \
        --work-dir work_dirs/precision --out docs/precision_loss_curves
"""
import argparse
import os

import mae_plugin  # noqa: F401  (registers the plugin)
from mae_plugin.experiments import (check_report_files,
                                    format_precision_report,
                                    plot_precision_check, precision_configs,
                                    run_precision_check, write_json,
                                    write_markdown)
from mae_plugin.experiments.precision_check import REPORT_SUFFIXES
from mae_plugin.experiments.cli import add_cfg_options, add_config_args
from mae_plugin.utils import argparse_type, check_seed, report_input_errors


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    add_config_args(parser, 'training config', 'work_dirs/precision')
    add_cfg_options(parser, 'all three runs')
    parser.add_argument(
        '--seed',
        type=argparse_type(check_seed, 'seed'),
        default=0,
        help='seed of the fp32 and bf16 runs; the third uses seed + 1')
    parser.add_argument(
        '--out',
        type=argparse_type(
            check_report_files, 'out', str, suffixes=REPORT_SUFFIXES),
        help='write OUT.json, OUT.png and OUT.md (default: '
        'WORK_DIR/precision)')
    return parser.parse_args()


def main():
    args = parse_args()
    out = args.out or os.path.join(args.work_dir, 'precision')
    with report_input_errors('compare_precision'):  # before any run
        configs = precision_configs(args.config, args.work_dir, args.seed,
                                    args.cfg_options)
    result = run_precision_check(configs)
    report = format_precision_report(result)
    write_json(result, out + '.json')
    write_markdown([report], out + '.md')
    plot_precision_check(result, out + '.png')
    print(report)


if __name__ == '__main__':
    main()
