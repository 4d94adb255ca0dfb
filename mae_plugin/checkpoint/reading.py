"""Read checkpoint files without running their code, and select the weights
under a prefix.

Local ``.pth``/``.bin`` files go through mmengine's ``CheckpointLoader``,
whose local loader importing :mod:`mae_plugin.checkpoint` makes
``torch.load(weights_only=True)`` (see :mod:`.safe_loading`);
``.safetensors`` files through safetensors. mmengine's
``_load_checkpoint_with_prefix`` is not used for the prefix: it knows only
the ``state_dict`` entry (not official MAE's ``model``), no safetensors,
and asserts when nothing is under the prefix, where the loaders here want
to say what the file holds instead.
"""
import os
import os.path as osp

import torch
from mmengine.runner import CheckpointLoader

from mae_plugin.utils import CHECKPOINT_SUFFIXES, check_path
from .report import StateDict


def check_checkpoint_path(name: str, path: str, hint: str = '') -> str:
    """Return a local checkpoint path (``str`` or ``os.PathLike``) as a
    ``str``, refused by ``name`` where it (``~`` expanded, as mmengine's
    loader does) is a folder or no file. The folder's message ends with
    the checkpoint files in it (a work dir, a Hugging Face
    ``save_pretrained`` folder); ``hint`` follows the rule.

    Raises:
        TypeError: If ``path`` is not a path (None, a state dict).
        FileNotFoundError: If ``path`` does not exist.
        IsADirectoryError: If ``path`` is a folder.
    """
    path = check_path(name, path)
    local = osp.expanduser(path)  # as mmengine's loader reads it
    if osp.isdir(local):
        weights = sorted(
            file for file in os.listdir(local)
            if file.endswith(CHECKPOINT_SUFFIXES))
        raise IsADirectoryError(
            f'{name} {path} is a folder, not a checkpoint file{hint}'
            + (f'; checkpoint files in it: {", ".join(weights)}'
               if weights else ''))
    if not osp.isfile(local):
        raise FileNotFoundError(f'{name} {path}: no such file')
    return path


def read_checkpoint_file(path: str) -> object:
    """Whatever a checkpoint file holds, read without running its code.

    ``.safetensors`` files are read by safetensors; every other file by
    mmengine's loader for local paths, which importing the plugin makes
    ``torch.load(weights_only=True)`` (see :mod:`.safe_loading`).

    Args:
        path (str | os.PathLike): Checkpoint file.

    Raises:
        TypeError: If ``path`` is not a path.
        FileNotFoundError: If ``path`` does not exist.
        IsADirectoryError: If ``path`` is a folder (the message lists the
            checkpoint files in it).
        ValueError: If the file is not a checkpoint of its kind (the
            message names the file).
        pickle.UnpicklingError: If the pickle names a global outside the
            weights-only allowlist.
    """
    path = check_checkpoint_path('checkpoint', path)
    if not path.endswith('.safetensors'):
        return CheckpointLoader.load_checkpoint(
            path, map_location='cpu', logger='silent')
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        return load_file(osp.expanduser(path))
    except SafetensorError as error:
        raise ValueError(f'checkpoint {path} is not a readable safetensors '
                         f'file (empty, truncated or another format): '
                         f'{error}') from error


def weights_of(checkpoint: dict) -> dict:
    """The ``state_dict`` (mmengine) or ``model`` (official MAE, timm,
    ViTDet) entry of a loaded checkpoint when present, else the whole
    dict."""
    for entry in ('state_dict', 'model'):
        if isinstance(checkpoint.get(entry), dict):
            return checkpoint[entry]
    return checkpoint


def load_state_dict_file(path: str) -> StateDict:
    """The state dict of a checkpoint file, read by
    :func:`read_checkpoint_file`.

    The ``state_dict`` (mmengine) or ``model`` (official MAE, timm, ViTDet)
    entry is returned when present, else the whole dict.

    Args:
        path (str | os.PathLike): ``.pth``/``.bin`` or ``.safetensors``
            file.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not a readable checkpoint.
        TypeError: If ``path`` is not a path, or the file holds no dict
            of tensors.
    """
    checkpoint = read_checkpoint_file(path)
    if not isinstance(checkpoint, dict):
        raise TypeError(f'{path}: expected a dict, got {type(checkpoint)}')
    checkpoint = weights_of(checkpoint)
    others = [k for k, v in checkpoint.items() if not torch.is_tensor(v)]
    if others:
        raise TypeError(f'{path}: not a state dict, the values of '
                        f'{others[:3]} are not tensors')
    return checkpoint


def load_prefixed_state_dict(path: str, prefix: str = '') -> StateDict:
    """The weights under ``prefix`` of a checkpoint file, with the prefix
    removed (``'backbone'`` and ``'backbone.'`` mean the same, as in
    mmengine's ``Pretrained`` initializer).

    Args:
        path (str | os.PathLike): Checkpoint file, read by
            :func:`load_state_dict_file`.
        prefix (str): Key prefix of the sub-module; an empty string keeps
            every key. Defaults to ``''``.

    Returns:
        dict: Parameter name (without the prefix) to tensor; empty when no
        key is under ``prefix``, which is no error here: the callers
        report it with what the module misses
        (:func:`~.loading.load_encoder_weights` fails naming the prefix and
        the missing keys, :func:`~.loading.compare_with_checkpoint` reports
        every key missing, which ``PretrainedKeysHook`` refuses below its
        ``min_matched``).
    """
    if prefix and not prefix.endswith('.'):
        prefix += '.'
    return {
        key[len(prefix):]: value
        for key, value in load_state_dict_file(path).items()
        if key.startswith(prefix)
    }
