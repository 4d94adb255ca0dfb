"""Benchmark the MAE pretraining step against mmpretrain and Hugging Face.

Example (the issue's CPU setting):
    python tools/analysis_tools/benchmark_pretrain.py --arch base \
        --batch-size 8 --dtype fp32

On the CPU the step and the GEMM rate use torch's threads (one per core
unless ``OMP_NUM_THREADS`` says otherwise); the report names their count.
"""
import argparse
import dataclasses
import json

import torch

import mae_plugin  # noqa: F401
from mae_plugin.analysis import (PEERS, BenchmarkSpec, format_report,
                                 gemm_flops_per_s, run_benchmark)


def parse_args():
    spec = BenchmarkSpec()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--arch', default=spec.arch)
    parser.add_argument('--img-size', type=int, default=spec.img_size)
    parser.add_argument('--patch-size', type=int, default=spec.patch_size)
    parser.add_argument('--batch-size', type=int, default=spec.batch_size)
    parser.add_argument('--mask-ratio', type=float, default=spec.mask_ratio)
    parser.add_argument(
        '--decoder-dims', type=int, default=spec.decoder_dims)
    parser.add_argument(
        '--decoder-depth', type=int, default=spec.decoder_depth)
    parser.add_argument(
        '--decoder-heads', type=int, default=spec.decoder_heads)
    parser.add_argument(
        '--dtype', choices=['fp32', 'bf16', 'fp16'], default=spec.dtype)
    parser.add_argument('--device', default=spec.device)
    parser.add_argument(
        '--same-adamw',
        action='store_true',
        help="PyTorch's default AdamW for every peer instead of each one's "
        'own (the plugin: fused)')
    parser.add_argument(
        '--compile',
        action='store_true',
        help="torch.compile every peer's forward and loss (compiled during "
        'the warm-up steps)')
    parser.add_argument(
        '--peers', nargs='+', default=list(PEERS), choices=PEERS)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--json', help='also write the results here')
    return parser.parse_args()


def main():
    args = parse_args()
    spec = BenchmarkSpec(
        arch=args.arch,
        img_size=args.img_size,
        patch_size=args.patch_size,
        batch_size=args.batch_size,
        mask_ratio=args.mask_ratio,
        decoder_dims=args.decoder_dims,
        decoder_depth=args.decoder_depth,
        decoder_heads=args.decoder_heads,
        dtype=args.dtype,
        device=args.device,
        same_adamw=args.same_adamw,
        compile=args.compile)
    results = run_benchmark(
        spec, args.peers, warmup=args.warmup, rounds=args.rounds,
        steps=args.steps)
    gemm = gemm_flops_per_s(spec.device, spec.dtype)
    print(format_report(spec, results, gemm))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(
                dict(
                    spec=vars(spec),
                    gemm_flops_per_s=gemm,
                    cpu_threads=torch.get_num_threads(),
                    peers={
                        name: dataclasses.asdict(r)
                        for name, r in results.items()
                    }),
                f,
                indent=2)


if __name__ == '__main__':
    main()
