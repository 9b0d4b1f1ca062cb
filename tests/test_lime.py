"""LIME and SP-LIME by hand: exact small cases, the lime library, recovery of a sparse model, argument checks."""
import numpy as np
import pytest
import scipy.sparse as sp
from lime.lime_base import LimeBase
from lime.lime_tabular import LimeTabularExplainer
from lime.lime_text import LimeTextExplainer
from lime.submodular_pick import SubmodularPick
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeClassifier

from course_utils.xai import lime as ours

D = 6
LIME_WIDTH = 0.75 * np.sqrt(D)  # lime's default; its kernel is ours with a width sqrt(2) larger


def _toy_data(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    X[:, 4] = rng.integers(0, 4, size=n)  # a categorical column
    return X


def _toy_model(A):
    return 1 / (1 + np.exp(-(2 * A[:, 1] - 1.5 * A[:, 3] + 0.8 * (A[:, 4] == 2))))


def _library_weights(X, x, discretize, seed, num_features=3):
    explainer = LimeTabularExplainer(X, categorical_features=[4], discretize_continuous=discretize, random_state=seed)
    explanation = explainer.explain_instance(x, lambda A: np.c_[1 - _toy_model(A), _toy_model(A)],
                                             num_features=num_features, num_samples=5000)
    weights = np.zeros(D)
    for j, value in explanation.local_exp[1]:
        weights[j] = value
    return weights


# ----------------------------------------------------------------- the pieces, exactly


def test_kernel_exact_values():
    np.testing.assert_allclose(ours.kernel([0.0, 1.0, 2.0], 2.0), [1.0, np.exp(-0.25), np.exp(-1.0)])
    # lime's kernel is the square root of the paper's: the same as ours with width * sqrt(2)
    d = np.linspace(0, 5, 11)
    np.testing.assert_allclose(np.sqrt(np.exp(-d ** 2 / 1.5 ** 2)), ours.kernel(d, 1.5 * np.sqrt(2)))


@pytest.mark.parametrize("alpha", [0.0, 0.01, 1.0, 10.0])
def test_weighted_ridge_matches_scikit_learn(alpha):
    rng = np.random.default_rng(1)
    Z, y, w = rng.normal(size=(50, 4)), rng.normal(size=50), rng.uniform(0.1, 2, size=50)
    intercept, coef = ours.weighted_ridge(Z, y, w, alpha)
    reference = Ridge(alpha=alpha).fit(Z, y, sample_weight=w)
    np.testing.assert_allclose(coef, reference.coef_, atol=1e-10)
    assert intercept == pytest.approx(reference.intercept_, abs=1e-10)


def test_weighted_ridge_is_exact_on_noiseless_data():
    rng = np.random.default_rng(2)
    Z = rng.normal(size=(30, 3))
    intercept, coef = ours.weighted_ridge(Z, 0.5 + Z @ [1.0, -2.0, 0.0], rng.uniform(0.1, 1, 30), alpha=0.0)
    assert intercept == pytest.approx(0.5) and np.allclose(coef, [1.0, -2.0, 0.0])


@pytest.mark.parametrize("seed", range(4))
def test_feature_selection_matches_lime(seed):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(300, 9))
    y = Z @ (rng.normal(size=9) * (rng.random(9) < 0.5)) + 0.2 * rng.normal(size=300)
    w = rng.uniform(0.05, 1, size=300)
    base = LimeBase(lambda d: d, random_state=0)
    assert ours.forward_selection(Z, y, w, 4).tolist() == base.forward_selection(Z, y, w, 4).tolist()
    assert (ours.select_features(Z, y, w, 7, "highest_weights").tolist()
            == base.feature_selection(Z, y, w, 7, "highest_weights").tolist())
    assert ours.select_features(Z, y, w, 3).tolist() == ours.forward_selection(Z, y, w, 3).tolist()


def test_forward_selection_reference_equals_the_exercise_recipe():
    """The Gram-matrix shortcut picks what the recipe (weighted_ridge + weighted squared error) picks."""
    rng = np.random.default_rng(5)
    Z, w = rng.normal(size=(100, 6)), rng.uniform(0.1, 1, 100)
    y = 3 * Z[:, 4] - Z[:, 1] + 0.5 * Z[:, 0] + 0.1 * rng.normal(size=100)
    chosen = []
    for _ in range(3):
        errors = {}
        for j in set(range(6)) - set(chosen):
            b, c = ours.weighted_ridge(Z[:, chosen + [j]], y, w, 0.0)
            errors[j] = np.sum(w * (y - b - Z[:, chosen + [j]] @ c) ** 2)
        chosen.append(min(errors, key=errors.get))
    assert ours.forward_selection(Z, y, w, 3).tolist() == chosen == [4, 1, 0]


