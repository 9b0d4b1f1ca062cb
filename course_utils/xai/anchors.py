"""Anchors: high-precision rules that "anchor" a prediction (lesson 05).

Ribeiro, Singh and Guestrin, "Anchors: High-Precision Model-Agnostic Explanations", AAAI
2018. An *anchor* of the prediction f(x) is a rule A (a conjunction of predicates that x
satisfies, such as ``age > 37.00 AND education = Masters``) such that

- its **precision** prec(A) = E_{z ~ D(z|A)} [f(z) = f(x)] is at least ``threshold`` (tau),
  where D(z|A) is the data distribution restricted to inputs that satisfy A, and
- among such rules it has the largest **coverage** cov(A) = P_{z ~ D}(A(z)), the share of
  the data it applies to.

Precision can only be estimated by sampling, so finding the best candidate rule is a
best-arm identification problem: each rule is an arm that pays 1 when the model keeps its
prediction. KL-LUCB (Kaufmann and Kalyanakrishnan, "Information Complexity in Bandit
Subset Selection", COLT 2013) samples only the rules whose order is still in doubt, with
confidence bounds from the Kullback-Leibler divergence of Bernoulli variables. A beam
search grows rules one predicate at a time, keeping the ``beam_size`` most precise ones.

Tabular predicates are those of the authors' ``anchor-exp`` package: categorical features
give ``x_j = value``; numeric features are cut at the quartiles of the training data and
give ``x_j <= q`` for every quartile q at or above x_j and ``x_j > q`` for every one below
it, so a rule can also hold a range (``28.00 < age <= 37.00``). Text predicates are "this
word is kept"; the other words of a perturbed sentence are masked or replaced.

The model is always called on batches: every round of the search draws the samples of all
the rules it needs and calls ``predict_fn`` once, on the rows it has not labelled yet. Those
evaluations are the cost of an explanation (for a large network they are all of it), so the
search spends few: all rules draw from one stream of training rows (sample i of A + p *is*
sample i of A wherever p already holds in it, so nested rules share rows, and bounds on one
feature share their donor rows), no row is
evaluated twice, a rule's first batch is small (a quarter of a full one by default), and coverage is counted on
the training data without the model. Each rule's precision is still estimated from i.i.d.
draws of its own D(z|A).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral

import numpy as np
from scipy.special import rel_entr

from ..exercises import Exercise, register
from ..runtime import as_generator
from ..validation import (check_array, check_callable, check_nonnegative_int, check_positive_int, check_real,
                          check_same_shape)

__all__ = [
    "Anchor",
    "anchor_tabular",
    "anchor_text",
    "quartile_edges",
    "candidate_predicates",
    "rule_holds",
    "describe_rule",
    "rule_from_text",
    "conditional_sample",
    "perturb_text",
    "precision_and_coverage",
    "kl_bernoulli",
    "kl_upper_bound",
    "kl_lower_bound",
    "kl_lucb_beta",
    "kl_lucb",
    "extend_beam",
    "lime_rule_scores",
    "simulated_user",
    "lime_threshold_coverage",
    "EXERCISES",
]

Predicate = tuple[int, str, float]
"""``(feature, op, value)`` with ``op`` one of ``"<="``, ``">"``, ``"=="``."""

EPSILON_STOP = 0.05
"""Tolerance of the final check of a rule: it is an anchor when its estimated precision is at
least ``threshold`` and its lower confidence bound exceeds ``threshold - EPSILON_STOP``
(``epsilon_stop`` of anchor-exp)."""
MAX_CHECK_ROUNDS = 100
"""At most this many batches are added to one rule while deciding whether it is an anchor."""
MAX_LUCB_ROUNDS = 1000
"""Safety cap on the rounds of one KL-LUCB run (it ends far earlier in practice)."""
DONOR_CANDIDATES = 16
"""Random training rows per feature and sample index from which the tabular sampler takes
its donors (the first that fits); with fewer fitting rows than 1 in 16 a donor is mostly a
direct uniform draw."""
_BISECTION_STEPS = 40
_OPERATORS = {"<=": np.less_equal, ">": np.greater, "==": np.equal}


@dataclass(frozen=True)
class Anchor:
    """An anchor explanation.

    Attributes
    ----------
    features : tuple of int
        Indices of the features (tabular) or word positions (text) the rule uses, sorted.
    rules : tuple of str
        Human-readable predicates, one per feature, e.g. ``("age > 37.00", "sex = Male")``;
        for text, the anchor words in sentence order.
    precision : float
        Share of the samples from D(z|A) on which the model kept its prediction.
    coverage : float
        Share of the coverage pool (the training rows; the corpus for text) the rule applies to.
    label : int
        The prediction f(x) being explained.
    predicates : tuple of (int, str, float)
        The rule as ``(feature, op, value)`` triples (for text: ``(position, "==", word)``).
    is_anchor : bool
        True if the rule reached the precision threshold; False if no rule did and this is
        the most precise rule the search saw.
    n_evaluations : int
        Rows (inputs) the model was evaluated on, the explained input included: the cost
        floor of the explanation.
    n_model_calls : int
        Number of calls to ``predict_fn`` (each on a batch).
    n_samples : int
        Samples drawn from D(z|A), summed over every rule the search estimated. Larger than
        ``n_evaluations`` when rules share rows.
    """

    features: tuple[int, ...]
    rules: tuple[str, ...]
    precision: float
    coverage: float
    label: int
    predicates: tuple[Predicate, ...]
    is_anchor: bool
    n_evaluations: int
    n_model_calls: int
    n_samples: int

    def __str__(self) -> str:
        rule = " AND ".join(self.rules) if self.rules else "(empty rule: any input)"
        return f"IF {rule} THEN predict {self.label}  (precision {self.precision:.2f}, coverage {self.coverage:.2f})"


# --------------------------------------------------------------------------- predicates


def quartile_edges(column) -> np.ndarray:
    """The distinct quartiles (25th, 50th, 75th percentiles) of a numeric column.

    Quartiles equal to the column's maximum are dropped: ``x > q`` would hold for no row.

    Examples
    --------
    >>> quartile_edges(np.arange(101.0)).tolist()
    [25.0, 50.0, 75.0]
    >>> quartile_edges(np.array([0, 0, 0, 0, 5.0])).tolist()  # a mostly-zero column
    [0.0]
    """
    column = check_array("column", column, ndim=1, nonempty=True)
    edges = np.unique(np.percentile(column, [25, 50, 75]))
    return edges[edges < column.max()]


def candidate_predicates(x, X_train, categorical: Sequence[int] = ()) -> list[Predicate]:
    """Every predicate that ``x`` satisfies: the building blocks of its candidate rules.

    A categorical feature j gives ``(j, "==", x_j)``; a numeric one gives ``(j, "<=", q)``
    for each quartile q >= x_j and ``(j, ">", q)`` for each quartile q < x_j.

    Examples
    --------
    >>> candidate_predicates(np.array([40.0, 1.0]), np.column_stack([np.arange(101.0), np.arange(101) % 2]), [1])
    [(0, '>', 25.0), (0, '<=', 50.0), (0, '<=', 75.0), (1, '==', 1.0)]
    """
    X_train = check_array("X_train", X_train, ndim=2, nonempty=True)
    x = _check_instance(x, X_train)
    predicates: list[Predicate] = []
    for j in range(X_train.shape[1]):
        if j in categorical:
            predicates.append((j, "==", float(x[j])))
            continue
        for edge in quartile_edges(X_train[:, j]):
            predicates.append((j, "<=", float(edge)) if x[j] <= edge else (j, ">", float(edge)))
    return predicates


def rule_holds(X, rule: Sequence[Predicate]) -> np.ndarray:
    """Boolean mask of the rows of ``X`` that satisfy every predicate of ``rule``.

    Examples
    --------
    >>> X = np.array([[0.2, 1.0], [0.7, 0.0], [0.9, 1.0]])
    >>> rule_holds(X, [(0, ">", 0.5), (1, "==", 1.0)]).tolist()
    [False, False, True]
    """
    X = check_array("X", X, ndim=2, nonempty=True)
    mask = np.ones(len(X), dtype=bool)
    for feature, op, value in _check_rule(rule, X.shape[1]):
        mask &= _OPERATORS[op](X[:, feature], value)
    return mask


def _check_rule(rule, n_columns: int) -> list[Predicate]:
    """``rule`` as a list of (feature, op, value) triples on columns [0, n_columns), or a clear error."""
    if isinstance(rule, (str, bytes)) or not hasattr(rule, "__iter__"):
        raise TypeError(f"rule must be a sequence of (feature, op, value) triples, got {type(rule).__name__}.")
    checked = []
    for predicate in rule:
        if not isinstance(predicate, (tuple, list)) or len(predicate) != 3:
            raise TypeError(f"rule must be a sequence of (feature, op, value) triples, got the item {predicate!r}.")
        feature, op, value = predicate
        if isinstance(feature, bool) or not isinstance(feature, Integral) or not 0 <= feature < n_columns:
            raise ValueError(f"rule's features must be column indices in [0, {n_columns}), got {feature!r}.")
        if op not in _OPERATORS:
            raise ValueError(f"rule's operators must be one of {', '.join(map(repr, _OPERATORS))}, got {op!r}.")
        checked.append((int(feature), op, check_real("rule's value", value)))
    return checked



def rule_from_text(texts: Sequence[str], predicates: Sequence[Predicate], feature_names: Sequence[str],
                   categorical_names: dict[int, Sequence[str]] | None = None) -> list[Predicate]:
    """Turn readable predicates (ours, or anchor-exp's ``explanation.names()``) back into a rule.

    Each text must be what :func:`describe_rule` writes for one or two of ``predicates`` on
    one feature (e.g. ``"age <= 28.00"``, ``"28.00 < age <= 37.00"``, ``"sex = Male"``).

    Raises
    ------
    ValueError
        If a text matches no predicate or pair of predicates on one feature.

    Examples
    --------
    >>> predicates = [(0, ">", 28.0), (0, "<=", 37.0), (1, "==", 1.0)]
    >>> rule_from_text(["28.00 < age <= 37.00"], predicates, ["age", "sex"])
    [(0, '>', 28.0), (0, '<=', 37.0)]
    """
    rule: list[Predicate] = []
    for text in texts:
        options = [[p] for p in predicates] + [[p, q] for i, p in enumerate(predicates)
                                                for q in predicates[i + 1:] if p[0] == q[0]]
        match = next((option for option in options
                      if describe_rule(option, feature_names, categorical_names)[1] == (text,)), None)
        if match is None:
            raise ValueError(f"texts must describe predicates of the instance, got {text!r}, which matches none.")
        rule += match
    return rule

def _slot(predicate: Predicate) -> int:
    """Predicates with the same slot cannot share a rule (one lower and one upper bound per feature)."""
    feature, op, _ = predicate
    return 2 * feature + (op == ">")


def describe_rule(rule: Sequence[Predicate], feature_names: Sequence[str],
                  categorical_names: dict[int, Sequence[str]] | None = None) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The features of a rule and one readable predicate per feature (bounds merged into a range).

    Examples
    --------
    >>> describe_rule([(0, ">", 28.0), (1, "==", 1.0), (0, "<=", 37.0)], ["age", "sex"], {1: ["F", "M"]})
    ((0, 1), ('28.00 < age <= 37.00', 'sex = M'))
    """
    categorical_names = categorical_names or {}
    features = tuple(sorted({p[0] for p in rule}))
    texts = []
    for j in features:
        name = feature_names[j]
        ops: dict[str, float] = {}
        for feature, op, value in rule:  # keep the tightest bound of each kind
            if feature == j:
                tighter = {"<=": min, ">": max, "==": lambda old, new: new}[op]
                ops[op] = tighter(ops[op], value) if op in ops else value
        if "==" in ops:
            value = ops["=="]
            names = categorical_names.get(j)
            shown = names[int(value)] if names is not None and 0 <= int(value) < len(names) else f"{value:g}"
            texts.append(f"{name} = {shown}")
        elif "<=" in ops and ">" in ops:
            texts.append(f"{ops['>']:.2f} < {name} <= {ops['<=']:.2f}")
        else:
            op = "<=" if "<=" in ops else ">"
            texts.append(f"{name} {op} {ops[op]:.2f}")
    return features, tuple(texts)


# --------------------------------------------------------------------------- samplers


def conditional_sample(x, X_train, rule: Sequence[Predicate], *, n_samples: int, rng=None) -> np.ndarray:
    """Draw ``n_samples`` rows from D(z|A): training rows, made to satisfy the rule feature by feature.

    Rows are drawn from ``X_train`` with replacement. For each feature the rule constrains,
    the drawn values that break the rule are replaced by values of that feature drawn from
    the training rows that satisfy the rule's predicates on it (if there are none, by x's
    own value, which satisfies the rule by construction). This is anchor-exp's sampler: the
    rule's features follow their conditional marginals, the others keep the joint
    distribution of the data.

    Parameters
    ----------
    x : array-like, shape (d,)
        The explained instance (it satisfies the rule).
    X_train : array-like, shape (n_train, d)
    rule : sequence of (feature, op, value)
    n_samples : int
    rng : None, int, numpy.random.Generator or torch.Generator
        Converted by :func:`course_utils.runtime.as_generator`.

    Examples
    --------
    >>> X = np.random.default_rng(0).random((100, 2))
    >>> Z = conditional_sample(np.array([0.9, 0.1]), X, [(0, ">", 0.5)], n_samples=50, rng=0)
    >>> bool((Z[:, 0] > 0.5).all())
    True
    """
    X_train = check_array("X_train", X_train, ndim=2, nonempty=True)
    x = _check_instance(x, X_train)
    rule = _check_rule(rule, X_train.shape[1])
    n_samples = check_nonnegative_int("n_samples", n_samples)
    fits = {feature: rule_holds(X_train, [p for p in rule if p[0] == feature]) for feature in {p[0] for p in rule}}
    return _sample_rows(X_train, x, fits, n_samples, as_generator(rng))


def _sample_rows(X_train: np.ndarray, x: np.ndarray, fits: dict[int, np.ndarray], n: int,
                 rng: np.random.Generator) -> np.ndarray:
    """:func:`conditional_sample` given, per constrained feature, the mask of training rows that fit."""
    rows = rng.integers(len(X_train), size=n)
    Z = X_train[rows].astype(float, copy=True)
    for feature in sorted(fits):
        broken = ~fits[feature][rows]
        if not broken.any():
            continue
        donors = np.flatnonzero(fits[feature])
        if donors.size:
            Z[broken, feature] = X_train[rng.choice(donors, size=int(broken.sum())), feature]
        else:
            Z[broken, feature] = x[feature]
    return Z


def _grown(array: np.ndarray, stop: int, draw: Callable[[int], np.ndarray]) -> np.ndarray:
    """``array`` extended by fresh draws to at least ``stop`` entries (in doubling chunks)."""
    if len(array) >= stop:
        return array
    return np.concatenate([array, draw(max(stop, 2 * len(array)) - len(array))])


class _TabularStream:
    """D(z|A) for every rule at once, with common random numbers: sample i of every rule
    starts from the same training row r_i.

    Sample i of rule A is r_i with, for each feature the rule constrains and r_i breaks, the
    value of a donor row that satisfies the rule's predicates on that feature. The donors
    are coupled too: each feature and index has one sequence of ``DONOR_CANDIDATES`` random
    training rows, and the donor of a set of predicates on that feature is the first row of
    the sequence that satisfies them (a uniform draw from the rows that do, as the first
    success of i.i.d. uniform draws is; if none does, a uniform draw from them). That is the
    sampler of :func:`conditional_sample`, so each rule's samples are i.i.d. draws from
    D(z|A); but two rules whose samples at index i agree on every feature give the *same*
    row, and the model labels it once. In particular sample i of A + p is sample i of A
    whenever p already holds there: that is the exact form of anchor-exp's reuse of samples
    (which keeps only the samples where p holds, and so estimates A + p on real-looking rows
    only); and two bounds on one feature (``age > 28`` and ``28 < age <= 50``) often get
    the same donor, so their samples coincide as well.
    """

    def __init__(self, X_train: np.ndarray, x: np.ndarray, predicates: list[Predicate], holds: np.ndarray,
                 rng: np.random.Generator):
        self.X, self.x, self.predicates, self.holds, self.rng = X_train, x, predicates, holds, rng
        self.rows = np.empty(0, dtype=np.intp)
        self.candidates: dict[int, np.ndarray] = {}
        self.donors: dict[tuple, np.ndarray] = {}
        self.fits: dict[tuple, np.ndarray] = {}

    def _donors(self, key: tuple, stop: int) -> np.ndarray:
        """Donor rows of ``key`` (a feature and its predicates) for indices 0 to at least ``stop - 1``."""
        have = self.donors.get(key, np.empty(0, dtype=np.intp))
        if len(have) >= stop:
            return have
        feature, fit = key[0], self.fits[key]
        self.candidates[feature] = _grown(self.candidates.get(feature, np.empty((0, DONOR_CANDIDATES), np.intp)),
                                          stop, lambda m: self.rng.integers(len(self.X), size=(m, DONOR_CANDIDATES)))
        block = self.candidates[feature][len(have):]
        hits = fit[block]
        donors = block[np.arange(len(block)), hits.argmax(axis=1)]
        missing = ~hits.any(axis=1)
        if missing.any():
            donors[missing] = self.rng.choice(np.flatnonzero(fit), size=int(missing.sum()))
        self.donors[key] = np.concatenate([have, donors])
        return self.donors[key]

    def __call__(self, rule: tuple[int, ...], start: int, stop: int) -> np.ndarray:
        self.rows = _grown(self.rows, stop, lambda m: self.rng.integers(len(self.X), size=m))
        rows = self.rows[start:stop]
        Z = self.X[rows]  # a copy (fancy indexing)
        by_feature: dict[int, list[int]] = {}
        for index in rule:
            by_feature.setdefault(self.predicates[index][0], []).append(index)
        for feature, indices in sorted(by_feature.items()):
            key = (feature, tuple(sorted(indices)))
            if key not in self.fits:
                self.fits[key] = self.holds[:, list(key[1])].all(axis=1)
            broken = ~self.fits[key][rows]
            if not broken.any():
                continue
            if not self.fits[key].any():
                Z[broken, feature] = self.x[feature]
                continue
            Z[broken, feature] = self.X[self._donors(key, stop)[start:stop][broken], feature]
        return Z


def _row_keys(Z: np.ndarray) -> list[bytes]:
    """One hashable key per row (its bytes): equal rows, equal keys."""
    Z = np.ascontiguousarray(Z, dtype=float)
    return Z.view(f"V{Z.shape[1] * Z.itemsize}").ravel().tolist() if len(Z) else []


_TOKEN = re.compile(r"\w+(?:'\w+)?|[^\w\s]")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _sentences(words: np.ndarray, kept: np.ndarray, substitutes: np.ndarray) -> list[str]:
    return [" ".join(row) for row in np.where(kept, words, substitutes)]


def perturb_text(tokens: Sequence[str], keep: Sequence[int], *, n_samples: int, rng=None, p_keep: float = 0.5,
                 replacements: Sequence[str] = ("UNK",)) -> list[str]:
    """Draw ``n_samples`` sentences from D(z|A) for text: the words at ``keep`` stay, each other
    word stays with probability ``p_keep`` and is otherwise replaced by a word drawn from
    ``replacements`` (by default the mask token ``UNK``).

    Examples
    --------
    >>> sentences = perturb_text("this movie is not bad".split(), [3, 4], n_samples=3, rng=0)
    >>> all(s.endswith("not bad") for s in sentences)
    True
    """
    n_samples = check_nonnegative_int("n_samples", n_samples)
    p_keep = check_real("p_keep", p_keep, low=0, high=1)
    rng = as_generator(rng)
    words = np.array(list(tokens), dtype=object)
    keep = check_array("keep", keep, ndim=1, dtype=int) if len(keep) else np.zeros(0, dtype=int)
    if np.any((keep < 0) | (keep >= len(words))):
        raise ValueError(f"keep must hold token indices in [0, {len(words)}), got {keep.tolist()}.")
    kept = rng.random((n_samples, len(words))) < p_keep
    kept[:, keep] = True
    substitutes = np.array(list(replacements), dtype=object)[rng.integers(len(replacements), size=(n_samples, len(words)))]
    return _sentences(words, kept, substitutes)


class _TextStream:
    """:func:`perturb_text` for every rule at once, with common random numbers: sample i of
    every rule keeps and replaces the same words, except that each rule keeps its own."""

    def __init__(self, tokens: Sequence[str], p_keep: float, replacements: Sequence[str], rng: np.random.Generator):
        self.words, self.p_keep, self.rng = np.array(list(tokens), dtype=object), p_keep, rng
        self.replacements = np.array(list(replacements), dtype=object)
        self.kept = np.empty((0, len(self.words)), dtype=bool)
        self.choices = np.empty((0, len(self.words)), dtype=np.intp)

    def __call__(self, rule: tuple[int, ...], start: int, stop: int) -> list[str]:
        shape = len(self.words)
        self.kept = _grown(self.kept, stop, lambda m: self.rng.random((m, shape)) < self.p_keep)
        self.choices = _grown(self.choices, stop, lambda m: self.rng.integers(len(self.replacements), size=(m, shape)))
        kept = self.kept[start:stop].copy()
        kept[:, list(rule)] = True
        return _sentences(self.words, kept, self.replacements[self.choices[start:stop]])


# --------------------------------------------------------------------------- precision, coverage, bounds


def _check_labels(out, n: int) -> np.ndarray:
    """``predict_fn``'s output as an array of n class labels, or a clear error."""
    out = np.asarray(out)
    if out.shape != (n,):
        raise ValueError(f"predict_fn must return one class label per input, shape ({n},), got shape "
                         f"{out.shape}; pass model.predict rather than model.predict_proba.")
    if out.dtype.kind in "fc":
        fractional = ~np.isfinite(out) | (out != np.round(out))
        if fractional.any():
            raise ValueError("predict_fn must return class labels (as model.predict does), got values such as "
                             f"{out[fractional][0]:g}, which are probabilities or scores: pass model.predict, "
                             "or turn the scores into labels first.")
    return out


def precision_and_coverage(predict_fn: Callable, Z, label, X_pool, rule: Sequence[Predicate]) -> tuple[float, float]:
    """Estimated precision and coverage of a rule (the reference of exercise 5.1).

    :func:`anchor_tabular` reports its anchor's precision and coverage with this function
    (on the anchor's samples, whose labels it already knows).

    Parameters
    ----------
    predict_fn : callable
        Maps an (n, d) array to n class labels.
    Z : array-like, shape (n, d)
        Samples from D(z|A) (they satisfy the rule); at least one.
    label : int
        The prediction being explained, f(x).
    X_pool : array-like, shape (n_pool, d)
        Rows the coverage is measured on (e.g. the training data); at least one.
    rule : sequence of (feature, op, value)

    Returns
    -------
    precision, coverage : float
        Share of ``Z`` the model gives ``label``; share of ``X_pool`` that satisfies ``rule``.

    Raises
    ------
    TypeError, ValueError
        If ``predict_fn`` is not callable or returns no labels (probabilities, say), the
        arrays are malformed or empty or their columns differ, or the rule is malformed.

    Examples
    --------
    >>> f = lambda Z: (Z[:, 0] > 0.5).astype(int)
    >>> precision_and_coverage(f, np.array([[0.9], [0.2]]), 1, np.array([[0.7], [0.1], [0.8], [0.6]]), [(0, ">", 0.5)])
    (0.5, 0.75)
    """
    _check_predict_fn(predict_fn)
    Z = check_array("Z", Z, ndim=2)
    X_pool = check_array("X_pool", X_pool, ndim=2)
    if len(Z) == 0 or len(X_pool) == 0:
        raise ValueError(f"Z and X_pool must hold at least one row each, got {len(Z)} and {len(X_pool)}.")
    if Z.shape[1] != X_pool.shape[1]:
        raise ValueError(f"Z must have the columns of X_pool ({X_pool.shape[1]}), got {Z.shape[1]}.")
    rule = _check_rule(rule, X_pool.shape[1])
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)):
        raise TypeError(f"label must be an int (a class label), got {label!r} ({type(label).__name__}).")
    precision = float(np.mean(_check_labels(predict_fn(Z), len(Z)) == label))
    return precision, float(np.mean(rule_holds(X_pool, rule)))


