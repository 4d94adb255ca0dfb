"""Time the full MAE pretraining step (forward, backward, optimizer) of the
plugin against mmpretrain's ``MAE`` and Hugging Face's
``ViTMAEForPreTraining`` built with the same architecture, batch, mask ratio
and dtype, in one process, alternating them over repeated rounds.

The ``mask_tokens`` peer is the plugin's model with mask ratio 0 and the
loss over all patches: its encoder and decoder process every patch, the
compute of the paper's "w/ [M]" baseline (mask tokens through the encoder),
against which the asymmetric design's speedup is measured.

Every peer starts from the same weights: the plugin's, converted to the
peer's layout with :mod:`mae_plugin.converters`.

Matrix products alone: every ``mm``/``addmm``/``bmm`` a step dispatches
(forward and backward) is recorded with its operand shapes, strides and
dtype, and replayed in isolation on random operands of that layout. Their
summed time is what the step would take if everything around the matrix
products (attention kernels, norms, activations, copies, the optimizer)
were free, and ``batch / that time`` bounds the images/s any implementation
of the same arithmetic can reach on the machine (an optimistic bound:
isolated operands are warm in the caches).

The optimizer update is also timed alone: it is the same whatever the
batch, so at small batches it weighs on the asymmetric speedup, which the
report also gives without it.

Peak memory of a step (after warm-up, so the optimizer state exists): what
the peer holds between steps (weights, optimizer state, batch) plus the most
its step allocates on top, gradients and activations. On CUDA from
``torch.cuda.max_memory_allocated`` over extra, untimed steps
(:func:`cuda_steps_peak_memory`, which leaves out the other peers' memory);
on the CPU, where PyTorch keeps no such count, from the profiler's
allocation events (:func:`cpu_step_peak_memory`).
"""
import statistics
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Sequence, Union

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import (FlopCounterMode,
                                      sdpa_backward_flop_count,
                                      sdpa_flop_count)

from mae_plugin.converters import (convert_to_hf_vitmae,
                                   convert_to_mmpretrain_mae)
from mae_plugin.models import MAEViT
from mae_plugin.utils import check_positive_int
from mae_plugin.registry import build_model
from .checks import check_timing_arguments

DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}
PEERS = ('mae_plugin', 'mmpretrain', 'hf', 'mask_tokens')
# Each implementation's own AdamW: the plugin's pretraining configs use
# PyTorch's fused kernel, mmpretrain's MAE configs and Hugging Face's Trainer
# (``optim='adamw_torch'``, its default) PyTorch's default implementation.
OWN_ADAMW = {
    'mae_plugin': dict(fused=True),
    'mmpretrain': {},
    'hf': {},
    'mask_tokens': dict(fused=True)
}


@dataclass
class BenchmarkSpec:
    """What to benchmark.

    Attributes:
        arch (str | dict): ``MAEViT`` preset (small/base/large/huge) or an
            arch dict.
        img_size (int): Square input side.
        patch_size (int): Patch side.
        batch_size (int): Images per step.
        mask_ratio (float): Fraction of patches removed.
        decoder_dims (int): Decoder width.
        decoder_depth (int): Decoder blocks.
        decoder_heads (int): Decoder attention heads.
        norm_pix (bool): Per-patch normalised targets.
        dtype (str): ``fp32``, ``bf16`` or ``fp16`` (autocast for the
            latter two).
        device (str): ``cpu`` or ``cuda``.
        same_adamw (bool): Give every peer PyTorch's default AdamW instead
            of its own (:data:`OWN_ADAMW`), to compare the models alone.
        compile (bool): Run every peer's forward and loss through
            ``torch.compile`` (its backward follows), as the runner's
            ``compile`` setting does for the training step.
    """
    arch: Union[str, dict] = 'base'
    img_size: int = 224
    patch_size: int = 16
    batch_size: int = 8
    mask_ratio: float = 0.75
    decoder_dims: int = 512
    decoder_depth: int = 8
    decoder_heads: int = 16
    norm_pix: bool = True
    dtype: str = 'fp32'
    device: str = 'cpu'
    same_adamw: bool = False
    compile: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.arch, dict) and (
                not isinstance(self.arch, str)
                or self.arch.lower() not in MAEViT.arch_zoo):
            raise ValueError(f'arch must be an arch dict or one of '
                             f'{sorted(MAEViT.arch_zoo)}, got {self.arch!r}')
        for name in ('img_size', 'patch_size', 'batch_size', 'decoder_dims',
                     'decoder_depth', 'decoder_heads'):
            check_positive_int(name, getattr(self, name))
        if self.dtype not in DTYPES:
            raise ValueError(f'dtype must be one of {sorted(DTYPES)}, got '
                             f'{self.dtype!r}')

    @property
    def encoder(self) -> dict:
        if isinstance(self.arch, dict):
            return self.arch
        return MAEViT.arch_zoo[self.arch.lower()]


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


