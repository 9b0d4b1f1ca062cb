"""Shapley values, Kernel SHAP and Shapley sampling by hand: exact answers, properties, and shap."""
import itertools
import math
import warnings

import numpy as np
import pytest

from course_utils.xai.shapley import (
    constrained_wls,
    exact_shapley,
    interventional_game,
    kernel_shap,
    lime_coalitions,
    marginal_contributions,
    sample_coalitions,
    sampling_shapley,
    shapley_kernel_weight,
)

SLIDES = {(): 0, (0,): 100, (1,): 125, (2,): 50, (0, 1): 270, (0, 2): 375, (1, 2): 350, (0, 1, 2): 500}


def slides_game(S):
    return SLIDES[tuple(sorted(S))]


def random_game(n, seed):
    rng = np.random.default_rng(seed)
    table = {frozenset(c): (rng.normal() if c else 0.0)
             for k in range(n + 1) for c in itertools.combinations(range(n), k)}
    return lambda S: table[frozenset(S)]


def nonlinear_model(d, seed=0):
    W = np.random.default_rng(seed).normal(size=(d, d))
    return lambda X: np.tanh(X @ W).sum(axis=1) + X[:, 0] * X[:, 1]


class CountingModel:
    """Wraps a model and counts calls and evaluated rows."""

    def __init__(self, f):
        self.f, self.calls, self.rows = f, 0, 0

    def __call__(self, X):
        self.calls += 1
        self.rows += len(X)
        return self.f(X)


# ------------------------------------------------------------------ games


def test_slides_game_exactly():
    phi = exact_shapley(slides_game, 3)
    np.testing.assert_allclose(phi, [970 / 6, 970 / 6, 1060 / 6], rtol=0, atol=1e-12)
    assert phi.sum() == pytest.approx(500.0, abs=1e-12)


def test_slides_table_of_orders():
    table = {order: marginal_contributions(slides_game, order) for order in itertools.permutations(range(3))}
    assert table[(0, 1, 2)].tolist() == [100, 170, 230]
    assert table[(1, 2, 0)].tolist() == [150, 125, 225]
    assert table[(2, 1, 0)].tolist() == [150, 300, 50]
    assert all(row.sum() == 500 for row in table.values())
    np.testing.assert_allclose(np.mean(list(table.values()), axis=0), exact_shapley(slides_game, 3), atol=1e-12)


def test_average_over_orders_equals_enumeration_on_random_games():
    for n in (1, 2, 4, 5):
        game = random_game(n, seed=n)
        by_orders = np.mean([marginal_contributions(game, o) for o in itertools.permutations(range(n))], axis=0)
        np.testing.assert_allclose(exact_shapley(game, n), by_orders, atol=1e-12)


def test_axioms():
    n = 4
    v, w = random_game(n, 1), random_game(n, 2)
    phi_v, phi_w = exact_shapley(v, n), exact_shapley(w, n)
    assert phi_v.sum() == pytest.approx(v(range(n)) - v(()), abs=1e-12)  # efficiency
    np.testing.assert_allclose(exact_shapley(lambda S: v(S) + w(S), n), phi_v + phi_w, atol=1e-12)  # additivity
    dummy = lambda S: v(set(S) - {3})  # player 3 never changes anything
    assert exact_shapley(dummy, n)[3] == pytest.approx(0.0, abs=1e-12)
    symmetric = lambda S: v({0, 1} if {0, 1} <= set(S) else set(S) - {0, 1}) + len(set(S) & {0, 1})
    phi = exact_shapley(symmetric, n)  # players 0 and 1 are interchangeable
    assert phi[0] == pytest.approx(phi[1], abs=1e-12) and abs(phi[0]) > 0.1


