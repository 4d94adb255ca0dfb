"""The logistic-regression probe: its accuracy on a separable problem and
the inputs it refuses by name."""
import numpy as np
import pytest
import torch

from mae_plugin.evaluation.linear_probe import logistic_regression_accuracy


def separable(n, rng):
    """Two classes on either side of x0 = 0, 1 apart at least."""
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] > 0).astype(int)
    x[:, 0] += np.where(y == 1, 1., -1.)
    return x, y


def test_a_separable_problem_scores_100():
    rng = np.random.default_rng(0)
    (train_x, train_y), (test_x, test_y) = separable(200, rng), separable(
        100, rng)
    assert logistic_regression_accuracy(train_x, train_y, test_x,
                                        test_y) == 100.0
    # the labels flipped: every prediction is wrong
    assert logistic_regression_accuracy(train_x, train_y, test_x,
                                        1 - test_y) == 0.0


def test_inputs_that_would_score_wrongly_are_refused():
    """``[N, 1]`` test labels compared an ``[N]`` prediction with an
    ``[N, N]`` broadcast: 50.02% instead of 100% on a separable set."""
    rng = np.random.default_rng(0)
    (train_x, train_y), (test_x, test_y) = separable(50, rng), separable(
        20, rng)
    cases = [
        ((train_x, train_y, test_x, test_y[:, None]),
         r'^test_y must be \[20\] \(one label per row of test_x\), got '
         r'\(20, 1\)$'),
        ((train_x, train_y[:40], test_x, test_y),
         r'^train_y must be \[50\]'),
        ((train_x, train_y, test_x[:, :2], test_y),
         r'^test_x must be \[N, D\] with N >= 1 and the D of train_x, got '
         r'\(20, 2\)$'),
        ((train_x, train_y, test_x[:0], test_y[:0]), '^test_x must be'),
        ((train_x, np.zeros(50, int), test_x, test_y),
         r'^train_y must hold at least 2 classes to fit, got \[0\]$'),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            logistic_regression_accuracy(*args)


def test_tensors_score_as_their_arrays():
    """The tensors ``extract_encoder_features`` returns were fitted, then
    the NumPy predictions compared with the tensor labels failed with
    "mean(): could not infer output dtype ... Got: Bool"."""
    rng = np.random.default_rng(0)
    (train_x, train_y), (test_x, test_y) = separable(50, rng), separable(
        20, rng)
    test_y[:3] = 1 - test_y[:3]  # 85% of the test set right
    arrays = (train_x.astype(np.float32), train_y, test_x, test_y)
    expected = logistic_regression_accuracy(*arrays)
    assert expected == 85.0
    tensors = [torch.from_numpy(a) for a in arrays]
    assert logistic_regression_accuracy(*tensors) == expected
    # bfloat16, which NumPy has not, with features that it holds exactly
    exact = [torch.from_numpy(a).bfloat16().float() for a in arrays[::2]]
    assert logistic_regression_accuracy(
        exact[0].bfloat16(), train_y, exact[1].bfloat16(),
        tensors[3]) == logistic_regression_accuracy(
            exact[0].numpy(), train_y, exact[1].numpy(), test_y)
