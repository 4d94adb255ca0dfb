"""A spy on the files each process of a distributed run writes.

Imported into ``tools/train.py`` through ``custom_imports``, it wraps the
plugin's atomic writer, through which the checkpoint hook's checkpoints
(the ``atomic_local`` backend) and ``last_checkpoint`` go, and appends the
name of every file written to ``$MAE_SAVE_SPY_DIR/rank<RANK>.txt``, one
file per process. The writes themselves are unchanged. Only the
processes of such a run import it (the test process does not).
"""
import os
import os.path as osp

from mae_plugin.engine import atomic_backend
from mae_plugin.engine.hooks import atomic_checkpoint_hook

SPY_DIR = 'MAE_SAVE_SPY_DIR'


def _record(path) -> None:
    rank = os.environ.get('RANK', '0')
    with open(osp.join(os.environ[SPY_DIR], f'rank{rank}.txt'), 'a') as f:
        f.write(osp.basename(str(path)) + '\n')


def _spied(write):

    def atomic_write(data, filepath):
        _record(filepath)
        return write(data, filepath)

    return atomic_write


for _module in (atomic_backend, atomic_checkpoint_hook):
    _module.atomic_write = _spied(_module.atomic_write)
