"""FLOPs of one training step, counted by torch's FLOP counter."""
import torch
from torch.utils.flop_counter import (FlopCounterMode,
                                      sdpa_backward_flop_count,
                                      sdpa_flop_count)

from .timing import seconds_per_call
from .train_step import TrainStep
from .step_models import DTYPES


def gemm_flops_per_s(device: str,
                     dtype: str,
                     size: int = 4096,
                     repeats: int = 5) -> float:
    """Measured rate of a large ``size^3`` matrix product in ``dtype``."""
    a = torch.randn(size, size, device=device, dtype=DTYPES[dtype])
    b = torch.randn(size, size, device=device, dtype=DTYPES[dtype])
    return 2 * size**3 / seconds_per_call(lambda: a @ b, device, repeats)


def _cpu_attention_flops(query,
                         key,
                         value,
                         *args,
                         out_shape=None,
                         **kwargs) -> int:
    """FLOPs of the CPU flash-attention kernel: softmax(QK^T)V."""
    return sdpa_flop_count(query, key, value)


def _cpu_attention_backward_flops(grad_out,
                                  query,
                                  key,
                                  value,
                                  *args,
                                  out_shape=None,
                                  **kwargs) -> int:
    """FLOPs of its backward (QK^T recomputed, then four products)."""
    return sdpa_backward_flop_count(grad_out, query, key, value)


# torch's FLOP counter has formulas for the CUDA attention kernels only; the
# CPU kernel does the same products.
CPU_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu:
    _cpu_attention_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward:
    _cpu_attention_backward_flops,
}


def count_flops(step: TrainStep, images: torch.Tensor) -> float:
    """FLOPs of one step's forward and backward: matrix products,
    convolutions and attention (torch's FLOP counter, given the formulas
    of the CPU attention kernel, :data:`CPU_ATTENTION_FLOPS`)."""
    counter = FlopCounterMode(
        display=False, custom_mapping=CPU_ATTENTION_FLOPS)
    with counter:
        step(images, eager=True)
    return float(counter.get_total_flops())
