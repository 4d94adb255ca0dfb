"""Argument checks of every component, hook, transform and tool.

Each check returns the value it accepted (converted where it says so) and
raises with one message form, ``<name> must be <rule>, got <value>``, so
the user reads which config key or flag to fix::

    check_positive_int('depth', 0)
    # ValueError: depth must be an int >= 1, got 0

A wrong type raises ``TypeError``, a wrong value of the right type
``ValueError``. :func:`argparse_type` turns a check into an argparse
``type`` so command lines report the same rule; :class:`CfgOptionsAction`
reads ``--cfg-options`` and :func:`merge_cfg_options` merges them.
"""
import argparse
import ast
import contextlib
import difflib
import inspect
import math
import os
import os.path as osp
import sys
import tempfile
from numbers import Integral, Real
from typing import (Any, Callable, Iterable, Iterator, List, Optional,
                    Sequence, Tuple, Type)

import torch
from mmengine.config import Config, DictAction


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


#: The config files mmengine's ``Config.fromfile`` reads, by suffix.
CONFIG_SUFFIXES = ('.py', '.json', '.yaml', '.yml')
#: Suffixes of checkpoint files: a config path with one of them is most
#: likely a checkpoint given in the config's place.
CHECKPOINT_SUFFIXES = ('.pth', '.pt', '.bin', '.safetensors', '.ckpt')


def check_config_path(name: str, path: Any) -> str:
    """Return ``path`` (a ``str`` or an ``os.PathLike``, as a ``str``) if
    its suffix is one of :data:`CONFIG_SUFFIXES`, as mmengine's
    ``Config.fromfile`` requires; mmengine refused others with "Only
    py/yml/yaml/json type are supported now!", naming no file. A
    checkpoint's suffix (:data:`CHECKPOINT_SUFFIXES`) gets a hint: the
    tools take the config first, then the checkpoint.

    Raises:
        TypeError: ``path`` is not a path.
        ValueError: Another suffix.
    """
    path = check_path(name, path)
    suffix = osp.splitext(path)[1]
    if suffix not in CONFIG_SUFFIXES:
        hint = (', which looks like a checkpoint: the config comes first, '
                'then the checkpoint' if suffix in CHECKPOINT_SUFFIXES else
                '')
        raise ValueError(f'{name} must be a config file '
                         f'({", ".join(CONFIG_SUFFIXES)}), got {path}{hint}')
    return path


def load_config(path: str) -> Config:
    """``Config.fromfile(path)``, with a syntax error in the file or in
    one it inherits from (a local ``_base_``, at any depth) named by file
    and line: mmengine's parser reports it in ``File "<unknown>"``.

    Raises:
        SyntaxError: naming the file that does not parse.
    """
    try:
        return Config.fromfile(path)
    except SyntaxError as error:
        broken = _first_unparsable(path)
        if broken is None:
            raise
        filename, cause = broken
        raise SyntaxError(
            f'config {filename}, line {cause.lineno}: {cause.msg}',
            (filename, cause.lineno, cause.offset, cause.text)) from error


def _first_unparsable(path: str) -> Optional[Tuple[str, SyntaxError]]:
    """The first Python config file that does not parse, and its error:
    ``path`` itself or, depth first, a local file of its ``_base_`` (those
    of another package, ``mmdet::...``, are that package's)."""
    if not (path.endswith('.py') and osp.isfile(path)):
        return None
    with open(path, encoding='utf-8') as f:
        text = f.read()
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as error:
        return path, error
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == '_base_'
                for target in node.targets)):
            continue
        try:
            bases = ast.literal_eval(node.value)
        except ValueError:  # not a literal: left to mmengine
            return None
        for base in [bases] if isinstance(bases, str) else bases:
            if '::' not in base:
                found = _first_unparsable(
                    osp.normpath(osp.join(osp.dirname(path), base)))
                if found is not None:
                    return found
    return None


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


def check_device_name(name: str, value: str) -> str:
    """Return ``value`` as given (a ``str``, as specs and JSON files hold
    it) if :func:`check_device` accepts it."""
    check_device(name, value)
    return value


def add_device_arg(parser: argparse.ArgumentParser,
                   default: str,
                   help: str = 'e.g. cpu, cuda, cuda:0') -> None:
    """Add ``--device`` (default ``default``), refused by argparse, before
    any work, unless it is a device this machine has
    (:func:`check_device`: a CUDA device must be one that torch sees);
    the value stays the text given."""
    parser.add_argument(
        '--device',
        type=argparse_type(check_device_name, 'device', str),
        default=default,
        help=help)