def test_exact_shapley_argument_errors():
    with pytest.raises(ValueError, match="n_players must be <= 20"):
        exact_shapley(slides_game, 21)
    with pytest.raises(ValueError, match="n_players must be a positive int, got 0"):
        exact_shapley(slides_game, 0)
    with pytest.raises(TypeError, match="value_fn must return a number"):
        exact_shapley(lambda S: "high", 2)
    with pytest.raises(ValueError, match="order must be a permutation of 0..n-1"):
        marginal_contributions(slides_game, [0, 0, 2])


# ------------------------------------------------------------------ Kernel SHAP pieces


def test_shapley_kernel_weight_values():
    assert shapley_kernel_weight(4, 1) == pytest.approx(3 / (4 * 1 * 3))
    assert shapley_kernel_weight(10, 5) == pytest.approx(9 / (252 * 5 * 5))
    assert np.isinf(shapley_kernel_weight(5, [0, 5])).all()
    w = shapley_kernel_weight(10, np.arange(1, 10))
    np.testing.assert_allclose(w, w[::-1])  # symmetric in |z'| and M - |z'|
    assert w[0] > w[1] > w[2] > w[3] > w[4]


def test_constrained_wls_meets_the_constraint_and_fits_exact_data():
    rng = np.random.default_rng(0)
    Z = rng.integers(0, 2, size=(40, 6))
    phi_true = rng.normal(size=6)
    phi = constrained_wls(Z, Z @ phi_true, rng.uniform(0.1, 1, 40), phi_true.sum())
    np.testing.assert_allclose(phi, phi_true, atol=1e-10)
    noisy = constrained_wls(Z, rng.normal(size=40), np.ones(40), 3.0)
    assert noisy.sum() == pytest.approx(3.0, abs=1e-12)


def test_sample_coalitions_enumerates_or_samples_distinct_ones():
    masks, weights = sample_coalitions(5, 30, rng=0)
    assert masks.shape == (30, 5) and len({m.tobytes() for m in masks}) == 30  # all 2**5 - 2
    np.testing.assert_allclose(weights, shapley_kernel_weight(5, masks.sum(axis=1)))
    masks, weights = sample_coalitions(12, 300, rng=0)
    assert masks.shape == (300, 12) and len({m.tobytes() for m in masks}) == 300
    sizes = masks.sum(axis=1)
    assert 0 < sizes.min() and sizes.max() < 12 and (weights > 0).all()
    assert (sizes == 1).sum() == 12 and (sizes == 11).sum() == 12  # the heaviest sizes are enumerated
    with pytest.raises(ValueError, match="n_features must be >= 2"):
        sample_coalitions(1, 10)


# ------------------------------------------------------------------ Kernel SHAP and sampling on models


def test_kernel_shap_is_exact_when_it_enumerates():
    d = 6
    f = nonlinear_model(d)
    rng = np.random.default_rng(1)
    x, background = rng.normal(size=d), rng.normal(size=(7, d))
    exact = exact_shapley(interventional_game(f, x, background), d)
    np.testing.assert_allclose(kernel_shap(f, x, background, n_samples=2**d - 2).values, exact, atol=1e-10)


def test_linear_model_closed_form():
    rng = np.random.default_rng(2)
    d = 20
    w, b = rng.normal(size=d), 0.7
    f = lambda X: X @ w + b
    x, background = rng.normal(size=d), rng.normal(size=(50, d))
    closed_form = w * (x - background.mean(axis=0))
    np.testing.assert_allclose(kernel_shap(f, x, background, n_samples=100, rng=0).values, closed_form, atol=1e-10)
    reference = background[:1]  # one background row: every marginal contribution is w_i (x_i - r_i)
    np.testing.assert_allclose(sampling_shapley(f, x, reference, n_permutations=3, rng=0).values,
                               w * (x - reference[0]), atol=1e-10)
    estimate = sampling_shapley(f, x, background, n_permutations=3000, rng=0).values
    np.testing.assert_allclose(estimate, closed_form, atol=0.15)


