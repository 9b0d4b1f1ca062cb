"""LIME and SP-LIME by hand (lesson 02), and the baselines of the paper's experiments.

Ribeiro, Singh and Guestrin, "'Why Should I Trust You?': Explaining the Predictions of Any
Classifier", KDD 2016. LIME explains one prediction of any model ``f`` with a sparse linear
model ``g`` fitted on perturbed samples ``z`` around the instance ``x``, each weighted by the
proximity kernel ``pi_x(z) = exp(-D(x, z)^2 / sigma^2)``:

    explanation(x) = argmin_g  sum_z pi_x(z) (f(z) - g(z'))^2   with at most K non-zero weights,

where ``z'`` is the *interpretable* version of ``z`` (which words are present, which
superpixels are kept, which quartile a number falls in). SP-LIME picks a few instances
whose explanations together cover the features that matter most (a greedy submodular pick).

The library version is ``lime`` (``lime.lime_tabular``, ``lime.lime_text``,
``lime.lime_image``, ``lime.submodular_pick``). This module follows its sampling and its
surrogate fit closely, with one documented difference: the kernel is the paper's
``exp(-d^2 / w^2)``, whereas lime's code uses ``sqrt(exp(-d^2 / w^2))``, the same kernel with
a width larger by ``sqrt(2)``; pass ``kernel_width=sqrt(2) * w`` to reproduce lime's weights.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import ndtr, ndtri

from ..exercises import Exercise, register
from ..runtime import as_generator
from ..validation import (check_array, check_callable, check_in, check_nonnegative_int, check_positive_int, check_real,
                          check_returned)
from .explanation import Explanation

__all__ = [
    "kernel",
    "sample_distances",
    "weighted_ridge",
    "forward_selection",
    "select_features",
    "fit_sparse_surrogate",
    "sample_tabular",
    "lime_tabular",
    "tabular_feature_names",
    "sample_masks",
    "lime_binary",
    "submodular_pick",
    "coverage",
    "random_explanation",
    "greedy_removal",
    "parzen_proba",
    "select_parzen_sigma",
    "parzen_gradient",
    "masked_predictor",
    "linear_model_features",
    "tree_path_features",
    "count_used_features",
    "recall",
    "EXERCISES",
]

FEATURE_SELECTIONS = ("auto", "forward_selection", "highest_weights")


# ----------------------------------------------------------------- the surrogate model


def _check_regression(Z, y, weights):
    """(Z, y, weights) of a weighted regression as float arrays of matching lengths, or a clear error."""
    Z = check_array("Z", Z, ndim=2, nonempty=True)
    y, weights = check_array("y", y, ndim=1), check_array("weights", weights, ndim=1)
    if len(y) != len(Z) or len(weights) != len(Z):
        raise ValueError(f"y and weights must have one value per row of Z ({len(Z)}), "
                         f"got {len(y)} and {len(weights)}.")
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("weights must be >= 0 with a positive sum, "
                         f"got values in [{weights.min():g}, {weights.max():g}].")
    return Z, y, weights


def _check_rows(name: str, X, *, ndim=2):
    """A dense or scipy.sparse matrix of rows; dense ones go through check_array."""
    if sp.issparse(X):
        return X
    return check_array(name, X, ndim=ndim, nonempty=True)


def _check_parzen(X_train, labels, sigma, names=("X_train", "labels")):
    X_train = _check_rows(names[0], X_train)
    labels = check_array(names[1], labels, ndim=1)
    if len(labels) != X_train.shape[0]:
        raise ValueError(f"{names[1]} must have one label per row of {names[0]} ({X_train.shape[0]}), got {len(labels)}.")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{names[1]} must be 0/1 labels (the model's predictions), got the values "
                         f"{np.unique(labels)[:5].tolist()}.")
    return X_train, labels, check_real("sigma", sigma, low=0, low_inclusive=False)


def kernel(distances, kernel_width: float) -> np.ndarray:
    """The proximity kernel of the paper, ``pi_x(z) = exp(-D(x, z)^2 / kernel_width^2)``.

    Parameters
    ----------
    distances : array-like
        Distances ``D(x, z)`` of the samples to the instance.
    kernel_width : float
        ``sigma``; larger widths make the explanation less local.

    Returns
    -------
    numpy.ndarray
        Weights in (0, 1], 1 at distance 0.

    Examples
    --------
    >>> kernel(np.array([0.0, 1.0]), 1.0).round(4)
    array([1.    , 0.3679])
    """
    distances = check_array("distances", distances, ndim=1, nonempty=True)
    kernel_width = check_real("kernel_width", kernel_width, low=0, low_inclusive=False)
    return np.exp(-distances ** 2 / kernel_width ** 2)


DISTANCES = ("euclidean", "cosine")


def sample_distances(Z, metric: str = "euclidean") -> np.ndarray:
    """Distance of every row of ``Z`` to row 0 (the instance), as LIME feeds them to :func:`kernel`.

    Parameters
    ----------
    Z : array-like, shape (n, d)
        Interpretable samples; row 0 is the instance itself.
    metric : {"euclidean", "cosine"}, default "euclidean"
        ``"euclidean"``: ``||z - x||`` (lime_tabular; for 0/1 rows, the square root of the number
        of features that differ). ``"cosine"``: lime_text's ``100 * (1 - cos(z, x))``, where a row
        of zeros has cosine 0 (distance 100), as in scikit-learn's ``cosine_distances``.

    Returns
    -------
    numpy.ndarray, shape (n,)
        0 for row 0.

    Examples
    --------
    >>> sample_distances(np.array([[1, 1, 1, 1], [1, 0, 0, 1]])).round(3)
    array([0.   , 1.414])
    >>> sample_distances(np.array([[1, 1, 1, 1], [1, 0, 0, 1]]), "cosine").round(3)
    array([ 0.   , 29.289])
    """
    Z = check_array("Z", Z, ndim=2, nonempty=True)
    check_in("metric", metric, DISTANCES)
    if metric == "euclidean":
        return np.linalg.norm(Z - Z[0], axis=1)
    norms = np.linalg.norm(Z, axis=1)
    scale = norms * norms[0]
    cosine = np.divide(Z @ Z[0], scale, out=np.zeros(len(Z)), where=scale > 0)
    distances = np.maximum(100.0 * (1.0 - cosine), 0.0)
    distances[0] = 0.0  # exactly, not up to rounding
    return distances


def weighted_ridge(Z: np.ndarray, y: np.ndarray, weights: np.ndarray, alpha: float = 1.0) -> tuple[float, np.ndarray]:
    """Weighted ridge regression with an unpenalised intercept (scikit-learn's ``Ridge`` with ``sample_weight``).

    Minimises ``sum_i weights_i (y_i - b - Z_i . w)^2 + alpha ||w||^2``: centre ``Z`` and
    ``y`` on their weighted means, solve ``(Zc' W Zc + alpha I) w = Zc' W yc``, then
    ``b = mean(y) - mean(Z) . w``.

    Parameters
    ----------
    Z : numpy.ndarray, shape (n, k)
    y : numpy.ndarray, shape (n,)
    weights : numpy.ndarray, shape (n,)
        Non-negative sample weights (the kernel values).
    alpha : float, default 1.0
        Ridge penalty (lime uses 1 for the final fit, 0 inside forward selection).

    Returns
    -------
    intercept : float
    coef : numpy.ndarray, shape (k,)
    """
    Z, y, weights = _check_regression(Z, y, weights)
    alpha = check_real("alpha", alpha, low=0)
    mean_z = np.average(Z, axis=0, weights=weights)
    mean_y = np.average(y, weights=weights)
    centred = Z - mean_z
    gram = centred.T @ (weights[:, None] * centred) + alpha * np.eye(Z.shape[1])
    coef = np.linalg.lstsq(gram, centred.T @ (weights * (y - mean_y)), rcond=None)[0]
    return float(mean_y - mean_z @ coef), coef


def _weighted_statistics(Z: np.ndarray, y: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The weighted, centred Gram matrix ``Zc' W Zc`` and cross products ``Zc' W yc``."""
    centred = Z - np.average(Z, axis=0, weights=weights)
    weighted = weights[:, None] * centred
    return centred.T @ weighted, weighted.T @ (y - np.average(y, weights=weights))


def forward_selection(Z: np.ndarray, y: np.ndarray, weights: np.ndarray, n_features: int) -> np.ndarray:
    """Greedy forward selection of ``n_features`` columns of ``Z`` (lime's ``forward_selection``).

    Start with no feature; at each step add the column whose weighted least-squares fit
    (``weighted_ridge`` with ``alpha=0``) together with the columns chosen so far has the
    smallest weighted squared error (the largest weighted R^2); ties go to the lower index.

    All candidates are scored at once: adding column j to the chosen set S lowers the
    weighted squared error by ``r_j^2 / q_j``, where ``r_j`` is the covariance of column j
    with the current residual and ``q_j`` the variance of column j left after regressing it
    on S (a Schur complement of the weighted Gram matrix).

    Returns
    -------
    numpy.ndarray
        Column indices, in the order they were chosen.
    """
    Z, y, weights = _check_regression(Z, y, weights)
    n_features = check_positive_int("n_features", n_features)
    gram, cross = _weighted_statistics(Z, y, weights)
    variance = np.diag(gram).copy()
    chosen: list[int] = []
    for _ in range(min(n_features, len(cross))):
        residual_cross, residual_variance = cross, variance
        if chosen:
            block = gram[np.ix_(chosen, chosen)]
            solved = np.linalg.lstsq(block, np.column_stack([gram[chosen], cross[chosen]]), rcond=None)[0]
            residual_variance = variance - np.einsum("ij,ij->j", gram[chosen], solved[:, :-1])
            residual_cross = cross - gram[:, chosen] @ solved[:, -1]
        usable = residual_variance > 1e-10 * np.maximum(variance, np.finfo(float).tiny)
        gain = np.where(usable, residual_cross ** 2 / np.where(usable, residual_variance, 1.0), 0.0)
        gain[chosen] = -np.inf
        chosen.append(int(np.argmax(gain)))
    return np.array(chosen, dtype=int)


def select_features(Z: np.ndarray, y: np.ndarray, weights: np.ndarray, n_features: int,
                    method: str = "auto") -> np.ndarray:
    """Choose at most ``n_features`` columns of ``Z`` for the surrogate (lime's ``feature_selection``).

    Parameters
    ----------
    method : {"auto", "forward_selection", "highest_weights"}
        ``forward_selection``: see :func:`forward_selection`. ``highest_weights``: fit a
        weighted ridge (``alpha=0.01``) on all columns and keep those with the largest
        ``|coef_j * Z[0, j]|`` (row 0 is the instance). ``auto`` (lime's default): forward
        selection for ``n_features <= 6``, highest weights above.
    """
    check_in("method", method, FEATURE_SELECTIONS)
    Z, y, weights = _check_regression(Z, y, weights)
    n_features = min(check_positive_int("n_features", n_features), Z.shape[1])
    if method == "auto":
        method = "forward_selection" if n_features <= 6 else "highest_weights"
    if method == "forward_selection":
        return forward_selection(Z, y, weights, n_features)
    _, coef = weighted_ridge(Z, y, weights, alpha=0.01)
    return np.argsort(-np.abs(coef * Z[0]), kind="stable")[:n_features]


def _weighted_r2(Z: np.ndarray, y: np.ndarray, weights: np.ndarray, intercept: float, coef: np.ndarray) -> float:
    """Weighted R^2 of a fit (what ``Ridge.score`` with ``sample_weight`` returns)."""
    mean_y = np.average(y, weights=weights)
    total = float(weights @ (y - mean_y) ** 2)
    residual = float(weights @ (y - intercept - Z @ coef) ** 2)
    return 1.0 - residual / total if total > 0 else 1.0


def fit_sparse_surrogate(Z: np.ndarray, y: np.ndarray, weights: np.ndarray, n_features: int, *,
                         feature_selection: str = "auto", alpha: float = 1.0) -> Explanation:
    """Select features, then fit the weighted ridge on them (lime's ``explain_instance_with_data``).

    The two steps are the lesson's exercises: :func:`select_features` (which runs
    :func:`forward_selection` for few features) and :func:`weighted_ridge`. Row 0 of ``Z``
    must be the instance being explained.

    Returns
    -------
    Explanation
        ``values``: one weight per column of Z, at most ``n_features`` non-zero;
        ``base_value``: the intercept; ``score``: the weighted R^2 of the surrogate (how
        well it mimics the model locally); ``n_evaluations``: ``len(Z)``.
    """
    check_in("feature_selection", feature_selection, FEATURE_SELECTIONS)
    Z, y, weights = _check_regression(Z, y, weights)
    used = select_features(Z, y, weights, n_features, feature_selection)
    intercept, coef = weighted_ridge(Z[:, used], y, weights, alpha)
    full = np.zeros(Z.shape[1])
    full[used] = coef
    return Explanation(values=full, base_value=float(intercept), n_evaluations=len(Z),
                       score=_weighted_r2(Z[:, used], y, weights, intercept, coef))


def _check_callable(predict_fn) -> None:
    if not callable(predict_fn):
        raise TypeError(f"predict_fn must be callable, got {type(predict_fn).__name__}.")


def _check_n_samples(n_samples) -> int:
    n_samples = check_positive_int("n_samples", n_samples)
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2 (the instance and one perturbation), got {n_samples}.")
    return n_samples


def _check_predictions(values, n_samples: int) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.shape != (n_samples,):
        raise ValueError(
            f"predict_fn must return one probability per row, shape ({n_samples},), got shape {values.shape}; "
            "select the explained class, e.g. lambda X: model.predict_proba(X)[:, 1]."
        )
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"predict_fn returned NaN or inf for {int(bad.sum())} of {n_samples} rows.")
    return values



# ----------------------------------------------------------------- tabular data


@dataclass(frozen=True)
class _Column:
    """Training statistics of one column: its sampling distribution and how to undo bins."""

    values: np.ndarray        # categories or bin numbers
    frequencies: np.ndarray
    edges: np.ndarray | None = None   # quartile boundaries of a discretised column
    bin_mean: np.ndarray | None = None
    bin_std: np.ndarray | None = None
    bin_low: np.ndarray | None = None
    bin_high: np.ndarray | None = None


def _quartile_column(column: np.ndarray) -> _Column:
    """lime's QuartileDiscretizer for one column: bins split at the quartiles, their moments and ranges."""
    edges = np.unique(np.percentile(column, [25, 50, 75]))
    bins = np.searchsorted(edges, column)
    counts = np.bincount(bins, minlength=len(edges) + 1)
    filled = np.maximum(counts, 1)
    means = np.bincount(bins, column, minlength=len(counts)) / filled
    variances = np.bincount(bins, (column - means[bins]) ** 2, minlength=len(counts)) / filled
    values = np.flatnonzero(counts)
    return _Column(values, counts[values] / counts.sum(), edges, means, np.sqrt(variances) + 1e-11,
                   np.r_[column.min(), edges], np.r_[edges, column.max()])


def _category_column(column: np.ndarray) -> _Column:
    codes = column.astype(int)
    if np.all(codes == column) and codes.min() >= 0:  # integer codes (the usual case): count them directly
        counts = np.bincount(codes)
        values = np.flatnonzero(counts)
        return _Column(values.astype(float), counts[values] / len(column))
    values, counts = np.unique(column, return_counts=True)
    return _Column(values, counts / counts.sum())


def _undiscretize(stats: _Column, bins: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Numbers for drawn quartiles: a normal with the bin's mean and std, truncated to the bin (inverse CDF)."""
    low, high = stats.bin_low, stats.bin_high
    a, b = ndtr((low - stats.bin_mean) / stats.bin_std), ndtr((high - stats.bin_mean) / stats.bin_std)  # per bin
    draws = stats.bin_mean[bins] + stats.bin_std[bins] * ndtri(a[bins] + (b - a)[bins] * rng.random(len(bins)))
    return np.where(high[bins] > low[bins], np.clip(draws, low[bins], high[bins]), low[bins])


def sample_tabular(x, X_train, n_samples: int, rng=None, *,
                   categorical_features: Sequence[int] = (), discretize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Perturbed samples around ``x`` the way ``lime.lime_tabular`` draws them.

    Categorical columns (and, with ``discretize=True``, every numeric column cut into its
    training quartiles) are drawn from their training frequencies; the interpretable
    feature is 1 when the draw equals ``x``'s category (or quartile). A drawn quartile is
    turned back into a number by a normal truncated to the bin, with the bin's training
    mean and standard deviation. With ``discretize=False`` numeric columns are drawn from
    ``N(mean, std)`` of the training data and their interpretable version is the
    standardised value ``(z - mean) / std``.

    Returns
    -------
    Z : numpy.ndarray, shape (n_samples, d)
        Interpretable representation; row 0 is ``x`` itself.
    samples : numpy.ndarray, shape (n_samples, d)
        The same samples in the model's input space (row 0 is ``x``).
    """
    X_train = check_array("X_train", X_train, ndim=2, nonempty=True)
    x = check_array("x", x, ndim=1)
    if len(x) != X_train.shape[1] or len(X_train) == 0:
        raise ValueError(f"x must have one value per column of a non-empty X_train {X_train.shape}, got {len(x)} values.")
    n_samples = _check_n_samples(n_samples)
    rng = as_generator(rng)
    Z, samples = np.empty((n_samples, len(x))), np.empty((n_samples, len(x)))
    for j in range(len(x)):
        column = X_train[:, j]
        if j in categorical_features or discretize:
            stats = _category_column(column) if j in categorical_features else _quartile_column(column)
            drawn = stats.values[np.minimum(np.searchsorted(np.cumsum(stats.frequencies), rng.random(n_samples),
                                                            side="right"), len(stats.values) - 1)]
            own = x[j] if stats.edges is None else np.searchsorted(stats.edges, x[j])
            Z[:, j] = drawn == own
            samples[:, j] = drawn if stats.edges is None else _undiscretize(stats, drawn, rng)
        else:
            mean, std = column.mean(), column.std()
            std = std if std > 0 else 1.0
            samples[:, j] = rng.normal(size=n_samples) * std + mean
            Z[:, j] = (samples[:, j] - mean) / std
            Z[0, j] = (x[j] - mean) / std
    Z[0, [j for j in range(len(x)) if j in categorical_features or discretize]] = 1.0
    samples[0] = x
    return Z, samples


def lime_tabular(predict_fn: Callable[[np.ndarray], np.ndarray], x, X_train, *, n_features: int,
                  n_samples: int = 5000, kernel_width: float | None = None, rng=None,
                  categorical_features: Sequence[int] = (), discretize: bool = True,
                  feature_selection: str = "auto") -> Explanation:
    """Explain ``predict_fn(x)`` with LIME: sample around ``x``, weight by proximity, fit a sparse linear model.

    Follows ``lime.lime_tabular.LimeTabularExplainer`` (Ribeiro et al., KDD 2016): samples
    from :func:`sample_tabular`, Euclidean distances in the interpretable space, the
    kernel ``exp(-d^2 / kernel_width^2)``, feature selection as lime's ``auto``, then a
    weighted ridge (``alpha=1``) on the chosen features.

    Parameters
    ----------
    predict_fn : callable
        Maps an (n, d) array to (n,) probabilities of the explained class.
    x : array-like, shape (d,)
        The instance.
    X_train : array-like, shape (n_train, d)
        Training data: its statistics define the sampling distribution.
    n_features : int
        At most this many non-zero weights (clipped to d).
    n_samples : int, default 5000
    kernel_width : float, optional
        Default ``0.75 * sqrt(d)`` as in lime (whose kernel is wider by ``sqrt(2)``: see the
        module's docstring).
    rng : None, int, numpy.random.Generator or torch.Generator
    categorical_features : sequence of int, default ()
        Columns holding category codes.
    discretize : bool, default True
        Cut numeric columns into quartiles (lime's default) or keep them continuous.
    feature_selection : {"auto", "forward_selection", "highest_weights"}

    Returns
    -------
    Explanation
        ``values``: signed weights, shape (d,); with ``discretize=True`` weight j is the
        change in ``predict_fn`` for "feature j is in x's category or quartile" versus "it
        is not". ``base_value``: the surrogate's intercept; ``score``: its weighted R^2;
        ``n_evaluations``: ``n_samples``.

    Raises
    ------
    ValueError, TypeError
        On inconsistent shapes or invalid options; if ``predict_fn`` does not return
        shape (n_samples,) or returns NaN/inf.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(500, 4))
    >>> predict_fn = lambda Z: 1 / (1 + np.exp(-3 * Z[:, 2]))
    >>> w = lime_tabular(predict_fn, X[0], X, n_features=1, n_samples=2000, rng=0).values
    >>> int(np.flatnonzero(w)[0])
    2
    """
    X_train = check_array("X_train", X_train, ndim=2, nonempty=True)
    x = check_array("x", x, ndim=1)
    if len(x) != X_train.shape[1]:
        raise ValueError(f"x must have one value per column of X_train ({X_train.shape[1]}), got {len(x)}.")
    _check_callable(predict_fn)
    n_features = check_positive_int("n_features", n_features)
    n_samples = _check_n_samples(n_samples)
    d = len(x)
    if d == 0 or len(X_train) == 0:
        raise ValueError(f"X_train must have at least one row and one column, got shape {X_train.shape}.")
    width = 0.75 * np.sqrt(d) if kernel_width is None else check_real("kernel_width", kernel_width, low=0,
                                                                       low_inclusive=False)
    categorical = sorted({int(j) for j in categorical_features})
    if any(j < 0 or j >= d for j in categorical):
        raise ValueError(f"categorical_features must be column indices in [0, {d}), got {list(categorical_features)}.")
    check_in("feature_selection", feature_selection, FEATURE_SELECTIONS)
    Z, samples = sample_tabular(x, X_train, n_samples, rng, categorical_features=categorical, discretize=discretize)
    y = _check_predictions(predict_fn(samples), n_samples)
    weights = kernel(sample_distances(Z, "euclidean"), width)
    return fit_sparse_surrogate(Z, y, weights, n_features, feature_selection=feature_selection)


def tabular_feature_names(x, X_train, feature_names: Sequence[str], *, categorical_features: Sequence[int] = (),
                          categories: dict | None = None, discretize: bool = True) -> list[str]:
    """Readable names of the interpretable features :func:`lime_tabular` uses for ``x``, as lime writes them.

    ``"sex=Male"`` for a categorical column (``categories[j]`` maps codes to names), the
    quartile of ``x`` such as ``"28.00 < age <= 37.00"`` for a discretised one, the plain name
    otherwise.
    """
    X_train = check_array("X_train", X_train, ndim=2, nonempty=True)
    x = check_array("x", x, ndim=1)
    if len(x) != X_train.shape[1]:
        raise ValueError(f"x must have one value per column of X_train ({X_train.shape[1]}), got {len(x)}.")
    if isinstance(feature_names, str) or not all(isinstance(n, str) for n in feature_names):
        raise TypeError(f"feature_names must be a list of strings, one per column, got {feature_names!r:.60}.")
    if len(feature_names) != X_train.shape[1]:
        raise ValueError(f"feature_names must name every column of X_train ({X_train.shape[1]}), "
                         f"got {len(feature_names)} names.")
    names = []
    for j, name in enumerate(feature_names):
        if j in categorical_features:
            value = categories[j][int(x[j])] if categories and j in categories else f"{x[j]:g}"
            names.append(f"{name}={value}")
        elif discretize:
            edges = np.unique(np.percentile(X_train[:, j], [25, 50, 75]))
            b = int(np.searchsorted(edges, x[j]))
            names.append(f"{name} <= {edges[0]:.2f}" if b == 0 else f"{name} > {edges[-1]:.2f}" if b == len(edges)
                         else f"{edges[b - 1]:.2f} < {name} <= {edges[b]:.2f}")
        else:
            names.append(str(name))
    return names


# ----------------------------------------------------------------- text and superpixels


def sample_masks(d: int, n_samples: int, rng=None) -> np.ndarray:
    """Binary masks as ``lime.lime_text`` draws them: row 0 keeps everything; each other row
    switches off a uniformly chosen number (1 to d) of uniformly chosen features."""
    d, n_samples = check_positive_int("d", d), _check_n_samples(n_samples)
    rng = as_generator(rng)
    masks = np.ones((n_samples, d))
    sizes = rng.integers(1, d + 1, size=n_samples - 1)
    ranks = rng.random((n_samples - 1, d)).argsort(axis=1).argsort(axis=1)
    masks[1:][ranks < sizes[:, None]] = 0.0
    return masks


def lime_binary(predict_fn: Callable[[np.ndarray], np.ndarray], d: int, *, n_features: int, n_samples: int = 5000,
                kernel_width: float = 25.0, rng=None, feature_selection: str = "auto") -> Explanation:
    """LIME on a binary interpretable representation (words present, superpixels kept).

    Masks come from :func:`sample_masks`; the distance is lime_text's cosine distance
    between a mask and the all-ones instance, times 100, and the kernel
    ``exp(-d^2 / kernel_width^2)``.

    Parameters
    ----------
    predict_fn : callable
        Maps (n, d) 0/1 masks (1 = the feature is kept) to (n,) probabilities of the explained class.
    d : int
        Number of interpretable features (e.g. distinct words of the document).
    n_features : int
        At most this many non-zero weights (clipped to d).

    Returns
    -------
    Explanation
        ``values``: one weight per feature; ``base_value``: the intercept; ``score``: the
        weighted R^2 of the surrogate.

    Examples
    --------
    >>> predict_fn = lambda M: 0.2 + 0.6 * M[:, 3]
    >>> int(np.argmax(lime_binary(predict_fn, 6, n_features=2, n_samples=500, rng=0).values))
    3
    """
    _check_callable(predict_fn)
    d = check_positive_int("d", d)
    n_features = check_positive_int("n_features", n_features)
    n_samples = _check_n_samples(n_samples)
    width = check_real("kernel_width", kernel_width, low=0, low_inclusive=False)
    check_in("feature_selection", feature_selection, FEATURE_SELECTIONS)
    masks = sample_masks(d, n_samples, rng)
    y = _check_predictions(predict_fn(masks), n_samples)
    distances = sample_distances(masks, "cosine")  # row 0, the instance, keeps every feature
    return fit_sparse_surrogate(masks, y, kernel(distances, width), n_features, feature_selection=feature_selection)


# ----------------------------------------------------------------- SP-LIME


def _check_explanations(W) -> np.ndarray:
    W = check_array("W", W, ndim=2)
    if W.shape[0] == 0:
        raise ValueError("W must have at least one row (one explanation per instance), got 0 rows.")
    return np.abs(W)


def _check_rows(name: str, X, ndim: int = 2):
    """A non-empty dense array or scipy.sparse matrix of finite values (bag-of-words rows may be sparse)."""
    if sp.issparse(X):
        if X.shape[0] == 0 or not np.isfinite(X.data).all():
            raise ValueError(f"{name} must be non-empty and finite, got a sparse matrix of shape {X.shape}.")
        return X
    return check_array(name, X, ndim=ndim, nonempty=True)


def coverage(W, rows: Sequence[int]) -> float:
    """Share of the total global importance covered by the explanations in ``rows``.

    The paper's ``c(V, W, I) = sum_j 1[exists i in V: W_ij != 0] I_j`` with
    ``I_j = sqrt(sum_i |W_ij|)``, divided by ``sum_j I_j`` (so 1.0 means every feature that
    appears in any explanation is covered).
    """
    absolute = _check_explanations(W)
    rows = check_array("rows", rows, ndim=1, dtype=int) if len(rows) else np.zeros(0, dtype=int)
    if np.any((rows < 0) | (rows >= len(absolute))):
        raise ValueError(f"rows must be row indices of W, in [0, {len(absolute)}), got {rows.tolist()}.")
    importance = np.sqrt(absolute.sum(axis=0))
    covered = absolute[rows].sum(axis=0) > 0
    total = importance.sum()
    return float(importance[covered].sum() / total) if total > 0 else 0.0


def submodular_pick(W, budget: int) -> list[int]:
    """SP-LIME: greedily pick ``budget`` rows of ``W`` that cover the most global importance.

    Rows of ``W`` are explanations (instances x features). Feature j's global importance is
    ``I_j = sqrt(sum_i |W_ij|)``; each step adds the row that most increases the importance
    of the features covered (non-zero in some picked row); ties go to the lower index.
    Greedy maximisation of this monotone submodular function is within ``1 - 1/e`` of the
    best pick (Ribeiro et al., 2016, section 4).

    Parameters
    ----------
    W : array-like, shape (n, d')
    budget : int
        How many instances a user is willing to look at (at most n).

    Returns
    -------
    list of int
        The picked rows, in the order they were chosen.

    Examples
    --------
    >>> W = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.5]])
    >>> submodular_pick(W, 2)
    [0, 2]
    """
    absolute = _check_explanations(W)
    budget = check_positive_int("budget", budget)
    if budget > len(absolute):
        raise ValueError(f"budget must be at most the number of explanations (rows of W, {len(absolute)}), got {budget}.")
    importance = np.sqrt(absolute.sum(axis=0))
    present = absolute > 0
    covered = np.zeros(absolute.shape[1], dtype=bool)
    picked: list[int] = []
    for _ in range(budget):
        gains = (present & ~covered) @ importance
        gains[picked] = -1.0
        best = int(np.argmax(gains))
        picked.append(best)
        covered |= present[best]
    return picked


# ----------------------------------------------------------------- the paper's experiments


def random_explanation(d: int, n_features: int, rng=None) -> np.ndarray:
    """The "random" baseline: ``n_features`` distinct features drawn uniformly out of ``d``."""
    d, n_features = check_positive_int("d", d), check_positive_int("n_features", n_features)
    return as_generator(rng).choice(d, size=min(n_features, d), replace=False)


def greedy_removal(predict_fn: Callable[[np.ndarray], np.ndarray], d: int, n_features: int,
                   threshold: float = 0.5) -> np.ndarray:
    """The "greedy" baseline (Martens and Provost, 2014; the paper's code ``explain_greedy_martens``).

    Repeatedly switch off the feature whose removal lowers ``predict_fn`` (the probability
    of the predicted class, given 0/1 masks) the most, and record it; stop after
    ``n_features`` features, when no removal lowers it, or once it falls below
    ``threshold`` (the prediction changed).

    Returns
    -------
    numpy.ndarray
        The removed features, most important first.
    """
    _check_callable(predict_fn)
    d, n_features = check_positive_int("d", d), check_positive_int("n_features", n_features)
    threshold = check_real("threshold", threshold, low=0, high=1)
    mask = np.ones(d)
    current = float(check_returned("predict_fn", predict_fn(mask[None]), 1)[0])
    chosen: list[int] = []
    while len(chosen) < min(n_features, d):
        candidates = np.flatnonzero(mask)
        trials = np.repeat(mask[None], len(candidates), axis=0)
        trials[np.arange(len(candidates)), candidates] = 0.0
        values = check_returned("predict_fn", predict_fn(trials), len(trials))
        best = int(np.argmin(values))
        if values[best] > current:
            break
        chosen.append(int(candidates[best]))
        mask[candidates[best]] = 0.0
        current = float(values[best])
        if current < threshold:
            break
    return np.array(chosen, dtype=int)


def _squared_norms(X) -> np.ndarray:
    return np.asarray(X.multiply(X).sum(axis=1)).ravel() if hasattr(X, "multiply") else np.einsum("ij,ij->i", X, X)


def _parzen_weights(X_train, queries) -> np.ndarray:
    """Squared distances between every query row and every training row (dense or sparse inputs)."""
    cross = queries @ X_train.T
    cross = cross.toarray() if hasattr(cross, "toarray") else np.asarray(cross)
    distances = _squared_norms(queries)[:, None] + _squared_norms(X_train)[None, :] - 2 * cross
    return np.maximum(distances, 0.0)


def _parzen_kernel(X_train, queries, sigma: float) -> np.ndarray:
    """Gaussian weights exp(-||X_i - x||^2 / (2 sigma^2)), rescaled per query so the largest is 1."""
    log_k = -_parzen_weights(X_train, queries) / (2 * sigma ** 2)
    return np.exp(log_k - log_k.max(axis=1, keepdims=True))


def parzen_proba(X_train, labels: np.ndarray, X, sigma: float) -> np.ndarray:
    """A Parzen-window classifier's probability of class 1 at each row of ``X`` (Baehrens et al., JMLR 2010).

    ``p(x) = sum_{i: labels_i = 1} k_i / sum_i k_i`` with Gaussian weights
    ``k_i = exp(-||X_i - x||^2 / (2 sigma^2))``. The paper fits it to the model's
    predictions to get a global, differentiable approximation of the model.

    Parameters
    ----------
    X_train : array or scipy.sparse matrix, shape (n, d)
    labels : numpy.ndarray, shape (n,)
        0/1 labels of the training rows (the model's predictions).
    X : array or scipy.sparse matrix, shape (m, d) or (d,)
    sigma : float

    Returns
    -------
    numpy.ndarray of shape (m,), or a float for a single row.
    """
    X_train, labels, sigma = _check_parzen(X_train, labels, sigma)
    X = _check_rows("X", X, ndim=(1, 2))
    if X.shape[-1] != X_train.shape[1]:
        raise ValueError(f"X must have the columns of X_train ({X_train.shape[1]}), got shape {X.shape}.")
    single = not hasattr(X, "toarray") and np.ndim(X) == 1
    queries = np.atleast_2d(np.asarray(X, dtype=float)) if not hasattr(X, "toarray") else X
    k = _parzen_kernel(X_train, queries, sigma)
    p = k[:, np.asarray(labels) == 1].sum(axis=1) / k.sum(axis=1)
    return float(p[0]) if single else p


def select_parzen_sigma(X_fit, labels_fit: np.ndarray, X_held_out, labels_held_out: np.ndarray,
                        sigmas: Sequence[float] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)) -> tuple[float, dict]:
    """The Parzen width whose classifier (fitted on ``X_fit``) best agrees with ``labels_held_out``.

    The paper tuned sigma per data set and model; here the labels are the model's own
    predictions, so the chosen Parzen window imitates the model as closely as it can.

    Returns
    -------
    sigma : float
    agreement : dict
        Sigma -> share of held-out rows where the Parzen classifier and the labels agree.
    """
    X_fit, labels_fit, _ = _check_parzen(X_fit, labels_fit, 1.0, ("X_fit", "labels_fit"))
    X_held_out, labels_held_out, _ = _check_parzen(X_held_out, labels_held_out, 1.0, ("X_held_out", "labels_held_out"))
    if X_held_out.shape[1] != X_fit.shape[1]:
        raise ValueError(f"X_held_out must have the columns of X_fit ({X_fit.shape[1]}), got {X_held_out.shape[1]}.")
    sigmas = [check_real("sigmas", sigma, low=0, low_inclusive=False) for sigma in sigmas]
    if not sigmas:
        raise ValueError("sigmas must hold at least one width, got none.")
    squared = _parzen_weights(X_fit, X_held_out)
    positive = np.asarray(labels_fit) == 1
    agreement = {}
    for sigma in sigmas:
        log_k = -squared / (2 * sigma ** 2)
        k = np.exp(log_k - log_k.max(axis=1, keepdims=True))
        p = k[:, positive].sum(axis=1) / k.sum(axis=1)
        agreement[float(sigma)] = float(np.mean((p > 0.5) == (np.asarray(labels_held_out) == 1)))
    return max(agreement, key=agreement.get), agreement


def parzen_gradient(X_train, labels: np.ndarray, x: np.ndarray, sigma: float, features: np.ndarray) -> np.ndarray:
    """Gradient of :func:`parzen_proba` at ``x`` with respect to the given features.

    ``dp/dx = [sum_i k_i (X_i - x) (1[y_i = 1] - p)] / (sigma^2 sum_i k_i)``: the "Parzen"
    explanation of the paper ranks features by it.
    """
    X_train, labels, sigma = _check_parzen(X_train, labels, sigma)
    x = check_array("x", x, ndim=1)
    if len(x) != X_train.shape[1]:
        raise ValueError(f"x must have one value per column of X_train ({X_train.shape[1]}), got {len(x)}.")
    features = check_array("features", features, ndim=1, dtype=int)
    if len(features) and (features.min() < -len(x) or features.max() >= len(x)):
        raise ValueError(f"features must be column indices in [0, {len(x) - 1}], got {features.tolist()}.")
    k = _parzen_kernel(X_train, x[None], sigma)[0]
    ones = (np.asarray(labels) == 1).astype(float)
    p = (k * ones).sum() / k.sum()
    columns = X_train[:, features]
    columns = columns.toarray() if hasattr(columns, "toarray") else np.asarray(columns)
    return ((k * (ones - p)) @ (columns - x[features])) / (sigma ** 2 * k.sum())


def masked_predictor(predict_proba: Callable, x, label: int) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Turn a bag-of-words row into the function LIME, greedy removal and the trust users need.

    Parameters
    ----------
    predict_proba : callable
        A model's ``predict_proba`` on (n, V) rows (scipy sparse accepted).
    x : scipy.sparse matrix of shape (1, V), or array of shape (V,)
        The document.
    label : int
        The class whose probability is explained.

    Returns
    -------
    present : numpy.ndarray
        Indices of the words in ``x`` (the interpretable features, in this order).
    predict_fn : callable
        Maps (n, len(present)) 0/1 masks to (n,) probabilities of ``label`` for ``x`` with the
        masked-out words removed.
    """
    check_callable("predict_proba", predict_proba)
    x = _check_rows("x", x, ndim=1)
    if not sp.issparse(x) and x.ndim != 1:
        raise ValueError(f"x must be one row (1-D), got shape {x.shape}.")
    label = check_nonnegative_int("label", label)
    row = sp.csr_matrix(x).reshape(1, -1)
    probe = np.asarray(predict_proba(row))
    if probe.ndim != 2 or len(probe) != 1 or label >= probe.shape[1]:
        raise ValueError(f"predict_proba must return (n, n_classes) probabilities with a column for label {label}, "
                         f"got shape {probe.shape} for one row.")
    check_returned("predict_proba", probe, 1, shape=probe.shape)
    n_classes = probe.shape[1]
    present, values, width = row.indices.copy(), row.data.copy(), row.shape[1]
    order = np.argsort(present)
    present, values = present[order], values[order]

    def predict_fn(masks: np.ndarray) -> np.ndarray:
        masks = np.asarray(masks, dtype=float)
        rows = np.repeat(np.arange(len(masks)), len(present))
        matrix = sp.csr_matrix(((masks * values).ravel(), (rows, np.tile(present, len(masks)))),
                               shape=(len(masks), width))
        return check_returned("predict_proba", predict_proba(matrix), len(masks), shape=(len(masks), n_classes))[:, label]

    return present, predict_fn


def linear_model_features(coef: np.ndarray, x: np.ndarray) -> set[int]:
    """Features a linear model uses for ``x``: non-zero coefficient and non-zero value."""
    coef = check_array("coef", coef, ndim=(1, 2), nonempty=True)
    if coef.ndim == 2 and len(coef) != 1:
        raise ValueError(f"coef must be 1-D or one row (sklearn's coef_ of shape (1, d)), got shape {coef.shape}.")
    coef = np.ravel(coef)
    x = np.ravel(x.toarray()) if sp.issparse(x) else check_array("x", x, ndim=1)
    if len(x) != len(coef):
        raise ValueError(f"x must have one value per coefficient of coef ({len(coef)}), got {len(x)}.")
    return set(np.flatnonzero((coef != 0) & (x != 0)).tolist())


def tree_path_features(tree, x: np.ndarray) -> set[int]:
    """Features tested on ``x``'s path through a fitted scikit-learn tree that are non-zero in ``x``
    (the paper's gold features for a decision tree; an absent word cannot be "removed")."""
    x = x.toarray() if sp.issparse(x) else check_array("x", x, ndim=1, nonempty=True)
    x = np.asarray(x, dtype=float).reshape(1, -1)
    if x.shape[1] != tree.n_features_in_:
        raise ValueError(f"x must have one value per feature of the tree ({tree.n_features_in_}), got {x.shape[1]}.")
    nodes = tree.decision_path(x).indices
    tested = tree.tree_.feature[nodes]
    return {int(j) for j in tested[tested >= 0] if x[0, j] != 0}


def count_used_features(model, X) -> np.ndarray:
    """For each row of ``X``, how many gold features the model uses (see :func:`linear_model_features`
    for a linear model with ``coef_``, :func:`tree_path_features` for a tree with ``tree_``)."""
    X = _check_rows("X", X)
    present = sp.csr_matrix(X) != 0
    if hasattr(model, "tree_"):
        paths = model.decision_path(X).tocsr()
        internal = np.flatnonzero(model.tree_.feature >= 0)
        tested = sp.csr_matrix((np.ones(len(internal)), (internal, model.tree_.feature[internal])),
                               shape=(paths.shape[1], present.shape[1]))
        on_path = (paths @ tested) > 0
        return np.asarray(on_path.multiply(present).sum(axis=1)).ravel().astype(int)
    used = np.flatnonzero(np.ravel(model.coef_) != 0)
    return np.asarray(present[:, used].sum(axis=1)).ravel().astype(int)


def recall(explained, gold: set[int]) -> float:
    """Share of the ``gold`` features found in ``explained`` (1.0 if there are none to find)."""
    gold = set(gold)
    explained = check_array("explained", explained, ndim=1, dtype=int) if len(explained) else []
    return len(gold & {int(j) for j in explained}) / len(gold) if gold else 1.0


# ----------------------------------------------------------------- exercises


def _kernel_cases(rng: np.random.Generator) -> list[tuple]:
    return [(np.array([0.0, 0.5, 1.0, 2.0]), 1.0), (rng.uniform(0, 5, size=20), 2.6), (np.array([3.0]), 0.75)]


def _distance_cases(rng: np.random.Generator) -> list[tuple]:
    masks = (rng.random((12, 7)) < 0.6).astype(float)
    masks[0], masks[5] = 1.0, 0.0  # the instance keeps every feature; one sample keeps none
    other = (rng.random((9, 5)) < 0.5).astype(float)
    other[0] = [1, 0, 1, 1, 0]  # an instance that does not have every feature
    return [(masks, "euclidean"), (masks, "cosine"), (other, "cosine"), (rng.normal(size=(6, 3)), "euclidean"),
            (np.array([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 1.0]]), "cosine")]


def _weighted_problem(rng: np.random.Generator, n: int = 60, k: int = 4) -> tuple:
    Z = rng.normal(size=(n, k))
    y = Z @ rng.normal(size=k) + 0.3 + 0.1 * rng.normal(size=n)
    return Z, y, rng.uniform(0.05, 1.0, size=n)


def _ridge_cases(rng: np.random.Generator) -> list[tuple]:
    return [(*_weighted_problem(rng), 1.0), (*_weighted_problem(rng, 40, 2), 0.01),
            (*_weighted_problem(rng, 80, 6), 5.0)]


def _selection_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n, k, chosen in [(80, 6, 2), (120, 8, 3), (60, 5, 5)]:
        Z, _, weights = _weighted_problem(rng, n, k)
        coef = np.zeros(k)
        coef[rng.choice(k, size=chosen, replace=False)] = rng.choice([-1, 1], size=chosen) * rng.uniform(0.5, 2, chosen)
        cases.append((Z, Z @ coef + 0.2 * rng.normal(size=n), weights, chosen))
    return cases


def _pick_cases(rng: np.random.Generator) -> list[tuple]:
    W = rng.normal(size=(12, 9)) * (rng.random((12, 9)) < 0.3)
    return [(np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.5]]), 2), (W, 3), (W, 6)]


