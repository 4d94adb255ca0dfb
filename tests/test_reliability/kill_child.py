"""The child process of the kill tests: the tiny demo training run, which
can stop at a known point and wait there to be killed.

``python -m tests.test_reliability.kill_child SPEC`` with ``SPEC`` a JSON
object: ``config``, ``work_dir``, ``options`` (``key=value`` overrides),
``resume`` (bool, as ``tools/train.py --resume``) and optionally
``pause`` = ``[kind, iteration, ready_file]``, where kind is

* ``'step'``: before training iteration ``iteration`` starts;
* ``'save'``: when the checkpoint of ``iteration`` is fully written to its
  temporary file, before the rename that puts it in place;
* ``'pointer'``: after that rename, before ``last_checkpoint`` is
  renamed to point at it.

At the pause the child creates ``ready_file`` and sleeps.
"""
import json
import os
import os.path as osp
import sys
import time

from mmengine.hooks import Hook

from mae_plugin.apis import build_runner, train_config
from tests.test_engine.utils import cfg_options


def wait_to_be_killed(ready_file: str) -> None:
    with open(ready_file, 'w'):
        pass
    while True:
        time.sleep(60)


class PauseBeforeIteration(Hook):

    def __init__(self, iteration: int, ready_file: str) -> None:
        self.iteration = iteration
        self.ready_file = ready_file

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.iteration:
            wait_to_be_killed(self.ready_file)


def pause_before_rename(target: str, content: bytes, ready_file: str):
    """Make ``os.replace`` wait to be killed before it renames a file
    holding ``content`` (the end of it, for a checkpoint) onto a file
    named ``target``; every other rename goes ahead."""
    replace = os.replace

    def paused_replace(src, dst, *args, **kwargs):
        if osp.basename(dst) == target:
            with open(src, 'rb') as f:
                if f.read().endswith(content):
                    wait_to_be_killed(ready_file)
        return replace(src, dst, *args, **kwargs)

    os.replace = paused_replace


def main() -> None:
    spec = json.loads(sys.argv[1])
    cfg = train_config(
        spec['config'],
        work_dir=spec['work_dir'],
        resume='auto' if spec['resume'] else None,
        no_validate=True,
        cfg_options=cfg_options(spec['options']))
    runner = build_runner(cfg)
    kind, iteration, ready_file = spec.get('pause') or (None, 0, None)
    checkpoint = f'iter_{iteration}.pth'
    if kind == 'step':
        runner.register_hook(PauseBeforeIteration(iteration, ready_file))
    elif kind == 'save':
        pause_before_rename(checkpoint, b'', ready_file)
    elif kind == 'pointer':
        pause_before_rename('last_checkpoint', checkpoint.encode(), ready_file)
    runner.train()


if __name__ == '__main__':
    main()
