"""The one report writer of the studies, sweeps, benchmarks and
comparisons: Markdown tables, JSON files and Matplotlib figures."""
import json
import os
import os.path as osp
from typing import Any, Iterable, List, Sequence

from mae_plugin.utils import atomic_write, check_output_file


def markdown_table(header: Sequence[str],
                   rows: Iterable[Sequence[Any]]) -> List[str]:
    """The lines of a Markdown table; cells are written with ``str``, so
    format numbers before passing them.

    Args:
        header (Sequence[str]): Column titles.
        rows (Iterable[Sequence]): One sequence of cells per row, as many
            as titles.

    Returns:
        list[str]: The header line, the rule and one line per row.
    """
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return lines


def check_report_files(name: str, stem: str,
                       suffixes: Sequence[str]) -> str:
    """Return ``stem`` if a report's files ``stem + suffix``, one per
    suffix, can be written (:func:`~mae_plugin.utils.check_output_file`),
    so that a command refuses its output before the work, not after it::

        parser.add_argument('--out', type=argparse_type(
            check_report_files, 'out', str, suffixes=('.json', '.md')))

    Raises:
        ValueError: ``stem`` is empty.
        IsADirectoryError: A file's path is a folder.
        NotADirectoryError: A folder above ``stem`` is a file.
        PermissionError: No file can be created in the folder of
            ``stem``.
    """
    if not stem:
        raise ValueError(f"{name} must be a non-empty path, got ''")
    for suffix in suffixes:
        check_output_file(name, stem + suffix)
    return stem


def write_json(data: Any, path: str, indent: int = 1) -> None:
    """Write ``data`` as JSON to ``path``, creating its folder; atomically
    (:func:`~mae_plugin.utils.atomic_write`): data that cannot be written
    as JSON, or a kill half-way, leaves the previous file whole."""
    atomic_write(json.dumps(data, indent=indent).encode(), path)


def write_markdown(lines: Sequence[str], path: str) -> None:
    """Write ``lines`` to ``path`` (one per line, a final newline),
    creating its folder; atomically, as :func:`write_json`."""
    atomic_write(('\n'.join(lines) + '\n').encode(), path)


def pyplot():
    """Matplotlib's ``pyplot`` on the file-only Agg backend."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path: str) -> None:
    """Lay ``fig`` out, save it to ``path`` at 100 dpi (its folder
    created) and close it."""
    _make_parent(path)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot().close(fig)


def _make_parent(path: str) -> None:
    folder = osp.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
