"""A spy on the threads each process of a distributed run still has when
its interpreter begins to shut down.

Imported into ``tools/train.py`` through ``custom_imports``, it registers
an ``atexit`` handler, which runs after ``main()`` returned and before the
interpreter tears down, that writes the names of the process's native
threads (Linux's ``/proc/self/task/*/comm``), one per line, to
``$MAE_THREAD_SPY_DIR/rank<RANK>.txt``. A gloo group still alive then
shows up as ``gloo_tcp_loop`` and ``pt_gloo_runloop`` threads. Only the
processes of such a run import it (the test process does not).
"""
import atexit
import os
import os.path as osp

SPY_DIR = 'MAE_THREAD_SPY_DIR'


def _record_threads() -> None:
    tasks = sorted(os.listdir('/proc/self/task'))
    names = []
    for task in tasks:
        with open(f'/proc/self/task/{task}/comm') as f:
            names.append(f.read().strip())
    rank = os.environ.get('RANK', '0')
    with open(osp.join(os.environ[SPY_DIR], f'rank{rank}.txt'), 'w') as f:
        f.write('\n'.join(names) + '\n')


atexit.register(_record_threads)