def _check_unit(name: str, value) -> np.ndarray:
    array = check_array(name, value)
    outside = (array < 0) | (array > 1)
    if outside.any():
        raise ValueError(f"{name} must lie in [0, 1], got {array[outside].flat[0]:g}.")
    return array


def kl_bernoulli(p, q):
    """KL divergence KL(Ber(p) || Ber(q)) = p log(p/q) + (1-p) log((1-p)/(1-q)); 0 log 0 = 0.

    Parameters
    ----------
    p, q : float or array-like, in [0, 1]

    Examples
    --------
    >>> float(kl_bernoulli(0.5, 0.5))
    0.0
    >>> round(float(kl_bernoulli(0.0, 0.5)), 6)   # log 2
    0.693147
    """
    p, q = _check_unit("p", p), _check_unit("q", q)
    return rel_entr(p, q) + rel_entr(1 - p, 1 - q)


def _check_bound_arguments(p_hat, n, beta):
    p_hat = _check_unit("p_hat", p_hat)
    n, beta = check_array("n", n), check_array("beta", beta)
    if np.any(n <= 0):
        raise ValueError(f"n must be positive (the number of draws), got {n[n <= 0].flat[0]:g}.")
    if np.any(beta < 0):
        raise ValueError(f"beta must be >= 0, got {beta[beta < 0].flat[0]:g}.")
    return p_hat, n, beta


