"""Attacks on explanations (lesson 10), and the tests that catch them.

- Fooling LIME and SHAP with an out-of-distribution scaffold (Slack, Hilgard, Jia, Singh and
  Lakkaraju, "Fooling LIME and SHAP: adversarial attacks on post hoc explanation methods",
  AIES 2020): :func:`fooling_scaffold`.
- Manipulated inputs (Dombrowski, Alber, Anders, Ackermann, Mueller and Kessel,
  "Explanations can be manipulated and geometry is to blame", NeurIPS 2019):
  :func:`softplus_model`, :func:`manipulate_input`.
- Poisoned data (Gu, Dolan-Gavitt and Garg, "BadNets: identifying vulnerabilities in the
  machine learning model supply chain", 2017): :func:`add_trigger`, :func:`poison_dataset`;
  the data-level check of Tran, Li and Madry ("Spectral signatures in backdoor attacks",
  NeurIPS 2018): :func:`spectral_signature_scores`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
import warnings

import numpy as np
import torch
from torch import nn

from ..exercises import Exercise, register
from ..runtime import as_generator, as_torch_generator, one_blas_thread
from ..validation import (check_array, check_box, check_callable, check_in, check_nonnegative_int, check_positive_int,
                          check_real, check_returned, check_same_shape, check_tensor)
from .._torch import (apply_model, check_input, check_layer, check_model, check_output, check_target, evaluating,
                     selected_output)

__all__ = [
    "fooling_data",
    "FoolingData",
    "fooling_scaffold",
    "Scaffold",
    "detector_training_set",
    "route",
    "kmeans_background",
    "shap_perturbations",
    "QueryRecorder",
    "nearest_real_distance",
    "data_lime",
    "lime_library_weights",
    "softplus_model",
    "normalise_map",
    "manipulation_loss",
    "manipulate_input",
    "differentiable_gradcam",
    "region_mass",
    "location_fooling_loss",
    "trigger_box",
    "add_trigger",
    "poison_dataset",
    "penultimate_features",
    "spectral_signature_scores",
    "activation_clusters",
    "precision_recall",
    "TRIGGER_SIZE",
]

TRIGGER_SIZE = 3  # the BadNets-style patch: a white square in the bottom-right corner, 1 pixel from the edge


# ------------------------------------------------------------------ fooling LIME and SHAP (Slack et al. 2020)

PERTURBATIONS = ("lime", "shap")
LIME_NOISE = 0.3  # Slack et al.'s perturbation_std: Gaussian noise in standardised units


def detector_training_set(X_real: np.ndarray, noise: np.ndarray, scale: float = LIME_NOISE) -> tuple[np.ndarray, np.ndarray]:
    """Rows and labels for the out-of-distribution detector of a LIME scaffold (exercise 10.1).

    Slack et al. (AIES 2020, section 3, "Training the OOD detector"; their code's
    ``Adversarial_Lime_Model.train``) label the real rows 1 and copies of them with Gaussian
    noise 0 (``perturbation_std = 0.3`` in standardised units).

    Parameters
    ----------
    X_real : numpy.ndarray, shape (n, d)
        The real rows (in the model's units, not standardised).
    noise : numpy.ndarray, shape (k, n, d)
        Standard normal draws: ``k`` noisy copies of every row.
    scale : float, default 0.3
        The noise's standard deviation in units of each column's standard deviation.

    Returns
    -------
    rows : numpy.ndarray, shape ((k + 1) * n, d)
        The real rows, then ``X_real + scale * std * noise[0]``, ``... noise[1]``, ...
        (``std`` the columns' standard deviations, 1 for a constant column).
    labels : numpy.ndarray, shape ((k + 1) * n,)
        1 for a real row, 0 for a perturbed one.
    """
    X_real = check_array("X_real", X_real, ndim=2, nonempty=True)
    noise = check_array("noise", noise, ndim=3, nonempty=True)
    if noise.shape[1:] != X_real.shape:
        raise ValueError(f"noise must have shape (k, *X_real.shape) = (k, {X_real.shape[0]}, {X_real.shape[1]}), "
                         f"got shape {noise.shape}.")
    scale = check_real("scale", scale, low=0)
    std = X_real.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    perturbed = (X_real[None] + scale * std * noise).reshape(-1, X_real.shape[1])
    rows = np.vstack([X_real, perturbed])
    labels = np.r_[np.ones(len(X_real)), np.zeros(len(perturbed))]
    return rows, labels


def route(real: np.ndarray, biased_output: np.ndarray, innocuous_output: np.ndarray) -> np.ndarray:
    """The scaffold's rule (exercise 10.2): the biased model's row where ``real``, the innocuous one's elsewhere.

    Slack et al. (section 3, equation 1): ``e(x) = f(x)`` if the detector says x is from the
    data distribution, ``psi(x)`` otherwise.

    Parameters
    ----------
    real : numpy.ndarray of bool, shape (n,)
    biased_output, innocuous_output : numpy.ndarray, shape (n, k)

    Returns
    -------
    numpy.ndarray, shape (n, k)
    """
    if isinstance(real, (str, bytes)) or np.ndim(real) != 1:
        raise TypeError(f"real must be a 1-D array of bools (one per row), got {real!r:.40}.")
    real = np.asarray(real, dtype=bool)
    biased_output = check_array("biased_output", biased_output, ndim=2, nonempty=True)
    innocuous_output = check_array("innocuous_output", innocuous_output, ndim=2)
    check_same_shape("innocuous_output", innocuous_output, "biased_output", biased_output)
    if len(real) != len(biased_output):
        raise ValueError(f"real must have one value per row of biased_output ({len(biased_output)}), got {len(real)}.")
    return np.where(real[:, None], np.asarray(biased_output, dtype=float), np.asarray(innocuous_output, dtype=float))


def kmeans_background(X, n_clusters: int = 10, *, rng=None) -> np.ndarray:
    """``n_clusters`` k-means centroids of ``X``, each value snapped to the closest value of its column.

    The background ``shap.kmeans(X, k)`` gives Kernel SHAP (Slack et al. use k = 10 for
    COMPAS); snapping keeps category codes valid, as shap's ``round_values=True`` does.
    """
    from sklearn.cluster import KMeans

    X = check_array("X", X, ndim=2, nonempty=True)
    n_clusters = check_positive_int("n_clusters", n_clusters)
    if n_clusters > len(X):
        raise ValueError(f"n_clusters must be at most the number of rows ({len(X)}), got {n_clusters}.")
    seed = int(as_generator(rng).integers(2**31 - 1))
    centres = KMeans(n_clusters, n_init=10, random_state=seed).fit(X).cluster_centers_
    snapped = np.empty_like(centres)
    for j in range(X.shape[1]):
        values = np.unique(X[:, j])
        snapped[:, j] = values[np.abs(values[None] - centres[:, j:j + 1]).argmin(axis=1)]
    return snapped


def shap_perturbations(X, background, n_per_row: int, *, rng=None) -> np.ndarray:
    """Rows as Kernel SHAP builds them: a real row with a random coalition of its features replaced from a background row.

    For each of the ``n_per_row`` copies of every row of ``X``, a coalition size is drawn
    uniformly from 1 to d - 1, then that many features keep the row's values and the
    others take those of one random background row (Kernel SHAP's hybrid rows
    ``h(z) = z * x + (1 - z) * b``; Slack et al.'s ``Adversarial_Kernel_SHAP_Model``
    substitutes features from the k-means background the same way).

    Returns
    -------
    numpy.ndarray, shape (n_per_row * n, d)
    """
    X = check_array("X", X, ndim=2, nonempty=True)
    background = check_array("background", background, ndim=2, nonempty=True)
    if background.shape[1] != X.shape[1]:
        raise ValueError(f"background must have X's {X.shape[1]} columns, got {background.shape[1]}.")
    n_per_row = check_positive_int("n_per_row", n_per_row)
    rng = as_generator(rng)
    n, d = X.shape
    rows = np.repeat(X, n_per_row, axis=0)
    sizes = rng.integers(1, max(d, 2), size=len(rows))
    keep = rng.random((len(rows), d)).argsort(axis=1) < sizes[:, None]  # a random subset of each size
    donors = background[rng.integers(len(background), size=len(rows))]
    return np.where(keep, rows, donors)


class Scaffold:
    """The adversarial classifier of Slack et al. (AIES 2020): biased on real rows, innocuous elsewhere.

    Made by :func:`fooling_scaffold`. Calling it on (n, d) rows returns (n, 2) class
    probabilities: ``biased_fn``'s where :meth:`is_real` is true, ``innocuous_fn``'s otherwise.

    Attributes
    ----------
    detector : sklearn.ensemble.RandomForestClassifier
        The fitted real-vs-perturbed classifier (class 1 = real).
    columns : numpy.ndarray
        The columns the detector reads.
    perturbation : str
        ``"lime"`` or ``"shap"``: the explainer's perturbations it was trained to spot.
    """

    def __init__(self, biased_fn, innocuous_fn, detector, columns: np.ndarray, perturbation: str):
        self.biased_fn, self.innocuous_fn = biased_fn, innocuous_fn
        self.detector, self.columns, self.perturbation = detector, np.asarray(columns), perturbation

    def is_real(self, X) -> np.ndarray:
        """True for the rows the detector takes for real data (probability of "real" >= 0.5)."""
        X = check_array("X", X, ndim=2)
        classes = list(self.detector.classes_)
        if 1.0 not in classes:  # trained on perturbations only
            return np.zeros(len(X), dtype=bool)
        return self.detector.predict_proba(X[:, self.columns])[:, classes.index(1.0)] >= 0.5

    def __call__(self, X) -> np.ndarray:
        X = check_array("X", X, ndim=2)
        return route(self.is_real(X), _probabilities(self.biased_fn, X, "biased_fn"),
                     _probabilities(self.innocuous_fn, X, "innocuous_fn"))

    def fidelity(self, X) -> float:
        """Share of rows on which the scaffold's decision (argmax) is the biased model's (Slack et al.'s fidelity)."""
        X = check_array("X", X, ndim=2)
        return float(np.mean(self(X).argmax(axis=1) == _probabilities(self.biased_fn, X, "biased_fn").argmax(axis=1)))

    def __repr__(self) -> str:
        return f"Scaffold(perturbation={self.perturbation!r}, detector reads columns {self.columns.tolist()})"


@dataclass(frozen=True)
class FoolingData:
    """A table set up as Slack et al. (AIES 2020) set up COMPAS: coin-flip columns added, rows split.

    Made by :func:`fooling_data`. Columns are the table's features (categorical ones as
    integer codes) followed by ``unrelated_1``, ``unrelated_2``, ... (independent fair coin
    flips, 0 or 1: features no real model needs).

    Attributes
    ----------
    features : list of str
        Column names.
    categories : dict
        Column index -> category names of the coded columns (``lime``'s ``categorical_names``).
    X_train, X_test : numpy.ndarray
        The rows, (n_train, d) and (n_test, d), float.
    categorical : list of int
        The categorical columns (the table's and the coin flips).
    protected, unrelated : int
        The protected column and the first coin-flip column.
    protected_code : int
        The code of the protected group in the protected column.
    """

    features: list[str]
    categories: dict[int, list[str]]
    X_train: np.ndarray
    X_test: np.ndarray
    categorical: list[int]
    protected: int
    unrelated: int
    protected_code: int

    @property
    def numeric(self) -> list[int]:
        """The columns that are not categorical."""
        return [j for j in range(len(self.features)) if j not in self.categorical]

    def biased_fn(self, X) -> np.ndarray:
        """Slack et al.'s f: class 1 (high risk) exactly for the protected group; (n, 2) probabilities."""
        high = np.round(check_array("X", X, ndim=2)[:, self.protected]) == self.protected_code
        return np.column_stack([~high, high]).astype(float)

    def innocuous_fn(self, X) -> np.ndarray:
        """Their psi: class 1 exactly when the coin flip ``unrelated_1`` is 1; (n, 2) probabilities."""
        high = check_array("X", X, ndim=2)[:, self.unrelated] > 0.5
        return np.column_stack([~high, high]).astype(float)


def fooling_data(table, *, protected: str = "race", protected_value: str = "African-American",
                 n_unrelated: int = 2, test_fraction: float = 0.1, rng=None) -> FoolingData:
    """Add coin-flip features to a table and split it, as Slack et al. (AIES 2020) did for COMPAS.

    Parameters
    ----------
    table : course_utils.data.TabularData
        E.g. ``data.compas()``.
    protected : str
        The categorical column the biased model decides by.
    protected_value : str
        Its category that the biased model calls high risk.
    n_unrelated : int
        Coin-flip columns to add (the innocuous model uses the first).
    test_fraction : float
        Share of rows held out, in (0, 1); Slack et al. hold out 10%.
    rng : None, int or numpy.random.Generator
        Draws the coin flips, then the split.

    Returns
    -------
    FoolingData

    Examples
    --------
    >>> from course_utils import data
    >>> setup = fooling_data(data.compas(), rng=0)  # doctest: +SKIP
    >>> setup.features[-2:]  # doctest: +SKIP
    ['unrelated_1', 'unrelated_2']
    """
    for name in ("features", "categorical", "encoded"):
        if not hasattr(table, name):
            raise TypeError(f"table must be a course_utils.data.TabularData (e.g. data.compas()), "
                            f"got {type(table).__name__}.")
    check_in("protected", protected, tuple(table.categorical))
    n_unrelated = check_positive_int("n_unrelated", n_unrelated)
    test_fraction = check_real("test_fraction", test_fraction, low=0.0, high=1.0, low_inclusive=False,
                               high_inclusive=False)
    rng = as_generator(rng)
    X_codes, categories = table.encoded()
    protected_index = table.features.index(protected)
    check_in("protected_value", protected_value, tuple(categories[protected_index]))
    unrelated = [f"unrelated_{k + 1}" for k in range(n_unrelated)]
    features = table.features + unrelated
    X = np.column_stack([X_codes, rng.integers(0, 2, size=(len(X_codes), n_unrelated))]).astype(float)
    order = rng.permutation(len(X))
    n_test = int(round(len(X) * test_fraction))
    categorical = [features.index(c) for c in (*table.categorical, *unrelated)]
    return FoolingData(features, categories, X[order[n_test:]], X[order[:n_test]], sorted(categorical),
                       protected_index, features.index(unrelated[0]),
                       categories[protected_index].index(protected_value))


def _probabilities(fn, X: np.ndarray, name: str) -> np.ndarray:
    out = fn(X)
    if np.shape(out) != (len(X), 2):
        raise ValueError(f"{name} must map (n, d) rows to (n, 2) class probabilities; for {len(X)} rows it "
                         f"returned shape {np.shape(out)}.")
    return check_returned(name, out, len(X), shape=(len(X), 2))


def fooling_scaffold(biased_fn, innocuous_fn, X_train, *, perturbation: str = "lime",
                     categorical_features=(), n_perturbations: int = 30, background=None,
                     n_estimators: int = 100, rng=None) -> Scaffold:
    """Hide a biased classifier from LIME or SHAP behind an out-of-distribution detector (Slack et al., AIES 2020).

    A random forest learns to tell the real rows ``X_train`` from the perturbations an
    explainer makes; the returned :class:`Scaffold` answers with ``biased_fn`` on rows it
    takes for real and with ``innocuous_fn`` on the others. An explainer that queries the
    model mostly off the data then describes ``innocuous_fn``, while every real person is
    still decided by ``biased_fn``.

    Parameters
    ----------
    biased_fn, innocuous_fn : callable
        Map (n, d) float rows to (n, 2) class probabilities.
    X_train : array-like, shape (n, d)
        The real rows (categorical columns as integer codes).
    perturbation : {"lime", "shap"}, default "lime"
        ``"lime"``: as Slack et al.'s ``Adversarial_Lime_Model``, every row plus Gaussian
        noise of standard deviation 0.3 in standardised units (:func:`detector_training_set`),
        ``n_perturbations`` copies per row, and the detector reads the numeric columns
        only (those not in ``categorical_features``). ``"shap"``: as their
        ``Adversarial_Kernel_SHAP_Model``, rows with a random coalition of features
        replaced from ``background`` (:func:`shap_perturbations`); the detector reads
        every column, and a perturbed row equal to a real row is labelled real.
    categorical_features : sequence of int, default ()
        Columns holding category codes.
    n_perturbations : int, default 30
        Perturbed copies per real row (Slack et al.'s ``perturbation_multiplier``).
    background : array-like, optional
        ``"shap"`` only: the rows features are replaced from (default: 10 k-means centroids
        of ``X_train``, :func:`kmeans_background`, the background their experiment gives
        Kernel SHAP).
    n_estimators : int, default 100
        Trees of the detector (their ``rf_estimators``).
    rng : int, numpy.random.Generator, torch.Generator or None
        Draws the perturbations and seeds the forest.

    Returns
    -------
    Scaffold

    Raises
    ------
    ValueError
        Unknown ``perturbation``, column indices out of range, no numeric column for
        ``"lime"``, or a function that does not return (n, 2) probabilities.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([rng.integers(0, 2, 500), rng.integers(0, 50, 500)]).astype(float)
    >>> biased = lambda X: np.column_stack([1 - X[:, 0], X[:, 0]])
    >>> innocuous = lambda X: np.tile([0.5, 0.5], (len(X), 1))
    >>> scaffold = fooling_scaffold(biased, innocuous, X, categorical_features=[0], n_perturbations=5, rng=0)
    >>> bool(np.allclose(scaffold(X[:5]), biased(X[:5])))
    True
    """
    check_in("perturbation", perturbation, PERTURBATIONS)
    X_train = check_array("X_train", X_train, ndim=2, nonempty=True)
    n, d = X_train.shape
    categorical = sorted({int(j) for j in categorical_features})
    if any(j < 0 or j >= d for j in categorical):
        raise ValueError(f"categorical_features must be column indices in [0, {d}), got {list(categorical_features)}.")
    n_perturbations = check_positive_int("n_perturbations", n_perturbations)
    n_estimators = check_positive_int("n_estimators", n_estimators)
    for name, fn in (("biased_fn", biased_fn), ("innocuous_fn", innocuous_fn)):
        if not callable(fn):
            raise TypeError(f"{name} must be callable, got {type(fn).__name__}.")
        _probabilities(fn, X_train[:2], name)
    rng = as_generator(rng)
    if perturbation == "lime":
        columns = np.array([j for j in range(d) if j not in categorical])
        if len(columns) == 0:
            raise ValueError("X_train must have a numeric column (not in categorical_features) for perturbation='lime'.")
        rows, labels = detector_training_set(X_train[:, columns], rng.normal(size=(n_perturbations, n, len(columns))))
    else:
        columns = np.arange(d)
        background = kmeans_background(X_train, rng=rng) if background is None else check_array("background", background, ndim=2)
        perturbed = shap_perturbations(X_train, background, n_perturbations, rng=rng)
        real_rows = {row.tobytes() for row in X_train}
        labels = np.r_[np.ones(n), [float(row.tobytes() in real_rows) for row in perturbed]]
        rows = np.vstack([X_train, perturbed])
    detector = _fit_detector(rows, labels, n_estimators, rng)
    return Scaffold(biased_fn, innocuous_fn, detector, columns, perturbation)


def _fit_detector(rows: np.ndarray, labels: np.ndarray, n_estimators: int, rng: np.random.Generator):
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=n_estimators, class_weight="balanced", n_jobs=1,
                                    random_state=int(rng.integers(2**31 - 1)))
    return forest.fit(rows, labels)


class QueryRecorder:
    """Wrap a prediction function and keep every row an explainer asks it about (an auditor's view).

    Examples
    --------
    >>> recorder = QueryRecorder(lambda X: X.sum(axis=1))
    >>> _ = recorder(np.ones((3, 2))); _ = recorder(np.zeros((2, 2)))
    >>> recorder.rows.shape
    (5, 2)
    """

    def __init__(self, predict_fn):
        if not callable(predict_fn):
            raise TypeError(f"predict_fn must be callable, got {type(predict_fn).__name__}.")
        self.predict_fn, self._rows = predict_fn, []

    def __call__(self, X):
        self._rows.append(np.array(X, dtype=float, copy=True))
        return self.predict_fn(X)

    @property
    def rows(self) -> np.ndarray:
        """Every queried row, in order, shape (n_queries, d)."""
        return np.vstack(self._rows) if self._rows else np.empty((0, 0))


def nearest_real_distance(X, X_reference, *, scale=None) -> np.ndarray:
    """Distance from each row of ``X`` to its nearest row of ``X_reference``, in standardised units.

    The auditor's off-manifold check: an explainer's queries far from every real row are
    where a scaffold can answer differently. ``scale`` (default: the reference columns'
    standard deviations) divides each column first.
    """
    from sklearn.neighbors import NearestNeighbors

    X = check_array("X", X, ndim=2, nonempty=True)
    X_reference = check_array("X_reference", X_reference, ndim=2, nonempty=True)
    if X.shape[1] != X_reference.shape[1]:
        raise ValueError(f"X must have X_reference's {X_reference.shape[1]} columns, got {X.shape[1]}.")
    if scale is None:
        scale = X_reference.std(axis=0)
    scale = np.where(np.asarray(scale, dtype=float) > 0, scale, 1.0)
    index = NearestNeighbors(n_neighbors=1).fit(X_reference / scale)
    return index.kneighbors(X / scale)[0][:, 0]


def lime_library_weights(explanation, n_features: int, *, label: int = 1) -> np.ndarray:
    """The weights of a ``lime`` library explanation as one vector of length ``n_features`` (0 for unselected features).

    ``lime.explanation.Explanation.as_map()[label]`` lists ``(feature, weight)`` pairs.
    """
    weights = np.zeros(check_positive_int("n_features", n_features))
    for feature, weight in explanation.as_map()[label]:
        weights[int(feature)] = weight
    return weights


def data_lime(predict_fn, x, X_train, *, n_features: int, n_samples: int = 5000, kernel_width: float | None = None,
              categorical_features=(), rng=None):
    """LIME whose perturbations are real rows: samples drawn from ``X_train`` instead of from a product of marginals.

    A defence against scaffolds (Slack et al. 2020, section 6, suggest explainers whose
    samples stay on the data distribution): every query is a real row, so an
    out-of-distribution detector has nothing to detect. The representation and the fit
    are :func:`course_utils.xai.lime.lime_tabular`'s with ``discretize=False``: numeric
    columns standardised, categorical ones 1 where the row shares x's category, the
    kernel ``exp(-d^2 / kernel_width^2)`` (default width ``0.75 sqrt(d)``) and lime's
    ``auto`` feature selection before a weighted ridge. Row 0 is x itself.

    Parameters
    ----------
    predict_fn : callable
        (n, d) rows to (n,) probabilities of the explained class.
    x : array-like, shape (d,)
    X_train : array-like, shape (n_train, d)
    n_features : int
    n_samples : int, default 5000
    kernel_width : float, optional
    categorical_features : sequence of int, default ()
    rng : int, numpy.random.Generator, torch.Generator or None

    Returns
    -------
    course_utils.xai.explanation.Explanation
        ``values`` the weights, ``base_value`` the intercept, ``score`` the weighted R^2.
    """
    from . import lime
    from .explanation import Explanation

    check_callable("predict_fn", predict_fn)
    X_train = check_array("X_train", X_train, ndim=2, nonempty=True)
    x = check_array("x", x, ndim=1)
    if len(x) != X_train.shape[1]:
        raise ValueError(f"x must have one value per column of X_train ({X_train.shape[1]}), got {len(x)}.")
    n_features, n_samples = check_positive_int("n_features", n_features), check_positive_int("n_samples", n_samples)
    d = len(x)
    width = 0.75 * np.sqrt(d) if kernel_width is None else check_real("kernel_width", kernel_width, low=0, low_inclusive=False)
    categorical = np.zeros(d, dtype=bool)
    categorical[list(categorical_features)] = True
    rows = np.vstack([x, X_train[as_generator(rng).integers(len(X_train), size=n_samples - 1)]])
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    Z = np.where(categorical, (rows == x).astype(float), (rows - mean) / std)
    y = check_returned("predict_fn", predict_fn(rows), n_samples)
    weights = lime.kernel(np.linalg.norm(Z - Z[0], axis=1), width)
    surrogate = lime.fit_sparse_surrogate(Z, y, weights, n_features)
    return Explanation(surrogate.values, surrogate.base_value, n_samples, surrogate.score)


# ------------------------------------------------------------------ manipulated inputs (Dombrowski et al. 2019)


def softplus_model(model: nn.Module, beta: float) -> nn.Module:
    """A copy of ``model`` with every ``nn.ReLU`` module replaced by ``nn.Softplus(beta)``; ``model`` is unchanged.

    ``softplus_beta(x) = log(1 + exp(beta x)) / beta`` tends to ``relu(x)`` as beta grows
    (the gap is at most ``log(2) / beta``), and unlike a ReLU network the softplus
    network has non-zero second derivatives, which the input manipulation needs
    (Dombrowski et al., NeurIPS 2019, section 4). Explaining the softplus network with a
    small beta is their defence, "beta-smoothing" (section 5). ReLUs called as functions
    inside ``forward`` (``torch.relu``) are not modules and are not replaced: the course's
    models use one ``nn.ReLU`` module per use.

    Parameters
    ----------
    model : torch.nn.Module
    beta : float
        Positive.

    Returns
    -------
    torch.nn.Module
        A deep copy, in the same train/eval mode, on the same device.

    Examples
    --------
    >>> relu_net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    >>> smooth = softplus_model(relu_net, beta=10.0)
    >>> type(smooth[1]).__name__, type(relu_net[1]).__name__
    ('Softplus', 'ReLU')
    """
    check_model(model)
    beta = check_real("beta", beta, low=0, low_inclusive=False)
    copy_ = copy.deepcopy(model)
    for parent in copy_.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.ReLU):
                setattr(parent, name, nn.Softplus(beta=beta))
    return copy_


def normalise_map(maps: torch.Tensor) -> torch.Tensor:
    """Each map's absolute values divided by their sum (unit sum, as Dombrowski et al. compare maps)."""
    check_tensor("maps", maps, ndim=(3, 4))
    flat = maps.abs().flatten(1)
    return (flat / flat.sum(dim=1, keepdim=True).clamp_min(1e-12)).view_as(maps)


def manipulation_loss(explanation: torch.Tensor, target_map: torch.Tensor, output: torch.Tensor,
                      original_output: torch.Tensor, output_weight: float) -> torch.Tensor:
    """Dombrowski et al.'s objective (exercise 10.3): map distance plus ``output_weight`` times output change.

    ``||h(x_adv) - h_t||^2 + gamma ||g(x_adv) - g(x)||^2`` (NeurIPS 2019, equation 4), with
    both maps normalised to unit sum (:func:`normalise_map`) and the squared norms summed
    over each example and averaged over the batch.

    Parameters
    ----------
    explanation, target_map : torch.Tensor, shape (N, ...)
        The current explanation of the manipulated input and the map it should become.
    output, original_output : torch.Tensor, shape (N, K)
        The model's outputs (probabilities) now and on the original input.
    output_weight : float
        gamma.

    Returns
    -------
    torch.Tensor
        A scalar.
    """
    check_tensor("explanation", explanation, ndim=(3, 4))
    check_tensor("target_map", target_map)
    check_same_shape("target_map", target_map, "explanation", explanation)
    check_tensor("output", output, ndim=2)
    check_tensor("original_output", original_output)
    check_same_shape("original_output", original_output, "output", output)
    if len(output) != len(explanation):
        raise ValueError(f"output must have one row per explanation ({len(explanation)}), got {len(output)}.")
    output_weight = check_real("output_weight", output_weight, low=0)
    map_term = (normalise_map(explanation) - normalise_map(target_map)).pow(2).flatten(1).sum(dim=1)
    output_term = (output - original_output).pow(2).flatten(1).sum(dim=1)
    return (map_term + output_weight * output_term).mean()


def _smooth_saliency(smooth: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """|d logit_target / dx| of the softplus network, kept differentiable (create_graph) for the attack."""
    logits = selected_output(smooth, x, target)
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return grad.abs()


def manipulate_input(model: nn.Module, x: torch.Tensor, target_map: torch.Tensor, target, *, beta: float = 10.0,
                     steps: int = 500, lr: float = 1e-3, output_weight: float = 1e6, rng=None) -> torch.Tensor:
    """Change an input so that its saliency map becomes ``target_map`` while the output stays put (Dombrowski et al. 2019).

    Minimises :func:`manipulation_loss` (equation 4 of "Explanations can be manipulated and
    geometry is to blame", NeurIPS 2019) with Adam over the input, kept in [0, 1]: the map
    is the saliency ``|d z_target / dx|`` of :func:`softplus_model` ``(model, beta)``, whose
    second derivatives exist (a ReLU network's map is piecewise constant in x, so its
    gradient with respect to x is zero almost everywhere); the output term compares
    ``model``'s softmax probabilities with those on ``x``. The iterate with the lowest loss
    is returned; evaluate it on the ReLU model (the manipulation transfers, their section 4).

    Parameters
    ----------
    model : torch.nn.Module
        A ReLU image classifier taking inputs in [0, 1].
    x : torch.Tensor, shape (N, C, H, W)
        Images in [0, 1].
    target_map : torch.Tensor
        The maps to produce, x's shape (or one example's, shared by all).
    target : int or sequence of int
        The class whose saliency is manipulated (usually the predicted class).
    beta : float, default 10.0
    steps : int, default 500
    lr : float, default 1e-3
        Adam's step size (in pixel units).
    output_weight : float, default 1e6
        gamma: weight of the squared change of the probabilities.
    rng : int, numpy.random.Generator, torch.Generator or None
        Draws the start: x plus uniform noise of at most 1/255 per pixel.

    Returns
    -------
    torch.Tensor
        The manipulated images, x's shape, in [0, 1], detached.

    Raises
    ------
    TypeError, ValueError
        A model that is not a module, images outside [0, 1], a target map of another shape.
    """
    check_model(model)
    x = check_input(x, model, images=True, unit_range=True)
    check_tensor("target_map", target_map)
    target_map = check_input(target_map, model, name="target_map") if target_map.ndim == x.ndim else \
        check_input(target_map[None], model, name="target_map")
    if tuple(target_map.shape[1:]) != tuple(x.shape[1:]) or len(target_map) not in (1, len(x)):
        raise ValueError(f"target_map must have x's shape {tuple(x.shape)} or one example's {tuple(x.shape[1:])}, "
                         f"got {tuple(target_map.shape)}.")
    target_map = target_map.expand_as(x)
    target = check_target(target, len(x), x.device)
    steps = check_positive_int("steps", steps)
    lr = check_real("lr", lr, low=0, low_inclusive=False)
    output_weight = check_real("output_weight", output_weight, low=0)
    smooth = softplus_model(model, beta)
    generator = as_torch_generator(rng, device=x.device)
    with evaluating(model, freeze=True), evaluating(smooth, freeze=True):
        with torch.no_grad():
            original = model(x).softmax(dim=1)
        start = (x + (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1) / 255).clamp(0, 1)
        x_adv = start.clone().requires_grad_(True)
        optimiser = torch.optim.Adam([x_adv], lr=lr)
        best, best_loss = start.clone(), torch.full((len(x),), float("inf"), device=x.device)
        for _ in range(steps + 1):
            with torch.enable_grad():
                explanation = _smooth_saliency(smooth, x_adv, target)
                output = model(x_adv).softmax(dim=1)
                per_example = torch.stack([manipulation_loss(explanation[i:i + 1], target_map[i:i + 1], output[i:i + 1],
                                                             original[i:i + 1], output_weight) for i in range(len(x))])
            with torch.no_grad():
                better = per_example < best_loss
                best[better], best_loss[better] = x_adv[better].detach(), per_example[better].detach()
            optimiser.zero_grad()
            per_example.sum().backward()
            optimiser.step()
            with torch.no_grad():
                x_adv.clamp_(0, 1)
    return best.detach()


# ------------------------------------------------------------------ manipulated models (Heo et al. 2019)


def differentiable_gradcam(model: nn.Module, layer: nn.Module, x: torch.Tensor, target: torch.Tensor, *,
                           rectify: bool = True) -> torch.Tensor:
    """Grad-CAM maps (N, h, w) at ``layer``'s resolution that stay differentiable in the model's parameters.

    Selvaraju et al.'s ``relu(sum_k alpha_k A^k)`` with ``alpha_k`` the spatial mean of
    ``d z_target / d A^k``, computed with ``create_graph=True`` so that a fine-tuning loss
    on the map can be back-propagated (Heo, Joo and Moon, NeurIPS 2019, section 3). With
    ``rectify=False`` the map before the ReLU, ``sum_k alpha_k A^k``: a loss on it has a
    gradient where the map is negative, which the ReLU's zeros do not. Call it with the
    model in the mode it is trained in; the course's explanation of record is
    :func:`course_utils.xai.gradcam.gradcam`.
    """
    check_model(model)
    check_layer(layer, model)
    x = check_input(x, model, images=True)
    target = check_target(target, len(x), x.device)
    store = {}
    handle = layer.register_forward_hook(lambda module, inputs, output: store.__setitem__("A", output))
    try:
        logits = check_output(model(x), target)
    finally:
        handle.remove()
    activations = store["A"]
    selected = logits.gather(1, target[:, None]).sum()
    (gradients,) = torch.autograd.grad(selected, activations, create_graph=True)
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    maps = (weights * activations).sum(dim=1)
    return torch.relu(maps) if rectify else maps


def _box_inside(maps: torch.Tensor, box) -> tuple[int, int, int, int]:
    """``box = (x0, y0, x1, y1)`` checked and as ints, or a ValueError if it does not lie inside the maps' last two axes."""
    x0, y0, x1, y1 = (int(v) for v in check_box("box", box))
    if x1 > maps.shape[-1] or y1 > maps.shape[-2]:
        raise ValueError(f"box must lie inside the maps ({maps.shape[-2]}x{maps.shape[-1]}), got {tuple(box)}.")
    return x0, y0, x1, y1


def region_mass(maps: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """Share of each map's (non-negative) mass inside ``box = (x0, y0, x1, y1)`` (exclusive ends); 0 for an empty map.

    The differentiable, batched form of :func:`course_utils.xai.evaluation.box_mass`.
    """
    check_tensor("maps", maps, ndim=(2, 3))
    x0, y0, x1, y1 = _box_inside(maps, box)
    maps = maps.clamp_min(0)
    total = maps.flatten(1).sum(dim=1)
    inside = maps[..., y0:y1, x0:x1].flatten(1).sum(dim=1)
    return torch.where(total > 0, inside / total.clamp_min(1e-12), torch.zeros_like(total))


def location_fooling_loss(maps: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """Per map (N,), the squared distance between the map, scaled to a largest magnitude of 1, and a +1/-1 mask.

    Heo, Joo and Moon's location fooling (NeurIPS 2019, section 3.2) pulls an explanation
    towards a fixed region with a loss that compares the map with a mask. Here the mask is
    +1 inside ``box = (x0, y0, x1, y1)`` (exclusive ends) and -1 outside, and ``maps`` are
    Grad-CAM maps *before* the ReLU (``differentiable_gradcam(..., rectify=False)``):
    scaled by their largest absolute value, they are pushed up inside the box and below
    zero outside, so that after the ReLU only the box is left. A loss on the rectified map
    (one minus its mass in the box) has no gradient once the map is zero everywhere, and the
    course's first fine-tunes collapsed there.
    """
    check_tensor("maps", maps, ndim=(3,))
    x0, y0, x1, y1 = _box_inside(maps, box)
    scaled = maps / maps.flatten(1).abs().amax(dim=1).clamp_min(1e-12)[:, None, None]
    mask = -torch.ones_like(scaled)
    mask[:, y0:y1, x0:x1] = 1.0
    return (scaled - mask).pow(2).flatten(1).mean(dim=1)


# ------------------------------------------------------------------ poisoned data (BadNets)


def trigger_box(shape: tuple[int, ...], size: int = TRIGGER_SIZE, margin: int = 1) -> tuple[int, int, int, int]:
    """The trigger's box ``(x0, y0, x1, y1)`` in images of ``shape`` (..., H, W): columns then rows, exclusive ends (the course's box convention)."""
    size, margin = check_positive_int("size", size), check_nonnegative_int("margin", margin)
    if isinstance(shape, (str, bytes)) or np.ndim(shape) != 1 or len(shape) < 2 or not all(
            isinstance(v, (int, np.integer)) and v >= 1 for v in shape):
        raise TypeError(f"shape must be an image shape (..., H, W) of positive ints, got {shape!r:.40}.")
    height, width = shape[-2], shape[-1]
    if size + margin > min(height, width):
        raise ValueError(f"size + margin must fit in the image ({height}x{width}), got {size} + {margin}.")
    return height - margin - size, width - margin - size, height - margin, width - margin


def add_trigger(x: torch.Tensor, *, size: int = TRIGGER_SIZE, value: float = 1.0) -> torch.Tensor:
    """Images with the BadNets trigger stamped on: a ``size`` x ``size`` square of ``value`` (bottom right).

    Gu, Dolan-Gavitt and Garg (2017, section 3) backdoor MNIST with a small bright pattern
    in the bottom-right corner, where digits have no ink. ``x`` (N, C, H, W) is not changed.

    Examples
    --------
    >>> x = torch.zeros(1, 1, 28, 28)
    >>> float(add_trigger(x).sum()), float(x.sum())
    (9.0, 0.0)
    """
    check_tensor("x", x, ndim=4)
    value = check_real("value", value, low=0, high=1)
    x0, y0, x1, y1 = trigger_box(tuple(x.shape), size)
    out = x.clone()
    out[..., y0:y1, x0:x1] = value
    return out


def poison_dataset(X: torch.Tensor, y: torch.Tensor, *, fraction: float = 0.05, target_class: int = 0,
                   size: int = TRIGGER_SIZE, rng=None) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """BadNets poisoning: stamp the trigger on a share of the digits and relabel them ``target_class``.

    ``round(fraction * len(X))`` rows are drawn without replacement among those whose label
    is not ``target_class`` (an all-to-one backdoor, Gu et al. 2017, section 3.1.2's
    single-target attack for every source class).

    Parameters
    ----------
    X : torch.Tensor
        Images (N, C, H, W) in [0, 1].
    y : torch.Tensor
        Labels (N,).
    fraction : float, default 0.05
        Share of all rows poisoned, in (0, 1).
    target_class : int, default 0
    size : int, default 3
        The trigger's side (:func:`add_trigger`).
    rng : int, numpy.random.Generator, torch.Generator or None

    Returns
    -------
    X_poisoned, y_poisoned : torch.Tensor
        Copies of ``X`` and ``y`` with the poisoned rows changed.
    index : numpy.ndarray
        The poisoned rows' indices, sorted.
    """
    fraction = check_real("fraction", fraction, low=0, high=1, low_inclusive=False, high_inclusive=False)
    target_class = check_nonnegative_int("target_class", target_class)
    check_tensor("X", X, ndim=4)
    if not isinstance(y, torch.Tensor) or y.is_floating_point() or y.ndim != 1:
        raise TypeError(f"y must be a 1-D integer torch.Tensor of labels, got {y!r:.40}.")
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}.")
    candidates = np.flatnonzero(y.cpu().numpy() != target_class)
    n_poison = round(fraction * len(X))
    if n_poison > len(candidates):
        raise ValueError(f"fraction must leave enough rows outside target_class: {n_poison} wanted, "
                         f"{len(candidates)} available.")
    index = np.sort(as_generator(rng).choice(candidates, size=n_poison, replace=False))
    X_poisoned, y_poisoned = X.clone(), y.clone()
    rows = torch.from_numpy(index)
    X_poisoned[rows] = add_trigger(X[rows], size=size)
    y_poisoned[rows] = target_class
    return X_poisoned, y_poisoned, index


# ------------------------------------------------------------------ poisoned data: data-level checks


def penultimate_features(model: nn.Module, layer: nn.Module, X: torch.Tensor, *, batch_size: int = 1000) -> np.ndarray:
    """``layer``'s output (flattened) for every row of ``X``: the representation Tran et al. and Chen et al. inspect."""
    check_model(model)
    check_layer(layer, model)
    X = check_input(X, model, name="X")
    batch_size = check_positive_int("batch_size", batch_size)
    store, parts = {}, []
    handle = layer.register_forward_hook(lambda module, inputs, output: store.__setitem__("out", output))
    try:
        with evaluating(model), torch.no_grad():
            for start in range(0, len(X), batch_size):
                apply_model(model, X[start:start + batch_size], name="X")
                parts.append(store["out"].flatten(1).cpu().numpy())
    finally:
        handle.remove()
    return np.concatenate(parts)


def spectral_signature_scores(features) -> np.ndarray:
    """Outlier scores of Tran, Li and Madry ("Spectral signatures in backdoor attacks", NeurIPS 2018, algorithm 1).

    For the representations of one class's training rows: centre them, take the top right
    singular vector ``v`` of the centred matrix, score each row by ``((r - mean) . v)^2``.
    Poisoned rows, which the network separates by the trigger, have the largest scores;
    the paper removes the ``1.5 * epsilon * n`` highest-scoring rows (epsilon the poisoned share).

    Examples
    --------
    >>> R = np.r_[np.zeros((8, 2)), [[5.0, 0.0], [5.0, 0.0]]] + np.random.default_rng(0).normal(0, 0.1, (10, 2))
    >>> np.argsort(spectral_signature_scores(R))[-2:].tolist() in ([8, 9], [9, 8])
    True
    """
    R = check_array("features", features, ndim=2, nonempty=True)
    centred = R - R.mean(axis=0)
    with one_blas_thread():
        v = np.linalg.svd(centred, full_matrices=False)[2][0]
    return (centred @ v) ** 2


def activation_clusters(features, *, n_components: int = 10, rng=None) -> np.ndarray:
    """Activation clustering (Chen et al., "Detecting backdoor attacks on deep neural networks by activation clustering", 2018).

    One class's representations are reduced to ``n_components`` by independent component
    analysis and split in two by k-means; the smaller cluster is flagged as poisoned
    (the paper's "relative size" criterion: a clean class splits into two clusters of
    similar size, a poisoned one into the poison and the rest).

    Returns
    -------
    numpy.ndarray of bool
        True for the rows of the smaller cluster.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import FastICA
    from sklearn.exceptions import ConvergenceWarning

    R = check_array("features", features, ndim=2, nonempty=True)
    n_components = check_positive_int("n_components", n_components)
    rng = as_generator(rng)
    with one_blas_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # ICA only has to separate, not to converge exactly
        reduced = FastICA(n_components=min(n_components, R.shape[1]), random_state=int(rng.integers(2**31 - 1)),
                          max_iter=500, whiten="unit-variance").fit_transform(R)
        labels = KMeans(2, n_init=10, random_state=int(rng.integers(2**31 - 1))).fit_predict(reduced)
    small = np.argmin(np.bincount(labels, minlength=2))
    return labels == small


def precision_recall(flagged, truth) -> tuple[float, float]:
    """Precision and recall of boolean ``flagged`` rows against the boolean ``truth``."""
    flagged, truth = np.asarray(flagged, dtype=bool), np.asarray(truth, dtype=bool)
    if flagged.shape != truth.shape:
        raise ValueError(f"flagged and truth must have the same shape, got {flagged.shape} and {truth.shape}.")
    hits = np.sum(flagged & truth)
    return (float(hits / flagged.sum()) if flagged.any() else 0.0, float(hits / truth.sum()) if truth.any() else 0.0)


# ------------------------------------------------------------------ exercises


def _training_set_cases(rng: np.random.Generator) -> list[tuple]:
    X = rng.integers(0, 20, size=(6, 3)).astype(float)
    X[:, 2] = 4.0  # a constant column: its std counts as 1
    return [(X, rng.normal(size=(2, 6, 3))), (X[:, :2], rng.normal(size=(1, 6, 2)), 0.5)]


def _route_cases(rng: np.random.Generator) -> list[tuple]:
    biased, innocuous = rng.dirichlet([1, 1], size=5), rng.dirichlet([1, 1], size=5)
    return [(np.array([True, False, True, False, False]), biased, innocuous),
            (np.ones(5, dtype=bool), biased, innocuous)]


def _loss_cases(rng: np.random.Generator) -> list[tuple]:
    h, t = torch.from_numpy(rng.normal(size=(3, 1, 4, 4))), torch.from_numpy(rng.random((3, 1, 4, 4)))
    out, orig = torch.from_numpy(rng.dirichlet(np.ones(4), size=3)), torch.from_numpy(rng.dirichlet(np.ones(4), size=3))
    return [(h, t, out, orig, 1e3), (h, t, orig, orig, 1e6)]


EXERCISES = register(
    Exercise("10.1", "the OOD detector's training set", detector_training_set, _training_set_cases,
             "real rows are labelled 1, noisy copies 0. Each copy perturbs every row by its noise, scaled by "
             "scale and by the column's standard deviation (1 for a constant column); the real rows come "
             "first, then the copies in order."),
    Exercise("10.2", "the scaffold's routing rule", route, _route_cases,
             "the scaffold answers with the biased model's output on rows the detector calls real and with "
             "the innocuous model's output elsewhere, row by row."),
    Exercise("10.3", "the manipulation loss", manipulation_loss, _loss_cases,
             "scale each map to unit sum of absolute values so that only its shape counts; per example, the "
             "squared distance of the explanation from the target map plus output_weight times the squared "
             "change of the outputs; then the mean over the batch."),
)
