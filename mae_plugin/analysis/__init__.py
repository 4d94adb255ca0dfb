from .step_benchmark import (PEERS, BenchmarkSpec, PeerResult, format_report,
                             gemm_flops_per_s, run_benchmark)

__all__ = [
    'PEERS', 'BenchmarkSpec', 'PeerResult', 'format_report',
    'gemm_flops_per_s', 'run_benchmark'
]
