"""Argument checks of every component, hook, transform and tool.

Each check returns the value it accepted (converted where it says so) and
raises with one message form, ``<name> must be <rule>, got <value>``, so
the user reads which config key or flag to fix::

    check_positive_int('depth', 0)
    # ValueError: depth must be an int >= 1, got 0

A wrong type raises ``TypeError``, a wrong value of the right type
``ValueError``. :func:`argparse_type` turns a check into an argparse
``type`` so command lines report the same rule, and
:func:`report_input_errors` reports a tool's input checks in one line.
The config's own checks (its path, loading, ``--cfg-options``) are in
:mod:`mae_plugin.utils.config`.
"""
import argparse
import contextlib
import math
import os
import os.path as osp
import sys
import tempfile
from numbers import Integral, Real
from typing import Any, Callable, Iterable, List, Sequence, Tuple, Type

import torch


def _got(value: Any) -> str:
    return f'{value!r} ({type(value).__name__})'


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_int(name: str,
              value: Any,
              minimum: int = None,
              maximum: int = None) -> int:
    """Return ``value`` as an int if it is an integer (Python's or NumPy's,
    not a bool) ``>= minimum`` and ``<= maximum``.

    Raises:
        TypeError: ``value`` is not an integer.
        ValueError: ``value`` is outside the bounds.
    """
    bounds = {
        (True, True): f' in [{minimum}, {maximum}]',
        (True, False): f' >= {minimum}',
        (False, True): f' <= {maximum}',
        (False, False): ''
    }
    rule = 'an int' + bounds[minimum is not None, maximum is not None]
    if not _is_int(value):
        raise TypeError(f'{name} must be {rule}, got {_got(value)}')
    if ((minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)):
        raise ValueError(f'{name} must be {rule}, got {value}')
    return int(value)


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an int if it is an integer >= 1 (see
    :func:`check_int`)."""
    return check_int(name, value, minimum=1)


def check_number(name: str,
                 value: Any,
                 low: float = -math.inf,
                 high: float = math.inf,
                 low_open: bool = False,
                 high_open: bool = False) -> float:
    """Return ``value`` as a float if it is a finite-or-infinite real number
    (not a bool, not NaN, not an int too large for a float) in the interval
    from ``low`` to ``high``.

    Args:
        name (str): What the user calls the value.
        value: The value.
        low, high (float): Interval ends. Default to minus and plus
            infinity (any number).
        low_open, high_open (bool): Exclude that end. Default to False.

    Raises:
        TypeError: ``value`` is not a number.
        ValueError: NaN, an int beyond the float range, or outside the
            interval.
    """
    bounded = math.isfinite(low) or math.isfinite(high)
    rule = 'a number'
    if bounded:
        rule += (f' in {"(" if low_open else "["}{low}, {high}'
                 f'{")" if high_open else "]"}')
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f'{name} must be {rule}, got {_got(value)}')
    try:
        value = float(value)
    except OverflowError:  # an int beyond float's 1.8e308
        raise ValueError(f'{name} must be {rule} within the float range, '
                         f'got an int of {len(str(abs(value)))} digits'
                         ) from None
    inside = ((low < value if low_open else low <= value)
              and (value < high if high_open else value <= high))
    if math.isnan(value) or not inside:
        raise ValueError(f'{name} must be {rule}, got {value}')
    return value


def check_seed(name: str, value: Any) -> int:
    """Return ``value`` as an int if it is a seed NumPy takes, an int in
    [0, 2**32 - 1] (mmengine's ``set_random_seed`` hands the seed to
    ``np.random.seed``)."""
    return check_int(name, value, minimum=0, maximum=2**32 - 1)


def check_seeds(name: str, values: Any, minimum: int = 1) -> List[int]:
    """Return ``values`` as a list of seeds (each checked by
    :func:`check_seed`, named ``name[i]``) if there are at least
    ``minimum`` and no seed is given twice: runs of the same seed write the
    same folders, the second over the first, and add nothing to a spread
    but a false 0.

    Raises:
        TypeError: ``values`` is not a list or tuple, or a seed is not an
            int.
        ValueError: A seed out of range, fewer than ``minimum`` seeds, or
            a seed twice.
    """
    if not isinstance(values, (list, tuple)):
        raise TypeError(f'{name} must be a list of seeds, got {_got(values)}')
    seeds = [check_seed(f'{name}[{i}]', v) for i, v in enumerate(values)]
    if len(seeds) < minimum or len(set(seeds)) != len(seeds):
        count = f'at least {minimum} ' if minimum > 1 else ''
        raise ValueError(
            f'{name} must be {count}different seeds, got {seeds}')
    return seeds


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool.

    Raises:
        TypeError: ``value`` is not a bool.
    """
    if not isinstance(value, bool):
        raise TypeError(f'{name} must be True or False, got {_got(value)}')
    return value


