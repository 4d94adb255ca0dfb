"""The step benchmark's report: a Markdown table of the peers and the
ratios between them."""
from typing import Dict

import torch

from .report import markdown_table
from .step_models import BenchmarkSpec
from .timing import PeerResult

COLUMNS = ('peer', 'images/s (median)', 'spread', 'GFLOP/step',
           'achieved GFLOP/s', '% of GEMM', 'peak memory (MiB)', 's/step',
           'optimizer (s/step)', 'matrix products alone (s/step)',
           'images/s bound')


def _peer_row(spec: BenchmarkSpec, r: PeerResult, gemm_rate: float) -> tuple:
    """The table cells of one peer (see :data:`COLUMNS`)."""
    rate = r.flops_per_step * r.median / spec.batch_size
    return (r.name, f'{r.median:.2f}', f'{100 * r.spread:.1f}%',
            f'{r.flops_per_step / 1e9:.1f}', f'{rate / 1e9:.1f}',
            f'{100 * rate / gemm_rate:.0f}%', f'{r.peak_memory / 2**20:.0f}',
            f'{spec.batch_size / r.median:.3f}', f'{r.optimizer_s:.3f}',
            f'{r.matrix_product_s:.3f}',
            f'{spec.batch_size / r.matrix_product_s:.2f}')


def _settings(spec: BenchmarkSpec) -> str:
    """The compile mode and attention kernel, where not the defaults."""
    settings = []
    if spec.compile_mode != 'default':
        settings.append(f'compile mode {spec.compile_mode}')
    if spec.sdpa_backend != 'auto':
        settings.append(f'attention kernel {spec.sdpa_backend}')
    return ''.join(f', {s}' for s in settings)


def format_report(spec: BenchmarkSpec, results: Dict[str, PeerResult],
                  gemm_rate: float) -> str:
    """A markdown table of the results and the ratios between peers."""
    # The CPU's thread count sets both the step's speed and the GEMM rate
    # (``OMP_NUM_THREADS`` or torch's default, one per core).
    device = (f'cpu (torch threads: {torch.get_num_threads()})'
              if spec.device == 'cpu' else spec.device)
    # A zoo name as given ('deit-small'), else the arch dict.
    arch = spec.arch if isinstance(spec.arch, str) else spec.encoder
    lines = [
        f'arch {arch}/{spec.patch_size} {spec.img_size}px, batch '
        f'{spec.batch_size}, mask {spec.mask_ratio}, decoder '
        f'{spec.decoder_dims}x{spec.decoder_depth}, {spec.dtype}, '
        f'{device}, '
        f'{"default AdamW for all" if spec.same_adamw else "own AdamW each"}'
        f'{", torch.compile" if spec.compile else ""}'
        f'{", blocks compiled one by one" if spec.compile_blocks else ""}'
        f'{_settings(spec)}'
        f'; large-GEMM rate {gemm_rate / 1e9:.1f} GFLOP/s', ''
    ]
    lines += markdown_table(
        COLUMNS, [_peer_row(spec, r, gemm_rate) for r in results.values()])
    if 'mae_plugin' in results:
        ours = results['mae_plugin']
        # Our images/s if the step were only its matrix products, and
        # only those plus the optimizer update (memory-bound: it streams
        # the parameters, gradients and moments whatever the batch).
        bound = spec.batch_size / ours.matrix_product_s
        bound_with_update = spec.batch_size / (
            ours.matrix_product_s + ours.optimizer_s)
        lines.append('')
        for name, r in results.items():
            if name != 'mae_plugin':
                alone = r.matrix_product_s / ours.matrix_product_s
                without_optimizer = (
                    (spec.batch_size / r.median - r.optimizer_s) /
                    (spec.batch_size / ours.median - ours.optimizer_s))
                lines.append(
                    f'- mae_plugin / {name}: {ours.median / r.median:.2f}x '
                    f'measured, {without_optimizer:.2f}x without the '
                    f'optimizer updates, {alone:.2f}x in matrix products '
                    f'alone, at most {bound / r.median:.2f}x with everything '
                    f'else free ({bound_with_update / r.median:.2f}x with '
                    'only the optimizer update still paid)')
    return '\n'.join(lines)