def test_sparse_surrogate_recovers_a_linear_function_exactly():
    rng = np.random.default_rng(3)
    Z = (rng.random((400, 7)) < 0.5).astype(float)
    Z[0] = 1.0
    y = 0.1 + 0.6 * Z[:, 2] - 0.3 * Z[:, 5]
    fit = ours.fit_sparse_surrogate(Z, y, rng.uniform(0.1, 1, 400), 2, alpha=0.0)
    np.testing.assert_allclose(fit.values, [0, 0, 0.6, 0, 0, -0.3, 0], atol=1e-10)
    assert fit.base_value == pytest.approx(0.1) and fit.score == pytest.approx(1.0) and fit.base_value + Z[0] @ fit.values == pytest.approx(0.4)


# ----------------------------------------------------------------- sampling


def test_sample_tabular_discretised():
    X = _toy_data()
    x = X[7]
    Z, samples = ours.sample_tabular(x, X, 3000, 0, categorical_features=[4])
    assert np.array_equal(samples[0], x) and np.all(Z[0] == 1) and set(np.unique(Z)) <= {0.0, 1.0}
    assert set(np.unique(samples[:, 4])) <= set(np.unique(X[:, 4]))
    np.testing.assert_array_equal(Z[:, 4], samples[:, 4] == x[4])
    for j in (0, 1, 2, 3, 5):  # a sample is in x's quartile exactly when its interpretable feature is 1
        edges = np.percentile(X[:, j], [25, 50, 75])
        same_bin = np.searchsorted(edges, samples[:, j]) == np.searchsorted(edges, x[j])
        np.testing.assert_array_equal(same_bin, Z[:, j] == 1)
        assert abs(Z[1:, j].mean() - 0.25) < 0.03  # each quartile holds a quarter of the training data


def test_sample_tabular_continuous():
    X = _toy_data()
    Z, samples = ours.sample_tabular(X[3], X, 20000, 1, categorical_features=[4], discretize=False)
    assert np.allclose(samples[1:, [0, 1, 5]].mean(axis=0), X[:, [0, 1, 5]].mean(axis=0), atol=0.03)
    assert np.allclose(samples[1:, [0, 1, 5]].std(axis=0), X[:, [0, 1, 5]].std(axis=0), atol=0.03)
    assert Z[0, 0] == pytest.approx((X[3, 0] - X[:, 0].mean()) / X[:, 0].std()) and Z[0, 4] == 1.0


def test_sample_masks_like_lime_text():
    masks = ours.sample_masks(8, 4000, rng=0)
    assert np.all(masks[0] == 1)
    switched_off = 8 - masks[1:].sum(axis=1)
    assert switched_off.min() == 1 and switched_off.max() == 8
    assert np.allclose(np.bincount(switched_off.astype(int), minlength=9)[1:] / 3999, 1 / 8, atol=0.02)


# ----------------------------------------------------------------- against the lime library


@pytest.mark.parametrize("discretize", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_lime_tabular_agrees_with_lime(discretize, seed):
    X = _toy_data()
    x = X[seed]
    mine = ours.lime_tabular(_toy_model, x, X, n_features=3, kernel_width=np.sqrt(2) * LIME_WIDTH, rng=seed,
                             categorical_features=[4], discretize=discretize).values
    library = _library_weights(X, x, discretize, seed)
    assert set(np.flatnonzero(mine)) == set(np.flatnonzero(library))
    np.testing.assert_allclose(mine, library, atol=0.045)  # both are Monte Carlo estimates from 5000 samples


def test_lime_binary_agrees_with_lime_text():
    words = ["the", "film", "was", "great", "but", "long", "and", "awful"]
    text = " ".join(words)

    def probability(present):
        return 1 / (1 + np.exp(-(0.5 + 2.0 * present["great"] - 2.5 * present["awful"] - 0.5 * present["long"])))

    explainer = LimeTextExplainer(random_state=0)
    explanation = explainer.explain_instance(
        text, lambda texts: np.array([[1 - p, p] for p in (probability({w: w in t.split() for w in words})
                                                           for t in texts)]), num_features=3, num_samples=5000)
    vocabulary = explanation.domain_mapper.indexed_string.inverse_vocab
    library = {str(vocabulary[j]): value for j, value in explanation.local_exp[1]}
    fit = ours.lime_binary(lambda M: np.array([probability(dict(zip(vocabulary, row))) for row in M]),
                           len(vocabulary), n_features=3, kernel_width=25 * np.sqrt(2), rng=0)
    mine = {str(vocabulary[j]): fit.values[j] for j in np.flatnonzero(fit.values)}
    assert set(mine) == set(library) == {"great", "awful", "long"}
    for word in mine:
        assert mine[word] == pytest.approx(library[word], abs=0.03)


# ----------------------------------------------------------------- faithfulness: recovering a sparse model


def test_lime_tabular_recovers_the_features_a_sparse_model_uses():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(1000, 12))
    used = {1, 6, 9}

    def model(A):
        return 1 / (1 + np.exp(-(1.5 * A[:, 1] - 2.0 * A[:, 6] + 1.0 * A[:, 9])))

    recalls = []
    for i in range(20):
        for discretize in (True, False):
            w = ours.lime_tabular(model, X[i], X, n_features=3, n_samples=2000, rng=i, discretize=discretize).values
            assert np.count_nonzero(w) <= 3
            recalls.append(ours.recall(np.flatnonzero(w), used))
    assert np.mean(recalls) >= 0.9


