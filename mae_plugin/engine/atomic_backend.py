"""A local file backend whose writes are atomic: write then rename."""
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

from mae_plugin.utils.files import atomic_write


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
