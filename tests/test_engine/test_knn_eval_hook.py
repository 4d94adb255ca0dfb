"""KNNEvalHook against weighted_knn_accuracy on features extracted by
hand: class token and mean-pooled patch tokens, k=20, T=0.07; in one
process and in two (gloo on the CPU)."""
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
import torch.distributed as dist
from mmengine.dataset import DefaultSampler, default_collate
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader

from mae_plugin.apis import close_distributed
from mae_plugin.checkpoint import load_checkpoint_safely
from mae_plugin.engine import KNNEvalHook
from mae_plugin.engine.hooks.knn_hook import HISTORY_KEY
from mae_plugin.evaluation import (extract_encoder_features,
                                   weighted_knn_accuracy, weighted_knn_predict)
from mae_plugin.registry import build_model
from ..conftest import tiny_mae_cfg
from .test_exact_resume import in_process_runner

NUM_CLASSES = 4


def labelled_loader(images, labels, shuffle=None):
    """Batches as the configs collate them: uint8 ``[N, 3, H, W]`` images
    and data samples with a ``gt_label``; with ``shuffle`` set, drawn by a
    ``DefaultSampler`` (this rank's share)."""
    samples = [
        dict(inputs=img, data_samples=DataSample().set_gt_label(int(label)))
        for img, label in zip(images, labels)
    ]
    sampler = None if shuffle is None else DefaultSampler(
        samples, shuffle=shuffle, seed=0)
    return DataLoader(samples, batch_size=8, sampler=sampler,
                      collate_fn=default_collate)


def features_by_hand(mae, images):
    """Normalise as the tiny config's preprocessor (BGR -> RGB, mean 127.5,
    std 64), run the unmasked encoder on the loader's batches of 8, take
    the class token and the mean of the patch tokens."""
    tokens = []
    for batch in images.split(8):
        x = (batch.float().flip(1) - 127.5) / 64  # [8, 3, 32, 32]
        with torch.no_grad():
            tokens.append(mae.backbone(x, mask=False)[-1])  # [8, 1 + 16, D]
    tokens = torch.cat(tokens)
    return dict(cls=tokens[:, 0], mean=tokens[:, 1:].mean(dim=1))


def knn_sets(num_memory=40, num_query=24):
    """A tiny MAE, ``num_memory`` random memory images with random labels
    and ``num_query`` query images labelled by the vote of the class-token
    features with k=20 and T=0.07 (so that those settings score 100% and
    others less), and the features of both sets by hand."""
    torch.manual_seed(0)
    mae = build_model(tiny_mae_cfg())
    mae.init_weights()
    generator = torch.Generator().manual_seed(1)
    memory = torch.randint(0, 256, (num_memory, 3, 32, 32),
                           generator=generator, dtype=torch.uint8)
    query = torch.randint(0, 256, (num_query, 3, 32, 32),
                          generator=generator, dtype=torch.uint8)
    memory_labels = torch.randint(0, NUM_CLASSES, (num_memory, ),
                                  generator=generator)
    by_hand = features_by_hand(mae, memory), features_by_hand(mae, query)
    query_labels = weighted_knn_predict(
        by_hand[0]['cls'], memory_labels, by_hand[1]['cls'], NUM_CLASSES,
        k=20, temperature=0.07)
    return mae, (memory, memory_labels), (query, query_labels), by_hand


def test_hook_reports_the_weighted_knn_of_both_features():
    mae, (memory, memory_labels), (query, query_labels), by_hand = \
        knn_sets()
    hook = KNNEvalHook(
        labelled_loader(memory, memory_labels),
        labelled_loader(query, query_labels), NUM_CLASSES)
    extracted, labels = extract_encoder_features(mae, hook.memory_dataloader)
    assert torch.equal(labels, memory_labels)
    for kind in ('cls', 'mean'):
        torch.testing.assert_close(extracted[kind], by_hand[0][kind])

    def accuracy(kind, **settings):
        return weighted_knn_accuracy(by_hand[0][kind], memory_labels,
                                     by_hand[1][kind], query_labels,
                                     NUM_CLASSES, **settings)

    metrics = hook.evaluate(SimpleNamespace(model=mae))
    assert metrics == {
        'knn/cls_top1': pytest.approx(100.),
        'knn/mean_top1':
        pytest.approx(accuracy('mean', k=20, temperature=0.07)),
    }
    # the data tell the settings apart: k=5 or T=0.1 would score less
    # (79% and 92% here)
    assert accuracy('cls', k=5, temperature=0.07) < 100
    assert accuracy('cls', k=20, temperature=0.1) < 100


