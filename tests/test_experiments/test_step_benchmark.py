import json
import math
import os.path as osp
import runpy
import sys
from dataclasses import replace

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmpretrain.models import MAEViT as MMPretrainMAEViT
from torch._dynamo.utils import counters
from torch.utils.flop_counter import FlopCounterMode

from mae_plugin.experiments import (BenchmarkSpec, format_report,
                                    gemm_flops_per_s, run_benchmark)
from mae_plugin.experiments.flop_count import count_flops
from mae_plugin.experiments.matrix_products import MatrixProductRecorder
from mae_plugin.experiments.step_memory import cpu_step_peak_memory
from mae_plugin.engine import compile_regions
from mae_plugin.experiments.step_models import (BLOCK_CLASSES, BUILDERS,
                                                PEERS, build_mmpretrain,
                                                build_plugin)
from mae_plugin.experiments.timing import PeerResult
from mae_plugin.experiments.train_step import TrainStep
from ..conftest import ABSENT_CUDA, ROOT, TINY_ARCH
from ..test_checkpoint.test_pretrained_init import logged_by

TINY_SPEC = BenchmarkSpec(
    arch=TINY_ARCH, img_size=32, patch_size=8, batch_size=2,
    decoder_dims=32, decoder_depth=1, decoder_heads=2)


def initial_weights(spec: BenchmarkSpec) -> dict:
    """The plugin's initialised weights, which every peer starts from."""
    plugin = build_plugin(spec)
    plugin.init_weights()
    return plugin.state_dict()


def test_benchmark_counts_the_same_work_for_every_peer():
    spec = TINY_SPEC
    results = run_benchmark(spec, warmup=1, rounds=2, steps=1,
                            log=lambda _: None)
    flops = {name: r.flops_per_step for name, r in results.items()}
    # the three implementations do the same arithmetic
    assert flops['mmpretrain'] == pytest.approx(flops['mae_plugin'], rel=1e-3)
    assert flops['hf'] == pytest.approx(flops['mae_plugin'], rel=1e-3)
    # mask tokens through the encoder: 16 + 1 tokens instead of 4 + 1
    # there (the decoder's work is the same)
    assert flops['mask_tokens'] > 1.3 * flops['mae_plugin']
    for r in results.values():
        assert len(r.images_per_s) == 2 and min(r.images_per_s) > 0
        assert r.peak_memory > 0
        # timed separately (a comparison with the step's time would
        # depend on the machine's load)
        assert 0 < r.matrix_product_s < math.inf
        assert 0 < r.optimizer_s < math.inf
    report = format_report(spec, results, gemm_flops_per_s('cpu', 'fp32',
                                                           size=256))
    assert '| mae_plugin |' in report and 'mae_plugin / hf' in report
    assert 'in matrix products alone' in report
    assert 'without the optimizer updates' in report


def test_benchmark_logs_no_line_per_initialised_parameter():
    """mmengine logs one INFO line per parameter from ``init_weights``
    when its logger writes to no file (769 lines for ViT-S)."""
    logger = MMLogger.get_instance('test_step_benchmark_init')
    level = logger.level
    messages = logged_by(
        lambda: run_benchmark(TINY_SPEC, ['mae_plugin'], warmup=0,
                              rounds=1, steps=1, log=lambda _: None),
        logger)
    assert not [m for m in messages if 'init_weights' in m]
    assert logger.level == level


def test_report_names_a_zoo_arch_as_given():
    spec = replace(TINY_SPEC, arch='deit-small')
    result = PeerResult('mae_plugin', [2.0], flops_per_step=1e9,
                        peak_memory=2.**20, optimizer_s=0.5,
                        matrix_product_s=0.5)
    report = format_report(spec, {'mae_plugin': result}, 1e12)
    assert report.startswith('arch deit-small/8 32px, batch 2, mask 0.75,')