def check_pair(name: str, value: Any) -> Tuple[int, int]:
    """Return an int or a pair of ints (each >= 1) as ``(H, W)``.

    Raises:
        TypeError: ``value`` is neither.
        ValueError: a side is < 1.
    """
    rule = 'an int or a pair (H, W) of ints >= 1'
    pair = isinstance(value, (tuple, list)) and len(value) == 2
    sides = tuple(value) if pair else (value, value)
    if not all(_is_int(side) for side in sides):
        raise TypeError(f'{name} must be {rule}, got {_got(value)}')
    if min(sides) < 1:
        raise ValueError(f'{name} must be {rule}, got {value!r}')
    return int(sides[0]), int(sides[1])


def check_img_size(img_size: Any, name: str = 'img_size') -> Tuple[int, int]:
    """Return an image size (an int or a pair of ints) as ``(H, W)``; see
    :func:`check_pair`."""
    return check_pair(name, img_size)


def check_range(name: str,
                value: Any,
                top: float = math.inf) -> Tuple[float, float]:
    """Return ``value`` as ``(min, max)`` floats if it is two finite
    numbers with ``0 < min <= max <= top`` (in a tuple, a list or an
    array, as mmpretrain's ``RandomResizedCrop`` takes).

    Raises:
        ValueError: for anything else.
    """
    rule = f'two numbers (min, max) with 0 < min <= max <= {top}'
    try:
        low, high = value
    except (TypeError, ValueError):  # not two of anything
        low = high = None
    numbers = all(
        isinstance(v, Real) and not isinstance(v, bool) for v in (low, high))
    if not (numbers and math.isfinite(low) and math.isfinite(high)
            and 0 < low <= high <= top):
        raise ValueError(f'{name} must be {rule}, got {value!r}')
    return float(low), float(high)


def check_choices(name: str, values: Iterable[str],
                  choices: Sequence[str]) -> list:
    """Return ``values`` as a list if each is one of ``choices``.

    Raises:
        ValueError: naming the values that are not.
    """
    values = list(values)
    unknown = [value for value in values if value not in choices]
    if unknown:
        raise ValueError(f'{name} must be among {tuple(choices)}, got '
                         f'{unknown}')
    return values


def check_choice(name: str, value: Any, choices: Sequence) -> Any:
    """Return ``value`` if it is one of ``choices``.

    Raises:
        ValueError: it is not.
    """
    if value not in choices:
        raise ValueError(f'{name} must be one of {tuple(choices)}, got '
                         f'{value!r}')
    return value


def check_device(name: str, value: Any) -> torch.device:
    """``value`` (``'cpu'``, ``'cuda:1'``, a ``torch.device``) as a
    ``torch.device`` this machine has: a CUDA device must be one that torch
    sees, so a GPU-only command stops here, before it builds anything, on
    a machine without one."""
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError):
        raise ValueError(f'{name} must be a torch device (cpu, cuda, '
                         f'cuda:0, ...), got {_got(value)}') from None
    if device.type == 'cuda':
        count = torch.cuda.device_count()
        if (device.index or 0) >= count:
            raise ValueError(
                f'{name} must be cpu or one of the {count} CUDA devices '
                f'torch sees here, got {_got(value)}')
    return device


