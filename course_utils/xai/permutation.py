"""Permutation feature importance and explanation by example (lesson 01).

Permutation importance (Breiman, "Random Forests", Machine Learning 45, 2001; model-agnostic
form in Fisher, Rudin and Dominici, JMLR 2019): the drop in a model's score when one
feature's column is shuffled, which breaks its link with the target while keeping its
distribution. scikit-learn's ``sklearn.inspection.permutation_importance`` is the library
version; this one is short enough to read and is tested against it.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..exercises import Exercise, register
from ..runtime import as_generator
from ..validation import (check_array, check_callable, check_labels, check_nonnegative_int,
                          check_positive_int)

__all__ = ["accuracy", "permutation_drop", "permutation_importance", "nearest_neighbours", "EXERCISES"]


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of predictions equal to the labels."""
    y_true, y_pred = check_labels("y_true", y_true), check_labels("y_pred", y_pred)
    if len(y_pred) != len(y_true):
        raise ValueError(f"y_pred must have one label per entry of y_true ({len(y_true)}), got {len(y_pred)}.")
    return float(np.mean(y_true == y_pred))


def permutation_drop(predict_fn: Callable, X: np.ndarray, y: np.ndarray, column: int,
                     rng: np.random.Generator) -> float:
    """Accuracy on ``X`` minus accuracy with column ``column`` shuffled by ``rng.permutation(len(X))``.

    The building block of :func:`permutation_importance` (exercise 1.2).
    """
    check_callable("predict_fn", predict_fn)
    X = check_array("X", X, ndim=2, nonempty=True)
    y = check_labels("y", y, len(X))
    column = check_nonnegative_int("column", column)
    if column >= X.shape[1]:
        raise ValueError(f"column must be a column index of X, below {X.shape[1]}, got {column}.")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {rng!r:.40}.")
    shuffled = X.copy()
    shuffled[:, column] = X[rng.permutation(len(X)), column]
    return accuracy(y, _labels(predict_fn, X)) - accuracy(y, _labels(predict_fn, shuffled))


def _labels(predict_fn: Callable, X: np.ndarray) -> np.ndarray:
    """``predict_fn(X)``: one finite label per row, or an error naming predict_fn."""
    try:
        out = predict_fn(X)
    except ValueError as err:
        raise ValueError(f"predict_fn failed on X of shape {X.shape}: {err}") from err
    if np.shape(out) != (len(X),):
        raise ValueError(f"predict_fn must return one label per row, shape ({len(X)},), got shape {np.shape(out)}.")
    return check_labels("predict_fn's output", out)


def permutation_importance(predict_fn: Callable, X, y, *, n_permutations: int = 5,
                           rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over ``n_permutations`` shuffles of each feature's accuracy drop.

    Parameters
    ----------
    predict_fn : callable
        Maps an (n, d) array to n labels.
    X : array-like, shape (n, d)
    y : array-like, shape (n,)
    n_permutations : int, default 5
        Shuffles per feature (scikit-learn's ``n_repeats``).
    rng : None, int, numpy.random.Generator or torch.Generator

    Returns
    -------
    means, stds : numpy.ndarray
        Shape (d,) each.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> means, _ = permutation_importance(lambda Z: (Z[:, 0] > 0).astype(int), X, (X[:, 0] > 0).astype(int))
    >>> bool(means[0] > 0.3), float(means[1]), float(means[2])
    (True, 0.0, 0.0)
    """
    if not callable(predict_fn):
        raise TypeError(f"predict_fn must be callable, got {type(predict_fn).__name__}.")
    X = check_array("X", X, ndim=2)
    if len(X) == 0:
        raise ValueError("X must have at least one row, got 0.")
    y = check_labels("y", y)
    if len(y) != len(X):
        raise ValueError(f"y must have one label per row of X ({len(X)}), got {len(y)}.")
    n_permutations = check_positive_int("n_permutations", n_permutations)
    rng = as_generator(rng)
    try:
        predictions = np.asarray(predict_fn(X[:1]))
    except ValueError as err:
        raise ValueError(f"predict_fn failed on X of shape {X.shape}: {err}") from err
    if predictions.shape != (1,):
        raise ValueError(f"predict_fn must return one label per row, shape (n,), got shape {predictions.shape} "
                         "for one row (use model.predict, not predict_proba).")
    drops = np.array([[permutation_drop(predict_fn, X, y, j, rng) for _ in range(n_permutations)]
                      for j in range(X.shape[1])])
    return drops.mean(axis=1), drops.std(axis=1)


def nearest_neighbours(X_train: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` rows of ``X_train`` closest to ``x`` (Euclidean), nearest first (exercise 1.1)."""
    X_train, x = check_array("X_train", X_train, ndim=2, nonempty=True), check_array("x", x, ndim=1)
    if len(x) != X_train.shape[1]:
        raise ValueError(f"x must have one value per column of X_train ({X_train.shape[1]}), got {len(x)}.")
    k = check_positive_int("k", k)
    if k > len(X_train):
        raise ValueError(f"k must be at most the number of rows of X_train ({len(X_train)}), got {k}.")
    distances = np.linalg.norm(X_train - x, axis=1)
    return np.argsort(distances, kind="stable")[:k]


def _threshold_model(Z: np.ndarray) -> np.ndarray:
    return (Z[:, 0] + 0.5 * Z[:, 1] > 0).astype(int)


def _drop_cases(rng: np.random.Generator) -> list[tuple]:
    X = rng.normal(size=(300, 4))
    y = _threshold_model(X)
    return [(_threshold_model, X, y, j, np.random.default_rng(j)) for j in range(4)]


def _neighbour_cases(rng: np.random.Generator) -> list[tuple]:
    X = rng.normal(size=(50, 3))
    return [(X, X[7] + 0.01, 1), (X, rng.normal(size=3), 5)]


EXERCISES = register(
    Exercise("1.1", "nearest neighbours", nearest_neighbours, _neighbour_cases,
             "rank the rows of X_train by their Euclidean distance to x (equal distances keep the lower row "
             "first) and return the indices of the k closest."),
    Exercise("1.2", "permutation drop", permutation_drop, _drop_cases,
             "shuffle one column's values across the rows (one permutation drawn from rng, so that the result "
             "is reproducible), keep the other columns, and return how much the accuracy drops: accuracy "
             "before minus accuracy after."),
)
