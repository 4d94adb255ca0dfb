"""Load mmengine checkpoints with ``torch.load(weights_only=True)``.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True`` and refuses
any global it does not know. mmengine 0.10 calls ``torch.load`` without the
argument, so resuming a run fails on the few non-tensor types its
checkpoints hold. Rather than switching safe loading off, we allowlist
exactly those types:

* ``mmengine.logging.HistoryBuffer`` (the message hub's logged scalars),
  whose pickled state names its statistics methods as
  ``getattr(HistoryBuffer, 'mean')``. ``builtins.getattr`` itself is *not*
  allowlisted: the name resolves to :func:`history_buffer_method`, which
  only returns the statistics methods mmengine stores (``min``, ``max``,
  ``current``, ``mean``) and refuses anything else;
* numpy arrays, scalars and dtypes (logged values).

Everything else a checkpoint may hold (tensors, dicts, lists, strings,
numbers, ``OrderedDict``) is allowed by torch already.

While :func:`load_checkpoint_safely` reads a file, and only then,
:data:`TRAINING_ARGS_GLOBALS` are allowed too: ``argparse.Namespace``, the
command line that the official MAE code's training checkpoints
(``checkpoint-N.pth`` of ``main_pretrain.py``/``main_finetune.py``) hold
as ``'args'``, plain data (its attributes are set from the pickled dict;
no method of it runs). It is no type of mmengine's, so it is not added to
torch's process-wide list, which would widen every other
``torch.load(weights_only=True)`` of a process that imports the plugin;
every loader of the plugin (the converter, ``load_state_dict_file``,
resume, ``load_from``, ``init_cfg``, URLs) goes through that function.
torch keeps one list for the whole process and takes no list per call, so
the allowance is counted (:func:`training_args_allowed`): loads of
several threads at once keep it until the last one ends, and the process's
own allowance of a type is left as it was.

A pickle that names any other global (``os.system``,
``subprocess.Popen``, a class of the training code, ...) is still refused
by torch before anything runs; the message says how to keep the weights
of a trusted file.

mmengine's loaders for local files and for URLs (``http(s)://`` and the
model-zoo names ``torchvision://``, ``modelzoo://``, ``open-mmlab://``,
``openmmlab://`` and ``mmcls://``, which resolve to URLs or files) are
replaced by loaders that download into torch hub's cache as mmengine does
and read the file with :func:`load_checkpoint_safely`, which passes
``weights_only=True`` explicitly and names the refused file. (mmengine's
URL loader goes through ``torch.hub.load_state_dict_from_url``, whose
default is ``weights_only=False``.)
"""
import argparse
import contextlib
import logging
import os
import pickle
import threading
import zipfile
from typing import Any, Iterator, Optional
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import HistoryBuffer, print_log
from mmengine.runner import CheckpointLoader
from mmengine.runner.checkpoint import (_get_mmengine_home,
                                        _process_mmcls_checkpoint,
                                        get_deprecated_model_names,
                                        get_external_models,
                                        get_mmcls_models,
                                        get_torchvision_models)


# What ``HistoryBuffer._statistics_methods`` holds by default, so what
# its pickled state names as ``getattr(HistoryBuffer, name)``.
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_method(owner: Any, name: str) -> Any:
    """Stand-in for ``builtins.getattr`` inside checkpoints: resolves the
    ``HistoryBuffer`` statistics methods of
    :data:`HISTORY_BUFFER_STATISTICS` and nothing else.

    Args:
        owner (Any): The object the pickle asks an attribute of.
        name (str): The attribute's name.

    Returns:
        Callable: ``getattr(HistoryBuffer, name)``.

    Raises:
        pickle.UnpicklingError: ``owner`` is not ``HistoryBuffer`` or
            ``name`` is not one of its stored statistics methods.
    """
    if owner is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({owner!r}, {name!r}) while loading a checkpoint: '
        f'only the HistoryBuffer statistics methods '
        f'{", ".join(HISTORY_BUFFER_STATISTICS)} are allowed')


def _numpy_globals() -> list:
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:
        from numpy.core import multiarray  # numpy 1.x
    names = []
    # Checkpoints name the module numpy wrote them with, 1.x or 2.x.
    for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        names += [(multiarray._reconstruct, f'{module}._reconstruct'),
                  (multiarray.scalar, f'{module}.scalar')]
    dtypes = [
        type(np.dtype(t)) for t in (np.float64, np.float32, np.float16,
                                    np.int64, np.int32, np.int8, np.uint8,
                                    np.bool_)
    ]
    return names + [np.ndarray, np.dtype] + dtypes