def test_lime_binary_recovers_the_words_a_sparse_model_uses():
    rng = np.random.default_rng(6)
    recalls = []
    for i in range(20):
        d = int(rng.integers(10, 30))
        used = set(rng.choice(d, size=3, replace=False).tolist())
        coef = np.zeros(d)
        coef[list(used)] = rng.choice([-1.5, 1.5], size=3)
        fit = ours.lime_binary(lambda M, c=coef: 1 / (1 + np.exp(-(M @ c))), d, n_features=3, n_samples=1000, rng=i)
        recalls.append(ours.recall(np.flatnonzero(fit.values), used))
    assert np.mean(recalls) >= 0.9


def test_lime_tabular_is_reproducible_and_sparse():
    X = _toy_data()
    first = ours.lime_tabular(_toy_model, X[0], X, n_features=2, n_samples=500, rng=3).values
    assert np.array_equal(first, ours.lime_tabular(_toy_model, X[0], X, n_features=2, n_samples=500, rng=3).values)
    assert not np.array_equal(first, ours.lime_tabular(_toy_model, X[0], X, n_features=2, n_samples=500, rng=4).values)
    assert np.count_nonzero(first) == 2
    assert np.count_nonzero(ours.lime_tabular(_toy_model, X[0], X, n_features=50, n_samples=500, rng=3).values) <= D


# ----------------------------------------------------------------- SP-LIME


class _FixedExplanation:
    mode = "classification"

    def __init__(self, row):
        self.row = row

    def available_labels(self):
        return [1]

    def as_list(self, label=1):
        return [(f"feature {j}", self.row[j]) for j in np.flatnonzero(self.row)]


class _FixedExplainer:
    """Hands lime's SubmodularPick a given explanation matrix W, one row per instance."""

    def explain_instance(self, row, predict_fn, num_features=10, top_labels=1):
        return _FixedExplanation(row)


def test_submodular_pick_small_case_and_coverage():
    W = np.array([[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 4.0, 0.0], [0.0, 0.0, 0.0, 0.25]])
    # importance: sqrt([2, 1, 4, 0.25]) = [1.414, 1, 2, 0.5]; row 2 covers 2, row 0 covers 2.414
    assert ours.submodular_pick(W, 1) == [0]
    assert ours.submodular_pick(W, 3) == [0, 2, 3]
    assert ours.coverage(W, [0]) == pytest.approx((np.sqrt(2) + 1) / (np.sqrt(2) + 1 + 2 + 0.5))
    assert ours.coverage(W, [0, 2, 3]) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(5))
def test_submodular_pick_matches_lime(seed):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(25, 30)) * (rng.random((25, 30)) < 0.15)
    budget = 4
    library = SubmodularPick(_FixedExplainer(), W, None, method="full", num_exps_desired=budget)
    picked = ours.submodular_pick(W, budget)
    assert picked == library.V
    coverages = [ours.coverage(W, picked[:k]) for k in range(1, budget + 1)]
    assert np.all(np.diff(coverages) >= 0)


def test_submodular_pick_beats_or_ties_random_picks():
    rng = np.random.default_rng(7)
    W = rng.normal(size=(40, 50)) * (rng.random((40, 50)) < 0.1)
    greedy = ours.coverage(W, ours.submodular_pick(W, 5))
    assert all(greedy >= ours.coverage(W, rng.choice(40, 5, replace=False)) for _ in range(200))


