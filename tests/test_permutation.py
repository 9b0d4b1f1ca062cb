"""Permutation importance by hand, against exact answers and scikit-learn."""
import numpy as np
import pytest
from sklearn.inspection import permutation_importance as sklearn_permutation_importance
from sklearn.linear_model import LogisticRegression

from course_utils.xai.permutation import nearest_neighbours, permutation_importance


def test_unused_features_have_exactly_zero_importance():
    X = np.random.default_rng(0).normal(size=(300, 4))
    y = (X[:, 1] > 0).astype(int)
    means, stds = permutation_importance(lambda Z: (Z[:, 1] > 0).astype(int), X, y, n_permutations=4, rng=0)
    assert means[[0, 2, 3]].tolist() == [0.0, 0.0, 0.0] and stds[[0, 2, 3]].tolist() == [0.0, 0.0, 0.0]
    assert 0.4 < means[1] < 0.6  # shuffling the only feature leaves chance accuracy


def test_agrees_with_scikit_learn():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 5))
    y = (2 * X[:, 0] - X[:, 2] + 0.3 * rng.normal(size=600) > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    ours, _ = permutation_importance(model.predict, X, y, n_permutations=30, rng=0)
    library = sklearn_permutation_importance(model, X, y, n_repeats=30, random_state=0).importances_mean
    np.testing.assert_allclose(ours, library, atol=0.015)
    assert np.argsort(ours)[-2:].tolist() == np.argsort(library)[-2:].tolist() == [2, 0]


def test_argument_errors():
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match="y must have one label per row of X"):
        permutation_importance(lambda Z: Z[:, 0], X, np.zeros(4))
    with pytest.raises(ValueError, match="n_permutations must be a positive int, got 0"):
        permutation_importance(lambda Z: Z[:, 0], X, np.zeros(5), n_permutations=0)
    with pytest.raises(ValueError, match="X must have 2 dimension"):
        permutation_importance(lambda Z: Z, np.zeros(5), np.zeros(5))


def test_nearest_neighbours_small_case():
    X = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0], [0.0, 2.0]])
    assert nearest_neighbours(X, np.array([0.1, 0.0]), 3).tolist() == [0, 2, 3]
