"""Checks of the files a run reads and writes besides its work dir, made
before the runner is built: a checkpoint to load, the ``data_root`` and
image folders of its datasets, the ``Pretrained`` checkpoints of its model,
and the file ``tools/test.py --out`` writes."""
import inspect
import os
import os.path as osp

from mmengine.config import Config
from mmengine.config.lazy import LazyObject

from mae_plugin.checkpoint import check_checkpoint_path
from mae_plugin.datasets import check_image_folders
from mae_plugin.registry import DATASETS
from mae_plugin.utils import (check_choice, check_output_file, check_path,
                              config_items)


def checked_checkpoint(name: str, path, hint: str = '') -> str:
    """``path`` (``str`` or ``os.PathLike``) as a ``str``, refused by
    ``name`` where it is a local folder or no file, before the runner or
    the model is built: mmengine's "checkpoint ... can not be found" came
    after the model was built and a log folder made in the work dir, and
    called a folder not found. Paths with a scheme (``s3://``,
    ``https://``, ``torchvision://``) are left to mmengine."""
    path = check_path(name, path)
    if '://' not in path:
        check_checkpoint_path(name, path, hint)
    return path


def _reads_its_data_root(dataset: dict) -> bool:
    """Whether a dataset config reads the files under its ``data_root``:
    not when its own ``backend_args`` read them, when it downloads them
    (``download=True``, the default of mmpretrain's CIFAR and MNIST
    datasets, makes the folder), or when its ``ann_file`` and every
    ``data_prefix`` are absolute (mmengine joins the root to relative ones
    only)."""
    if dataset.get('backend_args'):
        return False
    download = dataset.get('download')
    if download is None:
        download = _downloads_by_default(dataset.get('type'))
    if download:
        return False
    prefix = dataset.get('data_prefix')
    prefixes = list(prefix.values()) if isinstance(prefix, dict) else [prefix]
    ann_file = dataset.get('ann_file') or '/'
    return not (prefix is not None and all(
        isinstance(part, str) and osp.isabs(part) for part in prefixes)
                and isinstance(ann_file, str) and osp.isabs(ann_file))


def _downloads_by_default(kind) -> bool:
    """Whether the dataset class ``kind`` (a registered name, a class or a
    pure-Python config's lazy object) has ``download=True`` by default;
    False when that cannot be told (the dataset's own build will say what
    is wrong with it)."""
    try:
        if isinstance(kind, LazyObject):
            kind = kind.build()
        cls = DATASETS.get(kind) if isinstance(kind, str) else kind
        parameter = inspect.signature(cls).parameters.get('download')
    except Exception:  # an unknown or broken type, whatever it raises
        return False
    return parameter is not None and parameter.default is True


def check_data_roots(cfg: Config, *keys: str) -> None:
    """Refuse, before the runner is built, a relative ``data_root`` that
    names no folder in the working directory.

    OpenMMLab configs name their data relative to the folder the tools run
    from (``data/imagenet/``), so a tool run from elsewhere failed deep in
    the dataset with ``No such file or directory: 'data/...'``, naming
    neither the key nor the working directory. Absolute paths and URLs are
    left to the datasets, whose messages name them; so are the datasets
    that do not read their root (:func:`_reads_its_data_root`).

    Args:
        cfg (Config): A run's config.
        *keys (str): The config entries whose datasets the run builds,
            e.g. ``'train_dataloader', 'val_dataloader', 'custom_hooks'``;
            one the config sets to None (``--no-validate``) or lacks is
            skipped.

    Raises:
        FileNotFoundError: naming the first such key, its value, the
            working directory and the options that override it: one for
            every checked key with that value (the demo config reads its
            folder in three places).
    """
    missing = {}  # root -> the keys that hold it
    for name in keys:
        for key, dataset in config_items(cfg.get(name), name):
            if not (isinstance(dataset, dict) and 'data_root' in dataset):
                continue
            root = dataset['data_root']
            if (isinstance(root, str) and root and '://' not in root
                    and not osp.isabs(osp.expanduser(root))
                    and not osp.isdir(root)
                    and _reads_its_data_root(dataset)):
                missing.setdefault(root, []).append(f'{key}.data_root')
    for root, holders in missing.items():
        options = ' '.join(f'{key}=/path/to/data' for key in holders)
        raise FileNotFoundError(
            f'{holders[0]}={root!r} is no folder: a relative data_root is '
            f'read from the working directory, {os.getcwd()}. Run the tool '
            'from the folder the config expects (the repository root for '
            'the configs of this project) or give an absolute path: '
            f'--cfg-options {options}')


