"""KNNEvalHook against weighted_knn_accuracy on features extracted by
hand: class token and mean-pooled patch tokens, k=20, T=0.07."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.dataset import default_collate
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader

from mae_plugin.engine import KNNEvalHook
from mae_plugin.evaluation import (extract_encoder_features,
                                   weighted_knn_accuracy, weighted_knn_predict)
from mae_plugin.registry import build_model
from ..conftest import tiny_mae_cfg

NUM_CLASSES = 4


def labelled_loader(images, labels):
    """Batches as the configs collate them: uint8 ``[N, 3, H, W]`` images
    and data samples with a ``gt_label``."""
    samples = [
        dict(inputs=img, data_samples=DataSample().set_gt_label(int(label)))
        for img, label in zip(images, labels)
    ]
    return DataLoader(samples, batch_size=8, collate_fn=default_collate)


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


def test_hook_reports_the_weighted_knn_of_both_features():
    torch.manual_seed(0)
    mae = build_model(tiny_mae_cfg())
    mae.init_weights()
    generator = torch.Generator().manual_seed(1)
    memory = torch.randint(
        0, 256, (40, 3, 32, 32), generator=generator, dtype=torch.uint8)
    query = torch.randint(
        0, 256, (24, 3, 32, 32), generator=generator, dtype=torch.uint8)
    memory_labels = torch.randint(0, NUM_CLASSES, (40, ), generator=generator)
    by_hand = features_by_hand(mae, memory), features_by_hand(mae, query)
    # Query labels: the vote of the class-token features with k=20 and
    # T=0.07, so that those settings score 100% and others less.
    query_labels = weighted_knn_predict(
        by_hand[0]['cls'], memory_labels, by_hand[1]['cls'], NUM_CLASSES,
        k=20, temperature=0.07)

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