MMENGINE_CHECKPOINT_GLOBALS = [
    HistoryBuffer,
    (history_buffer_method, 'builtins.getattr'),
    (history_buffer_method, '__builtin__.getattr'),
] + _numpy_globals()


#: Plain-data globals of other trainers' checkpoints, allowed only while
#: :func:`load_checkpoint_safely` reads a file (see the module's notes).
TRAINING_ARGS_GLOBALS = [argparse.Namespace]

#: What the refusal of a pickle tells a user who trusts the file.
TRUSTED_FILE_ADVICE = (
    'If you trust the file, save its weights alone and give that file: '
    "python -c \"import torch; c = torch.load('{path}', "
    "weights_only=False); torch.save(c.get('state_dict', c.get('model', "
    "c)), '{path}.weights.pth')\"")


def allow_mmengine_checkpoints() -> None:
    """Add :data:`MMENGINE_CHECKPOINT_GLOBALS` to torch's safe globals."""
    torch.serialization.add_safe_globals(MMENGINE_CHECKPOINT_GLOBALS)


_training_args_lock = threading.Lock()
_training_args_loads = 0  # loads inside training_args_allowed()
_training_args_allowance = contextlib.ExitStack()


@contextlib.contextmanager
def training_args_allowed() -> Iterator[None]:
    """Allow :data:`TRAINING_ARGS_GLOBALS` in ``torch.load(weights_only=
    True)`` while any thread is inside this context.

    torch's ``safe_globals`` context adds its globals to torch's one list
    on entry and removes them on exit: a load that ended removed
    ``argparse.Namespace`` while another thread's load was still reading
    (which then failed), and removed it even when the process had allowed
    it before. Here, under a lock, the first load to enter adds those of
    the globals torch's list lacks, and the last one to leave removes
    them. Any ``torch.load`` of the process sees them allowed meanwhile.
    """
    global _training_args_loads
    with _training_args_lock:
        if not _training_args_loads:
            allowed = torch.serialization.get_safe_globals()
            _training_args_allowance.enter_context(
                torch.serialization.safe_globals([
                    item for item in TRAINING_ARGS_GLOBALS
                    if item not in allowed
                ]))
        _training_args_loads += 1
    try:
        yield
    finally:
        with _training_args_lock:
            _training_args_loads -= 1
            if not _training_args_loads:
                _training_args_allowance.close()


