"""Small-scale ablation sweeps: pretrain one config per value of an ablated
field with the same budget, evaluate every checkpoint, tabulate and plot the
results beside the paper's ViT-L numbers.

Evaluations are plain functions ``evaluate(cfg, checkpoint, **options) ->
{metric: value}`` (metric names carry their protocol, e.g.
``reconstruction/psnr``, ``linear/cls_top1``) registered by name in
:data:`SWEEP_EVALUATORS`. A pretraining config chooses its evaluations and
their options with a ``sweep_evaluation`` dict, e.g.
``sweep_evaluation = dict(probes=dict(train_images=10000))``.
"""
import inspect
import json
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence

from mmengine.config import Config
from mmengine.runner import find_latest_checkpoint

from .probes import (checkpoint_features, feature_loaders, finetune_accuracy,
                     probe_features)
from .quiet import quiet_logger
from mae_plugin.apis import (build_runner, check_datasets, check_train_inputs,
                             test_config, train_config)
from mae_plugin.utils import check_seeds
from .report import markdown_table, pyplot, save_figure, write_json
from .seed_summary import mean_std
from .timing import Stopwatch

# The swept field and values of each sweep.
SWEEPS = {
    'decoder_depth': ('model.neck.num_layers', (1, 2, 4, 8)),
    'mask_ratio':
    ('model.backbone.masking.mask_ratio', (0.25, 0.5, 0.75, 0.9)),
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
    pretraining config (``ReconstructionMetric``: masked MSE, PSNR, loss)."""
    cfg = test_config(cfg, checkpoint, work_dir=cfg.work_dir)
    cfg.experiment_name = f'{cfg.experiment_name}_test'
    return build_runner(cfg).test()


def evaluate_probes(cfg: Config,
                    checkpoint: str,
                    train_images: Optional[int] = None,
                    test_images: Optional[int] = None) -> Dict[str, float]:
    """Linear probe (logistic regression) and weighted kNN on the frozen
    class token and mean-pooled patches of the pretraining config's
    ``knn_dataloader`` (see
    :func:`~mae_plugin.experiments.probes.feature_loaders` for the
    arguments): ``linear/cls_top1``, ``knn/mean_top1``, ..."""
    loaders = feature_loaders(cfg, train_images, test_images)
    feats = checkpoint_features(cfg, checkpoint, loaders)
    scores = probe_features(feats['train'], feats['test'],
                            len(loaders['train'].dataset.metainfo['classes']))
    return {
        f'{protocol}/{kind}_top1': top1
        for kind, by_protocol in scores.items()
        for protocol, top1 in by_protocol.items()
    }


def evaluate_finetuning(
        cfg: Config,
        checkpoint: str,
        config: str,
        cfg_options: Optional[dict] = None) -> Dict[str, float]:
    """Fine-tune the checkpoint's encoder with a classification ``config``
    (and ``cfg_options``) in ``<point work dir>/finetune``:
    ``finetune/top1``."""
    return {
        'finetune/top1':
        finetune_accuracy(_finetune_config(cfg, config, cfg_options),
                          checkpoint)
    }


def _finetune_config(cfg: Config,
                     config: str,
                     cfg_options: Optional[dict] = None) -> Config:
    """The training config of the point ``cfg``'s fine-tuning: ``config``
    with ``cfg_options`` (:func:`~mae_plugin.apis.train_config`), run in
    ``<point work dir>/finetune``."""
    return train_config(
        config,
        work_dir=osp.join(cfg.work_dir, 'finetune'),
        cfg_options=cfg_options)


SWEEP_EVALUATORS: Dict[str, Callable[..., Dict[str, float]]] = {
    'reconstruction': evaluate_reconstruction,
    'probes': evaluate_probes,
    'finetune': evaluate_finetuning,
}
# What each evaluator reads from the pretraining config, checked before
# the first point trains.
EVALUATOR_NEEDS = {
    'reconstruction': ('test_dataloader', 'test_evaluator', 'test_cfg'),
    'probes': ('knn_dataloader', ),
}
# The paper's protocol beside each of ours (metric prefix -> PAPER_VIT_L key).
PAPER_PROTOCOL = {'linear': 'lin', 'finetune': 'ft'}


def swept_field(sweep: str) -> tuple:
    """``(config key, default values)`` of a sweep of :data:`SWEEPS`."""
    if sweep not in SWEEPS:
        raise KeyError(f'sweep must be one of {sorted(SWEEPS)}, got '
                       f'{sweep!r}')
    return SWEEPS[sweep]


def point_config(config: str, name: str, work_dir: str,
                 options: dict) -> Config:
    """The training config of ``config`` with ``options`` (as
    ``tools/train.py`` makes it, :func:`~mae_plugin.apis.train_config`:
    options checked, the plugin's runner), named ``name`` and run in
    ``<work_dir>/<name>``."""
    cfg = train_config(
        config, work_dir=osp.join(work_dir, name), cfg_options=options)
    cfg.experiment_name = name
    return cfg


def sweep_config(config: str,
                 sweep: str,
                 value,
                 work_dir: str,
                 cfg_options: Optional[dict] = None) -> Config:
    """The config of one sweep point: ``config`` with ``cfg_options`` and
    the swept field set to ``value``; nothing else changes."""
    key = swept_field(sweep)[0]
    return point_config(config, f'{sweep}_{value}', work_dir, {
        **(cfg_options or {}), key: value
    })


def _evaluator_names(cfg: Config,
                     evaluators: Optional[Sequence[str]]) -> List[str]:
    """``evaluators``, else the keys of the config's ``sweep_evaluation``,
    else ``['reconstruction']``.

    The fine-tuning config is built here, with its options, as the
    evaluation builds it (:func:`~mae_plugin.apis.train_config`), and its
    loaders' relative ``data_root`` checked: a bad one failed only once
    the first point had pretrained. It is built quietly: the evaluation's
    build warns (of an earlier run's checkpoints in its work dir, ...).

    Raises:
        KeyError: A name is not in :data:`SWEEP_EVALUATORS`, or the config
            lacks what an evaluator reads (:data:`EVALUATOR_NEEDS`, the
            fine-tuning config).
        TypeError: ``sweep_evaluation.<name>`` holds an option its
            evaluator does not take, or lacks one it needs.
        ValueError, TypeError, FileNotFoundError: What
            :func:`~mae_plugin.apis.train_config` and
            :func:`~mae_plugin.apis.check_datasets` refuse of the
            fine-tuning config and its options.
    """
    names = list(
        evaluators or cfg.get('sweep_evaluation') or ['reconstruction'])
    unknown = set(names) - set(SWEEP_EVALUATORS)
    if unknown:
        raise KeyError(f'evaluators {sorted(unknown)} unknown; choose '
                       f'from {sorted(SWEEP_EVALUATORS)}')
    for name in names:
        missing = [
            key for key in EVALUATOR_NEEDS.get(name, ())
            if cfg.get(key) is None
        ]
        if missing:
            raise KeyError(f'evaluator {name!r} needs `{missing[0]}` in '
                           f'{cfg.filename}, which has none')
    if 'finetune' in names and 'config' not in (
            cfg.get('sweep_evaluation') or {}).get('finetune', {}):
        raise KeyError("evaluator 'finetune' needs the classification "
                       'config as sweep_evaluation.finetune.config in '
                       f'{cfg.filename}')
    options = cfg.get('sweep_evaluation') or {}
    for name in names:
        try:  # the evaluator's call, checkpoint aside
            inspect.signature(SWEEP_EVALUATORS[name]).bind(
                cfg, None, **options.get(name, {}))
        except TypeError as error:
            raise TypeError(f'sweep_evaluation.{name} must hold the options '
                            f'of {SWEEP_EVALUATORS[name].__name__}, got '
                            f'{dict(options.get(name, {}))}: {error}'
                            ) from None
    if 'finetune' in names:
        with quiet_logger():  # its evaluation builds it again, and warns
            finetune_cfg = _finetune_config(cfg, **options['finetune'])
        check_datasets(finetune_cfg, 'train_dataloader', 'test_dataloader')
    return names


def _point_key(cfg: Config, evaluators: Sequence[str]) -> str:
    """What makes two sweep points the same run: their config apart from
    its name and folder, and the evaluations."""
    settings = {
        k: v
        for k, v in cfg.to_dict().items()
        if k not in ('work_dir', 'experiment_name')
    }
    return json.dumps([settings, list(evaluators)],
                      sort_keys=True,
                      default=repr)


def run_sweep(config: str,
              sweep: str,
              work_dir: str,
              evaluators: Optional[Sequence[str]] = None,
              values: Optional[Sequence] = None,
              cfg_options: Optional[dict] = None,
              finished: Optional[Dict[str, dict]] = None) -> List[dict]:
    """Pretrain and evaluate every value of a sweep.

    Args:
        config (str): Pretraining config; its schedule is every point's
            budget, its ``sweep_evaluation`` dict (if any) the options of
            each evaluator.
        sweep (str): A key of :data:`SWEEPS`.
        work_dir (str): One sub-folder per point, plus
            ``<sweep>_results.json``.
        evaluators (Sequence[str], optional): Keys of
            :data:`SWEEP_EVALUATORS`. Defaults to the keys of the config's
            ``sweep_evaluation``, or ``('reconstruction',)`` without one.
        values (Sequence, optional): Values to sweep. Defaults to those of
            :data:`SWEEPS`.
        cfg_options (dict, optional): Overrides for every point.
        finished (dict, optional): Points already run, filled in by this
            call; pass the same dict to several sweeps so that a point they
            share (e.g. the default decoder depth at the default mask
            ratio) is pretrained and evaluated once.

    Returns:
        list[dict]: per value ``value``, ``metrics``, the pretraining and
        evaluation ``cpu_s``/``wall_s`` and the ``run`` (sub-folder) that
        produced them.
    """
    finished = {} if finished is None else finished
    results = []
    for value in values or swept_field(sweep)[1]:
        cfg = sweep_config(config, sweep, value, work_dir, cfg_options)
        names = _evaluator_names(cfg, evaluators)
        key = _point_key(cfg, names)
        if key not in finished:
            finished[key] = _run_point(cfg, names)
        results.append(dict(finished[key], value=value))
    write_json(
        dict(sweep=sweep, results=results),
        osp.join(work_dir, f'{sweep}_results.json'),
        indent=2)
    return results


def run_seed_spread(config: str,
                    seeds: Sequence[int],
                    work_dir: str,
                    evaluators: Optional[Sequence[str]] = None,
                    cfg_options: Optional[dict] = None) -> dict:
    """Pretrain and evaluate the config's own point (no field swept) once
    per ``randomness.seed``, in ``<work_dir>/seed_<s>``, and write
    ``seed_spread_results.json``: how far the sweeps' numbers move with
    the seed alone.

    Args:
        config (str): Pretraining config, as for :func:`run_sweep`.
        seeds (Sequence[int]): At least two seeds.
        work_dir (str): Parent folder of the runs and of the JSON file.
        evaluators (Sequence[str], optional): As for :func:`run_sweep`.
        cfg_options (dict, optional): Overrides for every run.

    Returns:
        dict: ``seeds``, ``results`` (per seed what :func:`run_sweep`
        returns per value, with ``seed``) and ``spread`` (metric ->
        ``(mean, sample std)``).

    Raises:
        TypeError: ``seeds`` is not a list or tuple of ints.
        ValueError: Fewer than two seeds, or a seed twice or out of
            range.
    """
    seeds = check_seeds('seeds', seeds, minimum=2)
    results = []
    for seed in seeds:
        cfg = point_config(config, f'seed_{seed}', work_dir, {
            **(cfg_options or {}), 'randomness.seed': seed
        })
        results.append(
            dict(
                _run_point(cfg, _evaluator_names(cfg, evaluators)), seed=seed))
    spread = {
        metric: mean_std([r['metrics'][metric] for r in results])
        for metric in sorted(results[0]['metrics'])
    }
    summary = dict(seeds=list(seeds), results=results, spread=spread)
    write_json(
        summary, osp.join(work_dir, 'seed_spread_results.json'), indent=2)
    return summary


def seed_spread_table(summary: dict) -> str:
    """A Markdown table of :func:`run_seed_spread`: one row per metric,
    one column per seed, then mean +- sample std and max - min."""
    head = [
        'metric', *(f'seed {s}' for s in summary['seeds']), 'mean +- std',
        'max - min'
    ]
    rows = []
    for metric, (mean, std) in summary['spread'].items():
        values = [r['metrics'][metric] for r in summary['results']]
        rows.append([
            metric, *(f'{v:.2f}' for v in values), f'{mean:.2f} +- {std:.2f}',
            f'{max(values) - min(values):.2f}'
        ])
    return '\n'.join(markdown_table(head, rows))


def _run_point(cfg: Config, evaluators: Sequence[str]) -> dict:
    """Pretrain one point and evaluate its last checkpoint with the
    options of the config's ``sweep_evaluation``; first refuse a relative
    ``data_root`` missing from the working directory, or an image folder
    that lists no image, of the training and of the loaders the evaluators
    read (:func:`~mae_plugin.apis.check_train_inputs`,
    :func:`~mae_plugin.apis.check_datasets`)."""
    check_train_inputs(cfg)
    check_datasets(
        cfg, *(key for name in evaluators
               for key in EVALUATOR_NEEDS.get(name, ())))
    options = cfg.get('sweep_evaluation') or {}
    watch = Stopwatch()
    with watch('pretrain'):
        build_runner(cfg).train()
    checkpoint = find_latest_checkpoint(cfg.work_dir)
    metrics = {}
    with watch('eval'):
        for name in evaluators:
            scores = SWEEP_EVALUATORS[name](cfg, checkpoint,
                                            **options.get(name, {}))
            metrics.update({
                metric: float(score)
                for metric, score in scores.items()
            })
    spent = watch.seconds
    return dict(
        run=cfg.experiment_name,
        pretrain_cpu_s=spent['pretrain']['cpu'],
        pretrain_wall_s=spent['pretrain']['wall'],
        metrics=metrics,
        eval_cpu_s=spent['eval']['cpu'],
        eval_wall_s=spent['eval']['wall'])


def results_table(sweep: str, results: List[dict]) -> str:
    """A Markdown table of our metrics and the paper's ViT-L numbers."""
    metrics = sorted({m for r in results for m in r['metrics']})
    paper = PAPER_VIT_L.get(sweep, {})
    head = [sweep, *metrics, 'pretrain CPU min', 'paper ft', 'paper lin']
    rows = []
    for r in results:
        ref = paper.get(r['value'], {})
        rows.append([
            r['value'], *(f'{r["metrics"][m]:.2f}' for m in metrics),
            f'{r["pretrain_cpu_s"] / 60:.2f}',
            *(ref.get(k, '-') for k in ('ft', 'lin'))
        ])
    return '\n'.join(markdown_table(head, rows))


def plot_sweep(sweep: str, results: List[dict], out_file: str) -> None:
    """One panel per metric (three per row): ours against the swept value
    (left axis) and, for linear probing and fine-tuning, the paper's ViT-L
    accuracies at the same values (right axis)."""
    metrics = sorted({m for r in results for m in r['metrics']})
    paper = PAPER_VIT_L.get(sweep, {})
    cols = min(3, len(metrics))
    rows = -(-len(metrics) // cols)
    fig, axes = pyplot().subplots(
        rows, cols, figsize=(4.5 * cols, 3.5 * rows), squeeze=False)
    values = [r['value'] for r in results]
    for ax, metric in zip(axes.flat, metrics):
        ax.plot(
            values, [r['metrics'][metric] for r in results],
            'o-',
            color='tab:blue',
            label='ours')
        ax.set_xticks(values)
        ax.set_xlabel(sweep.replace('_', ' '))
        ax.set_ylabel(metric, color='tab:blue')
        handles, labels = ax.get_legend_handles_labels()
        key = PAPER_PROTOCOL.get(metric.split('/')[0])
        known = [v for v in values if key in paper.get(v, {})]
        if known:
            twin = ax.twinx()
            twin.plot(
                known, [paper[v][key] for v in known],
                's--',
                color='tab:gray',
                label=f'paper ViT-L ({key})')
            twin.set_ylabel('paper ViT-L IN-1k top-1 (%)', color='tab:gray')
            twin_handles, twin_labels = twin.get_legend_handles_labels()
            handles, labels = handles + twin_handles, labels + twin_labels
        ax.legend(handles, labels, fontsize='small')
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    save_figure(fig, out_file)