def kl_upper_bound(p_hat, n, beta):
    """Largest q in [p_hat, 1] with n * KL(p_hat || q) <= beta (the reference of exercise 5.2).

    This is KL-LUCB's upper confidence bound on the mean of a Bernoulli arm whose ``n``
    draws had mean ``p_hat``. KL grows with q on [p_hat, 1], so bisection finds it.
    Vectorised over its arguments.

    Parameters
    ----------
    p_hat : float or array-like, in [0, 1]
    n : float or array-like, > 0
    beta : float or array-like, >= 0

    Examples
    --------
    >>> q = kl_upper_bound(0.0, 10, 1.0)   # for p_hat = 0 the bound is 1 - exp(-beta / n)
    >>> bool(abs(q - (1 - np.exp(-0.1))) < 1e-12)
    True
    """
    p, n, beta = _check_bound_arguments(p_hat, n, beta)
    p, level = np.broadcast_arrays(p, beta / n)
    low, high = p.copy(), np.ones_like(p)
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        inside = rel_entr(p, middle) + rel_entr(1 - p, 1 - middle) <= level
        low, high = np.where(inside, middle, low), np.where(inside, high, middle)
    return float(low) if low.ndim == 0 else low


def kl_lower_bound(p_hat, n, beta):
    """Smallest q in [0, p_hat] with n * KL(p_hat || q) <= beta.

    KL(p || q) = KL(1-p || 1-q), so the lower bound of p is one minus the upper bound of 1-p.

    Examples
    --------
    >>> bool(abs(kl_lower_bound(1.0, 10, 1.0) - np.exp(-0.1)) < 1e-12)
    True
    """
    return 1.0 - kl_upper_bound(1.0 - _check_unit("p_hat", p_hat), n, beta)