def test_efficiency_holds_exactly_when_sampled():
    d = 12
    f = nonlinear_model(d, seed=3)
    rng = np.random.default_rng(3)
    x, background = rng.normal(size=d), rng.normal(size=(20, d))
    target = f(x[None])[0] - f(background).mean()
    assert kernel_shap(f, x, background, n_samples=50, rng=0).values.sum() == pytest.approx(target, abs=1e-10)
    reference = background[:1]
    total = f(x[None])[0] - f(reference)[0]
    assert sampling_shapley(f, x, reference, n_permutations=5, rng=0).values.sum() == pytest.approx(total, abs=1e-10)


def test_sampling_converges_to_exact():
    d = 5
    f = nonlinear_model(d, seed=4)
    rng = np.random.default_rng(4)
    x, background = rng.normal(size=d), rng.normal(size=(4, d))
    exact = exact_shapley(interventional_game(f, x, background), d)
    errors = [np.abs(sampling_shapley(f, x, background, n_permutations=n, rng=0).values - exact).max() for n in (20, 5000)]
    assert errors[1] < 0.05 and errors[1] < errors[0] / 4


def test_missingness_and_dummy_features_get_zero():
    d = 6
    rng = np.random.default_rng(5)
    f = lambda X: np.sin(X[:, 0]) * X[:, 1] + X[:, 2] ** 2  # features 3, 4, 5 unused
    x, background = rng.normal(size=d), rng.normal(size=(8, d))
    background[:, 2] = x[2]  # feature 2 never differs from x: missing
    phi = kernel_shap(f, x, background, n_samples=10, rng=0).values
    assert phi[2] == 0.0
    exact = kernel_shap(f, x, background, n_samples=2**d).values
    np.testing.assert_allclose(exact[3:], 0.0, atol=1e-12)


def test_model_is_called_in_batches():
    d = 10
    model = CountingModel(nonlinear_model(d))
    rng = np.random.default_rng(6)
    x, background = rng.normal(size=d), rng.normal(size=(25, d))
    kernel_shap(model, x, background, n_samples=200, rng=0).values
    assert model.calls == 1 and model.rows == 1 + 25 * 201
    model.calls = model.rows = 0
    sampling_shapley(model, x, background, n_permutations=30, rng=0).values
    assert model.calls == 2 and model.rows == 1 + 30 * d


def test_same_seed_same_answer():
    d = 15
    f = nonlinear_model(d)
    rng = np.random.default_rng(7)
    x, background = rng.normal(size=d), rng.normal(size=(5, d))
    for method, kwargs in ((kernel_shap, {"n_samples": 80}), (sampling_shapley, {"n_permutations": 10})):
        first, second = (method(f, x, background, rng=3, **kwargs) for _ in range(2))
        np.testing.assert_array_equal(first.values, second.values)
        assert not np.array_equal(first.values, method(f, x, background, rng=4, **kwargs).values)


def test_agrees_with_shap_kernel_explainer():
    shap = pytest.importorskip("shap")
    d = 8
    f = nonlinear_model(d, seed=8)
    rng = np.random.default_rng(8)
    x, background = rng.normal(size=d), rng.normal(size=(10, d))
    explainer = shap.KernelExplainer(f, background)
    library = explainer.shap_values(x, nsamples=2**d, silent=True)
    np.testing.assert_allclose(kernel_shap(f, x, background, n_samples=2**d).values, library, atol=1e-9)
    assert explainer.expected_value == pytest.approx(f(background).mean())
    # sampled: at the same budget ours is about as accurate as shap's (same seeds, averaged)
    d = 12
    f = nonlinear_model(d, seed=9)
    x, background = rng.normal(size=d), rng.normal(size=(10, d))
    exact = kernel_shap(f, x, background, n_samples=2**d).values
    explainer = shap.KernelExplainer(f, background)
    ours, theirs = [], []
    for seed in range(15):
        ours.append(np.linalg.norm(kernel_shap(f, x, background, n_samples=200, rng=seed).values - exact))
        np.random.seed(seed)  # shap samples with numpy's global generator
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs.append(np.linalg.norm(explainer.shap_values(x, nsamples=200, silent=True, l1_reg=False) - exact))
    assert np.mean(ours) < 1.1 * np.mean(theirs) and np.mean(ours) < 0.2 * np.linalg.norm(exact)


