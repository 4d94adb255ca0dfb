"""Clocks of the studies, sweeps and benchmarks, so their reports agree:
CPU seconds of the process, seconds per call on a device, the timed rounds
of one benchmark peer, the minutes of named stages and the per-epoch
statistics of a training run."""
import resource
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Dict, List

import numpy as np
import torch
from mmengine.hooks import Hook


def cpu_seconds() -> float:
    """CPU time (user + system, all threads) of this process and of its
    finished child processes (dataloader workers)."""
    usage = [
        resource.getrusage(who)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    ]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def synchronize(device: str) -> None:
    """Wait for the queued kernels of a CUDA ``device`` (``'cuda'``: the
    current one; ``'cuda:1'``: that one, whichever is current)."""
    if device.startswith('cuda'):
        torch.cuda.synchronize(device)


def seconds_per_call(fn: Callable[[], object], device: str,
                     repeats: int) -> float:
    """Mean seconds of ``fn()`` over ``repeats`` calls after one untimed
    call."""
    fn()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / repeats


@dataclass
class PeerResult:
    """Measurements of one peer."""
    name: str
    images_per_s: List[float] = field(default_factory=list)
    flops_per_step: float = 0.
    peak_memory: float = float('nan')
    matrix_product_s: float = float('nan')
    optimizer_s: float = float('nan')

    @property
    def median(self) -> float:
        return statistics.median(self.images_per_s)

    @property
    def spread(self) -> float:
        """(max - min) / median of the rounds."""
        return (max(self.images_per_s) - min(self.images_per_s)) / self.median


class Stopwatch:
    """CPU (see :func:`cpu_seconds`) and wall time of named stages, summed
    over the stage's runs: ``seconds[name]`` and ``minutes[name]`` are
    ``{'cpu': ..., 'wall': ...}``."""

    def __init__(self) -> None:
        self.seconds: Dict[str, Dict[str, float]] = {}

    @property
    def minutes(self) -> Dict[str, Dict[str, float]]:
        return {
            name: {clock: s / 60
                   for clock, s in entry.items()}
            for name, entry in self.seconds.items()
        }

    @contextmanager
    def __call__(self, name: str):
        cpu, wall = cpu_seconds(), time.perf_counter()
        yield
        entry = self.seconds.setdefault(name, dict(cpu=0., wall=0.))
        entry['cpu'] += cpu_seconds() - cpu
        entry['wall'] += time.perf_counter() - wall


class EpochStatsHook(Hook):
    """Record, for every training epoch, the mean loss, the CPU (see
    :func:`cpu_seconds`) and wall minutes since training started, and the
    CPU minutes of the training steps alone (data loading included; the
    evaluations and checkpoints between epochs not)."""

    def __init__(self) -> None:
        self.history: List[Dict[str, float]] = []
        self._losses: List[float] = []
        self._start = (cpu_seconds(), time.perf_counter())
        self._step_cpu = 0.
        self._epoch_start_cpu = self._last_step_cpu = self._start[0]

    def before_train(self, runner) -> None:
        self._start = (cpu_seconds(), time.perf_counter())

    def before_train_epoch(self, runner) -> None:
        self._epoch_start_cpu = self._last_step_cpu = cpu_seconds()

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        self._losses.append(outputs['loss'].item())
        self._last_step_cpu = cpu_seconds()

    def after_train_epoch(self, runner) -> None:
        self._step_cpu += self._last_step_cpu - self._epoch_start_cpu
        self.history.append(
            dict(
                epoch=runner.epoch + 1,
                loss=float(np.mean(self._losses)),
                cpu_minutes=(cpu_seconds() - self._start[0]) / 60,
                wall_minutes=(time.perf_counter() - self._start[1]) / 60,
                step_cpu_minutes=self._step_cpu / 60))
        self._losses = []
