"""Downstream evaluations of a pretraining checkpoint, shared by the
Fashion-MNIST study and the ablation sweep: a linear probe (logistic
regression) and a weighted kNN on frozen encoder features, and
fine-tuning."""
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from mae_plugin.evaluation import (extract_encoder_features,
                                   logistic_regression_accuracy,
                                   weighted_knn_accuracy)
from mae_plugin.apis import build_runner, init_model

# Features by kind (``{'cls': [N, D], 'mean': [N, D]}``) and labels ``[N]``.
Features = Tuple[Dict[str, torch.Tensor], torch.Tensor]


def check_knn_dataloader(cfg: Config) -> None:
    """Refuse a pretraining config without the ``knn_dataloader`` (the
    loader of the frozen features) that the probes read.

    Raises:
        KeyError: naming the config file.
    """
    if cfg.get('knn_dataloader') is None:
        raise KeyError(f'{cfg.filename} needs a `knn_dataloader` (the loader '
                       'of the frozen features) for the probes')


def feature_loaders(
        cfg: Config,
        train_images: Optional[int] = None,
        test_images: Optional[int] = None) -> Dict[str, DataLoader]:
    """The loaders whose frozen features are probed: the pretraining
    config's ``knn_dataloader`` on its ``'train'`` and ``'test'`` splits.

    Args:
        cfg (Config): A pretraining config with a ``knn_dataloader`` whose
            dataset takes ``split`` (as ``FashionMNISTIdx`` does).
        train_images (int, optional): Use the first N training images.
            Defaults to None (all).
        test_images (int, optional): Use the first N test images.
            Defaults to None (all).
    """
    check_knn_dataloader(cfg)
    init_default_scope(cfg.get('default_scope', 'mae_plugin'))
    loaders = {}
    for split, subset in (('train', train_images), ('test', test_images)):
        loader_cfg = cfg.knn_dataloader.to_dict()
        loader_cfg['dataset'].update(split=split, indices=subset)
        loaders[split] = Runner.build_dataloader(loader_cfg)
    return loaders


def raw_pixel_features(dataloader) -> Features:
    """Flattened images in [0, 1] and labels of a loader's dataset."""
    dataset = dataloader.dataset
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    pixels = np.stack([info['img'] for info in infos]).reshape(len(infos), -1)
    labels = torch.tensor([int(info['gt_label']) for info in infos])
    return {'pixels': torch.from_numpy(pixels / 255.).float()}, labels


def checkpoint_features(cfg: Config, checkpoint: Optional[str],
                        loaders: Dict[str, DataLoader]) -> Dict[str, Features]:
    """Frozen features of every loader from the model of ``cfg`` with
    ``checkpoint`` loaded (None: randomly initialised)."""
    model = init_model(cfg, checkpoint)
    return {
        split: extract_encoder_features(model, loader)
        for split, loader in loaders.items()
    }


def probe_features(train: Features, test: Features,
                   num_classes: int) -> Dict[str, Dict[str, float]]:
    """Linear-probe and weighted-kNN (k=20, cosine, T=0.07) top-1 (%) of
    every feature kind: ``{kind: {'linear': top1, 'knn': top1}}``."""
    (train_feats, train_labels), (test_feats, test_labels) = train, test
    return {
        kind:
        dict(
            linear=logistic_regression_accuracy(feats, train_labels,
                                                test_feats[kind],
                                                test_labels),
            knn=weighted_knn_accuracy(feats, train_labels, test_feats[kind],
                                      test_labels, num_classes))
        for kind, feats in train_feats.items()
    }


def finetune_accuracy(cfg: Config, checkpoint: Optional[str]) -> float:
    """Train a classification config without validation and return its
    test top-1 (%).

    Args:
        cfg (Config): A training config (see
            :func:`~mae_plugin.apis.train_config`) whose backbone loads
            ``init_cfg.checkpoint``.
        checkpoint (str, optional): The pretraining checkpoint set as that
            ``init_cfg.checkpoint``; None keeps the config's initialisation
            (e.g. random, for training from scratch).
    """
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if checkpoint is not None:
        cfg.model.backbone.init_cfg.checkpoint = checkpoint
    runner = build_runner(cfg)
    runner.train()
    return float(runner.test()['accuracy/top1'])
