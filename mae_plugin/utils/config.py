"""The config of a run: its file and its ``--cfg-options``.

:func:`check_config_path` refuses a path that is no config file (a
checkpoint given in its place is named as one) and :func:`add_config_arg`
takes it as a command line's positional ``config``; :func:`load_config`
reads it, naming the file and line of a syntax error.
:class:`CfgOptionsAction` reads ``--cfg-options`` and
:func:`merge_cfg_options` merges them, refusing a misspelt key or a
variable of the config; :func:`config_items` walks a config by the dotted
keys ``--cfg-options`` takes. Errors have the message form of
:mod:`mae_plugin.utils.checks`.
"""
import argparse
import ast
import difflib
import inspect
import os.path as osp
from numbers import Real
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config, DictAction

from .checks import argparse_type, check_path

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


def add_config_arg(parser: argparse.ArgumentParser,
                   help: str = 'config file') -> None:
    """Add the positional ``config``, refused by argparse unless its suffix
    is a config's (:func:`check_config_path`: a checkpoint given first is
    named as one)."""
    parser.add_argument(
        'config',
        type=argparse_type(check_config_path, 'config', str),
        help=help)


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


def innermost_dataset(dataset: dict) -> dict:
    """The dataset config inside dataset wrappers (``RepeatDataset``,
    ``ClassBalancedDataset``: a ``dataset`` dict of their own), or
    ``dataset`` itself."""
    while isinstance(dataset.get('dataset'), dict):
        dataset = dataset['dataset']
    return dataset


def config_items(node: Any, key: str = '') -> Iterator[Tuple[str, Any]]:
    """``(dotted key, value)`` of ``node`` (under ``key``) and of all that
    its dicts, lists and tuples hold, depth first; list items are keyed by
    their index, as ``--cfg-options`` takes them (``custom_hooks.0.x``)."""
    yield key, node
    items = (node.items() if isinstance(node, dict) else
             enumerate(node) if isinstance(node, (list, tuple)) else ())
    for name, child in items:
        yield from config_items(child, f'{key}.{name}' if key else str(name))


def _copied_variables(cfg: Config, runner_keys: set) -> Dict[str, List[str]]:
    """The top-level lists and dicts of ``cfg`` that the runner does not
    take and that other keys hold copies of (``train_pipeline``, copied to
    ``train_dataloader.dataset.pipeline`` as the config was loaded), each
    with the keys of its copies."""
    items = list(config_items(cfg._cfg_dict))
    copies = {}
    for key, value in cfg.items():
        if key in runner_keys or not isinstance(value, (list, dict)):
            continue
        paths = [path for path, child in items
                 if path.split('.')[0] != key and type(child) is type(value)
                 and child == value]
        if paths:
            copies[key] = paths
    return copies


def merge_cfg_options(cfg: Config, options: dict) -> Config:
    """Merge ``options`` (``--cfg-options``, ``key.sub=value``) into
    ``cfg`` as ``cfg.merge_from_dict`` does, and return it, after refusing
    three options that would change nothing, while the run trains with the
    config's values:

    - a misspelt top-level key: one that neither the config nor mmengine's
      ``Runner`` has and that is close to one of theirs (``optim_wraper``
      for ``optim_wrapper``), which mmengine adds as a new key;
    - a variable of the config (``data_root``, ``img_size``,
      ``max_epochs``: a top-level string or number that the runner does
      not take), which the keys using it read when the config was loaded;
    - a key inside a list or dict variable that other keys copied as the
      config was loaded (``train_pipeline.0.scale``, where the run reads
      ``train_dataloader.dataset.pipeline``).

    Raises:
        ValueError: naming the option and the key it resembles, or the
            keys that hold the variable's value (those that took it, and
            any that hold the same value by chance; not those inside
            copied variables), or the keys of the copies to set.
    """
    from mmengine.runner import Runner
    runner_keys = (set(inspect.signature(Runner.__init__).parameters)
                   | RUNNER_CFG_KEYS) - {'self'}
    known = set(cfg.keys()) | runner_keys
    copied = _copied_variables(cfg, runner_keys)
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
                and path != key and path.split('.')[0] not in copied
            ]
            raise ValueError(
                f'cfg_options {key} must be a key the run reads, got a '
                f'variable of the config ({key}={value!r}), which the keys '
                'using it read when the config was loaded; set those '
                'instead' + (f' (keys holding its value: '
                             f'{", ".join(holders)})' if holders else ''))
        if option != key and key in copied:
            rest = option[len(key):]
            raise ValueError(
                f'cfg_options {option} must be a key the run reads, got one '
                f'inside a variable of the config ({key}), which '
                f'{", ".join(copied[key])} copied when the config was '
                'loaded; set ' + ', '.join(path + rest
                                           for path in copied[key]) +
                ' instead')
    cfg.merge_from_dict(options)
    return cfg
