"""Peak memory of a training step: what a peer holds between steps plus the
most its step allocates on top (the profiler's allocation events on the
CPU, ``torch.cuda.max_memory_allocated`` on a GPU)."""
import torch
from torch.profiler import ProfilerActivity, profile

from .timing import synchronize
from .train_step import TrainStep


def _tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors
               if isinstance(t, torch.Tensor))


def _held_between_steps(step: TrainStep, images: torch.Tensor) -> int:
    """Bytes a peer holds between steps once its gradients are released:
    weights, optimizer state and the batch."""
    return (_tensor_bytes(step.model.parameters()) + _tensor_bytes([images]) +
            _tensor_bytes(v for state in step.optimizer.state.values()
                          for v in state.values()))


def cpu_step_peak_memory(step: TrainStep, images: torch.Tensor) -> int:
    """Peak bytes held by PyTorch's CPU allocator during one step.

    The previous step's gradients are released first. The profiler's
    memory events (every allocation and free of the step, in order) then
    give the most the step holds on top of what existed before it; the
    weights, the optimizer state and the batch, which existed before, are
    added. Unlike the resident set, the count does not depend
    on when the operating system reclaims pages (repeated measurements
    agree within about 2%), like ``torch.cuda.max_memory_allocated``;
    memory that libraries allocate outside PyTorch (BLAS scratch space) is
    not in it.
    """
    # Released outside the profiler, which reports the free of a block
    # only if it also saw the allocation.
    step.optimizer.zero_grad(set_to_none=True)
    with profile(
            activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step(images)
    events = sorted((e for e in prof.profiler.kineto_results.events()
                     if e.name() == '[memory]'),
                    key=lambda e: e.start_ns())
    held = peak = 0
    for event in events:
        held += event.nbytes()  # negative for a free
        peak = max(peak, held)
    return _held_between_steps(step, images) + peak


def cuda_steps_peak_memory(step: TrainStep, images: torch.Tensor,
                           steps: int) -> int:
    """Peak bytes of ``steps`` steps of one peer on the GPU, counted as on
    the CPU: what the peer holds between steps plus the most its steps
    allocate on top. The other peers' weights, gradients and optimizer
    state, which stay on the GPU, are left out. Counted on the GPU of
    ``images``, whichever is current."""
    device = images.device
    step.optimizer.zero_grad(set_to_none=True)
    synchronize(str(device))
    held = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    for _ in range(steps):
        step(images)
    synchronize(str(device))
    return (_held_between_steps(step, images) +
            torch.cuda.max_memory_allocated(device) - held)
