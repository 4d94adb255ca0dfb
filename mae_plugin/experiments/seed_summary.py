"""Mean +- standard deviation over seeds of the Fashion-MNIST study's
results, so that a reader can tell a difference from seed-to-seed noise."""
import os.path as osp
import re
from typing import Dict, List, Sequence, Tuple

import numpy as np

from mae_plugin.utils import check_seeds
from .fashion_mnist_study import run_fashion_mnist_study
from .report import markdown_table, write_markdown


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``; 0 for one value).

    Raises:
        ValueError: ``values`` is empty.
    """
    if len(values) == 0:
        raise ValueError('values must hold at least one number, got none')
    values = np.asarray(values, dtype=np.float64)
    std = values.std(ddof=1) if len(values) > 1 else 0.
    return float(values.mean()), float(std)


def summarize_study_seeds(runs: Sequence[dict]) -> dict:
    """Gather the results of :func:`run_fashion_mnist_study` runs that
    differ in their seed only.

    Rows are matched by position (every run writes them in the same order)
    and named after the first run, without the parenthesised CPU times
    that differ from run to run (``MAE, 8 epochs (16.7 CPU-min, 8.8
    wall-min), cls token`` -> ``MAE, 8 epochs, cls token``).

    Returns:
        dict: ``seeds``, ``probes`` (per row ``features`` and the lists
        ``linear`` and ``knn``), ``finetune`` (name -> list of top-1) and
        ``equal_compute`` (per run the epochs and CPU minutes of the
        equal-compute baseline).

    Raises:
        ValueError: No runs, or runs with other rows or fine-tunings.
    """
    if not runs:
        raise ValueError('runs must hold at least one study result')
    first = runs[0]
    for run in runs[1:]:
        if (len(run['probes']) != len(first['probes'])
                or set(run['finetune']) != set(first['finetune'])):
            raise ValueError(f'runs of seeds {first.get("seed")} and '
                             f'{run.get("seed")} have different rows')
    probes = [
        dict(
            features=re.sub(r' \([^)]*\)', '', row['features']),
            linear=[run['probes'][i]['linear'] for run in runs],
            knn=[run['probes'][i]['knn'] for run in runs])
        for i, row in enumerate(first['probes'])
    ]
    finetune = {
        name: [run['finetune'][name] for run in runs]
        for name in first['finetune']
    }
    equal_compute = [{
        key: run['equal_compute'][key]
        for key in ('epochs', 'spent_cpu_minutes')
    } for run in runs]
    return dict(
        seeds=[run.get('seed') for run in runs],
        probes=probes,
        finetune=finetune,
        equal_compute=equal_compute)


def _cell(values: List[float]) -> str:
    mean, std = mean_std(values)
    return f'{mean:.1f} +- {std:.1f}'


def format_seed_summary(summary: dict) -> str:
    """Markdown tables of :func:`summarize_study_seeds`: mean +- sample
    standard deviation of top-1 (%) over the seeds."""
    seeds = ', '.join(str(s) for s in summary['seeds'])
    lines = [f'Mean +- standard deviation (ddof=1) over seeds {seeds}.', '']
    lines += markdown_table(
        ['features', 'linear', 'kNN'],
        [(row['features'], _cell(row['linear']), _cell(row['knn']))
         for row in summary['probes']])
    lines.append('')
    lines += markdown_table(['fine-tuning', 'top-1'],
                            [(name, _cell(values))
                             for name, values in summary['finetune'].items()])
    runs = ', '.join(f'{run["epochs"]} epochs in '
                     f'{run["spent_cpu_minutes"]:.1f} CPU-minutes'
                     for run in summary['equal_compute'])
    lines += ['', f'The equal-compute baseline trained for {runs}.']
    return '\n'.join(lines)


def run_study_seeds(seeds: Sequence[int], work_dir: str, out_dir: str,
                    **kwargs) -> Dict[str, object]:
    """Run the study once per seed, each with its own work and report
    folders (``seed_<s>`` under ``work_dir`` and ``out_dir``), then write
    ``fashion_mnist_study_seeds.md`` to ``out_dir``.

    Args:
        seeds (Sequence[int]): The seeds, at least one, each once.
        work_dir (str): Parent folder of the runs.
        out_dir (str): Parent folder of the per-seed reports and of the
            summary.
        **kwargs: Other arguments of :func:`run_fashion_mnist_study`.

    Returns:
        dict: What :func:`summarize_study_seeds` returns.

    Raises:
        ValueError: A seed twice (its second run would overwrite the
            first's folders and the summary report a spread of 0), before
            any run.
    """
    seeds = check_seeds('seeds', seeds)
    runs = [
        run_fashion_mnist_study(
            osp.join(work_dir, f'seed_{seed}'),
            out_dir=osp.join(out_dir, f'seed_{seed}'),
            seed=seed,
            **kwargs) for seed in seeds
    ]
    return write_seed_summary(runs, out_dir)


def write_seed_summary(runs: Sequence[dict], out_dir: str) -> dict:
    """Write ``fashion_mnist_study_seeds.md`` of the study ``runs`` (what
    :func:`run_fashion_mnist_study` returns, or its JSON file holds) to
    ``out_dir`` and return what :func:`summarize_study_seeds` returns."""
    summary = summarize_study_seeds(runs)
    write_markdown(
        ['# Fashion-MNIST study over seeds', '',
         format_seed_summary(summary)],
        osp.join(out_dir, 'fashion_mnist_study_seeds.md'))
    return summary
