"""One optimizer step of a step-benchmark peer, and the optimizer update
timed alone."""
from contextlib import nullcontext

import torch
from torch.nn.attention import sdpa_kernel

from mae_plugin.engine import compile_regions
from .step_models import (BLOCK_CLASSES, BUILDERS, CONVERTERS, DTYPES,
                          OWN_ADAMW, SDPA_BACKENDS, BenchmarkSpec, loss_fn)
from .timing import seconds_per_call


class TrainStep:
    """One optimizer step of a peer: AdamW with the paper's settings (the
    peer's own implementation of it, see :data:`OWN_ADAMW`), the loss under
    autocast for bf16/fp16 (with loss scaling for fp16 on a GPU), compiled
    and its attention kernel chosen as the spec says."""

    def __init__(self, name: str, spec: BenchmarkSpec,
                 plugin_weights: dict) -> None:
        self.name = name
        self.model = BUILDERS[name](spec)
        self.model.load_state_dict(
            CONVERTERS[name](plugin_weights), strict=True)
        self.model.to(spec.device)
        self.model.train()
        if spec.compile_blocks:
            compile_regions(
                self.model, [BLOCK_CLASSES[name]], mode=spec.compile_mode)
        self.eager_loss = loss_fn(name, self.model)
        self.loss = (
            torch.compile(self.eager_loss, mode=spec.compile_mode)
            if spec.compile else self.eager_loss)
        # CUDA graphs: each step's outputs may overwrite the last step's
        self.new_graph_step = spec.compile_mode == 'reduce-overhead'
        self.sdpa_backend = SDPA_BACKENDS[spec.sdpa_backend]
        self.optimizer = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad],
            lr=1.5e-4,
            betas=(0.9, 0.95),
            weight_decay=0.05,
            **({} if spec.same_adamw else OWN_ADAMW[name]))
        dtype = DTYPES[spec.dtype]
        self.autocast = (
            torch.autocast(spec.device.split(':')[0], dtype=dtype)
            if dtype != torch.float32 else nullcontext())
        self.scaler = torch.amp.GradScaler(
            enabled=dtype == torch.float16 and spec.device.startswith('cuda'))

    def __call__(self,
                 images: torch.Tensor,
                 eager: bool = False) -> torch.Tensor:
        """One step; ``eager`` runs compiled code eagerly (for the FLOP
        counter and the matrix-product recorder, which must see the
        operators one by one)."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.new_graph_step:
            torch.compiler.cudagraph_mark_step_begin()
        stance = torch.compiler.set_stance(
            'force_eager') if eager else nullcontext()
        attention = (
            sdpa_kernel(self.sdpa_backend)
            if self.sdpa_backend is not None else nullcontext())
        with stance, attention, self.autocast:
            loss = self.loss(images)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss


def optimizer_seconds(step: TrainStep,
                      images: torch.Tensor,
                      repeats: int = 3) -> float:
    """Seconds of the optimizer update alone (the part of a step that does
    not depend on the batch), timed on the gradients of one step."""
    step(images)
    return seconds_per_call(step.optimizer.step, str(images.device), repeats)