def test_report_ratios_and_bounds_follow_the_timed_parts():
    """Batch 4: ours 2 s per step (1.5 s of matrix products, 0.5 s of
    optimizer update), the other 8 s (6 s and 0.5 s)."""
    spec = replace(TINY_SPEC, batch_size=4)
    parts = dict(flops_per_step=1e9, peak_memory=2.**20, optimizer_s=0.5)
    results = {
        'mae_plugin': PeerResult('mae_plugin', [1.9, 2.0, 2.2],
                                 matrix_product_s=1.5, **parts),
        'mask_tokens': PeerResult('mask_tokens', [0.5, 0.5, 0.6],
                                  matrix_product_s=6., **parts),
    }
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        report = format_report(spec, results, 1e12)
    finally:
        torch.set_num_threads(threads)
    assert 'fp32, cpu (torch threads: 1), own AdamW' in report
    # measured 2 / 0.5; without the updates (8 - 0.5) / (2 - 0.5); matrix
    # products 6 / 1.5; ours at most 4 / 1.5 images/s against 0.5, or
    # 4 / (1.5 + 0.5) with the update
    assert report.splitlines()[-1] == (
        '- mae_plugin / mask_tokens: 4.00x measured, 5.00x without the '
        'optimizer updates, 4.00x in matrix products alone, at most 5.33x '
        'with everything else free (4.00x with only the optimizer update '
        'still paid)')
    assert '| mae_plugin | 2.00 | 15.0% | 1.0 | 0.5 | 0% | 1 | 2.000 | ' \
        '0.500 | 1.500 | 2.67 |' in report


def test_tool_writes_the_report_and_json_with_the_thread_count(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, 'argv', [
        'benchmark_pretrain.py', '--arch', 'deit-small', '--img-size', '32',
        '--patch-size', '8', '--batch-size', '2', '--decoder-dims', '32',
        '--decoder-depth', '1', '--decoder-heads', '2', '--peers',
        'mae_plugin', 'mask_tokens', '--warmup', '1', '--rounds', '2',
        '--steps', '1', '--json',
        str(tmp_path / 'out.json')
    ])
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        runpy.run_path(
            osp.join(ROOT, 'tools', 'analysis_tools',
                     'benchmark_pretrain.py'),
            run_name='__main__')
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert 'fp32, cpu (torch threads: 1), own AdamW each' in out
    assert '- mae_plugin / mask_tokens: ' in out
    with open(tmp_path / 'out.json') as f:
        saved = json.load(f)
    assert saved['cpu_threads'] == 1
    assert saved['spec']['decoder_depth'] == 1
    assert set(saved['peers']) == {'mae_plugin', 'mask_tokens'}
    assert len(saved['peers']['mae_plugin']['images_per_s']) == 2
    assert saved['gemm_flops_per_s'] > 0


def test_timed_rounds_come_before_the_profiled_and_replayed_steps(
        monkeypatch):
    """The diagnostics change the allocator's state (the next steps fault
    pages back in), so no peer may be timed after any of them ran."""
    from mae_plugin.experiments import step_benchmark
    events = []
    for name in ('count_flops', 'matrix_product_seconds',
                 'optimizer_seconds', 'cpu_step_peak_memory'):
        original = getattr(step_benchmark, name)

        def record(*args, _name=name, _original=original):
            events.append(_name)
            return _original(*args)

        monkeypatch.setattr(step_benchmark, name, record)
    results = run_benchmark(TINY_SPEC, peers=['mae_plugin', 'mask_tokens'],
                            warmup=1, rounds=2, steps=1,
                            log=lambda line: events.append(line.split()[0]))
    assert events[:4] == ['building', 'building', 'round', 'round']
    assert events[4:] == 2 * [
        'count_flops', 'matrix_product_seconds', 'optimizer_seconds',
        'cpu_step_peak_memory'
    ]
    for result in results.values():
        assert len(result.images_per_s) == 2
        assert result.flops_per_step > 0 and result.peak_memory > 0


def matmul_flops(operands):
    """2 x multiply-adds of a recorded mm, addmm or bmm."""
    a, b = operands[-2:]
    return 2 * math.prod(a.shape) * b.shape[-1]


def test_recorded_matrix_products_are_the_steps_forward_and_backward():
    step = TrainStep('mae_plugin', TINY_SPEC, initial_weights(TINY_SPEC))
    images = torch.randn(2, 3, 32, 32)
    recorder = MatrixProductRecorder()
    with recorder:
        step(images)
    recorded = sum(count * matmul_flops(layout)
                   for (_, layout, _), count in recorder.calls.items())
    counter = FlopCounterMode(display=False)
    with counter:
        step(images)
    per_op = counter.get_flop_counts()['Global']
    aten = torch.ops.aten
    expected = sum(per_op.get(op, 0) for op in (aten.mm, aten.addmm, aten.bmm))
    # forward and backward of every linear layer: 3 products each
    assert recorded == expected > 0
    assert sum(recorder.calls.values()) > 3 * 2 * 4


