"""Experiments above the public API: the Fashion-MNIST study, the ablation
sweep, the precision check, the probes, the benchmarks and their one report
writer (:mod:`.report`)."""
from .crop_fidelity import (CROP_SETTINGS, CropFidelity, format_crop_report,
                            measure_crop_fidelity, time_crops)
from .decode_check import (DECODERS, DecodeCheck, check_decoder,
                           format_decode_check)
from .fashion_mnist_study import (EPOCH_CONFIGS, FINETUNE_CONFIG,
                                  PRETRAIN_CONFIG, SCRATCH_CONFIG,
                                  check_study_epochs, equal_compute_epochs,
                                  run_fashion_mnist_study)
from .flop_count import gemm_flops_per_s
from .paths import config_path
from .pipeline_benchmark import (PIPELINES, PipelineSpec, decode_factor_shares,
                                 format_pipeline_report,
                                 run_pipeline_benchmark,
                                 write_benchmark_images)
from .precision_check import (format_precision_report, plot_precision_check,
                              precision_configs, run_precision_check)
from .probes import (checkpoint_features, feature_loaders, finetune_accuracy,
                     probe_features)
from .report import (check_report_files, markdown_table, pyplot,
                     save_figure, write_json, write_markdown)
from .seed_summary import (format_seed_summary, mean_std, run_study_seeds,
                           summarize_study_seeds, write_seed_summary)
from .step_benchmark import run_benchmark
from .study_report import write_study_report
from .step_models import PEERS, BenchmarkSpec
from .step_report import format_report
from .sweep import (SWEEP_EVALUATORS, SWEEPS, plot_sweep, results_table,
                    run_seed_spread, run_sweep, seed_spread_table)
from .timing import PeerResult, cpu_seconds
from .quiet import quiet_logger
from .train_benchmark import (LoaderThroughput, TrainThroughput,
                              benchmark_config, benchmark_loader,
                              benchmark_training, format_loader_report,
                              format_training_report)

__all__ = [
    'CROP_SETTINGS', 'CropFidelity', 'format_crop_report',
    'measure_crop_fidelity', 'time_crops', 'DECODERS', 'DecodeCheck',
    'check_decoder', 'format_decode_check', 'EPOCH_CONFIGS',
    'FINETUNE_CONFIG', 'PRETRAIN_CONFIG', 'SCRATCH_CONFIG',
    'check_study_epochs', 'run_fashion_mnist_study',
    'write_study_report', 'equal_compute_epochs', 'gemm_flops_per_s',
    'config_path', 'PIPELINES', 'PipelineSpec', 'decode_factor_shares',
    'format_pipeline_report', 'run_pipeline_benchmark',
    'write_benchmark_images', 'format_precision_report',
    'plot_precision_check', 'precision_configs', 'run_precision_check',
    'checkpoint_features',
    'feature_loaders', 'finetune_accuracy', 'probe_features',
    'check_report_files', 'markdown_table',
    'pyplot', 'save_figure', 'write_json', 'write_markdown',
    'format_seed_summary', 'mean_std', 'run_study_seeds', 'write_seed_summary',
    'summarize_study_seeds', 'run_benchmark', 'PEERS', 'BenchmarkSpec',
    'format_report', 'SWEEP_EVALUATORS', 'SWEEPS', 'plot_sweep',
    'results_table', 'run_sweep', 'run_seed_spread', 'seed_spread_table',
    'PeerResult', 'cpu_seconds', 'TrainThroughput', 'benchmark_training',
    'LoaderThroughput', 'benchmark_loader', 'format_loader_report',
    'format_training_report', 'benchmark_config', 'quiet_logger'
]