def check_path(name: str, value: Any) -> str:
    """Return a path given as a ``str`` or an ``os.PathLike`` (``pathlib``)
    as a ``str``.

    Raises:
        TypeError: ``value`` is neither.
    """
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise TypeError(f'{name} must be a path (str or os.PathLike), got '
                        f'{_got(value)}')
    return value


def check_paths(name: str, value: Any) -> List[str]:
    """Return one path, or a sequence of them, as a list of ``str``: a
    single path is not taken letter by letter.

    Raises:
        TypeError: ``value`` or an item is not a path.
    """
    if isinstance(value, (str, os.PathLike)):
        return [check_path(name, value)]
    if not isinstance(value, (list, tuple)):
        raise TypeError(f'{name} must be a path or a list of paths, got '
                        f'{_got(value)}')
    return [check_path(f'{name}[{i}]', item) for i, item in enumerate(value)]


def _check_folder_can_hold(name: str, path: str, folder: str) -> None:
    """Raise unless files can be written in ``folder`` once its missing
    folders are made (as :func:`~mae_plugin.utils.atomic_write` and the
    tools make them): the nearest of ``folder`` and the folders above it
    that exists must be a folder in which a file can be created (tried with
    a nameless temporary file, which the owner's permission bits, a
    read-only file system and ``/proc`` all refuse, root's included)."""
    existing = folder or '.'
    while not osp.exists(existing):
        existing = osp.dirname(existing) or '.'
    if not osp.isdir(existing):
        raise NotADirectoryError(
            f'{name} must be a path in a folder, got {path}: {existing} is '
            'a file, not a folder')
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise PermissionError(
            f'{name} must be a path in a folder that can be written, got '
            f'{path}: no file can be created in {existing} '
            f'({error.strerror})') from None


def check_output_folder(name: str, path: Any) -> str:
    """Return ``path`` (a ``str`` or an ``os.PathLike``, as a ``str``) if
    files can be written into it: it is not empty (which would write into
    the working directory unnamed) nor an existing file, and it is a
    folder, or can be made as one, where files can be created (see
    :func:`check_output_file`). Nothing is made.

    Raises:
        TypeError: ``path`` is not a path.
        ValueError: ``path`` is empty.
        NotADirectoryError: ``path``, or a folder above it, is a file.
        PermissionError: No file can be created in ``path`` or, where it
            is missing, in the nearest folder above it that exists.
    """
    path = check_path(name, path)
    if not path:
        raise ValueError(f"{name} must be a non-empty path, got ''")
    if osp.exists(path) and not osp.isdir(path):
        raise NotADirectoryError(f'{name} must be a folder, got the file '
                                 f'{path}')
    _check_folder_can_hold(name, path, path)
    return path


def check_output_file(name: str, path: Any,
                      inputs: Iterable[str] = ()) -> str:
    """Return ``path`` (a ``str`` or an ``os.PathLike``, as a ``str``) if a
    file can be written there without losing an input: it is not empty,
    an existing folder nor a folder's path (ending with a separator), nor
    the same file as one of ``inputs`` (compared through links), and its
    folder is one, or can be made as one (missing folders are made when
    the file is written), where files can be created: none of the folders
    above it is a file, and the nearest that exists takes a new file.
    Nothing is made.

    Raises:
        TypeError: ``path`` is not a path.
        ValueError: ``path`` is empty, or is one of ``inputs``.
        IsADirectoryError: ``path`` is a folder.
        NotADirectoryError: A folder above ``path`` is a file.
        PermissionError: No file can be created in the folder of
            ``path`` (or, where it is missing, in the nearest folder above
            it that exists).
    """
    path = check_path(name, path)
    if not path:
        raise ValueError(f"{name} must be a non-empty path, got ''")
    if osp.isdir(path) or not osp.basename(path):
        raise IsADirectoryError(
            f'{name} must be a file to write, got the folder {path}')
    for source in inputs:
        if (osp.exists(path) and osp.exists(source)
                and osp.samefile(path, source)):
            raise ValueError(
                f'{name} must be another file than the input {source} '
                f'(writing it would overwrite the input), got {path}')
    _check_folder_can_hold(name, path, osp.dirname(path))
    return path