def load_checkpoint_safely(filename: str, map_location: Any = None) -> Any:
    """Load a local checkpoint with ``torch.load(weights_only=True)``,
    :data:`TRAINING_ARGS_GLOBALS` (the ``args`` of the official MAE
    training checkpoints) allowed while it reads.

    Registered (through :func:`load_from_local_safely` and the URL loaders
    below) as mmengine's loader for local paths and URLs, so runner resume,
    ``load_from``, ``init_cfg=dict(type='Pretrained')`` and the tools load
    safely whatever torch's default (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``)
    says.

    Args:
        filename (str): Checkpoint path.
        map_location (str | callable, optional): As in :func:`torch.load`.
            Defaults to None.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        pickle.UnpicklingError: torch's weights-only unpickler refuses the
            pickle of a torch archive or legacy file: a global outside the
            allowlist, a call or a pickle opcode it does not check (the
            message names the file, quotes torch's reason and says how to
            keep the weights of a trusted file).
        ValueError: ``filename`` is not a torch checkpoint at all (empty,
            truncated, corrupt or another format, such as a zip or NumPy
            archive; the message names the file and what it looks like).
        RuntimeError: Any other failure of ``torch.load`` (for example a
            ``map_location`` the machine lacks), naming the file.
    """
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found')
    try:
        with training_args_allowed():
            return torch.load(
                filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's weights-only unpickler refused the pickle; bytes that are
        # no pickle at all (b'garbage') fail there too, as damage
        if ('Weights only load failed' not in str(error)
                or not _holds_a_pickle(filename)):
            raise _unreadable(filename, error) from error
        raise pickle.UnpicklingError(
            f'refusing to load checkpoint {filename}: torch\'s weights-only '
            f'unpickler rejects it (objects outside its allowlist, loading '
            f'it could run code, or pickle it cannot check): '
            f'{_weights_only_reason(error).rstrip(".")}. '
            f'{TRUSTED_FILE_ADVICE.format(path=filename)}') from None
    except (PermissionError, MemoryError):
        raise
    except RuntimeError as error:
        # torch's zip reader ('PytorchStreamReader', '[enforce fail at
        # inline_container.cc]') and legacy reader ('magic number',
        # 'unexpected EOF')
        if not any(sign in str(error) for sign in
                   ('PytorchStreamReader', 'inline_container',
                    'magic number', 'unexpected EOF')):
            raise RuntimeError(
                f'loading checkpoint {filename} failed: {error}') from error
        raise _unreadable(filename, error) from error
    # What torch raises for bytes in neither of its formats: a bad pickle
    # opcode, an empty file, a cut or damaged archive (KeyError, EOFError,
    # struct.error, UnicodeDecodeError, OSError, ...).
    except Exception as error:
        raise _unreadable(filename, error) from error


def _torch_archive_names(filename: str) -> list:
    """Names in the zip archive ``filename``; raises
    ``zipfile.BadZipFile`` when it is none."""
    with zipfile.ZipFile(filename) as archive:
        return archive.namelist()


def _holds_a_pickle(filename: str) -> bool:
    """Whether ``filename`` is a torch archive (a zip with ``data.pkl``)
    or starts as a pickle (torch's legacy format)."""
    with open(filename, 'rb') as f:
        if f.read(1) == pickle.PROTO:
            return True
    try:
        names = _torch_archive_names(filename)
    except zipfile.BadZipFile:
        return False
    return any(name.endswith('/data.pkl') for name in names)


def _weights_only_reason(error: Exception) -> str:
    """torch's reason in a 'Weights only load failed' message, without its
    advice around it (``torch.serialization.add_safe_globals``, which a
    user of the tools cannot follow, and re-running with
    ``weights_only=False``, which the loaders never do). torch puts the
    reason after 'WeightsUnpickler error:', or, for a global of a blocked
    module (``os.system``) and a type it must import, after that
    advice."""
    message = str(error)
    _, found, reason = message.partition('WeightsUnpickler error:')
    if not found:
        reason = message.partition('Weights only load failed.')[2]
        unsafe = getattr(torch.serialization, 'UNSAFE_MESSAGE', None)
        if not reason or not unsafe:
            return message
        reason = reason.replace(unsafe, '')
    reason = reason.split('Check the documentation of torch.load')[0]
    return reason.split(' Please use `torch.serialization')[0].strip()


def _looks_like(filename: str) -> str:
    """What the first bytes of ``filename`` say it is, for errors."""
    with open(filename, 'rb') as f:
        head = f.read(16)
    if not head:
        return 'an empty file'
    if head.startswith(b'\x93NUMPY'):
        return 'a NumPy .npy array'
    if head.startswith(b'PK'):
        try:
            names = _torch_archive_names(filename)
        except zipfile.BadZipFile:
            return 'a damaged zip archive'
        if any(name.endswith('/data.pkl') for name in names):
            return 'a damaged torch archive'
        return (f'a zip archive of {len(names)} file(s) '
                f'({", ".join(names[:3])}), none of them data.pkl')
    if len(head) > 8 and head[8:9] == b'{':
        return 'possibly a safetensors file (read it with safetensors)'
    return f'a file starting with {head[:8]!r}'


def _unreadable(filename: str, error: Exception) -> ValueError:
    return ValueError(
        f'checkpoint {filename} is not a readable torch checkpoint (empty, '
        f'truncated, corrupt or another format): it looks like '
        f'{_looks_like(filename)}. {type(error).__name__}: {error}')


def load_from_local_safely(filename: str, map_location: Any = None) -> Any:
    """:func:`load_checkpoint_safely` under a name of mmengine's pattern
    ``load_from_<backend>``: mmengine logs a loader's name from its 11th
    character on ("Loads checkpoint by local_safely backend")."""
    return load_checkpoint_safely(filename, map_location)


def download_checkpoint(url: str, model_dir: Optional[str] = None,
                        progress: bool = False) -> str:
    """Download ``url`` into ``model_dir`` unless it is there already.

    The cache is the one of ``torch.hub.load_state_dict_from_url`` (and so
    of mmengine's URL loader): ``<torch hub dir>/checkpoints`` by default,
    the file named as the URL's last path component.

    Args:
        url (str): ``http://`` or ``https://`` URL of the checkpoint.
        model_dir (str, optional): Cache folder. Defaults to None (torch
            hub's).
        progress (bool): Show a progress bar on stderr. Defaults to False.

    Returns:
        str: Path of the cached file.
    """
    if model_dir is None:
        model_dir = os.path.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    cached_file = os.path.join(model_dir,
                               os.path.basename(urlparse(url).path))
    if not os.path.exists(cached_file):
        # writes a temporary file and renames it when complete
        torch.hub.download_url_to_file(url, cached_file, progress=progress)
    return cached_file


def load_from_http_safely(filename: str, map_location: Any = None,
                          model_dir: Optional[str] = None,
                          progress: bool = os.isatty(0)) -> Any:
    """Download a checkpoint by URL and load it with
    :func:`load_checkpoint_safely`.

    As mmengine's ``load_from_http``: in a distributed run rank 0 downloads
    first and the other ranks wait for it, then read the cached file.

    Args:
        filename (str): ``http://`` or ``https://`` URL.
        map_location (str | callable, optional): As in :func:`torch.load`.
            Defaults to None.
        model_dir (str, optional): Cache folder (see
            :func:`download_checkpoint`). Defaults to None.
        progress (bool): Show a progress bar on stderr. Defaults to
            whether stdin is a terminal, as in mmengine.

    Returns:
        Any: The loaded checkpoint.
    """
    rank, world_size = get_dist_info()
    if rank == 0:
        cached_file = download_checkpoint(filename, model_dir, progress)
    if world_size > 1:
        barrier()
        if rank > 0:
            cached_file = download_checkpoint(filename, model_dir, progress)
    return load_checkpoint_safely(cached_file, map_location)


def load_from_torchvision_safely(filename: str,
                                 map_location: Any = None) -> Any:
    """Load ``torchvision://<name>`` (or the deprecated ``modelzoo://``)
    from the URL torchvision gives ``<name>``, safely."""
    prefix, name = filename.split('://', 1)
    if prefix == 'modelzoo':
        print_log('The URL scheme of "modelzoo://" is deprecated, please '
                  'use "torchvision://" instead', logger='current',
                  level=logging.WARNING)
    return load_from_http_safely(get_torchvision_models()[name],
                                 map_location)


def load_from_openmmlab_safely(filename: str,
                               map_location: Any = None) -> Any:
    """Load ``open-mmlab://<name>`` (or ``openmmlab://<name>``) safely.

    ``<name>`` resolves as in mmengine: a deprecated name to its
    successor, then through mmengine's ``hub/openmmlab.json`` and
    ``$MMENGINE_HOME/open_mmlab.json`` to a URL or to a file under
    ``$MMENGINE_HOME``.
    """
    prefix, name = filename.split('://', 1)
    successor = get_deprecated_model_names().get(name)
    if successor is not None:
        print_log(f'{prefix}://{name} is deprecated in favor of '
                  f'{prefix}://{successor}', logger='current',
                  level=logging.WARNING)
        name = successor
    url = get_external_models()[name]
    if url.startswith(('http://', 'https://')):
        return load_from_http_safely(url, map_location)
    return load_checkpoint_safely(
        os.path.join(_get_mmengine_home(), url), map_location)


def load_from_mmcls_safely(filename: str, map_location: Any = None) -> Any:
    """Load ``mmcls://<name>`` safely and keep its ``backbone.`` weights
    without the prefix, as mmengine does."""
    url = get_mmcls_models()[filename.split('://', 1)[1]]
    return _process_mmcls_checkpoint(
        load_from_http_safely(url, map_location))


def use_safe_loaders() -> None:
    """Make the safe loaders mmengine's loaders of local paths, URLs and
    model-zoo names."""
    for prefixes, loader in [
        ('', load_from_local_safely),
        (('http://', 'https://'), load_from_http_safely),
        (('modelzoo://', 'torchvision://'), load_from_torchvision_safely),
        (('open-mmlab://', 'openmmlab://'), load_from_openmmlab_safely),
        ('mmcls://', load_from_mmcls_safely),
    ]:
        CheckpointLoader.register_scheme(
            prefixes=prefixes, loader=loader, force=True)
