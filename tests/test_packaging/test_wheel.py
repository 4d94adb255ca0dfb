"""The package as a user installs it: build a wheel of the repository,
install it into an empty folder and use it from outside the checkout."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from ..conftest import ROOT

# Run inside the installed package: import every public name (``__all__``)
# of every package and subpackage that declares them, then print where the
# package and the study's default configs are.
CHECK = '''
import importlib, json, pkgutil
import mae_plugin
from mae_plugin.experiments import fashion_mnist_study as study
missing, names = [], 0
for info in pkgutil.walk_packages(mae_plugin.__path__, 'mae_plugin.'):
    if not info.ispkg:
        continue
    module = importlib.import_module(info.name)
    public = getattr(module, '__all__', ())
    names += len(public)
    missing += [f'{info.name}.{name}' for name in public
                if not hasattr(module, name)]
print(json.dumps(dict(
    package=mae_plugin.__file__, missing=missing, names=names,
    configs=[study.PRETRAIN_CONFIG, study.FINETUNE_CONFIG,
             study.SCRATCH_CONFIG])))
'''

# Left out of the copy that is built: setuptools builds in the source tree,
# and a stale build/ there would put removed modules into the wheel.
NOT_SOURCE = shutil.ignore_patterns('.git', '.venv', 'build', 'dist',
                                    '*.egg-info', 'work_dirs', 'data',
                                    '__pycache__', '.cache')


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """The folder a wheel of a copy of the checkout was installed into
    (``pip install --target``); no step needs the network (no build
    isolation, no dependencies, no index)."""
    source = str(tmp_path_factory.mktemp('source') / 'mae_plugin')
    shutil.copytree(ROOT, source, symlinks=True, ignore=NOT_SOURCE)
    wheels = tmp_path_factory.mktemp('wheels')
    target = tmp_path_factory.mktemp('site')
    pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check']
    subprocess.run(
        pip + [
            'wheel', '--no-deps', '--no-build-isolation', '-q', '-w',
            str(wheels), source
        ],
        check=True,
        cwd=str(wheels))
    wheel, = wheels.glob('mae_plugin-*.whl')
    subprocess.run(
        pip + [
            'install', '--no-deps', '--no-index', '-q', '--target',
            str(target),
            str(wheel)
        ],
        check=True)
    return str(target)


def run_installed(site: str, *args: str) -> str:
    """Run Python with only the installed package (and the environment's
    dependencies) importable, from a folder outside the checkout."""
    env = dict(os.environ, PYTHONPATH=site)
    done = subprocess.run([sys.executable, *args],
                          cwd=osp.dirname(site),
                          env=env,
                          capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_installed_package_imports_its_public_names(installed):
    found = json.loads(run_installed(installed, '-c', CHECK))
    assert found['package'].startswith(installed + os.sep)
    assert found['missing'] == [] and found['names'] > 0
    for config in found['configs']:
        assert config.startswith(installed + os.sep)
        assert osp.isfile(config), config


def test_installed_study_tool_answers_help(installed):
    tool = osp.join(installed, 'mae_plugin', '.mim', 'tools', 'analysis_tools',
                    'fashion_mnist_study.py')
    assert '--seeds' in run_installed(installed, tool, '--help')


def files_below(folder: str) -> set:
    """Paths of the files below ``folder``, relative to it (no caches)."""
    return {
        osp.relpath(osp.join(root, name), folder)
        for root, dirs, names in os.walk(folder)
        if '__pycache__' not in root.split(os.sep) for name in names
        if not name.endswith('.pyc')
    }


@pytest.mark.parametrize('folder', ['configs', 'tools'])
def test_installed_package_carries_every_config_and_tool(installed, folder):
    mim = osp.join(installed, 'mae_plugin', '.mim', folder)
    assert files_below(mim) == files_below(osp.join(ROOT, folder))
