"""Weighted kNN accuracy of the frozen encoder during pretraining."""
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch.utils.data import DataLoader

from mae_plugin.evaluation.knn import (extract_encoder_features,
                                       weighted_knn_accuracy)
from mae_plugin.registry import HOOKS
from mae_plugin.utils import check_number, check_positive_int

# The key of the kNN accuracies so far in the checkpoints KNNEvalHook saves.
HISTORY_KEY = 'knn_history'


def _labels(dataset, first) -> np.ndarray:
    """The labels of the samples of ``dataset`` from its data infos
    (``get_data_info``: mmengine's datasets and their wrappers hold them
    without loading an image); where it has none, those of ``first``, its
    first sample's data sample."""
    infos = ([dataset.get_data_info(i) for i in range(len(dataset))]
             if hasattr(dataset, 'get_data_info') else [])
    labels = [np.atleast_1d(info['gt_label']) for info in infos
              if 'gt_label' in info]
    return np.concatenate(labels or [np.atleast_1d(first.gt_label.numpy())])


@HOOKS.register_module()
class KNNEvalHook(Hook):
    """Every ``interval`` epochs, extract frozen encoder features of a
    labelled memory set and a query set and log the weighted kNN top-1
    accuracy of the class token (``knn/cls_top1``) and of the mean-pooled
    patch tokens (``knn/mean_top1``).

    The accuracies go to the log, to the visualizer's scalars and to
    :attr:`history` (``[{'epoch': ..., 'knn/cls_top1': ...,
    'knn/mean_top1': ...}]``), which checkpoints keep under
    ``checkpoint['knn_history']`` so that a resumed run's history starts
    with the interrupted run's (a run that loads the weights with
    ``load_from`` starts its own; a checkpoint saved by iteration at the
    last of an epoch comes before that epoch's evaluation). In a
    distributed run each rank extracts the features of its share of both
    sets and the ranks gather them, so every rank reports the accuracy of
    the whole sets.

    Before training, each set's first sample must carry a label, every
    label must be in [0, ``num_classes``) and a set whose ``metainfo``
    names its classes must name at most ``num_classes``.

    Args:
        memory_dataloader (dict | DataLoader): Labelled training images
            whose features vote.
        query_dataloader (dict | DataLoader): Labelled images to classify.
        num_classes (int): Number of classes.
        interval (int): Epochs between evaluations. Defaults to 1.
        k (int): Neighbours. Defaults to 20.
        temperature (float): Vote temperature. Defaults to 0.07.
    """
    priority = 'LOW'

    def __init__(self,
                 memory_dataloader: Union[dict, DataLoader],
                 query_dataloader: Union[dict, DataLoader],
                 num_classes: int,
                 interval: int = 1,
                 k: int = 20,
                 temperature: float = 0.07) -> None:
        self.memory_dataloader = memory_dataloader
        self.query_dataloader = query_dataloader
        self.num_classes = check_positive_int('num_classes', num_classes)
        self.interval = check_positive_int('interval', interval)
        self.k = check_positive_int('k', k)
        self.temperature = check_number(
            'temperature', temperature, 0, low_open=True)
        self.history: List[Dict[str, float]] = []
        # (iteration, history) of the last loaded checkpoint
        self._loaded: Optional[Tuple[int, List[Dict[str, float]]]] = None

    def _build_loaders(self, runner) -> None:
        """Build the dataloaders given as configs."""
        for name in ('memory_dataloader', 'query_dataloader'):
            loader = getattr(self, name)
            if isinstance(loader, dict):
                setattr(self, name, runner.build_dataloader(loader))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[HISTORY_KEY] = list(self.history)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the checkpoint's history for :meth:`before_train` (a resume
        sets the iteration only after loading)."""
        self._loaded = (checkpoint['meta']['iter'],
                        checkpoint.get(HISTORY_KEY, []))

    def before_train(self, runner) -> None:
        """Start :attr:`history` with that of the resumed checkpoint; build
        the loaders and refuse now, not after the first epoch (whose
        checkpoint the error came before), a memory set smaller than
        ``k``, an empty query set, or a set without labels or with more
        classes than ``num_classes`` (:meth:`_check_labels`)."""
        if self._loaded is not None:
            (iteration, history), self._loaded = self._loaded, None
            if runner.iter == iteration:  # not weights loaded by load_from
                self.history = list(history)
        self._build_loaders(runner)
        memory = len(self.memory_dataloader.dataset)
        if memory < self.k:
            raise ValueError(f'k must be at most the {memory} images of '
                             f'memory_dataloader, got {self.k}')
        if not len(self.query_dataloader.dataset):
            raise ValueError('query_dataloader must hold images, got none')
        for name in ('memory_dataloader', 'query_dataloader'):
            self._check_labels(name)

    def _check_labels(self, name: str) -> None:
        """Refuse the dataset of loader ``name`` if its first sample has
        no ``gt_label`` (a dataset built with ``with_label=False``), if a
        label is negative, or if its labels need more than
        ``num_classes``: the number of classes its ``metainfo`` names,
        when it names them, and its largest label (:func:`_labels`). One
        sample is loaded, not the whole set."""
        dataset = getattr(self, name).dataset
        sample = dataset[0]['data_samples']
        if 'gt_label' not in sample:
            raise ValueError(
                f'{name} must give labelled samples (a gt_label; a dataset '
                'with with_label=True), got a first sample without one')
        labels = _labels(dataset, sample)
        if labels.min() < 0:
            raise ValueError(f'{name} must give labels >= 0, got '
                             f'{int(labels.min())}')
        classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
        needed = max(len(classes or ()), int(labels.max()) + 1)
        if needed > self.num_classes:
            raise ValueError(f'num_classes must be at least the {needed} '
                             f'classes of {name}, got {self.num_classes}')

    def evaluate(self, runner) -> Dict[str, float]:
        """kNN top-1 (%) of both feature kinds with the current weights."""
        self._build_loaders(runner)
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        memory, memory_labels = extract_encoder_features(
            model, self.memory_dataloader)
        query, query_labels = extract_encoder_features(model,
                                                       self.query_dataloader)
        return {
            f'knn/{kind}_top1':
            weighted_knn_accuracy(memory[kind], memory_labels, query[kind],
                                  query_labels, self.num_classes, self.k,
                                  self.temperature)
            for kind in ('cls', 'mean')
        }

    def after_train_epoch(self, runner) -> None:
        if not (self.every_n_epochs(runner, self.interval)
                or self.is_last_train_epoch(runner)):
            return
        metrics = self.evaluate(runner)
        self.history.append(dict(epoch=runner.epoch + 1, **metrics))
        runner.visualizer.add_scalars(metrics, step=runner.epoch + 1)
        runner.logger.info(f'Epoch {runner.epoch + 1}: ' +
                           ', '.join(f'{key} {value:.2f}'
                                     for key, value in metrics.items()))
