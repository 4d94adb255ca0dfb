"""The linear probe of small studies: a multinomial logistic regression
(scikit-learn) on standardised frozen features."""
import numpy as np


def logistic_regression_accuracy(train_x: np.ndarray,
                                 train_y: np.ndarray,
                                 test_x: np.ndarray,
                                 test_y: np.ndarray,
                                 max_iter: int = 1000) -> float:
    """Top-1 (%) of an L2-regularised (C=1) multinomial logistic regression
    fitted with L-BFGS on standardised ``[N, D]`` features.

    Args:
        train_x (np.ndarray): ``[N_train, D]`` training features.
        train_y (np.ndarray): ``[N_train]`` labels.
        test_x (np.ndarray): ``[N_test, D]`` test features.
        test_y (np.ndarray): ``[N_test]`` labels.
        max_iter (int): L-BFGS iterations at most. Defaults to 1000.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(),
                          LogisticRegression(max_iter=max_iter))
    probe.fit(train_x, train_y)
    return 100. * float((probe.predict(test_x) == test_y).mean())