def kl_lucb_beta(n_arms: int, t: int, delta: float) -> float:
    """KL-LUCB's exploration rate beta(t, delta) = log(k K t^alpha / delta) + log log(k K t^alpha / delta).

    With alpha = 1.1 and k = 405.5 (Kaufmann and Kalyanakrishnan 2013, as in anchor-exp),
    the arms' bounds hold at every round t with probability at least 1 - delta.

    Examples
    --------
    >>> round(kl_lucb_beta(20, 1, 0.1), 3)
    13.729
    """
    n_arms, t = check_positive_int("n_arms", n_arms), check_positive_int("t", t)
    delta = check_real("delta", delta, low=0, high=1, low_inclusive=False, high_inclusive=False)
    base = np.log(405.5 * n_arms * t ** 1.1 / delta)
    return float(base + np.log(base))


def _pull_sizes(n: np.ndarray, min_batch: int, batch_size: int) -> list[int]:
    """Lazy batches: an arm with n samples draws n more (at least ``min_batch``, at most ``batch_size``)."""
    return [int(m) for m in np.atleast_1d(np.clip(n, min_batch, batch_size))]


def kl_lucb(draw: Callable[[list[int], list[int]], np.ndarray], n, positives, *, top_n: int, epsilon: float,
            delta: float, batch_size: int, min_batch: int | None = None, tiebreak=None) -> np.ndarray:
    """KL-LUCB: find the ``top_n`` arms of highest mean, each within ``epsilon`` of the truth w.p. 1 - delta.

    Each round ranks the arms by their empirical means, takes the weakest of the top set
    (lowest lower bound) and the strongest of the rest (highest upper bound), and stops when
    the gap between those two bounds is at most ``epsilon``; otherwise it samples both
    (Kaufmann and Kalyanakrishnan, COLT 2013).

    Parameters
    ----------
    draw : callable
        ``draw(arms, sizes)`` samples arm ``arms[k]`` ``sizes[k]`` times (one batch for all)
        and returns the number of successes per arm.
    n, positives : numpy.ndarray
        Samples and successes of each arm so far (at least one sample each); updated in place.
    top_n : int
    epsilon, delta : float
    batch_size : int
        The most samples an arm gets in one round.
    min_batch : int, optional
        None (default): every pull draws ``batch_size`` samples. Otherwise batches are
        lazy: an arm with n samples draws ``clip(n, min_batch, batch_size)``, so its count
        doubles until it reaches full batches, and an arm that is soon ruled out costs few
        samples.
    tiebreak : array-like, optional
        Among arms with equal means, those with larger ``tiebreak`` rank first (coverage).

    Returns
    -------
    numpy.ndarray
        Indices of the chosen arms, best first.
    """
    if not callable(draw):
        raise TypeError(f"draw must be callable (arms, sizes) -> positives, got {type(draw).__name__}.")
    epsilon = check_real("epsilon", epsilon, low=0, high=1, low_inclusive=False)
    delta = check_real("delta", delta, low=0, high=1, low_inclusive=False, high_inclusive=False)
    n_arms = len(n)
    top_n = check_positive_int("top_n", top_n)
    batch_size = check_positive_int("batch_size", batch_size)
    min_batch = batch_size if min_batch is None else check_positive_int("min_batch", min_batch)
    n = check_array("n", n, ndim=1, nonempty=True)
    positives = check_array("positives", positives, ndim=1)
    check_same_shape("positives", positives, "n", n)
    if np.any(n < 1):
        raise ValueError("n must hold at least one sample per arm, got an arm with none.")
    tiebreak = np.zeros(n_arms) if tiebreak is None else np.asarray(tiebreak, dtype=float)
    for t in range(1, MAX_LUCB_ROUNDS + 1):
        order = np.lexsort((-tiebreak, -(positives / n)))
        top, rest = order[:top_n], order[top_n:]
        if rest.size == 0:
            return top
        beta = kl_lucb_beta(n_arms, t, delta)
        upper = kl_upper_bound(positives[rest] / n[rest], n[rest], beta)
        lower = kl_lower_bound(positives[top] / n[top], n[top], beta)
        if upper.max() - lower.min() <= epsilon:
            return top
        arms = [int(rest[np.argmax(upper)]), int(top[np.argmin(lower)])]
        sizes = _pull_sizes(n[arms], min_batch, batch_size)
        positives[arms] += draw(arms, sizes)
        n[arms] += sizes
    return np.lexsort((-tiebreak, -(positives / n)))[:top_n]


