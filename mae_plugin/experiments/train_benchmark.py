"""Images per second of MAE pretraining end to end: the runner of
tools/train.py with a config's own hooks, loop and data pipeline, reading
a folder of JPEG files; and, in the same process, the same runner's
training step on the last batch trained (the step alone), so that the
ratio of the two is what the data path and the runner cost. The same
runner's data loader alone, with nothing consuming its batches, gives the
rate the data path can feed.
"""
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.hooks import Hook, ProfilerHook
from torch.utils.data import DataLoader

from mae_plugin.apis import build_runner, check_train_inputs, train_config
from mae_plugin.datasets import IMAGE_EXTENSIONS, check_image_folder
from mae_plugin.utils import (check_int, check_positive_int,
                              innermost_dataset)
from .timing import seconds_per_call


@dataclass
class TrainThroughput:
    """What one end-to-end run measured.

    Attributes:
        batch_size (int): Images per iteration (one process).
        num_workers (int): Data-loading processes.
        iters_per_epoch (int): Iterations of one pass over the folder.
        iter_times (np.ndarray): Seconds of every iteration after the
            warm-up and the profiled ones, as mmengine's ``IterTimerHook``
            records them.
        data_times (np.ndarray): Of those, the seconds spent waiting for
            the batch.
        first_iter_s (float): Seconds of the very first iteration: the
            workers' start and, under the config's ``compile`` setting,
            the compilation, so the wait for the first compiled step.
        epoch_start_data_s (float): Mean data wait of the first iteration
            of every epoch but the first (NaN for one epoch), where the
            workers start again unless they persist.
        step_s (float): Seconds of the runner's ``train_step`` (data
            preprocessor, forward, backward, optimizer) on the last batch
            trained, the data-loading workers ended.
        profile (str): torch's profiler table of the iterations right after
            the warm-up, operators by their own time on the device (the
            CPU's without CUDA); empty unless asked for.
    """
    batch_size: int
    num_workers: int
    iters_per_epoch: int
    iter_times: np.ndarray
    data_times: np.ndarray
    first_iter_s: float
    epoch_start_data_s: float
    step_s: float
    profile: str = ''

    @property
    def images_per_s(self) -> float:
        return self.batch_size / float(np.mean(self.iter_times))

    @property
    def step_images_per_s(self) -> float:
        return self.batch_size / self.step_s


def benchmark_training(config_file: str,
                       data_root: str,
                       work_dir: str,
                       batch_size: int,
                       num_workers: int,
                       epochs: int = 2,
                       warmup: int = 2,
                       step_repeats: int = 5,
                       amp: bool = False,
                       cfg_options: Optional[dict] = None,
                       profile_iters: int = 0) -> TrainThroughput:
    """Pretrain with ``config_file`` for ``epochs`` passes over the images
    in ``data_root`` (no checkpoints, no validation), then time the step
    alone.

    Args:
        config_file (str): A pretraining config.
        data_root (str): Folder of images (read recursively).
        work_dir (str): Where the runner writes its log.
        batch_size (int): Images per iteration.
        num_workers (int): Data-loading processes (persistent
            between epochs when > 0, ended before the step is timed).
        epochs (int): Passes over the folder. Defaults to 2.
        warmup (int): First iterations left out of the times, >= 0.
            Defaults to 2.
        step_repeats (int): Timed calls of the step alone. Defaults to 5.
        amp (bool): Mixed precision, as ``tools/train.py --amp``.
            Defaults to False.
        cfg_options (dict, optional): Further overrides.
        profile_iters (int): Profile this many iterations after the
            warm-up (mmengine's ``ProfilerHook``), which are left out of
            the times too. Defaults to 0: none.

    Returns:
        TrainThroughput: the measurements.
    """
    check_int('warmup', warmup, minimum=0)
    check_positive_int('step_repeats', step_repeats)
    check_int('profile_iters', profile_iters, minimum=0)
    cfg = benchmark_config(config_file, data_root, work_dir, batch_size,
                            num_workers, epochs, amp, cfg_options)
    runner = build_runner(cfg)
    iters_per_epoch = len(runner.train_dataloader)
    untimed = warmup + profile_iters
    if epochs * iters_per_epoch <= untimed:
        raise ValueError(
            f'{epochs} epochs of {iters_per_epoch} iterations leave nothing '
            f'to time after warmup={warmup}'
            f'{f" and profile_iters={profile_iters}" if profile_iters else ""}'
            ': add images or epochs')
    tables = []
    if profile_iters:
        runner.register_hook(_profiler_hook(warmup, profile_iters, tables))
    last = _LastBatchHook()
    runner.register_hook(last)
    runner.train()
    _end_workers(runner.train_dataloader)
    hub = runner.message_hub
    iter_times = hub.get_scalar('train/time').data[0]
    data_times = hub.get_scalar('train/data_time').data[0]

    # the last batch trained: no new pass of the loader, whose workers
    # would load batches on the CPU while the step is timed
    batch = last.data_batch
    device = str(next(runner.model.parameters()).device)
    step_s = seconds_per_call(
        lambda: runner.model.train_step(batch, runner.optim_wrapper), device,
        step_repeats)
    return TrainThroughput(
        batch_size=batch_size,
        num_workers=num_workers,
        iters_per_epoch=iters_per_epoch,
        iter_times=iter_times[untimed:],
        data_times=data_times[untimed:],
        first_iter_s=float(iter_times[0]),
        epoch_start_data_s=_epoch_start_mean(data_times, iters_per_epoch),
        step_s=step_s,
        profile=''.join(tables))


