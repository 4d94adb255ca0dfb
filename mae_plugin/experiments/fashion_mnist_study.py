"""The Fashion-MNIST study: does our MAE learn useful representations?

One call pretrains the small MAE of
``configs/mae/mae_vit-tiny-p4_1xb256-coslr-16e_fashion-mnist.py`` (kNN
accuracy logged every epoch), probes its frozen features with a logistic
regression and a weighted kNN against a randomly initialised encoder and
raw pixels, fine-tunes it against the same ViT trained from scratch for
the same epochs and for as many CPU minutes as MAE's pretraining and
fine-tuning took, and writes a markdown report, a JSON file and a plot of
pretraining loss and kNN accuracy over epochs.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config

from mae_plugin.datasets import DEBIAN_FASHION_MNIST
from mae_plugin.engine import KNNEvalHook
from mae_plugin.apis import build_runner, fewest_epochs, train_config
from mae_plugin.utils import (check_config_path, check_number,
                              check_output_folder, check_positive_int,
                              load_config, merge_cfg_options)
from .paths import config_path
from .quiet import quiet_logger
from .probes import (Features, check_knn_dataloader, checkpoint_features,
                     feature_loaders, finetune_accuracy, probe_features,
                     raw_pixel_features)
from .study_report import FEATURE_KINDS, write_study_report
from .timing import EpochStatsHook, Stopwatch

PRETRAIN_CONFIG = config_path(
    'mae', 'mae_vit-tiny-p4_1xb256-coslr-16e_fashion-mnist.py')
FINETUNE_CONFIG = config_path('benchmarks', 'classification', 'fashion_mnist',
                              'vit-tiny-p4_1xb256-coslr-3e_fashion-mnist.py')
SCRATCH_CONFIG = FINETUNE_CONFIG.replace('.py', '-scratch.py')
#: The configs that train for each epoch count of the study by default
#: (the fine-tuning epochs are those of both same-epochs runs).
EPOCH_CONFIGS = dict(
    pretrain_epochs=(PRETRAIN_CONFIG, ),
    finetune_epochs=(FINETUNE_CONFIG, SCRATCH_CONFIG),
    scratch_epochs=(SCRATCH_CONFIG, ))
PROBE_STAGE = 'probes (logistic regression and kNN)'
EQUAL_COMPUTE = 'from scratch, equal compute'
#: The sub-folder of the work dir of the equal-compute run.
EQUAL_COMPUTE_DIR = 'finetune_scratch_equal_compute'


def _set_dataset_fields(node, **fields) -> None:
    """Set ``fields`` in every Fashion-MNIST dataset dict of a config."""
    if isinstance(node, dict):
        if node.get('type') == 'FashionMNISTIdx':
            node.update({k: v for k, v in fields.items() if v is not None})
        for value in node.values():
            _set_dataset_fields(value, **fields)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _set_dataset_fields(value, **fields)


def check_study_epochs(name: str,
                       epochs: Optional[int],
                       configs: Sequence[str],
                       cfg_options: Optional[dict] = None) -> Optional[int]:
    """Return ``epochs`` if each of ``configs`` (with ``cfg_options``)
    can train for that many: an int >= 1 and at least the fewest
    ``train_cfg.max_epochs`` its schedule takes
    (:func:`~mae_plugin.apis.fewest_epochs`: a cosine that follows a
    1-epoch warm-up needs 2). Checked before the study trains anything:
    the fine-tuning configs refused 1 epoch only once the pretraining and
    probes were over.

    Args:
        name (str): What the user calls the count (``finetune_epochs``).
        epochs (int, optional): The count; None (each config's own)
            passes.
        configs (Sequence[str]): The configs that train for ``epochs``.
        cfg_options (dict, optional): Overrides of those configs
            (``key.sub=value`` style). Defaults to None.

    Raises:
        TypeError: ``epochs`` is not an int.
        ValueError: ``epochs`` is below 1 or below what a config's
            schedule takes (the config and its scheduler named), or an
            option's first key is a misspelling of the config's.
    """
    if epochs is None:
        return None
    check_positive_int(name, epochs)
    for config in configs:
        cfg = load_config(config)
        fewest, reason = fewest_epochs(
            merge_cfg_options(cfg, dict(cfg_options or {})))
        if epochs < fewest:
            raise ValueError(
                f'{name} must be an int >= {fewest}, the fewest epochs '
                f'{osp.basename(config)} trains for ({reason}), got '
                f'{epochs}')
    return epochs


def _config(path: str, work_dir: str, data_root: str,
            train_subset: Optional[int], test_subset: Optional[int],
            max_epochs: Optional[int], cfg_options: Optional[dict]) -> Config:
    """A study stage's config: data root, subsets and epochs applied.

    Raises:
        FileNotFoundError: ``data_root`` does not exist.
    """
    if not osp.isdir(data_root):
        raise FileNotFoundError(
            f'data_root {data_root!r} does not exist; install Fashion-MNIST '
            'with `apt-get install dataset-fashion-mnist` (see README)')
    options = dict(cfg_options or {})
    if max_epochs is not None:
        options['train_cfg.max_epochs'] = max_epochs
    cfg = train_config(path, work_dir=work_dir, cfg_options=options)
    _set_dataset_fields(cfg._cfg_dict, data_root=data_root)
    _set_dataset_fields(cfg.train_dataloader, indices=train_subset)
    for key in ('val_dataloader', 'test_dataloader'):
        _set_dataset_fields(cfg.get(key), indices=test_subset)
    for hook in cfg.get('custom_hooks', []):
        if hook['type'] == 'KNNEvalHook':
            _set_dataset_fields(hook['query_dataloader'], indices=test_subset)
            memory = hook['memory_dataloader']['dataset']
            sizes = [n for n in (memory.get('indices'), train_subset) if n]
            memory['indices'] = min(sizes) if sizes else None
    return cfg


def _probe_rows(name: str, train: Features, test: Features,
                num_classes: int) -> List[dict]:
    """Table rows (linear probe, kNN) of every feature kind."""
    return [
        dict(
            features=f'{name}, {FEATURE_KINDS[kind]}'
            if kind in FEATURE_KINDS else name,
            **scores)
        for kind, scores in probe_features(train, test, num_classes).items()
    ]


def _check_recorded_epochs(cfg: Config, probe_epochs: Sequence[int]) -> None:
    """Refuse a pretraining config that would not record what the study
    reads: one :class:`KNNEvalHook` evaluating every epoch (the report
    plots each epoch's accuracy) and a checkpoint kept of every probe
    epoch and of the last.

    Raises:
        KeyError: The config has no ``knn_dataloader``.
        ValueError: No or several ``KNNEvalHook``, one of another
            ``interval``, ``probe_epochs`` outside the pretraining epochs,
            or a checkpoint hook that saves or keeps none of a probe
            epoch or of the last one.
    """
    check_knn_dataloader(cfg)
    knn_hooks = [h for h in cfg.get('custom_hooks') or []
                 if h.get('type') == 'KNNEvalHook']
    if len(knn_hooks) != 1:
        raise ValueError(f'custom_hooks must hold one KNNEvalHook (the '
                         f'study reads its accuracies), got {len(knn_hooks)}')
    if knn_hooks[0].get('interval', 1) != 1:
        raise ValueError(f"the KNNEvalHook's interval must be 1 (the study "
                         f'plots every epoch), got '
                         f'{knn_hooks[0]["interval"]!r}')
    last_epoch = cfg.train_cfg.max_epochs
    bad = [e for e in probe_epochs if not 1 <= e <= last_epoch]
    if bad:
        raise ValueError(f'probe_epochs {bad} are outside the {last_epoch} '
                         'pretraining epochs')
    saving = cfg.get('default_hooks', {}).get('checkpoint') or {}
    interval = saving.get('interval', -1)
    keep = saving.get('max_keep_ckpts', -1)
    saved = set(range(interval, last_epoch + 1, interval)
                ) if interval >= 1 else set()
    if saving.get('save_last', True):
        saved.add(last_epoch)
    kept = sorted(saved)[-keep:] if keep > 0 else saved
    missing = sorted((set(probe_epochs) | {last_epoch}) - set(kept))
    if missing:
        raise ValueError(
            f'default_hooks.checkpoint (interval={interval}, max_keep_ckpts'
            f'={keep}) keeps no checkpoint of epochs {missing}, which the '
            'study probes')


def _pretrain(cfg: Config, probe_epochs: Sequence[int]) -> List[dict]:
    """Pretrain; per epoch the mean loss, CPU and wall minutes so far and
    the kNN accuracies of :class:`KNNEvalHook`.

    Raises:
        KeyError, ValueError: What :func:`_check_recorded_epochs` refuses,
            before training.
    """
    _check_recorded_epochs(cfg, probe_epochs)
    runner = build_runner(cfg)
    stats = EpochStatsHook()
    runner.register_hook(stats, priority='LOWEST')
    runner.train()
    knn_history = next(
        h.history for h in runner.hooks if isinstance(h, KNNEvalHook))
    return [{**s, **k} for s, k in zip(stats.history, knn_history)]


def _probe_encoders(cfg: Config, encoders: Sequence[tuple], loaders: dict,
                    num_classes: int, watch: Stopwatch) -> List[dict]:
    """Probe rows of each ``(name, checkpoint or None)`` encoder."""
    rows = []
    for name, checkpoint in encoders:
        with watch('feature extraction'):
            feats = checkpoint_features(cfg, checkpoint, loaders)
        with watch(PROBE_STAGE):
            rows += _probe_rows(name, feats['train'], feats['test'],
                                num_classes)
    return rows


def _study_encoders(pre_dir: str, pretraining: List[dict],
                    probe_epochs: Sequence[int],
                    last_epoch: int) -> List[tuple]:
    """The ``(name, checkpoint or None)`` encoders to probe: random-init,
    then MAE after each of ``probe_epochs`` and after ``last_epoch``."""
    encoders = [('random-init encoder', None)]
    for epoch in sorted(set(probe_epochs) | {last_epoch}):
        spent = pretraining[epoch - 1]
        encoders.append((f'MAE, {epoch} epochs ({spent["cpu_minutes"]:.1f} '
                         f'CPU-min, {spent["wall_minutes"]:.1f} wall-min)',
                         osp.join(pre_dir, f'epoch_{epoch}.pth')))
    return encoders


def _probe_stage(cfg: Config, encoders: Sequence[tuple], loaders: dict,
                 watch: Stopwatch) -> List[dict]:
    """Probe rows of raw pixels, then of each encoder of
    :func:`_study_encoders`."""
    num_classes = len(loaders['train'].dataset.metainfo['classes'])
    with watch(PROBE_STAGE):
        rows = _probe_rows('raw pixels', raw_pixel_features(loaders['train']),
                           raw_pixel_features(loaders['test']), num_classes)
    return rows + _probe_encoders(cfg, encoders, loaders, num_classes, watch)


def _same_epochs_runs(checkpoint: Optional[str], configs: tuple,
                      finetune_epochs: int) -> List[tuple]:
    """The fine-tuning runs ``(name, sub-folder, config, checkpoint or
    None, epochs)`` of ``finetune_epochs``: the fine-tuning config of
    ``configs`` from ``checkpoint``, and their from-scratch config."""
    finetune_config, scratch_config = configs
    return [('MAE-initialised', 'finetune_mae', finetune_config, checkpoint,
             finetune_epochs),
            ('from scratch', 'finetune_scratch', scratch_config, None,
             finetune_epochs)]


def _run_config(run: tuple, work_dir: str, cfg_options: dict,
                data: dict) -> Config:
    """The config of a fine-tuning run ``(name, sub-folder, config,
    checkpoint or None, epochs)`` (see :func:`_config`)."""
    _, run_dir, path, _, epochs = run
    return _config(
        path,
        work_dir=osp.join(work_dir, run_dir),
        max_epochs=epochs,
        cfg_options=cfg_options,
        **data)


def _finetune_runs(runs: Sequence[tuple], work_dir: str, watch: Stopwatch,
                   cfg_options: dict, data: dict) -> Dict[str, float]:
    """Top-1 (%) of each fine-tuning run ``(name, sub-folder, config,
    checkpoint or None, epochs)``, each timed by ``watch``."""
    finetune = {}
    for run in runs:
        name, checkpoint = run[0], run[3]
        with watch(f'fine-tuning ({name})'):
            finetune[name] = finetune_accuracy(
                _run_config(run, work_dir, cfg_options, data), checkpoint)
    return finetune


def equal_compute_epochs(pretrain_cpu_minutes: float,
                         finetune_cpu_minutes: float,
                         epoch_cpu_minutes: float,
                         min_epochs: int = 1) -> int:
    """Epochs of a from-scratch baseline that costs what MAE cost.

    Args:
        pretrain_cpu_minutes (float): MAE's pretraining steps (without the
            evaluations between epochs).
        finetune_cpu_minutes (float): MAE's fine-tuning.
        epoch_cpu_minutes (float): One epoch of the baseline, measured.
        min_epochs (int): The fewest epochs returned. Defaults to 1.

    Returns:
        int: ``(pretrain + finetune) / epoch`` CPU minutes, rounded to the
        nearest whole epoch, and at least ``min_epochs``.

    Raises:
        ValueError: A minute count is not a number > 0.
    """
    for name, value in (('pretrain_cpu_minutes', pretrain_cpu_minutes),
                        ('finetune_cpu_minutes', finetune_cpu_minutes),
                        ('epoch_cpu_minutes', epoch_cpu_minutes)):
        check_number(name, value, low=0, low_open=True)
    budget = pretrain_cpu_minutes + finetune_cpu_minutes
    return max(min_epochs, round(budget / epoch_cpu_minutes))


def _equal_compute_run(pretraining: List[dict], minutes: dict,
                       finetune_epochs: int, scratch_epochs: Optional[int],
                       scratch_config: str) -> tuple:
    """The fine-tuning run ``(name, sub-folder, config, None, epochs)`` of
    the equal-compute baseline, and what its epochs were weighed from."""
    equal = dict(
        pretrain_cpu_minutes=pretraining[-1]['step_cpu_minutes'],
        finetune_cpu_minutes=minutes['fine-tuning (MAE-initialised)']['cpu'],
        epoch_cpu_minutes=minutes['fine-tuning (from scratch)']['cpu'] /
        finetune_epochs)
    equal['epochs'] = scratch_epochs or equal_compute_epochs(
        **equal, min_epochs=finetune_epochs)
    return (EQUAL_COMPUTE, EQUAL_COMPUTE_DIR, scratch_config, None,
            equal['epochs']), equal


def _check_finetune_configs(work_dir: str, configs: tuple, epochs: tuple,
                            cfg_options: dict, data: dict) -> int:
    """Build the config of every fine-tuning run of :func:`_finetune_stage`
    as the stage does (:func:`_config`: the config file, its options, the
    epochs against its schedule, the work dir, the data root), before
    anything trains: the options of the fine-tuning configs were read
    only once pretraining and the probes were over, and checked by
    :func:`~mae_plugin.apis.train_config` only then. The equal-compute
    run, whose epochs are weighed later, is built with ``scratch_epochs``,
    else ``finetune_epochs`` (the fewest it trains for). They are built
    quietly: each run's own build warns (of an earlier run's checkpoints
    in its work dir, ...), once.

    Args:
        work_dir (str): Parent folder of the runs' work dirs.
        configs (tuple): The fine-tuning and from-scratch configs.
        epochs (tuple): ``finetune_epochs`` and ``scratch_epochs`` of
            :func:`run_fashion_mnist_study` (None: the default).
        cfg_options (dict): Options of every fine-tuning config.
        data (dict): ``data_root``, ``train_subset`` and ``test_subset``.

    Returns:
        int: The fine-tuning epochs: ``finetune_epochs``, else the
        ``train_cfg.max_epochs`` of the fine-tuning config with
        ``cfg_options`` (which the runs would otherwise set back to the
        file's).
    """
    finetune_epochs, scratch_epochs = epochs
    if finetune_epochs is None:
        finetune_epochs = merge_cfg_options(
            load_config(check_config_path('finetune_config', configs[0])),
            dict(cfg_options or {})).train_cfg.max_epochs
    equal = (EQUAL_COMPUTE, EQUAL_COMPUTE_DIR, configs[1], None,
             scratch_epochs or finetune_epochs)
    runs = _same_epochs_runs(None, configs, finetune_epochs) + [equal]
    with quiet_logger():  # the runs build them again, and warn
        for run in runs:
            _run_config(run, work_dir, cfg_options, data)
    return finetune_epochs


def _finetune_stage(checkpoint: str, pretraining: List[dict], watch: Stopwatch,
                    work_dir: str, configs: tuple, epochs: tuple,
                    cfg_options: dict, data: dict) -> tuple:
    """Fine-tune ``checkpoint`` and, from scratch, a random encoder for the
    same epochs, then from scratch for the compute MAE took.

    Args:
        checkpoint (str): The MAE checkpoint to fine-tune from.
        pretraining (list[dict]): The per-epoch pretraining records; the
            last one's ``step_cpu_minutes`` is weighed for equal compute.
        watch (Stopwatch): Times each fine-tuning run.
        work_dir (str): Parent folder of the runs' work dirs.
        configs (tuple): The fine-tuning and from-scratch configs.
        epochs (tuple): The fine-tuning epochs, and those of the
            equal-compute run (None: :func:`equal_compute_epochs`).
        cfg_options (dict): Options of every fine-tuning config.
        data (dict): ``data_root``, ``train_subset`` and ``test_subset``
            of every fine-tuning config.

    Returns:
        tuple: Top-1 by run name, the ``equal_compute`` record and the
        epochs by run name.
    """
    (_, scratch_config), (finetune_epochs, scratch_epochs) = configs, epochs
    runs = _same_epochs_runs(checkpoint, configs, finetune_epochs)
    finetune = _finetune_runs(runs, work_dir, watch, cfg_options, data)
    run, equal = _equal_compute_run(pretraining, watch.minutes,
                                    finetune_epochs, scratch_epochs,
                                    scratch_config)
    finetune.update(_finetune_runs([run], work_dir, watch, cfg_options, data))
    equal['spent_cpu_minutes'] = watch.minutes[
        f'fine-tuning ({EQUAL_COMPUTE})']['cpu']
    return finetune, equal, {name: n for name, *_, n in runs + [run]}


def run_fashion_mnist_study(work_dir: str,
                            out_dir: str = 'docs',
                            data_root: str = DEBIAN_FASHION_MNIST,
                            pretrain_epochs: Optional[int] = None,
                            probe_epochs: Sequence[int] = (4, ),
                            finetune_epochs: Optional[int] = None,
                            scratch_epochs: Optional[int] = None,
                            train_subset: Optional[int] = None,
                            test_subset: Optional[int] = None,
                            pretrain_config: str = PRETRAIN_CONFIG,
                            finetune_config: str = FINETUNE_CONFIG,
                            scratch_config: str = SCRATCH_CONFIG,
                            pretrain_options: Optional[dict] = None,
                            finetune_options: Optional[dict] = None,
                            seed: int = 0,
                            command: str = '') -> dict:
    """Run the whole study and write its report. Every argument, and each
    config with its options, is checked before anything trains.

    Args:
        work_dir (str): Folder of the runs (checkpoints, logs).
        out_dir (str): Where ``fashion_mnist_study.{md,json,png}`` go,
            created when missing. Defaults to ``'docs'``.
        data_root (str): Folder of the Fashion-MNIST idx files. Defaults to
            :data:`DEBIAN_FASHION_MNIST`.
        pretrain_epochs (int, optional): Pretraining epochs. Defaults to
            None (the config's).
        probe_epochs (Sequence[int]): Pretraining epochs, besides the last,
            whose checkpoints are probed too (4 epochs: the amount of
            training compared with mmpretrain's MAE in
            docs/fashion_mnist_study.md). Defaults to ``(4, )``.
        finetune_epochs (int, optional): Fine-tuning epochs of the
            MAE-initialised run. Defaults to None (the config's, with
            ``finetune_options``).
        scratch_epochs (int, optional): Epochs of the equal-compute
            from-scratch baseline. Defaults to None: those of
            :func:`equal_compute_epochs` (the other from-scratch run gets
            ``finetune_epochs``, the same fine-tuning budget).
        train_subset (int, optional): Use the first N training images only.
            Defaults to None (all 60k).
        test_subset (int, optional): Use the first N test images only.
            Defaults to None (all 10k).
        pretrain_config (str): Defaults to :data:`PRETRAIN_CONFIG`.
        finetune_config (str): Defaults to :data:`FINETUNE_CONFIG`.
        scratch_config (str): Defaults to :data:`SCRATCH_CONFIG`.
        pretrain_options (dict, optional): Overrides of the pretraining
            config (``key.sub=value`` style). Defaults to None.
        finetune_options (dict, optional): Overrides of both fine-tuning
            configs. Defaults to None.
        seed (int): ``randomness.seed`` of the pretraining and both
            fine-tuning runs (options above may override it). Defaults to
            0, the configs' seed.
        command (str): The command line, quoted in the report.
            Defaults to ``''``.

    Returns:
        dict: ``command`` and ``seed`` as given, ``pretrain_epochs`` and
        ``finetune_epochs`` (as run), ``run_epochs`` (run name ->
        epochs), ``train_images`` and ``test_images`` (the probes'),
        ``probes`` (rows of features, linear, knn), ``finetune`` (name ->
        top-1), ``equal_compute`` (what :func:`equal_compute_epochs`
        weighed, and the CPU minutes the run took), ``pretraining``
        (per-epoch loss, CPU minutes and kNN accuracy) and ``minutes`` (CPU
        and wall minutes per stage).

    Raises:
        ValueError: An epoch count below what its configs' schedules take
            (:func:`check_study_epochs`), an empty ``out_dir``, a probe
            epoch or subset below 1, or what
            :func:`~mae_plugin.apis.train_config` refuses of a config with
            its options (the fine-tuning ones' too).
        TypeError: A count or a subset that is not an int, or a config
            value of the wrong type.
        NotADirectoryError: ``out_dir``, or a folder above it, is a file.
        PermissionError: No file can be created in ``out_dir``.
        FileNotFoundError: ``data_root`` does not exist.
    """
    data = dict(
        data_root=data_root,
        train_subset=train_subset,
        test_subset=test_subset)
    pretrain_options = {'randomness.seed': seed, **(pretrain_options or {})}
    finetune_options = {'randomness.seed': seed, **(finetune_options or {})}
    # Before anything trains: each failed only when its stage came.
    check_output_folder('out_dir', out_dir)
    check_study_epochs('pretrain_epochs', pretrain_epochs,
                       [pretrain_config], pretrain_options)
    check_study_epochs('finetune_epochs', finetune_epochs,
                       [finetune_config, scratch_config], finetune_options)
    check_study_epochs('scratch_epochs', scratch_epochs, [scratch_config],
                       finetune_options)
    for epoch in probe_epochs:
        check_positive_int('probe_epochs', epoch)
    for name, subset in (('train_subset', train_subset),
                         ('test_subset', test_subset)):
        if subset is not None:
            check_positive_int(name, subset)
    finetune_epochs = _check_finetune_configs(
        work_dir, (finetune_config, scratch_config),
        (finetune_epochs, scratch_epochs), finetune_options, data)
    watch = Stopwatch()

    # 1. Pretraining, kNN accuracy every epoch.
    pre_dir = osp.join(work_dir, 'pretrain')
    cfg = _config(
        pretrain_config,
        work_dir=pre_dir,
        max_epochs=pretrain_epochs,
        cfg_options=pretrain_options,
        **data)
    with watch('pretraining'):
        pretraining = _pretrain(cfg, probe_epochs)

    # 2. Frozen features: probes of raw pixels, random-init and MAE encoders.
    loaders = feature_loaders(cfg, train_subset, test_subset)
    encoders = _study_encoders(pre_dir, pretraining, probe_epochs,
                               cfg.train_cfg.max_epochs)
    rows = _probe_stage(cfg, encoders, loaders, watch)

    # 3. Fine-tuning from the last MAE checkpoint versus from scratch, for
    # the same epochs and for as many CPU minutes as MAE took in all.
    finetune, equal, run_epochs = _finetune_stage(
        encoders[-1][1], pretraining, watch, work_dir,
        (finetune_config, scratch_config), (finetune_epochs, scratch_epochs),
        finetune_options, data)
    results = dict(
        command=command,
        seed=seed,
        pretrain_epochs=cfg.train_cfg.max_epochs,
        finetune_epochs=finetune_epochs,
        equal_compute=equal,
        run_epochs=run_epochs,
        train_images=len(loaders['train'].dataset),
        test_images=len(loaders['test'].dataset),
        probes=rows,
        finetune=finetune,
        pretraining=pretraining,
        minutes=watch.minutes)
    write_study_report(results, out_dir)
    return results