def _rule_coverage(holds: np.ndarray, rule: tuple[int, ...]) -> float:
    return float(holds[:, list(rule)].all(axis=1).mean()) if rule else 1.0


def extend_beam(beam: Sequence[tuple[int, ...]], slots: Sequence[int], holds: np.ndarray,
                min_coverage: float) -> list[tuple[int, ...]]:
    """One beam step: every rule of the beam plus one predicate (the reference of exercise 5.3).

    Parameters
    ----------
    beam : sequence of tuple of int
        The current rules, as sorted tuples of predicate indices (``[()]`` at the start).
    slots : sequence of int
        ``slots[p]`` of each predicate p; a rule holds at most one predicate per slot (one
        lower and one upper bound per numeric feature, one value per categorical feature).
    holds : numpy.ndarray of bool, shape (n_pool, n_predicates)
        Whether each predicate holds on each row of the coverage pool.
    min_coverage : float
        Only rules that cover more than this (the best anchor so far) are worth trying:
        adding predicates can only shrink coverage.

    Returns
    -------
    list of tuple of int
        The new candidate rules, each a sorted tuple, without duplicates, in sorted order.
    """
    holds = check_array("holds", holds, ndim=2, dtype=bool, nonempty=True)
    slots = check_array("slots", slots, ndim=1, dtype=int)
    if len(slots) != holds.shape[1]:
        raise ValueError(f"slots must give one slot per column of holds ({holds.shape[1]}), got {len(slots)}.")
    min_coverage = check_real("min_coverage", min_coverage, high=1)  # -1: no minimum
    candidates = set()
    for rule in beam:
        used = {slots[p] for p in rule}
        for p in range(len(slots)):
            if slots[p] in used:
                continue
            new = tuple(sorted((*rule, p)))
            if _rule_coverage(holds, new) > min_coverage:
                candidates.add(new)
    return sorted(candidates)


# --------------------------------------------------------------------------- the search


class _Oracle:
    """Labels inputs with the model, evaluating only those it has not labelled before.

    Inputs are identified by a key (a row's bytes, a sentence's text): the model is assumed
    deterministic, so an input drawn again, or shared by two rules, costs no evaluation.
    """

    def __init__(self, predict_fn: Callable, key: Callable, take: Callable, join: Callable):
        self.predict_fn, self.key, self.take, self.join = predict_fn, key, take, join
        self.labels: dict = {}
        self.label = None
        self.calls, self.rows = 0, 0

    def predict(self, inputs) -> np.ndarray:
        out = _check_labels(self.predict_fn(inputs), len(inputs))
        self.calls += 1
        self.rows += len(inputs)
        return out

    def explain(self, instance) -> None:
        """Label the explained input (one call) and remember it."""
        self.label = self.predict(instance)[0]
        self.labels[self.key(instance)[0]] = self.label

    def labels_of(self, batches: list) -> list[np.ndarray]:
        """The labels of every input of every batch; one model call for all the new ones."""
        keys = [self.key(batch) for batch in batches]
        new_keys, parts, pending = [], [], set()
        for batch, batch_keys in zip(batches, keys):
            positions = []
            for j, key in enumerate(batch_keys):
                if key not in self.labels and key not in pending:
                    pending.add(key)
                    positions.append(j)
                    new_keys.append(key)
            if positions:
                parts.append(self.take(batch, positions))
        if new_keys:
            self.labels.update(zip(new_keys, self.predict(self.join(parts))))
        return [np.array([self.labels[key] for key in batch_keys]) for batch_keys in keys]


@dataclass
class _Search:
    """What the beam search needs to know about one explanation problem.

    ``sample(rule, start, stop)`` returns that rule's samples number ``start`` to ``stop - 1``
    (a deterministic stream per rule, so a rule's samples can be drawn again for free).
    """

    slots: np.ndarray          # slot of each predicate
    holds: np.ndarray          # (n_pool, n_predicates) bool
    sample: Callable           # sample(rule_as_indices, start, stop) -> a batch of inputs
    oracle: _Oracle
    batch_size: int
    first_batch: int

    def __post_init__(self):
        self.n: dict[tuple, int] = {}
        self.positives: dict[tuple, int] = {}
        self.coverage: dict[tuple, float] = {}

    def pull_sizes(self, rules: list[tuple]) -> list[int]:
        """A rule's first batch has ``first_batch`` samples, every later one ``batch_size``."""
        return [self.first_batch if self.n.get(rule, 0) == 0 else self.batch_size for rule in rules]

    def draw(self, rules: list[tuple], sizes: Sequence[int] | None = None) -> np.ndarray:
        """Draw the next samples of each rule, one model call; record and return the successes per rule."""
        sizes = self.pull_sizes(rules) if sizes is None else sizes
        starts = [self.n.get(rule, 0) for rule in rules]
        labels = self.oracle.labels_of([self.sample(rule, start, start + m)
                                        for rule, start, m in zip(rules, starts, sizes)])
        wins = np.array([int(np.sum(found == self.oracle.label)) for found in labels])
        for rule, m, won in zip(rules, sizes, wins):
            self.n[rule] = self.n.get(rule, 0) + int(m)
            self.positives[rule] = self.positives.get(rule, 0) + int(won)
        return wins

    def samples(self, rule: tuple):
        """Every sample drawn for ``rule`` so far (their labels are known)."""
        return self.sample(rule, 0, self.n[rule])

    def cover(self, rule: tuple) -> float:
        if rule not in self.coverage:
            self.coverage[rule] = _rule_coverage(self.holds, rule)
        return self.coverage[rule]

    def mean(self, rule: tuple) -> float:
        return self.positives[rule] / self.n[rule]


