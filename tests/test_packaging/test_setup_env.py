"""tools/setup_env.sh stopped half-way: its mmcv build, run by a stand-in
interpreter (no download, no compiler), ends with it."""
import fcntl
import os
import os.path as osp
import shutil
import signal
import subprocess
import time
from typing import List

import pytest

from ..conftest import ROOT

# The venv's python as the script calls it: pip and the checks succeed at
# once, the mmcv download is a small source archive, and the wheel build
# writes its pid to BUILD_PID and runs until it is killed.
FAKE_PYTHON = r'''#!/usr/bin/env bash
case "$*" in
    *" download "*)
        dest=${@: -1}
        mkdir -p "$dest/src/mmcv-2.1.0"
        echo '-std=c++17' > "$dest/src/mmcv-2.1.0/setup.py"
        tar -czf "$dest/mmcv-2.1.0.tar.gz" -C "$dest/src" mmcv-2.1.0 ;;
    *" wheel -v "*) echo $$ > "$BUILD_PID"; exec sleep 1000 ;;
    *"import torch"*) echo 2.14.1 ;;
    "- 2.1.0") cat >/dev/null ;;  # mmcv not installed
esac
'''


def _wait_for(condition, seconds: float = 60) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` have passed."""
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.2)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _group_commands(pgid: int) -> List[str]:
    """The command names of the live (not zombie) processes in process
    group ``pgid``, from Linux's ``/proc/PID/stat``."""
    names = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/stat') as f:
                stat = f.read()
        except OSError:  # it ended meanwhile
            continue
        name, fields = stat.partition(' (')[2].rpartition(') ')[::2]
        state, _, group = fields.split()[:3]
        if int(group) == pgid and state != 'Z':
            names.append(name)
    return names


def _unlocked(path: str) -> bool:
    """Whether a set-up could take the lock on ``path`` now."""
    with open(path) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


@pytest.mark.skipif(shutil.which('flock') is None, reason='needs flock')
def test_terminated_setup_ends_its_build_and_frees_the_lock(tmp_path):
    """SIGTERM to the script alone (``kill PID``) used to leave the build
    running, its temporary folder behind, and the progress loop running
    for good with the set-up lock: every later set-up waited forever."""
    root, bin_dir, tmp = tmp_path / 'root', tmp_path / 'bin', tmp_path / 'tmp'
    for folder in (root / 'tools', root / '.venv/bin', bin_dir, tmp):
        folder.mkdir(parents=True)
    shutil.copytree(osp.join(ROOT, 'requirements'), root / 'requirements')
    shutil.copy(osp.join(ROOT, 'setup.cfg'), root)
    script = str(root / 'tools/setup_env.sh')
    shutil.copy(osp.join(ROOT, 'tools/setup_env.sh'), script)
    stand_ins = {
        root / '.venv/bin/python': FAKE_PYTHON,
        bin_dir / 'c++': '#!/bin/sh\n',
        bin_dir / 'apt-get': '#!/bin/sh\n',  # never the real one
    }
    for path, text in stand_ins.items():
        path.write_text(text)
        path.chmod(0o755)
    build_pid, log = tmp_path / 'build.pid', tmp_path / 'setup.log'
    env = dict(
        os.environ,
        PATH=f'{bin_dir}:{os.environ["PATH"]}',
        XDG_CACHE_HOME=str(tmp_path / 'cache'),
        TMPDIR=str(tmp),
        BUILD_PID=str(build_pid))
    with open(log, 'w') as out:
        setup = subprocess.Popen(['bash', script, '--full'], env=env,
                                 stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    try:
        assert _wait_for(build_pid.exists), log.read_text()
        build = int(build_pid.read_text())
        setup.send_signal(signal.SIGTERM)
        assert setup.wait(timeout=60) != 0
        assert _wait_for(lambda: not _alive(build))
        # the progress loop (a bash subshell in the script's group); the
        # `sleep 60` it was in may run out its minute
        assert _wait_for(lambda: 'bash' not in _group_commands(setup.pid))
        assert _wait_for(lambda: _unlocked(script))
        assert os.listdir(tmp) == []  # the build folder
    finally:
        # the script's session and the build's (each leads its own)
        sessions = [setup.pid] + ([int(build_pid.read_text())]
                                  if build_pid.exists() else [])
        for pid in sessions:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        setup.wait()
