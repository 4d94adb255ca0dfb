"""A local file backend whose writes are atomic: write then rename."""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend


def atomic_write(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` so that readers see either the old
    file or the complete new one, never a partial write.

    The bytes go to a temporary file in the same folder, are flushed to
    disk, and :func:`os.replace` (atomic on POSIX and Windows) puts the
    file in place. A process killed half-way leaves at most a stray
    ``.tmp`` file next to an intact previous version.

    Args:
        data (bytes): File content.
        filepath (str | Path): Destination; its folder is created if
            missing.
    """
    folder = osp.dirname(osp.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(
        dir=folder, prefix=f'.{osp.basename(filepath)}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, filepath)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """:class:`mmengine.fileio.LocalBackend` with atomic ``put`` and
    ``put_text`` (see :func:`atomic_write`). Select it with
    ``backend_args=dict(backend='atomic_local')``."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Atomically write bytes to ``filepath``."""
        atomic_write(obj, filepath)

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Atomically write text to ``filepath``. ``encoding`` defaults to
        ``'utf-8'``."""
        atomic_write(obj.encode(encoding), filepath)
