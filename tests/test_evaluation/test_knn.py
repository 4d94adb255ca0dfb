import math

import numpy as np
import pytest
import torch

from mae_plugin.evaluation import weighted_knn_accuracy, weighted_knn_predict


def angle_feats(degrees, norm=1.0):
    rad = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
    return norm * torch.stack([rad.cos(), rad.sin()], dim=1)


def test_weighted_vote_differs_from_majority():
    # Two class-0 neighbours at 60 degrees, one class-1 neighbour at 10
    # degrees from the query: cos 0.985 vs 0.5.
    train = angle_feats([60., -60., 10.], norm=3.0)  # norms are ignored
    labels = torch.tensor([0, 0, 1])
    query = angle_feats([0.])
    # T=0.07: exp(0.985/0.07) = 1.3e6 > 2 * exp(0.5/0.07) = 2.5e3
    assert weighted_knn_predict(train, labels, query, 2, k=3).item() == 1
    # T=10: weights ~ 1.10 vs 2 * 1.05 = 2.10, the majority wins
    assert weighted_knn_predict(
        train, labels, query, 2, k=3, temperature=10.).item() == 0
    # k=1: the nearest neighbour alone
    assert weighted_knn_predict(
        train, labels, query, 2, k=1, temperature=10.).item() == 1


def test_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(300, 8))
    labels = rng.integers(0, 5, 300)
    test = rng.normal(size=(70, 8))
    sim = (test / np.linalg.norm(test, axis=1, keepdims=True)) @ (
        train / np.linalg.norm(train, axis=1, keepdims=True)).T
    expected = []
    for row in sim:
        top = np.argsort(-row)[:20]
        votes = np.zeros(5)
        np.add.at(votes, labels[top], np.exp(row[top] / 0.07))
        expected.append(votes.argmax())
    preds = weighted_knn_predict(
        torch.tensor(train),
        torch.tensor(labels),
        torch.tensor(test),
        5,
        chunk_size=16)
    np.testing.assert_array_equal(preds.numpy(), expected)
    test_labels = torch.tensor(expected)
    test_labels[:7] = (test_labels[:7] + 1) % 5
    assert weighted_knn_accuracy(
        torch.tensor(train), torch.tensor(labels), torch.tensor(test),
        test_labels, 5) == pytest.approx(90.0)


def test_clear_errors():
    train, labels = torch.randn(5, 4), torch.zeros(5, dtype=torch.long)
    with pytest.raises(ValueError, match='k must be'):
        weighted_knn_predict(train, labels, torch.randn(2, 4), 2, k=6)
    with pytest.raises(ValueError, match='same D'):
        weighted_knn_predict(train, labels, torch.randn(2, 3), 2, k=2)
    with pytest.raises(ValueError, match='train_labels'):
        weighted_knn_predict(train, labels[:3], torch.randn(2, 4), 2, k=2)
    with pytest.raises(ValueError, match='temperature'):
        weighted_knn_predict(
            train, labels, torch.randn(2, 4), 2, k=2, temperature=0)


def test_votes_on_the_features_device():
    """Features extracted on a GPU meet CPU labels: the vote must run on
    the features' device. 'meta' tensors stand in for CUDA ones here (a
    vote counted on the CPU would come back as a CPU tensor)."""
    train, labels = torch.randn(6, 4, device='meta'), torch.arange(6) % 3
    preds = weighted_knn_predict(train, labels,
                                 torch.randn(2, 4, device='meta'), 3, k=4)
    assert preds.device.type == 'meta' and preds.shape == (2, )


def test_test_features_on_another_device_vote_on_the_train_features():
    """A GPU memory bank (extract_encoder_features keeps the model's
    device) against NumPy or CPU test features: torch refuses the product
    of a CPU and a CUDA tensor ("Expected all tensors to be on the same
    device"). 'meta' stands in for CUDA: the vote ran on the test
    features' device, so a CPU tensor came back."""
    train, labels = torch.randn(6, 4, device='meta'), np.arange(6) % 3
    rng = np.random.default_rng(0)
    for test in (rng.normal(size=(2, 4)), torch.randn(4, 2).T):
        preds = weighted_knn_predict(train, labels, test, 3, k=4)
        assert preds.device.type == 'meta' and preds.shape == (2, )


