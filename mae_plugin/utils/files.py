"""Files written so that readers never see a partial one: write to a
temporary file, then rename it into place."""
import os
import os.path as osp
import re
import secrets
import stat
from pathlib import Path
from typing import List, Tuple, Union


# The temporary files of atomic_write: '.{name}.{8 hex digits}.tmp'.
TEMP_FILE = re.compile(r'\..+\.[0-9a-f]{8}\.tmp')


def _create_temp_file(folder: str, name: str) -> Tuple[int, str]:
    """Create a new file ``.{name}.<random>.tmp`` in ``folder`` and return
    its descriptor (open for writing) and path.

    Unlike :func:`tempfile.mkstemp`, whose files are owner-only (0o600),
    the file gets the mode a plain ``open(path, 'wb')`` would give it:
    0o666 less the process umask.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_BINARY', 0)
    while True:
        path = osp.join(folder, f'.{name}.{secrets.token_hex(4)}.tmp')
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue


def atomic_write(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` so that readers see either the old
    file or the complete new one, never a partial write.

    The bytes go to a temporary file in the same folder, are flushed to
    disk, and :func:`os.replace` (atomic on POSIX and Windows) puts the
    file in place. A process killed half-way leaves at most a stray
    ``.tmp`` file next to an intact previous version.

    The file ends with the permissions a plain write would leave: those of
    the file it replaces, or 0o666 less the umask for a new one.

    Args:
        data (bytes): File content.
        filepath (str | Path): Destination; its folder is created if
            missing.
    """
    folder = osp.dirname(osp.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    fd, tmp_path = _create_temp_file(folder, osp.basename(filepath))
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:  # a plain write keeps the mode of the file it overwrites
            os.chmod(tmp_path, stat.S_IMODE(os.stat(filepath).st_mode))
        except FileNotFoundError:  # a new file: 0o666 less the umask
            pass
        os.replace(tmp_path, filepath)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise


def remove_stale_temp_files(folder: str) -> List[str]:
    """Delete the temporary files that writes killed half-way (by
    ``kill -9``, a power cut) left in ``folder``, and return their names.

    Call it only when no other process writes into ``folder`` with
    :func:`atomic_write` (at the start of a training run): a write in
    progress would lose its file.
    """
    removed = []
    if not osp.isdir(folder):
        return removed
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if TEMP_FILE.fullmatch(entry.name) and entry.is_file(
                follow_symlinks=False):
            os.remove(entry.path)
            removed.append(entry.name)
    return removed