def test_a_memory_set_smaller_than_k_is_refused_before_training():
    """It failed in the vote after the first epoch."""
    mae, (memory, memory_labels), (query, query_labels), _ = knn_sets(
        num_memory=20, num_query=4)
    runner = SimpleNamespace(model=mae)
    with pytest.raises(ValueError, match=r'^k must be at most the 20 images '
                       r'of memory_dataloader, got 21$'):
        KNNEvalHook(labelled_loader(memory, memory_labels),
                    labelled_loader(query, query_labels), NUM_CLASSES,
                    k=21).before_train(runner)
    KNNEvalHook(labelled_loader(memory, memory_labels),
                labelled_loader(query, query_labels),
                NUM_CLASSES).before_train(runner)
    with pytest.raises(ValueError, match='^query_dataloader must hold '
                       'images, got none$'):
        KNNEvalHook(labelled_loader(memory, memory_labels),
                    labelled_loader(query[:0], query_labels[:0]),
                    NUM_CLASSES).before_train(runner)


def test_a_failed_extraction_leaves_the_model_training(monkeypatch):
    mae, (memory, memory_labels), _, _ = knn_sets(num_memory=20)
    mae.train()

    def fail(inputs):
        raise RuntimeError('out of memory')

    monkeypatch.setattr(mae, 'extract_feat', fail)
    with pytest.raises(RuntimeError, match='out of memory'):
        extract_encoder_features(mae, labelled_loader(memory, memory_labels))
    assert mae.training


# 41 memory and 23 query images: the DefaultSampler of 2 ranks pads both
NUM_MEMORY, NUM_QUERY, WORLD_SIZE = 41, 23, 2


def _knn_worker(rank, init_file, out_dir):
    import mae_plugin  # noqa: F401  (spawned process)
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=WORLD_SIZE)
    mae, (memory, memory_labels), (query, query_labels), _ = knn_sets(
        NUM_MEMORY, NUM_QUERY)
    hook = KNNEvalHook(
        labelled_loader(memory, memory_labels, shuffle=True),
        labelled_loader(query, query_labels, shuffle=False), NUM_CLASSES)
    # this rank's share of the memory set: 21 of 41 (rank 1's last is
    # padding, the sampler's first sample again)
    share = len(hook.memory_dataloader.sampler)
    features, labels = extract_encoder_features(mae, hook.query_dataloader)
    torch.save(
        dict(share=share, metrics=hook.evaluate(SimpleNamespace(model=mae)),
             features=features, labels=labels),
        osp.join(out_dir, f'{rank}.pth'))
    close_distributed()


def test_every_rank_reports_the_accuracy_of_the_whole_sets(tmp_path):
    torch.multiprocessing.spawn(
        _knn_worker, args=(str(tmp_path / 'init'), str(tmp_path)),
        nprocs=WORLD_SIZE)
    mae, (memory, memory_labels), (query, query_labels), by_hand = \
        knn_sets(NUM_MEMORY, NUM_QUERY)
    single = KNNEvalHook(
        labelled_loader(memory, memory_labels),
        labelled_loader(query, query_labels), NUM_CLASSES).evaluate(
            SimpleNamespace(model=mae))
    for rank in range(WORLD_SIZE):
        got = torch.load(tmp_path / f'{rank}.pth', weights_only=True)
        assert got['share'] == 21
        # the query set in order, without the sampler's padding
        assert torch.equal(got['labels'], query_labels)
        for kind in ('cls', 'mean'):
            torch.testing.assert_close(got['features'][kind],
                                       by_hand[1][kind])
        assert got['metrics'] == pytest.approx(single)
    assert single['knn/cls_top1'] == pytest.approx(100.)


def test_unlabelled_sets_are_refused_before_training():
    """A set built with ``with_label=False`` failed after the first epoch
    (before its checkpoint) with "'DataSample' object has no attribute
    'gt_label'"."""
    mae, (memory, memory_labels), (query, query_labels), _ = knn_sets(
        num_memory=20, num_query=4)
    unlabelled = DataLoader(
        [dict(inputs=img, data_samples=DataSample()) for img in query],
        batch_size=8, collate_fn=default_collate)
    labelled = labelled_loader(memory, memory_labels)
    for hook, name in [
        (KNNEvalHook(labelled, unlabelled, NUM_CLASSES), 'query'),
        (KNNEvalHook(unlabelled, labelled, NUM_CLASSES, k=4), 'memory'),
    ]:
        with pytest.raises(ValueError) as error:
            hook.before_train(SimpleNamespace(model=mae))
        assert str(error.value) == (
            f'{name}_dataloader must give labelled samples (a gt_label; a '
            'dataset with with_label=True), got a first sample without one')


def test_a_label_beyond_num_classes_is_refused_before_training():
    """It failed after the first epoch with "test_labels must be in [0,
    num_classes=4)"."""
    mae, (memory, memory_labels), (query, query_labels), _ = knn_sets(
        num_memory=20, num_query=4)
    query_labels = query_labels.clone()
    query_labels[0] = NUM_CLASSES
    hook = KNNEvalHook(labelled_loader(memory, memory_labels),
                       labelled_loader(query, query_labels), NUM_CLASSES)
    with pytest.raises(ValueError) as error:
        hook.before_train(SimpleNamespace(model=mae))
    assert str(error.value) == ('num_classes must be at least the 5 classes '
                                'of query_dataloader, got 4')


