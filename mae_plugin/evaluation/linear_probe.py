"""The linear probe of small studies: a multinomial logistic regression
(scikit-learn) on standardised frozen features."""
from typing import Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]


def _as_array(value: ArrayLike) -> np.ndarray:
    """``value`` as a NumPy array; a tensor (as
    :func:`~mae_plugin.evaluation.extract_encoder_features` returns, on
    the model's device) is copied to the CPU, bfloat16, which NumPy has
    not, as float32 (exactly)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            value = value.float()
        return value.numpy()
    return np.asarray(value)


def logistic_regression_accuracy(train_x: ArrayLike,
                                 train_y: ArrayLike,
                                 test_x: ArrayLike,
                                 test_y: ArrayLike,
                                 max_iter: int = 1000) -> float:
    """Top-1 (%) of an L2-regularised (C=1) multinomial logistic regression
    fitted with L-BFGS on standardised ``[N, D]`` features.

    NumPy arrays and torch tensors (any device) are taken alike, the
    latter as the NumPy arrays of their values.

    Args:
        train_x (np.ndarray | Tensor): ``[N_train, D]`` training features.
        train_y (np.ndarray | Tensor): ``[N_train]`` labels.
        test_x (np.ndarray | Tensor): ``[N_test, D]`` test features.
        test_y (np.ndarray | Tensor): ``[N_test]`` labels.
        max_iter (int): L-BFGS iterations at most. Defaults to 1000.

    Raises:
        ValueError: Features that are not ``[N, D]`` with one ``D``, labels
            that are not ``[N]`` for their features (``[N, 1]`` test labels
            broadcast to an ``[N, N]`` comparison), fewer than two classes
            to fit or no sample to test, each naming the argument.
    """
    train_x, train_y, test_x, test_y = map(_as_array,
                                           (train_x, train_y, test_x, test_y))
    for name, x, y_name, y in (('train_x', train_x, 'train_y', train_y),
                               ('test_x', test_x, 'test_y', test_y)):
        if x.ndim != 2 or x.shape[1] != np.shape(train_x)[1] or not len(x):
            raise ValueError(f'{name} must be [N, D] with N >= 1 and the D '
                             f'of train_x, got {x.shape}')
        if y.shape != (len(x), ):
            raise ValueError(f'{y_name} must be [{len(x)}] (one label per '
                             f'row of {name}), got {y.shape}')
    if len(np.unique(train_y)) < 2:
        raise ValueError('train_y must hold at least 2 classes to fit, got '
                         f'{np.unique(train_y).tolist()}')
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(),
                          LogisticRegression(max_iter=max_iter))
    probe.fit(train_x, train_y)
    return 100. * float((probe.predict(test_x) == test_y).mean())