def test_labels_of_another_shape_or_range_are_refused():
    """``[N, 1]`` test labels broadcast against the ``[N]`` predictions
    (an N x N comparison: 25% instead of 100% here), and a label past
    ``num_classes`` indexed past the votes with a bare RuntimeError."""
    train = angle_feats([0., 90., 180., 270.])
    labels = torch.arange(4)
    query = angle_feats([1., 91., 181., 271.])
    assert weighted_knn_accuracy(train, labels, query, labels, 4,
                                 k=1) == 100.0
    with pytest.raises(ValueError, match=r'test_labels must be \[4\], got '
                       r'\(4, 1\)'):
        weighted_knn_accuracy(train, labels, query, labels[:, None], 4, k=1)
    with pytest.raises(ValueError, match=r'test_labels must be \[4\]'):
        weighted_knn_accuracy(train, labels, query, labels[:3], 4, k=1)
    with pytest.raises(ValueError, match=r'train_labels must be in \[0, '
                       r'num_classes=3\), got values from 0 to 3'):
        weighted_knn_predict(train, labels, query, 3, k=1)
    with pytest.raises(ValueError, match=r'test_labels must be in'):
        weighted_knn_accuracy(train, labels % 3, query, labels - 1, 3, k=1)
    with pytest.raises(ValueError, match='chunk_size'):
        weighted_knn_predict(train, labels, query, 4, k=1, chunk_size=0)


def test_a_small_temperature_does_not_overflow_the_vote():
    """exp(cosine / T) overflows float32 once T < 1 / 88: both votes
    were inf and argmax took class 0, for a query identical to the class-1
    sample."""
    train = torch.tensor([[1., 0.], [0.95, 0.312]])
    labels = torch.tensor([0, 1])
    for temperature in (0.07, 0.011, 0.005, 0.001):
        assert weighted_knn_predict(train, labels, train[1:], 2, k=2,
                                    temperature=temperature).tolist() == [1]


def test_broken_features_and_labels_are_refused():
    """A NaN feature (a diverged encoder) still gave indices and an
    accuracy; float labels were cut to ints."""
    train, labels = torch.randn(5, 4), torch.arange(5) % 2
    broken = train.clone()
    broken[2, 1] = float('nan')
    with pytest.raises(ValueError, match=r'^train_feats must be finite, got '
                       r'1 of 5 samples with NaN or inf$'):
        weighted_knn_predict(broken, labels, train[:2], 2, k=2)
    with pytest.raises(ValueError, match='^test_feats must be finite'):
        weighted_knn_predict(train, labels, broken, 2, k=2)
    with pytest.raises(ValueError, match=r'^test_feats must hold at least '
                       r'one sample, got 0$'):
        weighted_knn_accuracy(train, labels, train[:0], labels[:0], 2, k=2)
    with pytest.raises(TypeError, match=r'^train_labels must hold ints, got '
                       r'torch.float32$'):
        weighted_knn_predict(train, labels.float(), train[:2], 2, k=2)


def test_numpy_arrays_vote_as_their_tensors():
    """NumPy features and labels (what the linear probe takes) failed with
    "'numpy.ndarray' object has no attribute 'dim'"."""
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(30, 4)), rng.normal(size=(10, 4))
    labels, test_labels = rng.integers(0, 3, 30), rng.integers(0, 3, 10)
    tensors = [torch.from_numpy(a) for a in (train, labels, test)]
    expected = weighted_knn_predict(*tensors, 3, k=5)
    assert torch.equal(weighted_knn_predict(train, labels, test, 3, k=5),
                       expected)
    accuracy = 100. * (expected.numpy() == test_labels).mean()
    assert weighted_knn_accuracy(train, labels, test, test_labels, 3,
                                 k=5) == pytest.approx(accuracy)
    # mixed, and arrays that are views (transposed, reversed)
    assert weighted_knn_accuracy(tensors[0], labels, test.T.copy().T[::-1],
                                 torch.from_numpy(test_labels[::-1].copy()),
                                 3, k=5) == pytest.approx(accuracy)
    with pytest.raises(TypeError, match=r'^train_feats must be a '
                       r'torch.Tensor or a np.ndarray, got list$'):
        weighted_knn_predict(train.tolist(), labels, test, 3, k=5)
    with pytest.raises(TypeError, match=r'^test_labels must be a '
                       r'torch.Tensor or a np.ndarray, got list$'):
        weighted_knn_accuracy(train, labels, test, test_labels.tolist(), 3)