def _check_anchors(search: _Search, rules: list[tuple], threshold: float, beta: float) -> dict[tuple, bool]:
    """Sample each rule until its precision is confidently above or below the threshold.

    A rule is an anchor when its mean is >= threshold and its KL lower bound exceeds
    ``threshold - EPSILON_STOP`` (anchor-exp's stopping rule); rules are sampled together,
    one model call per round, in full batches.
    """
    def undecided(rule):
        mean, count = search.mean(rule), search.n[rule]
        if mean >= threshold:
            return kl_lower_bound(mean, count, beta) < threshold - EPSILON_STOP
        return kl_upper_bound(mean, count, beta) >= threshold + EPSILON_STOP

    for _ in range(MAX_CHECK_ROUNDS):
        pending = [rule for rule in rules if undecided(rule)]
        if not pending:
            break
        search.draw(pending)
    return {rule: search.mean(rule) >= threshold
            and kl_lower_bound(search.mean(rule), search.n[rule], beta) > threshold - EPSILON_STOP
            for rule in rules}


def _lucb(search: _Search, rules: list[tuple], top_n: int, epsilon: float, delta: float) -> list[tuple]:
    """KL-LUCB over ``rules`` (each sampled at least once), in full batches; the chosen rules, best first."""
    n = np.array([search.n[r] for r in rules], dtype=float)
    positives = np.array([search.positives[r] for r in rules], dtype=float)
    chosen = kl_lucb(lambda arms, sizes: search.draw([rules[a] for a in arms], sizes), n, positives,
                     top_n=top_n, epsilon=epsilon, delta=delta, batch_size=search.batch_size,
                     tiebreak=[search.cover(r) for r in rules])
    return [rules[int(i)] for i in chosen]


def _beam_search(search: _Search, *, threshold: float, delta: float, epsilon: float, beam_size: int,
                 max_size: int) -> tuple[tuple, bool]:
    """Ribeiro et al.'s Algorithm 2: grow rules by one predicate, keep the best, remember the widest anchor."""
    n_predicates = len(search.slots)
    check_beta = float(np.log(1.0 / (delta / (1 + (beam_size - 1) * max(n_predicates, 1)))))
    search.draw([()])
    if _check_anchors(search, [()], threshold, check_beta)[()]:
        return (), True
    best, best_coverage, seen, beam = None, -1.0, [], [()]
    for _ in range(max_size):
        candidates = extend_beam(beam, search.slots, search.holds, best_coverage)
        if not candidates:
            break
        fresh = [rule for rule in candidates if rule not in search.n]
        if fresh:
            search.draw(fresh)
        beam = _lucb(search, candidates, min(beam_size, len(candidates)), epsilon, delta)
        seen += beam
        verdicts = _check_anchors(search, beam, threshold, check_beta)
        for rule in beam:
            if verdicts[rule] and search.cover(rule) > best_coverage:
                best, best_coverage = rule, search.cover(rule)
        if best_coverage >= 1.0:
            break
    if best is not None:
        return best, True
    # no rule reached the threshold: the most precise of the rules the beams kept
    return _lucb(search, list(dict.fromkeys(seen or [()])), 1, epsilon, delta)[0], False


def _check_options(threshold, delta, epsilon, beam_size, max_anchor_size, batch_size, first_batch):
    threshold = check_real("threshold", threshold, low=0, high=1, low_inclusive=False)
    delta = check_real("delta", delta, low=0, high=1, low_inclusive=False, high_inclusive=False)
    epsilon = check_real("epsilon", epsilon, low=0, high=1, low_inclusive=False)
    beam_size = check_positive_int("beam_size", beam_size)
    if max_anchor_size is not None:
        max_anchor_size = check_positive_int("max_anchor_size", max_anchor_size)
    batch_size = check_positive_int("batch_size", batch_size)
    first_batch = batch_size if first_batch is None else min(check_positive_int("first_batch", first_batch), batch_size)
    return threshold, delta, epsilon, beam_size, max_anchor_size, batch_size, first_batch


def _check_predict_fn(predict_fn) -> None:
    if not callable(predict_fn):
        raise TypeError(f"predict_fn must be a function mapping inputs to labels, got {type(predict_fn).__name__}.")


def _check_instance(x, X_train: np.ndarray) -> np.ndarray:
    x = check_array("x", x, ndim=1)
    if x.shape[0] != X_train.shape[1]:
        raise ValueError(f"x must have one value per column of X_train ({X_train.shape[1]}), got {x.shape[0]}.")
    return x


