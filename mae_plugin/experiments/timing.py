"""Clocks of the studies, sweeps and benchmarks, so their reports agree:
CPU seconds of the process, seconds per call on a device, and the timed
rounds of one benchmark peer."""
import resource
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, List

import torch


def cpu_seconds() -> float:
    """CPU time (user + system, all threads) of this process and of its
    finished child processes (dataloader workers)."""
    usage = [
        resource.getrusage(who)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    ]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def synchronize(device: str) -> None:
    """Wait for the queued kernels of a CUDA ``device``."""
    if device.startswith('cuda'):
        torch.cuda.synchronize()


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
