import importlib.util
import os.path as osp

import mmdet
import pytest
from mmengine.config import config

from mae_plugin.engine.package_paths import (get_installed_path,
                                             is_installed,
                                             patch_mmengine_config)


def test_installed_packages_are_found():
    assert is_installed('mmdet') and is_installed('mmsegmentation')
    assert not is_installed('no_such_package_for_mae_plugin')
    assert get_installed_path('mmdet') == osp.dirname(mmdet.__file__)
    # distribution name -> top-level module
    assert osp.basename(get_installed_path('mmsegmentation')) == 'mmseg'
    with pytest.raises(ModuleNotFoundError, match='no_such_package'):
        get_installed_path('no_such_package_for_mae_plugin')


def test_mmengine_config_is_patched_only_without_pkg_resources():
    missing = importlib.util.find_spec('pkg_resources') is None
    assert patch_mmengine_config() == missing
    assert (config.is_installed is is_installed) == missing
