from .crop_fidelity import (CROP_SETTINGS, CropFidelity, format_crop_report,
                            measure_crop_fidelity, time_crops)
from .pipeline_benchmark import (PIPELINES, PipelineSpec, decode_factor_shares,
                                 format_pipeline_report,
                                 run_pipeline_benchmark,
                                 write_benchmark_images)
from .step_benchmark import (PEERS, BenchmarkSpec, PeerResult, format_report,
                             gemm_flops_per_s, run_benchmark)

__all__ = [
    'PEERS', 'BenchmarkSpec', 'PeerResult', 'format_report',
    'gemm_flops_per_s', 'run_benchmark', 'PIPELINES', 'PipelineSpec',
    'decode_factor_shares', 'format_pipeline_report',
    'run_pipeline_benchmark', 'write_benchmark_images', 'CROP_SETTINGS',
    'CropFidelity', 'format_crop_report', 'measure_crop_fidelity',
    'time_crops'
]