def build_plugin(spec: BenchmarkSpec, mask_tokens: bool = False):
    enc = spec.encoder
    return build_model(
        dict(
            type='MAE',
            backbone=dict(
                type='MAEViT',
                arch=dict(enc),
                img_size=spec.img_size,
                patch_size=spec.patch_size,
                masking=dict(
                    type='RandomMasking',
                    mask_ratio=0. if mask_tokens else spec.mask_ratio)),
            neck=dict(
                type='MAEDecoder',
                in_channels=enc['embed_dims'],
                embed_dims=spec.decoder_dims,
                num_layers=spec.decoder_depth,
                num_heads=spec.decoder_heads,
                img_size=spec.img_size,
                patch_size=spec.patch_size),
            head=dict(
                type='MAEPixelHead',
                patch_size=spec.patch_size,
                norm_pix=spec.norm_pix,
                loss_on_visible=mask_tokens)))


def build_mmpretrain(spec: BenchmarkSpec):
    # Scoped type names: mmpretrain's classes even where a default scope
    # of mae_plugin (which has its own MAE and MAEViT) is set.
    from mmpretrain.registry import MODELS
    enc = spec.encoder
    return MODELS.build(
        dict(
            type='mmpretrain.MAE',
            backbone=dict(
                type='mmpretrain.MAEViT',
                arch=dict(enc),
                img_size=spec.img_size,
                patch_size=spec.patch_size,
                mask_ratio=spec.mask_ratio),
            neck=dict(
                type='mmpretrain.MAEPretrainDecoder',
                num_patches=(spec.img_size // spec.patch_size)**2,
                patch_size=spec.patch_size,
                embed_dim=enc['embed_dims'],
                decoder_embed_dim=spec.decoder_dims,
                decoder_depth=spec.decoder_depth,
                decoder_num_heads=spec.decoder_heads),
            head=dict(
                type='mmpretrain.MAEPretrainHead',
                norm_pix=spec.norm_pix,
                patch_size=spec.patch_size,
                loss=dict(
                    type='mmpretrain.PixelReconstructionLoss',
                    criterion='L2'))))


def build_hf(spec: BenchmarkSpec):
    try:
        from transformers import ViTMAEConfig, ViTMAEForPreTraining
    except ImportError as error:
        raise ImportError(
            "the 'hf' peer needs transformers 4.46.3 (in "
            'requirements/tests.txt; newer releases break '
            "mmpretrain's imports): install it, or leave 'hf' out of "
            '--peers') from error
    enc = spec.encoder
    config = ViTMAEConfig(
        hidden_size=enc['embed_dims'],
        num_hidden_layers=enc['num_layers'],
        num_attention_heads=enc['num_heads'],
        intermediate_size=enc['feedforward_channels'],
        image_size=spec.img_size,
        patch_size=spec.patch_size,
        decoder_hidden_size=spec.decoder_dims,
        decoder_num_hidden_layers=spec.decoder_depth,
        decoder_num_attention_heads=spec.decoder_heads,
        decoder_intermediate_size=4 * spec.decoder_dims,
        mask_ratio=spec.mask_ratio,
        norm_pix_loss=spec.norm_pix,
        layer_norm_eps=1e-6,
        attn_implementation='sdpa')
    return ViTMAEForPreTraining(config)


def loss_fn(name: str, model) -> Callable[[torch.Tensor], torch.Tensor]:
    """The training loss of a peer for a batch of images."""
    if name == 'hf':
        return lambda x: model(pixel_values=x).loss
    return lambda x: model.loss(x, [])['loss']


CONVERTERS = {
    'mae_plugin': lambda sd: sd,
    'mmpretrain': lambda sd: convert_to_mmpretrain_mae(sd)[0],
    'hf': lambda sd: convert_to_hf_vitmae(sd)[0],
    'mask_tokens': lambda sd: sd,
}

BUILDERS = {
    'mae_plugin': build_plugin,
    'mmpretrain': build_mmpretrain,
    'hf': build_hf,
    'mask_tokens': lambda spec: build_plugin(spec, mask_tokens=True),
}


class TrainStep:
    """One optimizer step of a peer: AdamW with the paper's settings (the
    peer's own implementation of it, see :data:`OWN_ADAMW`), the loss under
    autocast for bf16/fp16 (with loss scaling for fp16 on a GPU)."""

    def __init__(self, name: str, spec: BenchmarkSpec,
                 plugin_weights: dict) -> None:
        self.name = name
        self.model = BUILDERS[name](spec)
        self.model.load_state_dict(
            CONVERTERS[name](plugin_weights), strict=True)
        self.model.to(spec.device)
        self.model.train()
        self.eager_loss = loss_fn(name, self.model)
        self.loss = (torch.compile(self.eager_loss)
                     if spec.compile else self.eager_loss)
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

    def __call__(self, images: torch.Tensor,
                 eager: bool = False) -> torch.Tensor:
        """One step; ``eager`` skips ``torch.compile`` (for the FLOP
        counter and the matrix-product recorder, which must see the
        operators one by one)."""
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast:
            loss = (self.eager_loss if eager else self.loss)(images)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss


def synchronize(device: str) -> None:
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


def gemm_flops_per_s(device: str, dtype: str, size: int = 4096,
                     repeats: int = 5) -> float:
    """Measured rate of a large ``size^3`` matrix product in ``dtype``."""
    a = torch.randn(size, size, device=device, dtype=DTYPES[dtype])
    b = torch.randn(size, size, device=device, dtype=DTYPES[dtype])
    return 2 * size**3 / seconds_per_call(lambda: a @ b, device, repeats)


def _cpu_attention_flops(query, key, value, *args, out_shape=None,
                         **kwargs) -> int:
    """FLOPs of the CPU flash-attention kernel: softmax(QK^T)V."""
    return sdpa_flop_count(query, key, value)


def _cpu_attention_backward_flops(grad_out, query, key, value, *args,
                                  out_shape=None, **kwargs) -> int:
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
                _Operand(tuple(a.shape), a.stride(), a.dtype, a.device)
                if isinstance(a, torch.Tensor) else a for a in args)
            self.calls[(func, layout, tuple(sorted(kwargs.items())))] += 1
        return func(*args, **kwargs)


