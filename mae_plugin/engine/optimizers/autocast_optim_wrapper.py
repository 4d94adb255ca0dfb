"""bf16 mixed precision on any device, the CPU included."""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from mae_plugin.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """Run the forward under ``torch.autocast`` in bfloat16 on the device
    the model lives on; backward and the optimizer step are unchanged.

    mmengine's ``AmpOptimWrapper`` refuses to build without a GPU (or
    another accelerator) and scales the loss, which fp16 needs. bfloat16
    keeps fp32's exponent range, so its gradients neither underflow nor
    overflow where fp32's would not and no loss scaling is done: this
    wrapper is the plain :class:`~mmengine.optim.OptimWrapper` (gradient
    clipping and accumulation included) plus the autocast context. Weights,
    gradients and optimizer state stay fp32; matrix products and
    convolutions run in bf16 (AMX or AVX-512-BF16 on recent x86 CPUs).

    Args:
        dtype (str): Autocast dtype; only ``'bfloat16'``. Defaults to
            ``'bfloat16'``.
        **kwargs: Arguments of :class:`~mmengine.optim.OptimWrapper`
            (``optimizer``, ``clip_grad``, ``accumulative_counts``).

    Raises:
        ValueError: ``dtype`` is not ``'bfloat16'``.
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs) -> None:
        if dtype != 'bfloat16':
            raise ValueError(
                f"AutocastOptimWrapper dtype must be 'bfloat16', got "
                f'{dtype!r}; fp16 needs loss scaling: use mmengine\'s '
                f'AmpOptimWrapper on a GPU')
        super().__init__(**kwargs)
        self.cast_dtype = torch.bfloat16

    @contextmanager
    def optim_context(self, model: nn.Module):
        """The parent's context (gradient sync during accumulation) plus
        autocast on the device of ``model``'s first parameter."""
        device_type = next(model.parameters()).device.type
        with super().optim_context(model), torch.autocast(
                device_type, dtype=self.cast_dtype):
            yield