@dataclass
class LoaderThroughput:
    """What one run of the data loader alone measured.

    Attributes:
        batch_size (int): Images per batch.
        num_workers (int): Data-loading processes.
        iters_per_epoch (int): Batches of one pass over the folder.
        waits (np.ndarray): Seconds waited for every batch after the
            warm-up, the first batches of later epochs included.
        first_batch_s (float): Seconds to the very first batch: the
            workers' start and one batch made by one of them.
        epoch_start_s (float): Mean wait for the first batch of every
            epoch but the first (NaN for one epoch).
        preprocess_s (float): Seconds of the model's data preprocessor on
            the last batch, on the model's device (the crops of the
            device-crop config are made there).
    """
    batch_size: int
    num_workers: int
    iters_per_epoch: int
    waits: np.ndarray
    first_batch_s: float
    epoch_start_s: float
    preprocess_s: float

    @property
    def images_per_s(self) -> float:
        return self.batch_size / float(np.mean(self.waits))

    @property
    def preprocess_images_per_s(self) -> float:
        return self.batch_size / self.preprocess_s


def benchmark_loader(config_file: str,
                     data_root: str,
                     work_dir: str,
                     batch_size: int,
                     num_workers: int,
                     epochs: int = 2,
                     warmup: int = 2,
                     cfg_options: Optional[dict] = None,
                     preprocess_repeats: int = 5) -> LoaderThroughput:
    """Draw ``epochs`` passes of batches from the data loader of the runner
    that :func:`benchmark_training` would train with, as its loop does
    (the sampler's epoch set first), and nothing else: the rate at which
    the data path can feed the step. Then time the model's data
    preprocessor alone on the last of those batches.

    Args:
        config_file, data_root, work_dir, batch_size, num_workers,
            epochs: As for :func:`benchmark_training`.
        warmup (int): First batches left out of the waits. Defaults to 2.
        cfg_options: As for :func:`benchmark_training`.
        preprocess_repeats (int): Timed calls of the data preprocessor.
            Defaults to 5.

    Returns:
        LoaderThroughput: the measurements.
    """
    check_int('warmup', warmup, minimum=0)
    check_positive_int('preprocess_repeats', preprocess_repeats)
    cfg = benchmark_config(config_file, data_root, work_dir, batch_size,
                            num_workers, epochs, False, cfg_options)
    runner = build_runner(cfg)
    loader = runner.train_dataloader
    iters_per_epoch = len(loader)
    if epochs * iters_per_epoch <= warmup:
        raise ValueError(
            f'{epochs} epochs of {iters_per_epoch} batches leave nothing to '
            f'time after warmup={warmup}: add images or epochs')
    waits = []
    for epoch in range(epochs):
        if hasattr(loader.sampler, 'set_epoch'):
            loader.sampler.set_epoch(epoch)
        start = time.perf_counter()
        for batch in loader:
            now = time.perf_counter()
            waits.append(now - start)
            start = now
    _end_workers(loader)
    waits = np.array(waits)
    # the last batch: the workers have nothing left to do while it is timed
    model = runner.model
    preprocess_s = seconds_per_call(
        lambda: model.data_preprocessor(batch, True),
        str(next(model.parameters()).device), preprocess_repeats)
    return LoaderThroughput(
        batch_size=batch_size,
        num_workers=num_workers,
        iters_per_epoch=iters_per_epoch,
        waits=waits[warmup:],
        first_batch_s=float(waits[0]),
        epoch_start_s=_epoch_start_mean(waits, iters_per_epoch),
        preprocess_s=preprocess_s)


def format_loader_report(config_file: str, result: LoaderThroughput) -> str:
    """The loader-only run as a few lines of text."""
    r = result
    return '\n'.join([
        f'{config_file}: data loader alone, batch {r.batch_size}, '
        f'{r.num_workers} workers, {r.iters_per_epoch} batches per epoch, '
        f'{len(r.waits)} timed',
        f'{np.mean(r.waits):.4f} s/batch = {r.images_per_s:,.1f} img/s; '
        f'first batch {r.first_batch_s:.2f} s, first batch of a later epoch '
        f'{r.epoch_start_s:.4f} s',
        f'data preprocessor alone: {r.preprocess_s:.4f} s/batch = '
        f'{r.preprocess_images_per_s:,.1f} img/s',
    ])


def _end_workers(loader: DataLoader) -> None:
    """End the data-loading processes that ``loader`` keeps between epochs
    (``persistent_workers``).

    torch ends them only when the loader's iterator is collected, and the
    runner that holds the loader sits in reference cycles: they would stay,
    idle, until a garbage collection, through the runs that follow (those
    of the next ``--workers`` count of benchmark_train.py).
    """
    iterator, loader._iterator = loader._iterator, None
    if iterator is not None:
        iterator._shutdown_workers()