def argparse_type(check: Callable[..., Any],
                  name: str,
                  convert: Callable[[str], Any] = int,
                  **rule) -> Callable[[str], Any]:
    """An argparse ``type`` that converts the text with ``convert`` and
    applies ``check(name, value, **rule)``; argparse prefixes the message
    with the flag::

        parser.add_argument('--rounds', type=argparse_type(
            check_positive_int, 'rounds'))

    A check of an output path (:func:`check_output_folder`,
    :func:`check_output_file`), whose ``OSError`` says why the path cannot
    be written, is reported the same way, so the command stops before it
    does any work::

        parser.add_argument('--out-dir', type=argparse_type(
            check_output_folder, 'out_dir', str))
    """

    def parse(text: str) -> Any:
        try:
            return check(name, convert(text), **rule)
        except (TypeError, ValueError, OSError) as error:
            if isinstance(error, ValueError) and 'must be' not in str(error):
                error = f'{name} must be {convert.__name__}, got {text!r}'
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = name  # argparse names the type in its messages
    return parse


def add_device_arg(parser: argparse.ArgumentParser,
                   default: str,
                   help: str = 'e.g. cpu, cuda, cuda:0') -> None:
    """Add ``--device`` (default ``default``), kept as the text given (as
    specs and JSON files hold it). :func:`check_device_arg` checks the
    value that wins once the command line is parsed."""
    parser.add_argument('--device', default=default, help=help)


def check_device_arg(parser: argparse.ArgumentParser,
                     args: argparse.Namespace) -> None:
    """Refuse ``args.device`` as argparse refuses a flag (exit status 2),
    before any work, unless it is a device this machine has
    (:func:`check_device`: a CUDA device must be one that torch sees).
    Checked after parsing rather than at each ``--device``, so that a
    later one overrides an earlier one that this machine lacks:
    ``gpu_benchmarks.sh``'s check on a CPU appends ``--device cpu`` to its
    ``--device cuda`` commands."""
    try:
        check_device('device', args.device)
    except ValueError as error:
        parser.error(f'argument --device: {error}')


#: What the checks of a tool's inputs raise (a missing or unreadable file,
#: a wrong value in the config), which :func:`report_input_errors` reports.
INPUT_ERRORS = (OSError, ValueError, TypeError, KeyError)


@contextlib.contextmanager
def report_input_errors(tool: str, *extra: Type[BaseException]):
    """Around the checks a tool runs on its inputs before any work, report
    an error they raise (:data:`INPUT_ERRORS`, and ``extra``) as one line,
    ``<tool>: <message>``, and exit with status 1, as for a flag argparse
    refuses (status 2) the user reads what to fix, not a traceback. Keep
    the work itself (training, benchmarking) outside, so that its errors
    keep their tracebacks::

        with report_input_errors('train'):
            cfg = train_config(args.config)
            check_train_inputs(cfg)
        build_runner(cfg).train()
    """
    try:
        yield
    except INPUT_ERRORS + extra as error:
        # a KeyError's str() is the repr of its message
        message = (error.args[0] if isinstance(error, KeyError)
                   and error.args else error)
        sys.exit(f'{tool}: {message}')


def check_generator_seed(name: str, value: Any) -> int:
    """Return ``value`` as an int if it is a seed
    ``torch.Generator.manual_seed`` takes, an int in
    ``[-2**63, 2**64 - 1]`` (see :func:`check_int`)."""
    return check_int(name, value, minimum=-2**63, maximum=2**64 - 1)