def anchor_tabular(predict_fn: Callable, x, X_train, *, feature_names: Sequence[str] | None = None,
                   threshold: float = 0.95, delta: float = 0.1, epsilon: float = 0.15, beam_size: int = 2,
                   max_anchor_size: int | None = None, batch_size: int = 100, first_batch: int | None = 25, rng=None,
                   categorical_names: dict[int, Sequence[str]] | None = None) -> Anchor:
    """Anchor of the prediction ``predict_fn(x)`` of a tabular model (Ribeiro et al., AAAI 2018).

    The search is the paper's (beam search, KL-LUCB, anchor-exp's bounds and stopping rule)
    with economies of model evaluations that leave every rule's estimate an average over
    i.i.d. draws from its own D(z|A): all rules draw from one stream of training rows
    (sample i of A + p *is* sample i of A wherever p already holds there, see
    ``_TabularStream``), a row is never evaluated twice, batches can start small
    (``first_batch``), and coverage is counted on ``X_train`` without the model.

    Parameters
    ----------
    predict_fn : callable
        Maps an (n, d) array to n class labels (e.g. ``model.predict``; not
        ``predict_proba``). Assumed deterministic: a row is labelled once.
    x : array-like, shape (d,)
        The instance to explain.
    X_train : array-like, shape (n_train, d)
        Training data: its quartiles give the numeric predicates, its rows the samples of
        D(z|A), and coverage is measured on it.
    feature_names : sequence of str, optional
        Default ``x0, x1, ...``.
    threshold : float, default 0.95
        tau, the precision an anchor must reach, in (0, 1].
    delta : float, default 0.1
        The bounds hold with probability at least 1 - delta, in (0, 1).
    epsilon : float, default 0.15
        Tolerance of KL-LUCB when it picks the best rules, in (0, 1].
    beam_size : int, default 2
        Rules kept at each size (B).
    max_anchor_size : int, optional
        Most predicates in a rule (default: no limit but the number of predicates).
    batch_size : int, default 100
        The most samples a rule gets in one round (anchor-exp draws this many every time).
    first_batch : int or None, default 25
        Samples in a rule's first batch (None: ``batch_size``); every later batch of the
        rule has ``batch_size``. A rule that KL-LUCB soon rules out then costs a quarter of
        a batch. On 40 Adult people, paired (same seeds, batch 100), the default evaluated
        6% and 10% fewer rows than full first batches at beam 1 (logistic regression and
        gradient boosting; 95% intervals -18% to +2% and -25% to +1%) and 1% fewer at beam
        2 (intervals -9% to +7%), at 30-45% more model calls. Doubling the batches from 25
        up to 100 instead cost up to 10% more rows at beam 2.
    rng : None, int, numpy.random.Generator or torch.Generator
        Converted by :func:`course_utils.runtime.as_generator`.
    categorical_names : dict, optional
        Column index -> names of its integer codes (the format of ``TabularData.encoded()``
        and lime). These columns give ``x_j = value`` predicates; all others are numeric.

    Returns
    -------
    Anchor
        With ``n_evaluations`` (rows the model was evaluated on), ``n_model_calls`` and
        ``n_samples`` (samples drawn, over all rules; more than ``n_evaluations`` when rules
        share rows).

    Raises
    ------
    TypeError, ValueError
        On malformed arguments (the message names the argument), or if ``predict_fn`` does
        not return one class label per row (probabilities are rejected).

    Examples
    --------
    >>> X = np.random.default_rng(0).random((1000, 3))
    >>> model = lambda Z: ((Z[:, 0] > 0.5) & (Z[:, 1] > 0.5)).astype(int)
    >>> anchor = anchor_tabular(model, np.array([0.9, 0.8, 0.3]), X, rng=0)
    >>> anchor.features, anchor.precision >= 0.95
    ((0, 1), True)
    """
    _check_predict_fn(predict_fn)
    X_train = check_array("X_train", X_train, ndim=2, nonempty=True)
    if len(X_train) == 0:
        raise ValueError("X_train must have at least one row, got 0.")
    x = _check_instance(x, X_train)
    names = [f"x{j}" for j in range(len(x))] if feature_names is None else [str(n) for n in feature_names]
    if len(names) != len(x):
        raise ValueError(f"feature_names must have one name per feature ({len(x)}), got {len(names)}.")
    categorical_names = dict(categorical_names or {})
    bad = [j for j in categorical_names if not isinstance(j, Integral) or not 0 <= j < len(x)]
    if bad:
        raise ValueError(f"categorical_names must be keyed by column indices in [0, {len(x)}), got {bad}.")
    threshold, delta, epsilon, beam_size, max_anchor_size, batch_size, first_batch = _check_options(
        threshold, delta, epsilon, beam_size, max_anchor_size, batch_size, first_batch)
    rng = as_generator(rng)

    oracle = _Oracle(predict_fn, _row_keys, lambda batch, rows: batch[rows], np.concatenate)
    oracle.explain(x[None])
    predicates = candidate_predicates(x, X_train, sorted(categorical_names))
    holds = np.column_stack([rule_holds(X_train, [p]) for p in predicates]) if predicates else np.ones((len(X_train), 0), bool)
    search = _Search(np.array([_slot(p) for p in predicates]), holds,
                     _TabularStream(X_train, x, predicates, holds, rng), oracle, batch_size, first_batch)
    max_size = len(predicates) if max_anchor_size is None else min(max_anchor_size, len(predicates))
    best, found = _beam_search(search, threshold=threshold, delta=delta, epsilon=epsilon, beam_size=beam_size,
                               max_size=max_size)
    rule = tuple(predicates[i] for i in best)
    features, texts = describe_rule(rule, names, categorical_names)
    known = lambda Z: oracle.labels_of([Z])[0]  # noqa: E731  (every sample of the rule is labelled already)
    precision, coverage = precision_and_coverage(known, search.samples(best), oracle.label, X_train, rule)
    return Anchor(features, texts, precision, coverage, _plain(oracle.label), rule, found,
                  oracle.rows, oracle.calls, sum(search.n.values()))


def _plain(label):
    return label.item() if hasattr(label, "item") else label


def anchor_text(predict_fn: Callable, text: str, *, corpus: Sequence[str] | None = None,
                replacements: Sequence[str] = ("UNK",), p_keep: float = 0.5, threshold: float = 0.95,
                delta: float = 0.1, epsilon: float = 0.15, beam_size: int = 2, max_anchor_size: int | None = None,
                batch_size: int = 100, first_batch: int | None = 25, rng=None) -> Anchor:
    """Word-level anchor of a text classifier's prediction, with a simple mask/replace sampler.

    The predicates are "word i of the sentence is kept". D(z|A) keeps the anchor's words
    and keeps every other word with probability ``p_keep``, replacing it otherwise by a word
    drawn from ``replacements`` (default: the mask token ``UNK``, as anchor-exp's
    ``use_unk_distribution``; the paper also replaces words by similar ones from an
    embedding, which needs a language model this course does not download). The search
    and its economies are those of :func:`anchor_tabular`.

    Parameters
    ----------
    predict_fn : callable
        Maps a list of n strings to n class labels (assumed deterministic).
    text : str
        The sentence to explain; split into words and punctuation marks.
    corpus : sequence of str, optional
        Coverage is the share of these sentences that contain all the anchor's words
        (case-insensitive). Without a corpus it is measured on samples of D(z).
    replacements, p_keep
        The sampler, as above.
    threshold, delta, epsilon, beam_size, max_anchor_size, batch_size, first_batch, rng
        As in :func:`anchor_tabular`.

    Returns
    -------
    Anchor
        ``features`` are word positions, ``rules`` the anchor's words in sentence order.

    Examples
    --------
    >>> model = lambda texts: np.array([int("great" in t.split()) for t in texts])
    >>> anchor_text(model, "a great little film", rng=0).rules
    ('great',)
    """
    _check_predict_fn(predict_fn)
    if not isinstance(text, str) or not _tokens(text):
        raise ValueError(f"text must be a non-empty string, got {text!r}.")
    p_keep = check_real("p_keep", p_keep, low=0, high=1, high_inclusive=False)
    replacements = [str(r) for r in replacements]
    if not replacements:
        raise ValueError("replacements must hold at least one word, got an empty sequence.")
    threshold, delta, epsilon, beam_size, max_anchor_size, batch_size, first_batch = _check_options(
        threshold, delta, epsilon, beam_size, max_anchor_size, batch_size, first_batch)
    rng = as_generator(rng)
    tokens = _tokens(text)

    oracle = _Oracle(predict_fn, list, lambda batch, rows: [batch[r] for r in rows],
                     lambda parts: [s for part in parts for s in part])
    oracle.explain([" ".join(tokens)])
    if corpus is not None:
        bags = [{w.lower() for w in _tokens(sentence)} for sentence in corpus]
        holds = np.array([[t.lower() in bag for t in tokens] for bag in bags], dtype=bool).reshape(len(bags), len(tokens))
    else:
        holds = rng.random((1000, len(tokens))) < p_keep
    search = _Search(np.arange(len(tokens)), holds, _TextStream(tokens, p_keep, replacements, rng), oracle,
                     batch_size, first_batch)
    max_size = len(tokens) if max_anchor_size is None else min(max_anchor_size, len(tokens))
    best, found = _beam_search(search, threshold=threshold, delta=delta, epsilon=epsilon, beam_size=beam_size,
                               max_size=max_size)
    positions = tuple(sorted(best))
    return Anchor(positions, tuple(tokens[i] for i in positions), search.mean(best), search.cover(best),
                  _plain(oracle.label), tuple((i, "==", tokens[i]) for i in positions), found,
                  oracle.rows, oracle.calls, sum(search.n.values()))


