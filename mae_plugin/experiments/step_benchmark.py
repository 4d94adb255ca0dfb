"""Time the full MAE pretraining step (forward, backward, optimizer) of the
plugin against mmpretrain's ``MAE`` and Hugging Face's
``ViTMAEForPreTraining`` built with the same architecture, batch, mask ratio
and dtype, in one process, alternating them over repeated rounds.

The ``mask_tokens`` peer is the plugin's model with mask ratio 0 and the
loss over all patches: its encoder and decoder process every patch, the
compute of the paper's "w/ [M]" baseline (mask tokens through the encoder),
against which the asymmetric design's speedup is measured.

Every peer starts from the same weights: the plugin's, converted to the
peer's layout with :mod:`mae_plugin.checkpoint`.

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
import logging
import time
from typing import Callable, Dict, Sequence

import torch

from mae_plugin.utils import (check_choices, check_device, check_int,
                              check_positive_int)
from .flop_count import count_flops
from .matrix_products import matrix_product_seconds
from .quiet import quiet_logger
from .step_memory import cpu_step_peak_memory, cuda_steps_peak_memory
from .step_models import PEERS, BenchmarkSpec, build_plugin
from .timing import PeerResult, synchronize
from .train_step import TrainStep, optimizer_seconds


def run_benchmark(spec: BenchmarkSpec,
                  peers: Sequence[str] = PEERS,
                  warmup: int = 2,
                  rounds: int = 5,
                  steps: int = 3,
                  log: Callable[[str], None] = print) -> Dict[str, PeerResult]:
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
    check_choices('peers', peers, PEERS)
    check_int('warmup', warmup, minimum=0)
    check_positive_int('rounds', rounds)
    check_positive_int('steps', steps)
    check_device('device', spec.device)
    torch.manual_seed(0)
    images = torch.randn(
        spec.batch_size, 3, spec.img_size, spec.img_size, device=spec.device)
    plugin = build_plugin(spec)
    # without the INFO line per parameter that mmengine logs when its
    # current logger writes to no file (hundreds of lines before the report)
    with quiet_logger(logging.WARNING):
        plugin.init_weights()
    weights = plugin.state_dict()
    trainers = {}
    for name in peers:
        log(f'building {name}')
        trainers[name] = TrainStep(name, spec, weights)
        for _ in range(warmup):
            trainers[name](images)
    # The timed rounds come straight after the warm-up, before the
    # profiled and replayed steps below: after those, the CPU allocator
    # had returned memory that the next steps faulted back in (ViT-L,
    # batch 4: the masked model's first one to three rounds slowed).
    results = _timed_rounds(trainers, images, rounds, steps, log)
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


def _timed_rounds(trainers: Dict[str, TrainStep], images: torch.Tensor,
                  rounds: int, steps: int,
                  log: Callable[[str], None]) -> Dict[str, PeerResult]:
    """Images/s of ``steps`` steps of each peer in turn, ``rounds`` times."""
    device = str(images.device)
    results = {name: PeerResult(name) for name in trainers}
    for r in range(rounds):
        for name, step in trainers.items():
            synchronize(device)
            start = time.perf_counter()
            for _ in range(steps):
                step(images)
            synchronize(device)
            elapsed = time.perf_counter() - start
            results[name].images_per_s.append(len(images) * steps / elapsed)
        log(f'round {r + 1}/{rounds}: ' +
            '  '.join(f'{n} {p.images_per_s[-1]:.2f} img/s'
                      for n, p in results.items()))
    return results