def _epoch_start_mean(times: np.ndarray, iters_per_epoch: int) -> float:
    """Mean of ``times`` (all iterations, in order) at the first iteration
    of every epoch but the first; NaN for one epoch."""
    epoch_starts = times[iters_per_epoch::iters_per_epoch]
    return float(np.mean(epoch_starts)) if len(epoch_starts) else float('nan')


def benchmark_config(config_file: str,
                     data_root: str,
                     work_dir: str,
                     batch_size: int,
                     num_workers: int,
                     epochs: int = 2,
                     amp: bool = False,
                     cfg_options: Optional[dict] = None) -> Config:
    """``config_file`` as :func:`benchmark_training` and
    :func:`benchmark_loader` run it (arguments as theirs), its inputs
    checked: the images of ``data_root`` in full batches only (the rates
    count ``batch_size`` images a batch), no checkpoints, no validation,
    workers that persist between epochs. A wrapped dataset (the demo's
    ``RepeatDataset``) gives way to the one it wraps: each image once an
    epoch, from ``data_root``, which must list an image
    (:func:`~mae_plugin.datasets.check_image_folder`). The rest of what
    the run reads (the data of its hooks) is checked as ``tools/train.py``
    checks it (:func:`~mae_plugin.apis.check_train_inputs`).
    ``benchmark_train.py`` calls it before its first run.

    Raises:
        FileNotFoundError: ``data_root`` is no folder, or what
            :func:`~mae_plugin.apis.check_train_inputs` refuses.
        ValueError: ``data_root`` lists no image, a count is out of its
            range, ``cfg_options`` lets the last batch be partial, or what
            :func:`~mae_plugin.apis.train_config` refuses.
    """
    check_positive_int('batch_size', batch_size)
    check_positive_int('epochs', epochs)
    check_int('num_workers', num_workers, minimum=0)
    if not (cfg_options or {}).get('train_dataloader.drop_last', True):
        raise ValueError(
            'cfg_options: train_dataloader.drop_last must stay True: the '
            'benchmark counts batch_size images in every batch')
    options = {
        'train_dataloader.batch_size': batch_size,
        'train_dataloader.drop_last': True,
        'train_dataloader.num_workers': num_workers,
        'train_dataloader.persistent_workers': num_workers > 0,
        'train_cfg.max_epochs': epochs,
        'default_hooks.checkpoint': None,
        **(cfg_options or {})
    }
    cfg = train_config(
        config_file,
        work_dir=work_dir,
        amp=amp,
        no_validate=True,
        cfg_options=options)
    dataset = innermost_dataset(cfg.train_dataloader.dataset)
    dataset.update(data_root=data_root, data_prefix='')
    check_image_folder('data_root', data_root,
                       dataset.get('extensions', IMAGE_EXTENSIONS),
                       dataset.get('with_label', True))
    cfg.train_dataloader.dataset = dataset
    return check_train_inputs(cfg)


class _LastBatchHook(Hook):
    """Keeps the batch of the latest training iteration."""

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        self.data_batch = data_batch


def _profiler_hook(warmup: int, iters: int, tables: list) -> ProfilerHook:
    """mmengine's profiler over the ``iters`` iterations after ``warmup``
    (the one before them warms the profiler up), appending its table of
    operators to ``tables``."""
    device = 'device' if torch.cuda.is_available() else 'cpu'

    def keep_table(profile) -> None:
        tables.append(profile.key_averages().table(
            sort_by=f'self_{device}_time_total', row_limit=25))

    return ProfilerHook(
        by_epoch=False,
        profile_times=warmup + iters,
        activity_with_cuda=torch.cuda.is_available(),
        schedule=dict(
            wait=max(warmup - 1, 0),
            warmup=min(warmup, 1),
            active=iters,
            repeat=1),
        on_trace_ready=keep_table)


def format_training_report(config_file: str, result: TrainThroughput) -> str:
    """The run as a few lines of text."""
    r = result
    mean_iter, mean_data = np.mean(r.iter_times), np.mean(r.data_times)
    lines = [
        f'{config_file}: batch {r.batch_size}, {r.num_workers} workers, '
        f'{r.iters_per_epoch} iterations per epoch, {len(r.iter_times)} '
        f'timed',
        f'end to end: {mean_iter:.4f} s/iter = {r.images_per_s:,.1f} img/s'
        f' (data wait {mean_data:.4f} s/iter, {mean_data / mean_iter:.0%};'
        f' first iteration of a later epoch {r.epoch_start_data_s:.4f} s)',
        f'first iteration (start-up, compilation): {r.first_iter_s:.1f} s',
        f'step alone: {r.step_s:.4f} s = {r.step_images_per_s:,.1f} img/s;'
        f' end to end reaches {r.images_per_s / r.step_images_per_s:.0%} '
        f'of it',
    ]
    if r.profile:
        lines += ['profile, operators by their own time:', r.profile]
    return '\n'.join(lines)
