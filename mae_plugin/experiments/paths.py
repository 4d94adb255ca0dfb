"""Where the packaged configs are, in a source checkout and in an install.

OpenMMLab's ``mim`` layout keeps the configs under ``mae_plugin/.mim``: in a
checkout ``.mim/configs`` is a symbolic link to the repository's
``configs/``, and a built wheel holds a copy of the files there, so one path
serves both.
"""
import os.path as osp

PACKAGE_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def config_path(*parts: str) -> str:
    """The path of a packaged config (or folder of configs).

    Args:
        *parts (str): Path components under ``configs/``, e.g.
            ``('mae', 'mae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py')``.

    Returns:
        str: ``mae_plugin/.mim/configs/<parts>`` where that folder exists
        (an install, or a checkout with its symbolic link), else the
        checkout's ``configs/<parts>`` (a checkout made without symbolic
        links).
    """
    mim = osp.join(PACKAGE_ROOT, '.mim', 'configs')
    root = mim if osp.isdir(mim) else osp.join(
        osp.dirname(PACKAGE_ROOT), 'configs')
    return osp.join(root, *parts)