def test_lime_coalitions_recovers_a_linear_model():
    rng = np.random.default_rng(10)
    d = 8
    w = rng.normal(size=d)
    x, reference = rng.normal(size=d), rng.normal(size=(1, d))
    coefficients = lime_coalitions(lambda X: X @ w, x, reference, n_samples=2000, rng=0).values
    np.testing.assert_allclose(coefficients, w * (x - reference[0]), atol=0.05)  # ridge shrinks a little


def test_argument_errors():
    f = nonlinear_model(3)
    x, background = np.zeros(3), np.ones((4, 3))
    with pytest.raises(ValueError, match="n_samples must be a positive int, got 0"):
        kernel_shap(f, x, background, n_samples=0).values
    with pytest.raises(ValueError, match="n_samples must be >= 2"):
        kernel_shap(f, x, background, n_samples=1).values
    with pytest.raises(TypeError, match="n_samples must be a positive int, got 2.5"):
        kernel_shap(f, x, background, n_samples=2.5).values
    with pytest.raises(ValueError, match="n_permutations must be a positive int, got -1"):
        sampling_shapley(f, x, background, n_permutations=-1).values
    with pytest.raises(ValueError, match=r"background must have shape \(n, 3\)"):
        kernel_shap(f, x, np.ones((4, 2)), n_samples=10).values
    with pytest.raises(ValueError, match="x must have 1 dimension"):
        sampling_shapley(f, np.zeros((1, 3)), background, n_permutations=2).values
    with pytest.raises(ValueError, match=r"predict_fn must map an \(n, d\) array to n numbers"):
        kernel_shap(lambda X: np.zeros((len(X), 2)), x, background, n_samples=10).values
    with pytest.raises(ValueError, match="kernel_width must be a real number > 0"):
        lime_coalitions(f, x, background, n_samples=10, kernel_width=0.0).values


def test_kernel_weight_sum_matches_the_paper_formula():
    M = 7  # the weights of all coalitions of one size add up to (M - 1) / (s (M - s))
    for s in range(1, M):
        assert math.comb(M, s) * shapley_kernel_weight(M, s) == pytest.approx((M - 1) / (s * (M - s)))


def _pairwise_model(d, seed):
    """f(z) = a.z + sum_{i<j} b_ij z_i z_j: at most pairwise interactions."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=d), np.triu(rng.normal(size=(d, d)), 1)
    return lambda Z: Z @ a + np.einsum("ni,ij,nj->n", Z, b, Z)


@pytest.mark.parametrize("n_background", [1, 3])
def test_antithetic_sampling_is_exact_for_pairwise_interactions(n_background):
    d = 6
    predict_fn = _pairwise_model(d, seed=n_background)
    rng = np.random.default_rng(10 + n_background)
    x, background = rng.normal(size=d), rng.normal(size=(n_background, d))
    exact = exact_shapley(interventional_game(predict_fn, x, background), d)
    # one order and its reverse per background row
    result = sampling_shapley(predict_fn, x, background, n_permutations=2 * n_background, rng=0)
    np.testing.assert_allclose(result.values, exact, atol=1e-9)
    independent = sampling_shapley(predict_fn, x, background, n_permutations=2 * n_background, antithetic=False, rng=0)
    assert np.abs(independent.values - exact).max() > 1e-3
    assert result.base_value + result.values.sum() == pytest.approx(float(predict_fn(x[None])[0]), abs=1e-10)


def test_an_odd_budget_spends_its_last_order_unpaired():
    d = 5
    model = CountingModel(_pairwise_model(d, seed=0))
    x, background = np.ones(d), np.zeros((1, d))
    sampling_shapley(model, x, background, n_permutations=3, rng=0)
    assert model.rows == 1 + 3 * d