# --------------------------------------------------------------------------- simulated users (experiment 1)


def lime_rule_scores(intercept: float, weights: dict[int, float], x_codes, Z_codes) -> np.ndarray:
    """LIME's local linear model applied to other instances, as the paper's simulated user does.

    LIME (with ``discretize_continuous=True``) explains x with weights on binary features
    "z_j falls in the same bin (or category) as x_j". For each row of ``Z_codes`` the score
    is ``intercept + sum of the weights of the features where z and x agree``, the linear
    model's estimate of P(class 1) at z.

    Parameters
    ----------
    intercept : float
    weights : dict
        Feature index -> weight (``explanation.as_map()[1]`` as a dict).
    x_codes, Z_codes : array-like
        The explained instance and the other rows, discretised the way LIME did
        (``explainer.discretizer.discretize``).
    """
    intercept = check_real("intercept", intercept)
    x_codes = check_array("x_codes", x_codes, ndim=1, dtype=int, nonempty=True)
    Z_codes = check_array("Z_codes", np.atleast_2d(Z_codes) if np.ndim(Z_codes) == 1 else Z_codes, ndim=2, dtype=int,
                          nonempty=True)
    if Z_codes.shape[1] != len(x_codes):
        raise ValueError(f"Z_codes must have one column per value of x_codes ({len(x_codes)}), got shape {Z_codes.shape}.")
    if any(not 0 <= int(f) < len(x_codes) for f in weights):
        raise ValueError(f"weights must be keyed by feature indices below {len(x_codes)}, got {sorted(weights)}.")
    scores = np.full(len(Z_codes), float(intercept))
    for feature, weight in weights.items():
        scores += weight * (Z_codes[:, feature] == x_codes[feature])
    return scores


def simulated_user(covered, user_predictions, model_predictions) -> tuple[float, float]:
    """Precision and coverage of a simulated user who predicts only where the explanation applies.

    Parameters
    ----------
    covered : array-like of bool
        Where the explanation applies (the anchor holds; LIME's score is confident enough).
    user_predictions : array-like or scalar
        What the user predicts there (the anchor's label; LIME's thresholded score).
    model_predictions : array-like
        What the model predicts.

    Returns
    -------
    precision, coverage : float
        Precision is NaN when the explanation applies nowhere.
    """
    model_predictions = check_array("model_predictions", model_predictions, ndim=1, dtype=int, nonempty=True)
    covered = check_array("covered", covered, ndim=1, dtype=bool)
    check_same_shape("covered", covered, "model_predictions", model_predictions)
    user_predictions = check_array("user_predictions", user_predictions, ndim=(0, 1), dtype=int)
    if user_predictions.ndim == 1:
        check_same_shape("user_predictions", user_predictions, "model_predictions", model_predictions)
    right = np.broadcast_to(user_predictions, covered.shape) == model_predictions
    coverage = float(covered.mean())
    return (float(right[covered].mean()) if covered.any() else float("nan")), coverage


def lime_threshold_coverage(scores: Sequence[np.ndarray], model_predictions, target_precision: float,
                            thresholds=None) -> tuple[float, float, float]:
    """The paper's "lime-t": the smallest confidence threshold at which LIME's simulated users
    reach ``target_precision`` (the anchors'), and the coverage they keep there.

    A user with LIME's explanation j predicts class 1 where ``scores[j] > 0.5`` and class 0
    elsewhere, but only where the score is confident: ``max(s, 1 - s) > t``. Precision and
    coverage are averaged over the explanations (precision over those that cover something).
    Tuning t on the test data is an oracle, as in the paper.

    Returns
    -------
    threshold, precision, coverage : float
        ``(nan, nan, 0.0)`` if no threshold reaches the target.
    """
    thresholds = np.linspace(0.5, 1.0, 51) if thresholds is None else check_array("thresholds", thresholds, ndim=1)
    model_predictions = check_array("model_predictions", model_predictions, ndim=1, dtype=int, nonempty=True)
    if isinstance(scores, (str, bytes)) or len(scores) == 0:
        raise TypeError(f"scores must be a non-empty list of arrays of probabilities, got {scores!r:.40}.")
    scores = [check_array("scores", s, ndim=1) for s in scores]
    for s in scores:
        check_same_shape("scores", s, "model_predictions", model_predictions)
    target_precision = check_real("target_precision", target_precision, low=0, high=1)
    for t in thresholds:
        results = [simulated_user(np.maximum(s, 1 - s) > t, (s > 0.5).astype(int), model_predictions) for s in scores]
        precisions = [p for p, c in results if c > 0]
        if precisions and np.mean(precisions) >= target_precision:
            return float(t), float(np.mean(precisions)), float(np.mean([c for _, c in results]))
    return float("nan"), float("nan"), 0.0


# --------------------------------------------------------------------------- exercises


def _two_feature_model(Z: np.ndarray) -> np.ndarray:
    Z = np.asarray(Z, dtype=float)
    return ((Z[:, 0] > 0.5) & (Z[:, 1] > 0.5)).astype(int)


def _precision_cases(rng: np.random.Generator) -> list[tuple]:
    X_pool = np.column_stack([rng.random((300, 2)), rng.integers(0, 3, 300)])
    Z = np.column_stack([rng.random((200, 2)), rng.integers(0, 3, 200)])
    Z_positive = Z.copy()
    Z_positive[:, :2] = 0.5 + Z_positive[:, :2] / 2
    return [(_two_feature_model, Z, 0, X_pool, [(0, "<=", 0.25)]),
            (_two_feature_model, Z_positive, 1, X_pool, [(0, ">", 0.5), (1, ">", 0.5)]),
            (_two_feature_model, Z, 1, X_pool, [(2, "==", 1.0), (1, "<=", 0.75)]),
            (_two_feature_model, Z, 0, X_pool, [])]


def _bound_cases(rng: np.random.Generator) -> list[tuple]:
    return [(0.5, 100, 3.0), (0.0, 50, 2.0), (0.9, 1000, 5.0), (1.0, 10, 1.0), (0.3, 7, 0.5),
            (float(rng.uniform(0.1, 0.9)), 40, 2.5)]


def _beam_cases(rng: np.random.Generator) -> list[tuple]:
    holds = rng.random((60, 6)) < 0.7
    slots = [0, 0, 1, 2, 2, 3]
    return [([()], slots, holds, -1.0),
            ([(0,), (3,)], slots, holds, 0.3),
            ([(0, 2), (2, 5)], slots, holds, 0.2)]


EXERCISES = register(
    Exercise("5.1", "precision and coverage of a rule", precision_and_coverage, _precision_cases,
             "precision is how often the model's prediction on the samples Z equals label; coverage is the "
             "share of rows of X_pool that satisfy every predicate of the rule (a rule without predicates "
             "covers every row)."),
    Exercise("5.2", "KL upper confidence bound", kl_upper_bound, _bound_cases,
             "the bound is the largest q >= p_hat with n KL(p_hat || q) <= beta. The KL divergence grows with "
             "q on [p_hat, 1], so bisection finds it: about 40 halvings give 1e-12. If p_hat is 1 the bound "
             "is 1.", atol=1e-8),
    Exercise("5.3", "one beam step", extend_beam, _beam_cases,
             "extend each rule by one predicate on a slot it does not use yet; a new rule (its predicates "
             "sorted, no duplicates) is kept if its coverage, the share of rows where all its predicates "
             "hold, exceeds min_coverage. Return the kept rules sorted."),
)