def test_flop_count_includes_the_cpu_attention_kernel():
    """torch's counter alone sees no FLOPs in the CPU attention kernel."""
    step = TrainStep('mae_plugin', TINY_SPEC, initial_weights(TINY_SPEC))
    images = torch.randn(2, 3, 32, 32)
    without_attention = FlopCounterMode(display=False)
    with without_attention:
        step(images, eager=True)

    def attention(heads, tokens, dims):
        # QK^T and (softmax)V: 2 products forward; backward recomputes QK^T
        # and has 4 more; 2 x b x h x s x s x d/h FLOPs each
        return 7 * 2 * 2 * heads * tokens**2 * (dims // heads)

    # encoder: 4 kept patches + class token; decoder: 16 patches + class
    expected = (
        TINY_ARCH['num_layers'] * attention(TINY_ARCH['num_heads'], 5, 32) +
        TINY_SPEC.decoder_depth * attention(2, 17, 32))
    assert (count_flops(step, images) -
            without_attention.get_total_flops()) == expected


def test_bad_spec_and_counts_are_refused_by_name():
    assert BenchmarkSpec(arch='Large').encoder['embed_dims'] == 1024
    with pytest.raises(ValueError, match='arch must be an arch dict or one '
                       "of .*got 'vit-b'"):
        BenchmarkSpec(arch='vit-b')
    with pytest.raises(ValueError, match='batch_size must be an int >= 1, '
                       'got 0'):
        BenchmarkSpec(batch_size=0)
    with pytest.raises(ValueError, match="dtype must be one of .*'fp8'"):
        BenchmarkSpec(dtype='fp8')
    # what the models refused only as the benchmark built them
    for fields, message in [
            (dict(img_size=30), 'img_size 30x30 is not a multiple of '
             'patch_size 16'),
            (dict(mask_ratio=1), r'mask_ratio must be a number in \[0, 1\), '
             'got 1.0'),
            (dict(decoder_dims=30), 'decoder_dims must be a multiple of '
             r'decoder_heads \(16\), got 30')]:
        with pytest.raises(ValueError, match=f'^{message}$'):
            BenchmarkSpec(**fields)
    with pytest.raises(ValueError, match='rounds must be an int >= 1, got 0'):
        run_benchmark(TINY_SPEC, rounds=0)
    with pytest.raises(ValueError, match='warmup must be an int >= 0'):
        run_benchmark(TINY_SPEC, warmup=-1)
    with pytest.raises(ValueError, match='device must be cpu or one of the '
                       f".*got '{ABSENT_CUDA}'"):
        run_benchmark(replace(TINY_SPEC, device=ABSENT_CUDA))


def test_peers_start_from_the_same_weights():
    spec = TINY_SPEC
    weights = initial_weights(spec)
    qkv = weights['backbone.layers.0.attn.qkv.weight']
    mmpretrain = TrainStep('mmpretrain', spec, weights).model
    torch.testing.assert_close(
        mmpretrain.backbone.layers[0].attn.qkv.weight, qkv)
    hf = TrainStep('hf', spec, weights).model
    query = hf.vit.encoder.layer[0].attention.attention.query.weight
    torch.testing.assert_close(query, qkv[:32])


def test_unknown_peer_is_refused():
    with pytest.raises(ValueError,
                       match="peers must be among .*, got \\['timm'\\]"):
        run_benchmark(BenchmarkSpec(), peers=['timm'])


def test_cpu_step_memory_follows_the_tokens_the_encoder_keeps():
    """ViT 64x2 on a 16x16 grid, batch 64: the encoder keeps 65 tokens per
    image (about 35 MB of saved activations), with mask tokens 257 (about
    135 MB); the decoder's share is the same in both. The count does not
    depend on timing: the same step measured twice agrees within 1%."""
    spec = BenchmarkSpec(
        arch=dict(embed_dims=64, num_layers=2, num_heads=2,
                  feedforward_channels=256),
        img_size=64, patch_size=4, batch_size=64, decoder_dims=32,
        decoder_depth=1, decoder_heads=2)
    weights = initial_weights(spec)
    images = torch.randn(64, 3, 64, 64)
    peaks = {}
    for name in ('mae_plugin', 'mask_tokens'):
        step = TrainStep(name, spec, weights)
        step(images)  # the optimizer state exists from here on
        peaks[name] = [cpu_step_peak_memory(step, images) for _ in range(2)]
    ours, mask_tokens = peaks['mae_plugin'], peaks['mask_tokens']
    assert ours[0] == pytest.approx(ours[1], rel=0.01)
    assert mask_tokens[0] == pytest.approx(mask_tokens[1], rel=0.01)
    assert ours[0] > 20 * 2**20
    assert mask_tokens[0] > ours[0] + 60 * 2**20


def test_cpu_step_memory_does_not_depend_on_the_step_before():
    """A wide, shallow model on 4 patches: its gradients (about 8 MB) dwarf
    its activations, and each measurement counts them once, whether the
    step before it was profiled or not."""
    spec = BenchmarkSpec(
        arch=dict(embed_dims=256, num_layers=1, num_heads=4,
                  feedforward_channels=1024),
        img_size=32, patch_size=16, batch_size=1, decoder_dims=256,
        decoder_depth=1, decoder_heads=4)
    step = TrainStep('mae_plugin', spec, initial_weights(spec))
    images = torch.randn(1, 3, 32, 32)
    step(images)
    peaks = [cpu_step_peak_memory(step, images) for _ in range(3)]
    weights = sum(p.numel() * 4 for p in step.model.parameters()
                  if p.requires_grad)
    assert weights > 7 * 2**20
    # weights, 2 Adam moments and the new gradients at least
    assert min(peaks) > 4 * weights
    # counting the gradients twice would add their size (= the weights');
    # allocations that share a timestamp can move the peak by one block
    # (0.6 MB seen once, in a random test order)
    assert max(peaks) - min(peaks) < weights / 2


def adamw_excess(step: TrainStep, reference: TrainStep, grads: list,
                 **changes) -> float:
    """Applies the same gradients (one list per step) to the parameters of
    ``step`` and ``reference`` through their optimizers (``changes``
    altered in ``step``'s) and returns the largest difference of the two
    updates in units of what float32 rounding allows.

    Both compute AdamW in float32 in different orders; each of its dozen
    operations rounds to within one unit in the last place, so the
    updates u may differ by about 1e-6 |u|, plus about 1e-7 lr where the
    first moment cancels between steps of opposite gradients (sqrt(v)
    stays near the largest gradient), plus one ulp of the weight when the
    update is read back as new - old. The bound allows 100 times each.
    """
    for group in step.optimizer.param_groups:
        group.update(changes)
    before = [p.detach().clone() for p in reference.optimizer.param_groups[0]
              ['params']]
    for opt in (step.optimizer, reference.optimizer):
        params = opt.param_groups[0]['params']
        for grad_list in grads:
            for p, g in zip(params, grad_list):
                p.grad = g.clone()
            opt.step()
    lr = reference.optimizer.defaults['lr']
    excess = 0.0
    for p0, p, q in zip(before, step.optimizer.param_groups[0]['params'],
                        reference.optimizer.param_groups[0]['params']):
        update = q.detach() - p0
        bound = (1e-4 * update.abs() + 1e-5 * lr
                 + 100 * torch.finfo(torch.float32).eps * p0.abs())
        excess = max(excess, ((p.detach() - q.detach()).abs() / bound).max()
                     .item())
    return excess


def test_own_adamw_is_fused_for_the_plugin_and_makes_the_same_update():
    spec = TINY_SPEC
    weights = initial_weights(spec)

    def steps():
        fused = TrainStep('mae_plugin', spec, weights)
        default = TrainStep('mae_plugin', replace(spec, same_adamw=True),
                            weights)
        return fused, default

    fused, default = steps()
    assert fused.optimizer.defaults['fused'] is True
    assert not default.optimizer.defaults['fused']
    assert not TrainStep('mmpretrain', spec,
                         weights).optimizer.defaults['fused']
    # three real gradients of the loss (different images and masks), the
    # same for both optimizers, so that only the update rule can differ
    params = default.optimizer.param_groups[0]['params']
    grads = []
    for seed in range(3):
        torch.manual_seed(seed)
        loss = default.eager_loss(torch.randn(2, 3, 32, 32))
        grads.append(torch.autograd.grad(loss, params))
    assert adamw_excess(fused, default, grads) <= 1
    # and the bound is tight enough to see a wrong lr or wrong betas
    lr = default.optimizer.defaults['lr']
    assert adamw_excess(*steps(), grads, lr=lr * 1.01) > 1
    assert adamw_excess(*steps(), grads, betas=(0.9, 0.999)) > 1


@pytest.mark.parametrize('mode, label', [
    ('compile', 'torch.compile'),
    ('compile_blocks', 'blocks compiled one by one'),
])
def test_compiled_peer_counts_the_same_work(mode, label):
    spec = replace(TINY_SPEC, **{mode: True})
    torch._dynamo.reset()
    counters.clear()
    compiled = run_benchmark(spec, peers=['mae_plugin'], warmup=2, rounds=1,
                             steps=1, log=lambda _: None)['mae_plugin']
    eager = run_benchmark(TINY_SPEC, peers=['mae_plugin'], warmup=1,
                          rounds=1, steps=1, log=lambda _: None)['mae_plugin']
    # the compiled step ran compiled code, and the FLOP counter and the
    # matrix-product recorder saw the same work as in the eager run
    assert counters['stats']['unique_graphs'] >= 1
    assert compiled.flops_per_step == eager.flops_per_step > 0
    assert compiled.matrix_product_s > 0 and compiled.images_per_s[0] > 0
    assert label in format_report(spec, {'mae_plugin': compiled}, 1e9)


@pytest.mark.parametrize('peer', PEERS)
def test_block_classes_name_every_block_of_each_peer(peer):
    """``compile_blocks`` compiles each encoder and decoder block."""
    model = BUILDERS[peer](TINY_SPEC)
    blocks = TINY_ARCH['num_layers'] + TINY_SPEC.decoder_depth
    assert compile_regions(model, [BLOCK_CLASSES[peer]]) == blocks


def test_compile_modes_exclude_each_other():
    with pytest.raises(ValueError, match='compile and compile_blocks'):
        replace(TINY_SPEC, compile=True, compile_blocks=True)


def test_mmpretrain_peer_is_mmpretrains_model_under_our_default_scope():
    with DefaultScope.overwrite_default_scope('mae_plugin'):
        model = build_mmpretrain(TINY_SPEC)
    assert type(model.backbone) is MMPretrainMAEViT


def test_compile_mode_reaches_inductor():
    """``reduce-overhead`` asks Inductor for CUDA graphs, which it skips
    on the CPU (and counts the skip); the report names the mode."""
    spec = replace(
        TINY_SPEC, compile_blocks=True, compile_mode='reduce-overhead')
    torch._dynamo.reset()
    counters.clear()
    result = run_benchmark(spec, peers=['mae_plugin'], warmup=2, rounds=1,
                           steps=1, log=lambda _: None)['mae_plugin']
    assert counters['inductor']['cudagraph_skips'] >= 1
    assert 'compile mode reduce-overhead' in format_report(
        spec, {'mae_plugin': result}, 1e9)
    with pytest.raises(ValueError, match='needs compile or compile_blocks'):
        replace(TINY_SPEC, compile_mode='reduce-overhead')
    with pytest.raises(ValueError, match='compile_mode'):
        replace(TINY_SPEC, compile=True, compile_mode='fast')


def test_attention_kernel_is_the_one_chosen():
    """The math kernel and the CPU's flash kernel give the same loss; the
    memory-efficient kernel, which the CPU has not, fails the step."""
    weights = initial_weights(TINY_SPEC)
    images = torch.randn(2, 3, 32, 32)
    losses = []
    for backend in ('math', 'flash'):
        spec = replace(TINY_SPEC, sdpa_backend=backend)
        torch.manual_seed(0)  # the same mask
        losses.append(TrainStep('mae_plugin', spec, weights)(images))
    torch.testing.assert_close(losses[0], losses[1])
    spec = replace(TINY_SPEC, sdpa_backend='efficient')
    with pytest.raises(RuntimeError, match='No viable backend'):
        TrainStep('mae_plugin', spec, weights)(images)
    with pytest.raises(ValueError, match='sdpa_backend'):
        replace(TINY_SPEC, sdpa_backend='fastest')


def test_timing_waits_for_the_gpu_it_times(monkeypatch):
    """No GPU here: torch's wait is replaced by a record of the device it
    is given. ``'cuda:1'`` must wait for that GPU, not the current one."""
    from mae_plugin.experiments.timing import synchronize
    waited = []
    monkeypatch.setattr(torch.cuda, 'synchronize',
                        lambda device=None: waited.append(device))
    for device in ('cpu', 'cuda', 'cuda:1'):
        synchronize(device)
    assert waited == ['cuda', 'cuda:1']