# ----------------------------------------------------------------- baselines of the paper's experiments


def test_greedy_removal_order_and_stopping():
    contributions = np.array([0.05, 0.3, 0.0, 0.2, 0.1])

    def f(M):  # probability of the predicted class, additive in the kept features
        return 0.3 + M @ contributions

    assert ours.greedy_removal(f, 5, 1).tolist() == [1]
    # 0.95 -> 0.65 -> 0.45: below 0.5 after the second removal, so the prediction changed and the search stops
    assert ours.greedy_removal(f, 5, 2).tolist() == ours.greedy_removal(f, 5, 5).tolist() == [1, 3]
    assert ours.greedy_removal(lambda M: 0.9 - M @ (contributions + 0.01), 5, 5).tolist() == []  # no removal lowers f


def test_random_explanation():
    picks = ours.random_explanation(10, 4, rng=0)
    assert len(set(picks.tolist())) == 4 and picks.max() < 10
    assert sorted(ours.random_explanation(3, 5, rng=0).tolist()) == [0, 1, 2]


@pytest.mark.parametrize("sparse", [False, True])
def test_parzen_probability_and_gradient(sparse):
    rng = np.random.default_rng(8)
    X = (rng.random((60, 5)) < 0.4).astype(float)
    labels = rng.integers(0, 2, 60)
    x = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    sigma = 0.8
    k = np.exp(-((X - x) ** 2).sum(axis=1) / (2 * sigma ** 2))
    train = sp.csr_matrix(X) if sparse else X
    assert ours.parzen_proba(train, labels, x, sigma) == pytest.approx(k[labels == 1].sum() / k.sum())
    step = 1e-6
    numeric = [(ours.parzen_proba(train, labels, x + step * np.eye(5)[j], sigma)
                - ours.parzen_proba(train, labels, x - step * np.eye(5)[j], sigma)) / (2 * step) for j in range(5)]
    np.testing.assert_allclose(ours.parzen_gradient(train, labels, x, sigma, np.arange(5)), numeric, atol=1e-6)


def test_parzen_does_not_underflow():
    X = np.eye(3) * 50
    assert ours.parzen_proba(X, np.array([1, 0, 0]), np.array([49.0, 0, 0]), 0.1) == pytest.approx(1.0)


def test_gold_features_and_recall():
    assert ours.linear_model_features(np.array([0.0, 1.0, -2.0, 0.5]), np.array([1, 1, 0, 1])) == {1, 3}
    X = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1]] * 5, dtype=float)
    tree = DecisionTreeClassifier(random_state=0).fit(X, [0, 1, 1, 0] * 5)
    path = ours.tree_path_features(tree, np.array([1.0, 1.0, 0.0]))
    assert path <= {0, 1} and 1 in path  # feature 2 is absent from the instance, so never gold
    assert ours.recall([1, 5, 7], {1, 2}) == 0.5 and ours.recall([], set()) == 1.0


# ----------------------------------------------------------------- argument checks


def test_argument_errors():
    X = _toy_data(200)
    with pytest.raises(ValueError, match=r"predict_fn must return one probability per row, shape \(50,\), got shape \(50, 2\)"):
        ours.lime_tabular(lambda A: np.c_[A[:, 0], A[:, 1]], X[0], X, n_features=2, n_samples=50).values
    with pytest.raises(ValueError, match="x must have one value per column of X_train"):
        ours.lime_tabular(_toy_model, X[0, :3], X, n_features=2).values
    with pytest.raises(ValueError, match="n_features must be a positive int, got 0"):
        ours.lime_tabular(_toy_model, X[0], X, n_features=0).values
    with pytest.raises(ValueError, match="n_samples must be at least 2"):
        ours.lime_tabular(_toy_model, X[0], X, n_features=1, n_samples=1).values
    with pytest.raises(ValueError, match="kernel_width must be a real number > 0, got -1"):
        ours.lime_tabular(_toy_model, X[0], X, n_features=1, kernel_width=-1).values
    with pytest.raises(ValueError, match=r"categorical_features must be column indices in \[0, 6\)"):
        ours.lime_tabular(_toy_model, X[0], X, n_features=1, categorical_features=[9]).values
    with pytest.raises(ValueError, match="feature_selection must be one of"):
        ours.lime_tabular(_toy_model, X[0], X, n_features=1, feature_selection="lasso").values
    with pytest.raises(TypeError, match="predict_fn must be callable"):
        ours.lime_tabular("model", X[0], X, n_features=1).values
    with pytest.raises(ValueError, match="X_train must have 2 dimension"):
        ours.lime_tabular(_toy_model, X[0], X[:, 0], n_features=1).values
    with pytest.raises(TypeError, match="d must be a positive int"):
        ours.lime_binary(lambda M: M[:, 0], 2.5, n_features=1)
    with pytest.raises(ValueError, match="budget must be at most the number of explanations"):
        ours.submodular_pick(np.eye(3), 4)
    with pytest.raises(ValueError, match="budget must be a positive int, got 0"):
        ours.submodular_pick(np.eye(3), 0)
    with pytest.raises(ValueError, match="W must have 2 dimension"):
        ours.submodular_pick(np.ones(3), 1)


