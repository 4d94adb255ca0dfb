"""Command-line arguments shared by the tools of ``tools/analysis_tools``:
the fields of a spec dataclass as flags, the timing counts and the
config overrides."""
import argparse
import dataclasses
from typing import Any, Dict, Optional, Sequence

from mae_plugin.utils import (CfgOptionsAction, add_config_arg,
                              argparse_type, check_int, check_output_file,
                              check_output_folder, check_positive_int,
                              check_seed, check_seeds)
from .pipeline_benchmark import PipelineSpec


def add_spec_args(parser: argparse.ArgumentParser,
                  spec: Any,
                  names: Optional[Sequence[str]] = None,
                  **options: Dict[str, Any]) -> None:
    """Add a ``--field-name`` flag for each field of the dataclass instance
    ``spec``, its value the default: a ``store_true`` switch for a bool
    (so add only those that default to False), ``nargs`` for a tuple,
    else the type of the default.

    Args:
        parser (argparse.ArgumentParser): Where the flags go.
        spec: A dataclass instance (:class:`BenchmarkSpec`,
            :class:`PipelineSpec`) holding the defaults.
        names (Sequence[str], optional): The fields to add. Defaults to
            None (all).
        **options (dict): Extra ``add_argument`` keywords by field name
            (``help``, ``choices``, ``metavar``, a checking ``type``).
    """
    for field in dataclasses.fields(spec):
        if names is not None and field.name not in names:
            continue
        default = getattr(spec, field.name)
        kwargs = dict(default=default)
        if isinstance(default, bool):
            kwargs = dict(action='store_true')
        elif isinstance(default, tuple):
            kwargs.update(type=type(default[0]), nargs=len(default))
        else:
            kwargs.update(type=type(default))
        kwargs.update(options.get(field.name, {}))
        parser.add_argument('--' + field.name.replace('_', '-'), **kwargs)


def spec_from_args(spec_type: type, args: argparse.Namespace) -> Any:
    """A ``spec_type`` dataclass built from the flags that
    :func:`add_spec_args` added (fields without a flag keep their
    defaults)."""
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(spec_type) if hasattr(args, f.name)
    }
    return spec_type(
        **{
            name: tuple(value) if isinstance(value, list) else value
            for name, value in values.items()
        })


def add_timing_args(parser: argparse.ArgumentParser, warmup: int,
                    rounds: int) -> None:
    """Add ``--warmup`` (untimed passes, an int >= 0) and ``--rounds``
    (timed passes, an int >= 1) with these defaults."""
    parser.add_argument(
        '--warmup',
        type=argparse_type(check_int, 'warmup', minimum=0),
        default=warmup)
    parser.add_argument(
        '--rounds',
        type=argparse_type(check_positive_int, 'rounds'),
        default=rounds)


def add_config_args(parser: argparse.ArgumentParser, config: str,
                    work_dir: str) -> None:
    """Add the positional ``config`` (``config`` says which, for the help;
    :func:`~mae_plugin.utils.add_config_arg`) and ``--work-dir`` (default
    ``work_dir``, one sub-folder per run), refused by argparse where no
    folder can be made or written there
    (:func:`~mae_plugin.utils.check_output_folder`)."""
    add_config_arg(parser, config)
    parser.add_argument(
        '--work-dir',
        type=argparse_type(check_output_folder, 'work_dir', str),
        default=work_dir,
        help='one sub-folder per run')


def add_cfg_options(parser: argparse.ArgumentParser, applies_to: str) -> None:
    """Add ``--cfg-options key=value ...``, config overrides applied to
    ``applies_to`` (words for the help)."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help=f'overrides applied to {applies_to}, key=value')


def add_seeds_arg(parser: argparse.ArgumentParser, minimum: int,
                  **kwargs) -> None:
    """Add ``--seeds S [S ...]``: seeds NumPy takes, at least ``minimum``
    and none twice (:func:`~mae_plugin.utils.check_seeds`), refused by
    argparse before any run. ``kwargs`` go to ``add_argument`` (``help``,
    ``default``)."""

    class Seeds(argparse.Action):

        def __call__(self, parser, namespace, values, option_string=None):
            try:
                values = check_seeds('seeds', values, minimum)
            except ValueError as error:
                parser.error(f'argument {option_string}: {error}')
            setattr(namespace, self.dest, values)

    parser.add_argument(
        '--seeds',
        type=argparse_type(check_seed, 'seeds'),
        nargs='+',
        action=Seeds,
        **kwargs)


def add_json_arg(parser: argparse.ArgumentParser,
                 help: str = 'also write the results here') -> None:
    """Add ``--json FILE``, refused by argparse, before any work, where no
    file can be written there
    (:func:`~mae_plugin.utils.check_output_file`)."""
    parser.add_argument(
        '--json', type=argparse_type(check_output_file, 'json', str),
        help=help)


def pipeline_spec_args(
    parser: argparse.ArgumentParser,
    num_images: int,
    names: Sequence[str] = ('num_images', 'image_size', 'quality', 'scale')
) -> None:
    """Add the flags of the JPEGs a :class:`PipelineSpec` writes:
    ``--num-images`` (an int >= 1, default ``num_images``),
    ``--image-size W H`` (ints >= 1), ``--quality`` (an int in [0, 100])
    and ``--scale``, or those of ``names`` only."""
    add_spec_args(
        parser,
        PipelineSpec(num_images=num_images),
        names=names,
        num_images=dict(type=argparse_type(check_positive_int, 'num_images')),
        image_size=dict(
            metavar=('W', 'H'),
            type=argparse_type(check_positive_int, 'image_size')),
        quality=dict(
            type=argparse_type(check_int, 'quality', minimum=0,
                               maximum=100)))
