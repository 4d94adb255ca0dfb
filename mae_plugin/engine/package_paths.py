"""Find installed packages for ``mmdet::``/``mmseg::`` config bases without
``pkg_resources``.

mmengine 0.10 resolves a ``scope::path`` base through
``mmengine.utils.is_installed`` and ``get_installed_path``, which import
``pkg_resources``; setuptools >= 81 no longer ships it, so composing any
OpenMMLab package's config fails with ``ModuleNotFoundError``. Where
``pkg_resources`` is missing, :func:`patch_mmengine_config` points mmengine's
config module at the :mod:`importlib` equivalents below. Config files are
parsed before their ``custom_imports`` run, so ``mae_plugin`` must be
imported first (``tools/train.py`` and ``tools/test.py`` do).
"""
import importlib.util
import os.path as osp
from importlib import metadata


def _find_module(package: str):
    """The import spec of a distribution's top-level module."""
    spec = importlib.util.find_spec(package)
    if spec is None:
        try:
            top_level = metadata.distribution(package).read_text(
                'top_level.txt') or ''
        except metadata.PackageNotFoundError:
            return None
        names = top_level.split()
        spec = importlib.util.find_spec(names[0]) if names else None
    return spec


def is_installed(package: str) -> bool:
    """Whether ``package`` (distribution or module name) can be imported."""
    spec = _find_module(package)
    return spec is not None and spec.origin is not None


def get_installed_path(package: str) -> str:
    """Folder of the top-level module of ``package``."""
    spec = _find_module(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f'package {package!r} is not installed')
    return osp.dirname(spec.origin)


def patch_mmengine_config() -> bool:
    """Use the functions above in ``mmengine.config`` when
    ``pkg_resources`` is missing.

    Returns:
        bool: Whether mmengine was patched.
    """
    if importlib.util.find_spec('pkg_resources') is not None:
        return False
    from mmengine.config import config
    config.is_installed = is_installed
    config.get_installed_path = get_installed_path
    return True
