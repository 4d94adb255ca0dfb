"""Weighted k-nearest-neighbour classification of frozen features, the
cheap signal of representation quality watched during pretraining (as in
Wu et al., 2018 and DINO): cosine similarity, the ``k`` nearest training
samples each vote for their class with weight ``exp(similarity / T)``."""
from typing import Dict, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dist import all_gather, get_world_size
from torch import nn
from torch.utils.data import DataLoader

from mae_plugin.utils import check_int, check_number, check_positive_int

TensorLike = Union[torch.Tensor, np.ndarray]


def _as_tensor(name: str, value: TensorLike) -> torch.Tensor:
    """``value`` as a tensor: a NumPy array (as the linear probe takes)
    as a CPU tensor of its values, a tensor as it is.

    Raises:
        TypeError: ``value`` is neither.
    """
    if isinstance(value, np.ndarray):
        return torch.as_tensor(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise TypeError(f'{name} must be a torch.Tensor or a np.ndarray, '
                        f'got {type(value).__name__}')
    return value


def _check_labels(name: str, labels: torch.Tensor, size: int,
                  num_classes: int) -> None:
    """Refuse labels that are not ``[size]`` ints in
    ``[0, num_classes)``: ``[N, 1]`` labels would broadcast against the
    ``[N]`` predictions, one out of range would index past the votes, and
    float ones would be cut to ints.
    """
    if labels.shape != (size, ):
        raise ValueError(
            f'{name} must be [{size}], got {tuple(labels.shape)}')
    if labels.is_floating_point() or labels.is_complex():
        raise TypeError(f'{name} must hold ints, got {labels.dtype}')
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f'{name} must be in [0, num_classes={num_classes}), got values '
            f'from {int(labels.min())} to {int(labels.max())}')


def weighted_knn_predict(train_feats: TensorLike,
                         train_labels: TensorLike,
                         test_feats: TensorLike,
                         num_classes: int,
                         k: int = 20,
                         temperature: float = 0.07,
                         chunk_size: int = 1024) -> torch.Tensor:
    """Predict the class of each test feature by a weighted kNN vote.

    Tensors and NumPy arrays (taken as CPU tensors) are accepted alike,
    on any devices: the vote runs on ``train_feats``' device (the memory
    bank's, e.g. a GPU's), where the test features and the labels are
    moved.

    Args:
        train_feats (Tensor | np.ndarray): ``[N_train, D]`` features of
            the labelled set.
        train_labels (Tensor | np.ndarray): ``[N_train]`` int labels in
            ``[0, num_classes)``.
        test_feats (Tensor | np.ndarray): ``[N_test, D]`` features to
            classify.
        num_classes (int): Number of classes.
        k (int): Neighbours that vote. Defaults to 20.
        temperature (float): ``T`` of the vote weights
            ``exp(cosine / T)``. Defaults to 0.07.
        chunk_size (int): Test features compared at once (memory bound).
            Defaults to 1024.

    Returns:
        Tensor: ``[N_test]`` predicted labels, on ``train_feats``' device.

    Raises:
        TypeError: An input is neither a tensor nor an array, or labels
            are not ints.
        ValueError: Features that are not ``[N, D]`` with one ``D``, empty
            or not finite, labels that are not ``[N_train]`` in
            ``[0, num_classes)``, or ``k`` above ``N_train``.
    """
    train_feats = _as_tensor('train_feats', train_feats)
    train_labels = _as_tensor('train_labels', train_labels)
    test_feats = _as_tensor('test_feats', test_feats)
    if train_feats.dim() != 2 or test_feats.dim() != 2 or \
            train_feats.shape[1] != test_feats.shape[1]:
        raise ValueError(
            f'train_feats and test_feats must be [N, D] with the same D, got '
            f'{tuple(train_feats.shape)} and {tuple(test_feats.shape)}')
    for name, feats in (('train_feats', train_feats),
                        ('test_feats', test_feats)):
        if not len(feats):
            raise ValueError(f'{name} must hold at least one sample, got 0')
        # a NaN spreads through the normalisation, yet topk and argmax
        # still return indices: a diverged encoder would score as any
        # (meta tensors hold no values to check)
        broken = 0 if feats.is_meta else int(
            (~torch.isfinite(feats).all(dim=1)).sum())
        if broken:
            raise ValueError(f'{name} must be finite, got {broken} of '
                             f'{len(feats)} samples with NaN or inf')
    check_positive_int('num_classes', num_classes)
    _check_labels('train_labels', train_labels, train_feats.shape[0],
                  num_classes)
    check_int('k', k, 1, train_feats.shape[0])  # at most N_train
    check_number('temperature', temperature, 0, low_open=True)
    check_positive_int('chunk_size', chunk_size)
    train_feats = F.normalize(train_feats.float(), dim=1)
    test_feats = F.normalize(test_feats.to(train_feats.device).float(), dim=1)
    train_labels = train_labels.to(train_feats.device, torch.long)
    preds = []
    for chunk in test_feats.split(chunk_size):
        similarity = chunk @ train_feats.T  # [n, N_train]
        top_sim, top_idx = similarity.topk(k, dim=1)  # [n, k], descending
        # exp(s / T) over each row's largest: the same vote, and no
        # overflow to inf (in float32 once T < 1 / 88)
        weights = ((top_sim - top_sim[:, :1]) / temperature).exp()  # [n, k]
        votes = chunk.new_zeros(chunk.shape[0], num_classes)
        votes.scatter_add_(1, train_labels[top_idx], weights)  # [n, C]
        preds.append(votes.argmax(dim=1))
    return torch.cat(preds)