def add_config_arg(parser: argparse.ArgumentParser,
                   help: str = 'config file') -> None:
    """Add the positional ``config``, refused by argparse unless its suffix
    is a config's (:func:`check_config_path`: a checkpoint given first is
    named as one)."""
    parser.add_argument(
        'config',
        type=argparse_type(check_config_path, 'config', str),
        help=help)


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


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` (``--cfg-options key=value ...``, values
    parsed the same way) that names the item it cannot read: one without
    ``=`` or a key, or with unbalanced brackets, stops argparse with the
    flag and the item instead of a traceback ("not enough values to
    unpack", "Imbalanced brackets")."""

    def __call__(self,
                 parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace,
                 values: Sequence[str],
                 option_string: str = None) -> None:
        for item in values or []:
            key = item.partition('=')[0]
            if '=' not in item or not key:
                parser.error(f'argument {option_string}: {item!r} must be '
                             'key=value (e.g. train_cfg.max_epochs=10)')
            try:  # adds the item to the options parsed so far
                super().__call__(parser, namespace, [item], option_string)
            except AssertionError as error:  # mmengine's bracket check
                parser.error(f'argument {option_string}: {item!r}: {error}')


# Top-level keys read from the config by mmengine's Runner itself (beside
# its constructor's arguments) and by the tools (``runner_type``).
RUNNER_CFG_KEYS = frozenset((
    'runner_type', 'compile', 'model_wrapper_cfg', 'sync_bn',
    'find_unused_parameters', 'activation_checkpointing',
    'efficient_conv_bn_eval'))


def config_items(node: Any, key: str = '') -> Iterator[Tuple[str, Any]]:
    """``(dotted key, value)`` of ``node`` (under ``key``) and of all that
    its dicts, lists and tuples hold, depth first; list items are keyed by
    their index, as ``--cfg-options`` takes them (``custom_hooks.0.x``)."""
    yield key, node
    items = (node.items() if isinstance(node, dict) else
             enumerate(node) if isinstance(node, (list, tuple)) else ())
    for name, child in items:
        yield from config_items(child, f'{key}.{name}' if key else str(name))


def merge_cfg_options(cfg: Config, options: dict) -> Config:
    """Merge ``options`` (``--cfg-options``, ``key.sub=value``) into
    ``cfg`` as ``cfg.merge_from_dict`` does, and return it, after refusing
    two options that would change nothing, while the run trains with the
    config's values:

    - a misspelt top-level key: one that neither the config nor mmengine's
      ``Runner`` has and that is close to one of theirs (``optim_wraper``
      for ``optim_wrapper``), which mmengine adds as a new key;
    - a variable of the config (``data_root``, ``img_size``,
      ``max_epochs``: a top-level string or number that the runner does
      not take), which the keys using it read when the config was loaded.

    Raises:
        ValueError: naming the option and the key it resembles, or the
            keys that hold the variable's value (those that took it, and
            any that hold the same value by chance).
    """
    from mmengine.runner import Runner
    runner_keys = (set(inspect.signature(Runner.__init__).parameters)
                   | RUNNER_CFG_KEYS) - {'self'}
    known = set(cfg.keys()) | runner_keys
    for option in options:
        key = option.split('.')[0]
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.85)
        if key not in known and close:
            raise ValueError(
                f'cfg_options {option} must start with a key of the config '
                f"or of mmengine's Runner, got {key!r}, which neither has; "
                f'did you mean {close[0]!r}?')
        value = cfg.get(key)
        if (option == key and key not in runner_keys
                and isinstance(value, (str, Real)) and
                not isinstance(value, bool)):
            holders = [
                path for path, child in config_items(cfg._cfg_dict)
                if type(child) is type(value) and child == value
                and path != key
            ]
            raise ValueError(
                f'cfg_options {key} must be a key the run reads, got a '
                f'variable of the config ({key}={value!r}), which the keys '
                'using it read when the config was loaded; set those '
                'instead' + (f' (keys holding its value: '
                             f'{", ".join(holders)})' if holders else ''))
    cfg.merge_from_dict(options)
    return cfg


def check_generator_seed(name: str, value: Any) -> int:
    """Return ``value`` as an int if it is a seed
    ``torch.Generator.manual_seed`` takes, an int in
    ``[-2**63, 2**64 - 1]`` (see :func:`check_int`)."""
    return check_int(name, value, minimum=-2**63, maximum=2**64 - 1)
