"""Benchmark the MAE pretraining step against mmpretrain and Hugging Face.

Example (the issue's CPU setting):
    python tools/analysis_tools/benchmark_pretrain.py --arch base \
        --batch-size 8 --dtype fp32

On the CPU the step and the GEMM rate use torch's threads (one per core
unless ``OMP_NUM_THREADS`` says otherwise); the report names their count.
"""
import argparse
import dataclasses

import torch

import mae_plugin  # noqa: F401
from mae_plugin.experiments import (PEERS, BenchmarkSpec, format_report,
                                    gemm_flops_per_s, run_benchmark,
                                    write_json)
from mae_plugin.experiments.step_models import COMPILE_MODES, SDPA_BACKENDS
from mae_plugin.experiments.cli import (add_json_arg, add_spec_args,
                                        add_timing_args, spec_from_args)
from mae_plugin.utils import (add_device_arg, argparse_type,
                              check_device_arg, check_positive_int,
                              report_input_errors)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    add_spec_args(
        parser,
        BenchmarkSpec(),
        names=('arch', 'img_size', 'patch_size', 'batch_size', 'mask_ratio',
               'decoder_dims', 'decoder_depth', 'decoder_heads', 'dtype',
               'same_adamw', 'compile', 'compile_blocks',
               'compile_mode', 'sdpa_backend'),
        dtype=dict(choices=['fp32', 'bf16', 'fp16']),
        compile_mode=dict(
            choices=COMPILE_MODES,
            help="torch.compile's mode with --compile or --compile-blocks "
            '(reduce-overhead: CUDA graphs)'),
        sdpa_backend=dict(
            choices=list(SDPA_BACKENDS),
            help="every peer's attention kernel (auto: torch's choice)"),
        same_adamw=dict(
            help="PyTorch's default AdamW for every peer instead of each "
            "one's own (the plugin: fused)"),
        compile=dict(
            help="torch.compile every peer's forward and loss (compiled "
            'during the warm-up steps)'),
        compile_blocks=dict(
            help="torch.compile each of every peer's transformer blocks on "
            'its own instead (as the runner\'s compile.regions)'))
    add_device_arg(parser, default=BenchmarkSpec().device)
    parser.add_argument(
        '--peers', nargs='+', default=list(PEERS), choices=PEERS)
    add_timing_args(parser, warmup=2, rounds=5)
    parser.add_argument(
        '--steps', type=argparse_type(check_positive_int, 'steps'), default=3)
    add_json_arg(parser)
    args = parser.parse_args()
    check_device_arg(parser, args)
    return args


def main():
    args = parse_args()
    with report_input_errors('benchmark_pretrain'):  # before any model
        spec = spec_from_args(BenchmarkSpec, args)
    results = run_benchmark(
        spec,
        args.peers,
        warmup=args.warmup,
        rounds=args.rounds,
        steps=args.steps)
    gemm = gemm_flops_per_s(spec.device, spec.dtype)
    print(format_report(spec, results, gemm))
    if args.json:
        write_json(
            dict(
                spec=vars(spec),
                gemm_flops_per_s=gemm,
                cpu_threads=torch.get_num_threads(),
                peers={
                    name: dataclasses.asdict(r)
                    for name, r in results.items()
                }),
            args.json,
            indent=2)


if __name__ == '__main__':
    main()