EXERCISES = register(
    Exercise("2.1", "the proximity kernel", kernel, _kernel_cases,
             "LIME's exponential kernel gives a sample at distance d the weight exp(-d^2 / w^2), with w the "
             "kernel width: weight 1 at d = 0, falling off once d passes w. Compute it for every distance at "
             "once."),
    Exercise("2.5", "the distances the kernel is fed", sample_distances, _distance_cases,
             "euclidean: each row's straight-line distance to the first row (the instance itself). cosine: "
             "lime_text's scale, 100 times one minus the cosine similarity between a row and the first row; "
             "a row with no words counts as similarity 0."),
    Exercise("2.2", "weighted ridge regression", weighted_ridge, _ridge_cases,
             "ridge regression with sample weights: centre Z and y on their weighted means, solve the "
             "weighted normal equations with alpha added to the diagonal (the penalty spares the intercept), "
             "and get the intercept back from the two means. Return (intercept, coefficients)."),
    Exercise("2.3", "forward selection", forward_selection, _selection_cases,
             "greedy: start with no column and, n_features times, add the column whose weighted least-squares "
             "fit together with the columns chosen so far (no ridge penalty) leaves the smallest weighted "
             "squared error. Return the columns in the order they were added."),
    Exercise("2.4", "submodular pick", submodular_pick, _pick_cases,
             "a feature's global importance is the square root of its column's summed absolute weights. "
             "budget times, pick the row that would add the most importance from features that the rows "
             "picked so far do not use yet (the lowest index on ties)."),
)
