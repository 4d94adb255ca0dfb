"""Slim training checkpoints: publish one as OpenMMLab projects do (the
weights and a small meta only, with the first 8 hex digits of the file's
SHA-256 in its name), or drop a kept checkpoint's optimizer state.

A checkpoint of a training run also holds the optimizer state and the
message hub, whose ``HistoryBuffer`` objects torch's weights-only loader
refuses unless ``mae_plugin`` (or mmengine's own code) allowlists them. A
published file holds tensors, strings and numbers only: plain
``torch.load(weights_only=True)``, mmengine and mmpretrain read it without
the plugin.
"""
import hashlib
import io
import os.path as osp

import torch

from mae_plugin.utils import atomic_write, check_output_file
from .reading import read_checkpoint_file

#: The training checkpoint's entry of the gradients accumulated since the
#: last optimizer step (``{parameter name: tensor}``, written by
#: ``AccumulatedGradientsHook`` mid-accumulation), which resume the
#: optimizer with its state.
GRADS_KEY = 'accumulated_grads'

#: Entries of the training checkpoint's ``meta`` that are kept, when they
#: are plain strings or numbers.
PUBLISHED_META = ('epoch', 'iter', 'seed', 'mmengine_version', 'cfg')


def publish_checkpoint(src: str, out_file: str) -> str:
    """Write the weights and a minimal meta of a training checkpoint.

    Args:
        src (str): Checkpoint written by mmengine's runner (``state_dict``,
            ``meta``, ``optimizer``, ``message_hub``, ...).
        out_file (str): Output path; the hash goes before its extension:
            ``out.pth`` becomes ``out-<8 hex digits>.pth``, written whole
            or not at all (its folder is created when missing).

    Returns:
        str: The path written.

    Raises:
        ValueError: If ``src`` has no ``state_dict`` of tensors.
        IsADirectoryError: If ``out_file`` is (or ends like) a folder.
        OSError: If the output cannot be written (nothing is left).
    """
    check_output_file('out_file', out_file)
    checkpoint = read_checkpoint_file(src)
    state_dict = checkpoint.get('state_dict') if isinstance(checkpoint,
                                                            dict) else None
    if not isinstance(state_dict, dict) or not all(
            torch.is_tensor(v) for v in state_dict.values()):
        raise ValueError(f'{src} is not a training checkpoint: it has no '
                         '`state_dict` entry of tensors')
    meta = {
        key: value
        for key, value in checkpoint.get('meta', {}).items()
        if key in PUBLISHED_META and isinstance(value, (str, int, float))
    }
    buffer = io.BytesIO()
    torch.save(dict(state_dict=state_dict, meta=meta), buffer)
    data = buffer.getvalue()
    stem, ext = osp.splitext(out_file)
    final = f'{stem}-{hashlib.sha256(data).hexdigest()[:8]}{ext or ".pth"}'
    atomic_write(data, final)
    return final


def drop_optimizer_state(path: str) -> bool:
    """Rewrite the training checkpoint ``path`` without its ``optimizer``
    entry (the moments of AdamW, twice the weights' size) and the
    accumulated gradients that go with it (:data:`GRADS_KEY`), as if it
    had been saved with ``save_optimizer=False``; the file is replaced
    whole or not at all.

    Args:
        path (str): Local checkpoint file.

    Returns:
        bool: Whether it held an optimizer state (a file without one is
        left untouched).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If it is not a readable checkpoint.
    """
    checkpoint = read_checkpoint_file(path)
    if not isinstance(checkpoint, dict) or 'optimizer' not in checkpoint:
        return False
    del checkpoint['optimizer']
    checkpoint.pop(GRADS_KEY, None)
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    atomic_write(buffer.getvalue(), path)
    return True