def test_parzen_proba_of_many_rows():
    rng = np.random.default_rng(9)
    X, queries = (rng.random((40, 6)) < 0.4).astype(float), (rng.random((5, 6)) < 0.4).astype(float)
    labels = rng.integers(0, 2, 40)
    expected = [ours.parzen_proba(X, labels, q, 0.7) for q in queries]
    np.testing.assert_allclose(ours.parzen_proba(sp.csr_matrix(X), labels, sp.csr_matrix(queries), 0.7), expected)
    np.testing.assert_allclose(ours.parzen_proba(X, labels, queries, 0.7), expected)


def test_masked_predictor_removes_words():
    from sklearn.linear_model import LogisticRegression
    rng = np.random.default_rng(10)
    X = sp.csr_matrix((rng.random((80, 12)) < 0.3).astype(float))
    model = LogisticRegression().fit(X, rng.integers(0, 2, 80))
    x = X[3]
    present, f = ours.masked_predictor(model.predict_proba, x, 1)
    assert present.tolist() == sorted(x.indices.tolist())
    masks = (rng.random((6, len(present))) < 0.5).astype(float)
    expected = []
    for mask in masks:
        row = x.toarray().ravel()
        row[present[mask == 0]] = 0
        expected.append(model.predict_proba(row[None])[0, 1])
    np.testing.assert_allclose(f(masks), expected)


def test_tabular_feature_names_match_lime():
    X = _toy_data()
    x = X[11]
    names = [f"f{j}" for j in range(D)]
    explainer = LimeTabularExplainer(X, feature_names=names, categorical_features=[4],
                                     categorical_names={4: ["a", "b", "c", "d"]}, random_state=0)
    explanation = explainer.explain_instance(x, lambda A: np.c_[1 - _toy_model(A), _toy_model(A)], num_features=D,
                                             num_samples=200)
    library = dict(explanation.as_map()[1])
    mine = ours.tabular_feature_names(x, X, names, categorical_features=[4], categories={4: ["a", "b", "c", "d"]})
    assert sorted(mine) == sorted(name for name, _ in explanation.as_list()) and len(library) == D
    assert mine[4] == f"f4={'abcd'[int(x[4])]}"
    assert ours.tabular_feature_names(x, X, names, discretize=False)[0] == "f0"


def test_count_used_features_matches_the_per_row_definitions():
    from sklearn.linear_model import LogisticRegression
    rng = np.random.default_rng(11)
    X = (rng.random((150, 20)) < 0.3).astype(float)
    y = (X[:, 0] + X[:, 3] - X[:, 7] + 0.3 * rng.normal(size=150) > 0.5).astype(int)
    tree = DecisionTreeClassifier(random_state=0).fit(X, y)
    linear = LogisticRegression(l1_ratio=1, C=0.3, solver="liblinear").fit(X, y)
    assert ours.count_used_features(tree, sp.csr_matrix(X)).tolist() == [len(ours.tree_path_features(tree, x)) for x in X]
    assert ours.count_used_features(linear, X).tolist() == [len(ours.linear_model_features(linear.coef_, x)) for x in X]


def test_select_parzen_sigma_agrees_with_parzen_proba():
    rng = np.random.default_rng(12)
    X = (rng.random((120, 8)) < 0.4).astype(float)
    labels = (X[:, 0] + X[:, 1] > 0.5).astype(int)
    sigma, agreement = ours.select_parzen_sigma(X[:80], labels[:80], X[80:], labels[80:], sigmas=(0.3, 1.0, 3.0))
    for s, share in agreement.items():
        assert share == pytest.approx(np.mean((ours.parzen_proba(X[:80], labels[:80], X[80:], s) > 0.5) == labels[80:]))
    assert agreement[sigma] == max(agreement.values())