def check_datasets(cfg: Config, *keys: str) -> None:
    """Refuse, before the runner is built, what the datasets of the config
    entries ``keys`` would fail on once built: a relative ``data_root``
    that names no folder in the working directory
    (:func:`check_data_roots`), then an ``ImageFolder`` whose folder is
    missing or lists no image
    (:func:`~mae_plugin.datasets.check_image_folders`; mmpretrain's
    "Found 0 files in subfolders" came once the model was built).

    Raises:
        FileNotFoundError: A relative ``data_root`` or an image folder
            that is no folder.
        ValueError: An image folder that holds no image.
    """
    check_data_roots(cfg, *keys)
    check_image_folders(cfg, *keys)


def check_pretrained_checkpoints(cfg: Config) -> None:
    """Refuse, by key and before the runner is built, the local
    ``checkpoint`` of a ``Pretrained`` ``init_cfg`` in the model that is
    no file (or a folder).

    The fine-tuning, linear-probe and transfer configs point at the
    pretraining run's checkpoint under ``work_dirs/``; without it mmengine
    failed once the datasets and the model were built, with "checkpoint
    ... can not be found", naming no key. A ``checkpoint`` of None (no
    weights) and URLs are left alone.

    Raises:
        FileNotFoundError: naming the key (``model.backbone.init_cfg.
            checkpoint``, as ``--cfg-options`` takes it) and the path.
        IsADirectoryError: The path is a folder.
    """
    for key, init in config_items(cfg.get('model'), 'model'):
        if (isinstance(init, dict) and init.get('type') == 'Pretrained'
                and init.get('checkpoint') is not None):
            checked_checkpoint(f'{key}.checkpoint', init['checkpoint'])


#: The config entries whose datasets a training run builds.
TRAIN_DATA_KEYS = ('train_dataloader', 'val_dataloader', 'custom_hooks')


def check_train_inputs(cfg: Config) -> Config:
    """Refuse, before the runner is built, what a training run of ``cfg``
    reads and lacks, as ``tools/train.py`` does: a relative ``data_root``
    of the datasets of :data:`TRAIN_DATA_KEYS` that names no folder in the
    working directory, or an image folder of theirs that lists no image
    (:func:`check_datasets`), and a ``Pretrained`` checkpoint of the model
    that is no file (:func:`check_pretrained_checkpoints`). The analysis
    tools that train from a config (the precision check, the ablation
    sweep, the training benchmark) call it too: run from another folder
    they died in the dataset with a bare ``No such file or directory:
    'data/...'``.

    Args:
        cfg (Config): A training run's config, e.g. from
            :func:`~mae_plugin.apis.train_config`.

    Returns:
        Config: ``cfg``.

    Raises:
        FileNotFoundError: naming the key, its value and the working
            directory, or the checkpoint's key and path.
        IsADirectoryError: A ``Pretrained`` checkpoint is a folder.
        ValueError: An image folder that holds no image.
    """
    check_datasets(cfg, *TRAIN_DATA_KEYS)
    check_pretrained_checkpoints(cfg)
    return cfg


#: What ``tools/test.py --out`` writes (``--out-item``), and the suffixes
#: of the files mmengine writes it in: the predictions of every test sample
#: pickled by its ``DumpResults``, the metrics by ``mmengine.dump``.
TEST_OUTPUTS = {
    'pred': ('.pkl', '.pickle'),
    'metrics': ('.json', '.yaml', '.yml', '.pkl', '.pickle'),
}


def check_test_output(out: str, out_item: str = 'pred') -> str:
    """Return ``out`` if ``tools/test.py`` can write its ``out_item``
    (one of :data:`TEST_OUTPUTS`) there: a file of one of its suffixes
    that :func:`~mae_plugin.utils.check_output_file` accepts, checked
    before the test runs (mmengine's ``DumpResults`` refused another
    suffix only once the model was built, naming no argument).

    Raises:
        ValueError: Another ``out_item``, or another suffix.
    """
    check_choice('out_item', out_item, tuple(TEST_OUTPUTS))
    check_output_file('out', out)
    if not out.endswith(TEST_OUTPUTS[out_item]):
        raise ValueError(
            f'out must end with {" or ".join(TEST_OUTPUTS[out_item])} for '
            f'out_item={out_item!r}, got {out}')
    return out
