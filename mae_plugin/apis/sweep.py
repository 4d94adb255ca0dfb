"""Small-scale ablation sweeps: pretrain one config per value of an ablated
field with the same budget, evaluate every checkpoint, tabulate and plot the
results beside the paper's ViT-L numbers.

Evaluations are plain functions ``evaluate(cfg, checkpoint) -> {metric:
value}`` (metric names carry their protocol, e.g. ``reconstruction/psnr``)
registered in :data:`SWEEP_EVALUATORS`, so downstream protocols
(linear probe, kNN, fine-tuning) plug in by name next to the reconstruction
quality that is available here.
"""
import json
import os.path as osp
import time
from typing import Callable, Dict, List, Optional, Sequence

from mmengine.config import Config
from mmengine.runner import Runner, find_latest_checkpoint

from .runner import test_config
from .timing import cpu_seconds

# The swept field and values of each sweep.
SWEEPS = {
    'decoder_depth': ('model.neck.num_layers', (1, 2, 4, 8)),
    'mask_ratio': ('model.backbone.masking.mask_ratio', (0.25, 0.5, 0.75,
                                                         0.9)),
}
# ImageNet-1K top-1 of ViT-L/16 after 800 epochs (MAE paper, Table 1a and
# the 75% point of Figure 5): 'ft' fine-tuning, 'lin' linear probing.
PAPER_VIT_L = {
    'decoder_depth': {
        1: dict(ft=84.8, lin=65.5),
        2: dict(ft=84.9, lin=70.0),
        4: dict(ft=84.9, lin=71.9),
        8: dict(ft=84.9, lin=73.5),
        12: dict(ft=84.4, lin=73.3),
    },
    'mask_ratio': {
        0.75: dict(ft=84.9, lin=73.5)
    },
}


def evaluate_reconstruction(cfg: Config, checkpoint: str) -> Dict[str, float]:
    """Reconstruction quality of a checkpoint: the test loop of its
    pretraining config (``ReconstructionMetric``: masked MSE, PSNR)."""
    cfg = test_config(cfg, checkpoint, work_dir=cfg.work_dir)
    cfg.experiment_name = f'{cfg.experiment_name}_test'
    return Runner.from_cfg(cfg).test()


SWEEP_EVALUATORS: Dict[str, Callable[[Config, str], Dict[str, float]]] = {
    'reconstruction': evaluate_reconstruction,
}


def swept_field(sweep: str) -> tuple:
    """``(config key, default values)`` of a sweep of :data:`SWEEPS`."""
    if sweep not in SWEEPS:
        raise KeyError(f'sweep must be one of {sorted(SWEEPS)}, got '
                       f'{sweep!r}')
    return SWEEPS[sweep]


def sweep_config(config: str, sweep: str, value, work_dir: str,
                 cfg_options: Optional[dict] = None) -> Config:
    """The config of one sweep point: ``config`` with ``cfg_options`` and
    the swept field set to ``value``; nothing else changes."""
    key = swept_field(sweep)[0]
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({**(cfg_options or {}), key: value})
    cfg.experiment_name = f'{sweep}_{value}'
    cfg.work_dir = osp.join(work_dir, cfg.experiment_name)
    return cfg


def run_sweep(config: str,
              sweep: str,
              work_dir: str,
              evaluators: Sequence[str] = ('reconstruction', ),
              values: Optional[Sequence] = None,
              cfg_options: Optional[dict] = None) -> List[dict]:
    """Pretrain and evaluate every value of a sweep.

    Args:
        config (str): Pretraining config; its schedule is every point's
            budget.
        sweep (str): A key of :data:`SWEEPS`.
        work_dir (str): One sub-folder per point, plus
            ``<sweep>_results.json``.
        evaluators (Sequence[str]): Keys of :data:`SWEEP_EVALUATORS`.
            Defaults to ``('reconstruction',)``.
        values (Sequence, optional): Values to sweep. Defaults to those of
            :data:`SWEEPS`.
        cfg_options (dict, optional): Overrides for every point.

    Returns:
        list[dict]: per value ``value``, ``metrics`` and the pretraining and
        evaluation ``cpu_s``/``wall_s``.
    """
    unknown = set(evaluators) - set(SWEEP_EVALUATORS)
    if unknown:
        raise KeyError(f'evaluators {sorted(unknown)} unknown; choose from '
                       f'{sorted(SWEEP_EVALUATORS)}')
    results = []
    for value in values or swept_field(sweep)[1]:
        cfg = sweep_config(config, sweep, value, work_dir, cfg_options)
        cpu, wall = cpu_seconds(), time.time()
        Runner.from_cfg(cfg).train()
        record = dict(
            value=value,
            pretrain_cpu_s=cpu_seconds() - cpu,
            pretrain_wall_s=time.time() - wall,
            metrics={})
        checkpoint = find_latest_checkpoint(cfg.work_dir)
        cpu, wall = cpu_seconds(), time.time()
        for name in evaluators:
            metrics = SWEEP_EVALUATORS[name](cfg, checkpoint)
            record['metrics'].update(
                {metric: float(score)
                 for metric, score in metrics.items()})
        record.update(
            eval_cpu_s=cpu_seconds() - cpu, eval_wall_s=time.time() - wall)
        results.append(record)
    with open(osp.join(work_dir, f'{sweep}_results.json'), 'w') as f:
        json.dump(dict(sweep=sweep, results=results), f, indent=2)
    return results


def results_table(sweep: str, results: List[dict]) -> str:
    """A Markdown table of our metrics and the paper's ViT-L numbers."""
    metrics = sorted({m for r in results for m in r['metrics']})
    paper = PAPER_VIT_L.get(sweep, {})
    head = [sweep, *metrics, 'pretrain CPU min', 'paper ft', 'paper lin']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in results:
        ref = paper.get(r['value'], {})
        cells = [str(r['value'])]
        cells += [f'{r["metrics"][m]:.2f}' for m in metrics]
        cells += [f'{r["pretrain_cpu_s"] / 60:.2f}']
        cells += [str(ref.get(k, '-')) for k in ('ft', 'lin')]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def plot_sweep(sweep: str, results: List[dict], out_file: str) -> None:
    """One panel per metric: ours against the swept value (left axis) and
    the paper's ViT-L accuracies at the same values (right axis)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    metrics = sorted({m for r in results for m in r['metrics']})
    paper = PAPER_VIT_L.get(sweep, {})
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(4.5 * len(metrics), 3.5), squeeze=False)
    values = [r['value'] for r in results]
    for ax, metric in zip(axes[0], metrics):
        ax.plot(values, [r['metrics'][metric] for r in results], 'o-',
                color='tab:blue', label='ours')
        ax.set_xticks(values)
        ax.set_xlabel(sweep.replace('_', ' '))
        ax.set_ylabel(metric, color='tab:blue')
        twin = ax.twinx()
        for key, style in (('ft', 's--'), ('lin', '^--')):
            known = [v for v in values if key in paper.get(v, {})]
            if known:
                twin.plot(known, [paper[v][key] for v in known], style,
                          color='tab:gray', label=f'paper ViT-L {key}')
        twin.set_ylabel('paper ViT-L top-1 (%)', color='tab:gray')
        lines = ax.get_legend_handles_labels()
        twin_lines = twin.get_legend_handles_labels()
        ax.legend(lines[0] + twin_lines[0], lines[1] + twin_lines[1],
                  fontsize='small')
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)
