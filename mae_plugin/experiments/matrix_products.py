"""Matrix-product replay: every ``mm``/``addmm``/``bmm`` a step dispatches,
recorded with its operand layout and timed alone on random operands."""
from collections import Counter
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .timing import seconds_per_call
from .train_step import TrainStep

MATRIX_PRODUCTS = (torch.ops.aten.mm.default, torch.ops.aten.addmm.default,
                   torch.ops.aten.bmm.default)


@dataclass(frozen=True)
class _Operand:
    """Layout of a tensor argument: enough to rebuild one like it."""
    shape: tuple
    stride: tuple
    dtype: torch.dtype
    device: torch.device

    def materialise(self) -> torch.Tensor:
        """A random tensor of this layout (broadcast strides included)."""
        size = 1 + sum((n - 1) * st for n, st in zip(self.shape, self.stride))
        storage = torch.randn(size, device=self.device).to(self.dtype)
        return storage.as_strided(self.shape, self.stride)


class MatrixProductRecorder(TorchDispatchMode):
    """Counts the matrix products dispatched while active, by operator,
    operand layout and keyword arguments (``beta``, ``alpha``)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in MATRIX_PRODUCTS:
            layout = tuple(
                _Operand(tuple(a.shape), a.stride(), a.dtype, a.device
                         ) if isinstance(a, torch.Tensor) else a for a in args)
            self.calls[(func, layout, tuple(sorted(kwargs.items())))] += 1
        return func(*args, **kwargs)


def matrix_product_seconds(step: TrainStep,
                           images: torch.Tensor,
                           repeats: int = 3) -> float:
    """Seconds the matrix products of one step take replayed alone.

    Records the step's ``mm``/``addmm``/``bmm`` calls, then times each
    distinct call (``repeats`` runs after a warm-up run) on random operands
    of the recorded layout and sums time x count.
    """
    recorder = MatrixProductRecorder()
    with recorder:
        step(images, eager=True)
    total = 0.
    for (func, layout, kwargs), count in recorder.calls.items():
        args = [
            a.materialise() if isinstance(a, _Operand) else a for a in layout
        ]
        total += count * seconds_per_call(lambda: func(*args, **dict(kwargs)),
                                          str(images.device), repeats)
    return total