def matrix_product_seconds(step: TrainStep, images: torch.Tensor,
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
        args = [a.materialise() if isinstance(a, _Operand) else a
                for a in layout]
        total += count * seconds_per_call(
            lambda: func(*args, **dict(kwargs)), str(images.device), repeats)
    return total


def optimizer_seconds(step: TrainStep, images: torch.Tensor,
                      repeats: int = 3) -> float:
    """Seconds of the optimizer update alone (the part of a step that does
    not depend on the batch), timed on the gradients of one step."""
    step(images)
    return seconds_per_call(step.optimizer.step, str(images.device), repeats)


def _tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors
               if isinstance(t, torch.Tensor))


def _held_between_steps(step: TrainStep, images: torch.Tensor) -> int:
    """Bytes a peer holds between steps once its gradients are released:
    weights, optimizer state and the batch."""
    return (
        _tensor_bytes(step.model.parameters()) + _tensor_bytes([images]) +
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
    with profile(activities=[ProfilerActivity.CPU],
                 profile_memory=True) as prof:
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
    state, which stay on the GPU, are left out."""
    step.optimizer.zero_grad(set_to_none=True)
    synchronize('cuda')
    held = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    for _ in range(steps):
        step(images)
    synchronize('cuda')
    return (_held_between_steps(step, images) +
            torch.cuda.max_memory_allocated() - held)


def run_benchmark(spec: BenchmarkSpec,
                  peers: Sequence[str] = PEERS,
                  warmup: int = 2,
                  rounds: int = 5,
                  steps: int = 3,
                  log: Callable[[str], None] = print
                  ) -> Dict[str, PeerResult]:
    """Time each peer's step, alternating peers in every round; then count
    its FLOPs, replay its matrix products, time its optimizer update and
    measure its peak memory.

    Args:
        spec (BenchmarkSpec): Architecture, batch, dtype and device.
        peers (Sequence[str]): Names from :data:`PEERS`.
        warmup (int): Untimed steps per peer first. Defaults to 2.
        rounds (int): Timed rounds. Defaults to 5.
        steps (int): Steps per peer per round. Defaults to 3.
        log (callable): Progress output. Defaults to print.

    Returns:
        dict: name -> :class:`PeerResult`.
    """
    check_timing_arguments('peers', peers, PEERS, warmup, rounds)
    check_positive_int('steps', steps)
    torch.manual_seed(0)
    images = torch.randn(spec.batch_size, 3, spec.img_size, spec.img_size,
                         device=spec.device)
    plugin = build_plugin(spec)
    plugin.init_weights()
    weights = plugin.state_dict()
    trainers = {}
    results = {}
    for name in peers:
        log(f'building {name}')
        trainers[name] = TrainStep(name, spec, weights)
        for _ in range(warmup):
            trainers[name](images)
        results[name] = PeerResult(name)
    # The timed rounds come straight after the warm-up, before the
    # profiled and replayed steps below: after those, the CPU allocator
    # had returned memory that the next steps faulted back in (ViT-L,
    # batch 4: the masked model's first one to three rounds slowed).
    for r in range(rounds):
        for name in peers:
            synchronize(spec.device)
            start = time.perf_counter()
            for _ in range(steps):
                trainers[name](images)
            synchronize(spec.device)
            elapsed = time.perf_counter() - start
            results[name].images_per_s.append(spec.batch_size * steps /
                                              elapsed)
        log(f'round {r + 1}/{rounds}: ' + '  '.join(
            f'{n} {results[n].images_per_s[-1]:.2f} img/s' for n in peers))
    for name in peers:
        step, result = trainers[name], results[name]
        result.flops_per_step = count_flops(step, images)
        result.matrix_product_s = matrix_product_seconds(step, images)
        result.optimizer_s = optimizer_seconds(step, images)
        result.peak_memory = (
            cuda_steps_peak_memory(step, images, steps)
            if spec.device.startswith('cuda') else cpu_step_peak_memory(
                step, images))
    return results


def format_report(spec: BenchmarkSpec, results: Dict[str, PeerResult],
                  gemm_rate: float) -> str:
    """A markdown table of the results and the ratios between peers."""
    # The CPU's thread count sets both the step's speed and the GEMM rate
    # (``OMP_NUM_THREADS`` or torch's default, one per core).
    device = (f'cpu (torch threads: {torch.get_num_threads()})'
              if spec.device == 'cpu' else spec.device)
    lines = [
        f'arch {spec.encoder}/{spec.patch_size} {spec.img_size}px, batch '
        f'{spec.batch_size}, mask {spec.mask_ratio}, decoder '
        f'{spec.decoder_dims}x{spec.decoder_depth}, {spec.dtype}, '
        f'{device}, '
        f'{"default AdamW for all" if spec.same_adamw else "own AdamW each"}'
        f'{", torch.compile" if spec.compile else ""}'
        f'; large-GEMM rate {gemm_rate / 1e9:.1f} GFLOP/s', '',
        '| peer | images/s (median) | spread | GFLOP/step | achieved '
        'GFLOP/s | % of GEMM | peak memory (MiB) | s/step | optimizer '
        '(s/step) | matrix products alone (s/step) | images/s bound |',
        '|---|---|---|---|---|---|---|---|---|---|---|'
    ]
    for r in results.values():
        rate = r.flops_per_step * r.median / spec.batch_size
        lines.append(
            f'| {r.name} | {r.median:.2f} | {100 * r.spread:.1f}% | '
            f'{r.flops_per_step / 1e9:.1f} | {rate / 1e9:.1f} | '
            f'{100 * rate / gemm_rate:.0f}% | {r.peak_memory / 2**20:.0f} | '
            f'{spec.batch_size / r.median:.3f} | {r.optimizer_s:.3f} | '
            f'{r.matrix_product_s:.3f} | '
            f'{spec.batch_size / r.matrix_product_s:.2f} |')
    if 'mae_plugin' in results:
        ours = results['mae_plugin']
        # Our images/s if the step were only its matrix products, and
        # only those plus the optimizer update (memory-bound: it streams
        # the parameters, gradients and moments whatever the batch).
        bound = spec.batch_size / ours.matrix_product_s
        bound_with_update = spec.batch_size / (
            ours.matrix_product_s + ours.optimizer_s)
        lines.append('')
        for name, r in results.items():
            if name != 'mae_plugin':
                alone = r.matrix_product_s / ours.matrix_product_s
                without_optimizer = (
                    (spec.batch_size / r.median - r.optimizer_s) /
                    (spec.batch_size / ours.median - ours.optimizer_s))
                lines.append(
                    f'- mae_plugin / {name}: {ours.median / r.median:.2f}x '
                    f'measured, {without_optimizer:.2f}x without the '
                    f'optimizer updates, {alone:.2f}x in matrix products '
                    f'alone, at most {bound / r.median:.2f}x with everything '
                    f'else free ({bound_with_update / r.median:.2f}x with '
                    'only the optimizer update still paid)')
    return '\n'.join(lines)
