"""Does bf16 autocast train like fp32? Three short runs of one config —
fp32 and bf16 autocast from the same seed (same initial weights, data order
and masks), and fp32 from another seed — and the per-iteration gaps
between their losses.

The fp32 run from another seed sets the scale of "noise": bf16 matches
fp32 within noise when its gap to the fp32 run is well below the gap
between two fp32 runs that differ only in their random draws.
"""
import os.path as osp
import re
import time
from typing import Dict, List, Optional

import numpy as np
from mmengine.config import Config

from mae_plugin.apis import build_runner, check_train_inputs, train_config
from .report import markdown_table, pyplot, save_figure

#: The suffixes of the report's files after its path (``--out``).
REPORT_SUFFIXES = ('.json', '.md', '.png')
# (run name, mixed precision, seed offset)
RUNS = (('fp32', False, 0), ('bf16', True, 0), ('fp32, other seed', False, 1))


def precision_configs(config: str,
                      work_dir: str,
                      seed: int = 0,
                      cfg_options: Optional[dict] = None) -> Dict[str, Config]:
    """The training config of each run of :data:`RUNS`, checked before any
    of them trains.

    Args:
        config (str): Training config.
        work_dir (str): Parent folder of the runs' folders.
        seed (int): ``randomness.seed`` of the fp32 and bf16 runs; the
            third run's is ``seed + 1``. Defaults to 0.
        cfg_options (dict, optional): Other overrides of every run.

    Returns:
        dict: Run name -> its config, as ``tools/train.py`` makes it
        (:func:`~mae_plugin.apis.train_config`), without validation.

    Raises:
        FileNotFoundError: A relative ``data_root`` that is no folder in
            the working directory, an ``ImageFolder`` folder that does not
            exist, or a missing ``Pretrained`` checkpoint
            (:func:`~mae_plugin.apis.check_train_inputs`).
        ValueError: An ``ImageFolder`` folder that holds no image
            (:func:`~mae_plugin.apis.check_train_inputs`), or what
            :func:`~mae_plugin.apis.train_config` refuses.
    """
    configs = {}
    for name, amp, offset in RUNS:
        cfg = train_config(
            config,
            work_dir=osp.join(work_dir, re.sub(r'\W+', '_', name)),
            amp=amp,
            no_validate=True,
            cfg_options=dict(cfg_options or {},
                             **{'randomness.seed': seed + offset}))
        check_train_inputs(cfg)
        configs[name] = cfg
    return configs


def train_losses(cfg: Config) -> dict:
    """Train with ``cfg`` once and return its loss at every iteration.

    Returns:
        dict: ``losses`` (list of floats, one per iteration), ``cpu_s``
        (process CPU seconds of the training) and the ``optim_wrapper``
        type that ran.
    """
    # a fresh message hub (its instance is named after the experiment)
    cfg.experiment_name = f'{osp.basename(cfg.work_dir)}_{time.time_ns()}'
    runner = build_runner(cfg)
    start = time.process_time()
    runner.train()
    return dict(
        losses=[
            float(v)
            for v in runner.message_hub.get_scalar('train/loss').data[0]
        ],
        cpu_s=time.process_time() - start,
        optim_wrapper=type(runner.optim_wrapper).__name__)


def mean_gap(a: List[float], b: List[float]) -> float:
    """Mean absolute per-iteration difference of two loss curves."""
    return float(np.abs(np.asarray(a) - np.asarray(b)).mean())


def run_precision_check(configs: Dict[str, Config]) -> dict:
    """Train the three runs of :data:`RUNS` and measure their gaps.

    Args:
        configs (dict): The runs' configs, from :func:`precision_configs`.

    Returns:
        dict: ``config`` (the file) and ``seed`` (of the fp32 run), ``runs``
        (name to :func:`train_losses`' dict), ``bf16_gap`` (mean
        per-iteration |bf16 - fp32|), ``seed_gap`` (the same between the
        two fp32 runs), and ``final`` (name to the mean loss of the last
        tenth of the iterations).
    """
    runs = {name: train_losses(cfg) for name, cfg in configs.items()}
    fp32 = runs['fp32']['losses']
    tail = max(1, len(fp32) // 10)
    return dict(
        config=configs['fp32'].filename,
        seed=configs['fp32'].randomness.seed,
        runs=runs,
        bf16_gap=mean_gap(runs['bf16']['losses'], fp32),
        seed_gap=mean_gap(runs['fp32, other seed']['losses'], fp32),
        final={
            name: float(np.mean(run['losses'][-tail:]))
            for name, run in runs.items()
        })


def format_precision_report(result: dict) -> str:
    """Markdown table of the runs and the two gaps."""
    lines = markdown_table([
        'run', 'optimizer wrapper', 'iterations', 'first loss',
        'final loss (last 10%)', 'CPU s'
    ], [(name, run['optim_wrapper'], len(
        run['losses']), f"{run['losses'][0]:.4f}",
         f"{result['final'][name]:.4f}", f"{run['cpu_s']:.0f}")
        for name, run in result['runs'].items()])
    ratio = result['bf16_gap'] / result['seed_gap']
    lines += [
        '', f"mean per-iteration |bf16 - fp32|: {result['bf16_gap']:.5f}",
        f"mean per-iteration |fp32 other seed - fp32|: "
        f"{result['seed_gap']:.5f}", f'bf16 gap / seed gap: {ratio:.3f}'
    ]
    return '\n'.join(lines)


def plot_precision_check(result: dict, out_file: str) -> None:
    """Loss against iteration for the three runs (top) and the two gaps
    (bottom), as a PNG."""
    fp32 = np.asarray(result['runs']['fp32']['losses'])
    fig, (top, bottom) = pyplot().subplots(2, 1, figsize=(7, 6), sharex=True)
    colours = {name: f'C{i}' for i, name in enumerate(result['runs'])}
    for name, run in result['runs'].items():
        top.plot(run['losses'], label=name, color=colours[name], linewidth=1)
    top.set_ylabel('training loss')
    top.legend()
    for name in ('bf16', 'fp32, other seed'):
        gap = np.abs(np.asarray(result['runs'][name]['losses']) - fp32)
        bottom.plot(
            gap, label=f'|{name} - fp32|', color=colours[name], linewidth=1)
    bottom.set_yscale('log')
    bottom.set_xlabel('iteration')
    bottom.set_ylabel('loss gap')
    bottom.legend()
    fig.suptitle(osp.basename(result['config']))
    save_figure(fig, out_file)