def weighted_knn_accuracy(train_feats: TensorLike,
                          train_labels: TensorLike,
                          test_feats: TensorLike,
                          test_labels: TensorLike,
                          num_classes: int,
                          k: int = 20,
                          temperature: float = 0.07) -> float:
    """Top-1 accuracy (%) of :func:`weighted_knn_predict` on labelled test
    features.

    Args:
        train_feats, train_labels, test_feats: As for
            :func:`weighted_knn_predict`.
        test_labels (Tensor | np.ndarray): ``[N_test]`` int labels in
            ``[0, num_classes)``.
        num_classes, k, temperature: As for :func:`weighted_knn_predict`.

    Raises:
        TypeError, ValueError: As :func:`weighted_knn_predict`, for
            ``test_labels`` too.
    """
    test_labels = _as_tensor('test_labels', test_labels)
    _check_labels('test_labels', test_labels, len(test_feats), num_classes)
    preds = weighted_knn_predict(train_feats, train_labels, test_feats,
                                 num_classes, k, temperature)
    return 100. * (preds == test_labels.to(preds.device,
                                           torch.long)).float().mean().item()


def gather_in_sample_order(local: torch.Tensor,
                           size: int) -> torch.Tensor:
    """The rows of every rank's ``local``, in the order of the sampler
    that split ``size`` samples among the ranks.

    Rank ``r`` of ``W`` holds the rows of samples ``r, r + W, r + 2W, ...``
    of the sampler's order, as mmengine's ``DefaultSampler`` deals them;
    it pads the last round with the first samples again (or, with
    ``round_up=False``, leaves it short). The rows are dealt back and
    cut to ``size``, which drops the padding.

    Args:
        local (Tensor): ``[n_r, ...]`` rows of this rank's samples.
        size (int): Number of samples of the whole set.

    Returns:
        Tensor: ``[size, ...]`` on ``local``'s device, the same on every
        rank; ``local`` itself in a single process.
    """
    world_size = get_world_size()
    if world_size == 1:
        return local
    counts = all_gather(torch.tensor(local.shape[0], device=local.device))
    longest = int(max(counts))
    padded = local.new_zeros((longest, *local.shape[1:]))
    padded[:local.shape[0]] = local
    parts = all_gather(padded)  # world_size x [longest, ...]
    # row i of rank r is sample i * world_size + r
    return torch.stack(parts, dim=1).flatten(0, 1)[:size]


@torch.no_grad()
def extract_encoder_features(
        model: nn.Module, dataloader: DataLoader
) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
    """Frozen features of a whole data set from an MAE-style model.

    The model normalises a batch with its ``data_preprocessor`` and runs
    ``model.extract_feat`` (the unmasked encoder for :class:`MAE`), whose
    last output must be the token sequence ``[N, 1 + L, D]`` (backbone
    ``out_type='raw'``).

    In a distributed run each rank extracts the features of its share
    of the set (``DefaultSampler``) and all ranks' are gathered
    (:func:`gather_in_sample_order`), so every rank returns those of the
    whole set.

    Args:
        model (nn.Module): The model, put in eval mode while extracting.
        dataloader (DataLoader): Batches with ``gt_label`` data samples.

    Returns:
        tuple: ``({'cls': [N, D] class token, 'mean': [N, D] mean of the
        patch tokens}, labels [N])`` of the ``N`` samples of the data set,
        in the sampler's order; the features stay on the model's device,
        the labels are on the CPU.
    """
    if not len(dataloader.dataset):
        raise ValueError('extract_encoder_features: the dataloader\'s '
                         'dataset is empty')
    was_training = model.training
    model.eval()
    cls_feats, mean_feats, labels = [], [], []
    try:
        for data_batch in dataloader:
            data = model.data_preprocessor(data_batch, training=False)
            tokens = model.extract_feat(data['inputs'])[-1]
            if tokens.dim() != 3:
                raise ValueError(
                    'extract_encoder_features needs the token sequence '
                    f'[N, 1 + L, D] (backbone out_type="raw"), got '
                    f'{tuple(tokens.shape)}')
            cls_feats.append(tokens[:, 0])  # [N, D]
            mean_feats.append(tokens[:, 1:].mean(dim=1))  # [N, D]
            labels += [int(s.gt_label) for s in data['data_samples']]
    finally:  # training goes on after a failed evaluation too
        model.train(was_training)
    size = len(dataloader.dataset)
    return (dict(cls=gather_in_sample_order(torch.cat(cls_feats), size),
                 mean=gather_in_sample_order(torch.cat(mean_feats), size)),
            gather_in_sample_order(torch.tensor(labels), size))