@pytest.fixture
def class_folders(tmp_path):
    """Two class folders of two 8x8 PNG images each."""
    for cls in ('a', 'b'):
        (tmp_path / cls).mkdir()
        for i in range(2):
            cv2.imwrite(str(tmp_path / cls / f'{i}.png'),
                        np.full((8, 8, 3), 40 * i, np.uint8))
    return str(tmp_path)


def folder_loader(root, with_label):
    """The config of a loader of :func:`class_folders`."""
    return dict(
        batch_size=2,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        dataset=dict(
            type='ImageFolder',
            data_root=root,
            with_label=with_label,
            pipeline=[
                dict(type='RobustLoadImageFromFile'),
                dict(type='PackInputs')
            ]))


@pytest.mark.parametrize('with_label,num_classes,message', [
    (False, 2, 'memory_dataloader must give labelled samples (a gt_label; '
     'a dataset with with_label=True), got a first sample without one'),
    (True, 1, 'num_classes must be at least the 2 classes of '
     'memory_dataloader, got 1'),
])
def test_an_image_folders_labels_are_checked_by_its_classes(
        class_folders, with_label, num_classes, message):
    """The image folder's first image is of class 0: its two classes
    (``metainfo``) are too many for ``num_classes=1``."""
    init_default_scope('mae_plugin')
    runner = SimpleNamespace(
        build_dataloader=lambda cfg: Runner.build_dataloader(cfg, seed=0))
    hook = KNNEvalHook(
        folder_loader(class_folders, with_label),
        folder_loader(class_folders, True), num_classes, k=2)
    with pytest.raises(ValueError) as error:
        hook.before_train(runner)
    assert str(error.value) == message
    hook = KNNEvalHook(
        folder_loader(class_folders, True),
        folder_loader(class_folders, True), 2, k=2)
    hook.before_train(runner)


@pytest.mark.parametrize('labels, message', [
    # before_train read the first image's label, 0: the hook failed
    # after the first epoch, before its checkpoint, with "test_labels must
    # be in [0, num_classes=2), got values from 0 to 2"
    ((0, 1, 1, 2), 'num_classes must be at least the 3 classes of '
     'memory_dataloader, got 2'),
    ((0, 1, -1, 1), 'memory_dataloader must give labels >= 0, got -1'),
])
def test_every_label_of_an_annotation_file_is_checked(class_folders, labels,
                                                      message):
    """An annotation file names no classes: its largest label, on its
    last line, is the classes' number."""
    init_default_scope('mae_plugin')
    with open(osp.join(class_folders, 'ann.txt'), 'w') as f:
        f.writelines(f'{name} {label}\n' for name, label in zip(
            ('a/0.png', 'a/1.png', 'b/0.png', 'b/1.png'), labels))
    runner = SimpleNamespace(
        build_dataloader=lambda cfg: Runner.build_dataloader(cfg, seed=0))
    loader = folder_loader(class_folders, True)
    loader['dataset']['ann_file'] = 'ann.txt'
    hook = KNNEvalHook(loader, folder_loader(class_folders, True), 2, k=2)
    with pytest.raises(ValueError) as error:
        hook.before_train(runner)
    assert str(error.value) == message


def test_a_resumed_run_keeps_the_history_of_the_interrupted_one(
        photos, tmp_path):
    """The history of a run resumed at the end of epoch 1 starts with the
    interrupted run's epoch 1, as saved in its checkpoint; a run that
    loads those weights with ``load_from`` starts a history of its own."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (32, 3, 32, 32), generator=generator,
                           dtype=torch.uint8)
    labels = torch.randint(0, NUM_CLASSES, (32, ), generator=generator)

    def history(work_dir, *overrides, resume=False):
        runner = in_process_runner(photos, work_dir,
                                   'default_hooks.checkpoint.by_epoch=True',
                                   'default_hooks.checkpoint.interval=1',
                                   *overrides, resume=resume)
        hook = KNNEvalHook(labelled_loader(images[:24], labels[:24]),
                           labelled_loader(images[24:], labels[24:]),
                           NUM_CLASSES, k=5)
        runner.register_hook(hook)
        runner.train()
        return hook.history

    work_dir = str(tmp_path / 'work')
    (first, ) = history(work_dir)
    assert sorted(first) == ['epoch', 'knn/cls_top1', 'knn/mean_top1']
    checkpoint = load_checkpoint_safely(osp.join(work_dir, 'epoch_1.pth'))
    assert checkpoint[HISTORY_KEY] == [first]
    resumed = history(work_dir, 'train_cfg.max_epochs=2', resume=True)
    assert [entry['epoch'] for entry in resumed] == [1, 2]
    assert resumed[0] == first
    loaded = history(str(tmp_path / 'loaded'),
                     f'load_from={osp.join(work_dir, "epoch_1.pth")}')
    assert [entry['epoch'] for entry in loaded] == [1]
