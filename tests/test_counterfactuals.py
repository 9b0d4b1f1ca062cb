"""Wachter et al.'s counterfactuals by hand: exact answers on linear models, properties, argument errors."""
import numpy as np
import pytest
import torch
from scipy.special import logit
from scipy.stats import median_abs_deviation
from torch import nn

from course_utils.xai.counterfactuals import (
    MAX_ROUNDS,
    NoCounterfactualError,
    lambda_schedule,
    mad,
    mad_distance,
    wachter,
    wachter_batch,
    wachter_loss,
)

WEIGHTS = np.zeros(10)
WEIGHTS[[2, 7]] = [1.5, -0.8]  # the model uses features 2 and 7 only
BIAS = -0.5
SCALE = np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0, 1.0, 1.0, 0.7, 1.0])  # the features' MADs


class Logistic(nn.Module):
    """sigmoid(w.x + b), (n, d) -> (n,); ``output="score"`` drops the sigmoid (a regression)."""

    def __init__(self, weights=WEIGHTS, bias=BIAS, output="probability"):
        super().__init__()
        self.linear = nn.Linear(len(weights), 1)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor(weights)[None])
            self.linear.bias.fill_(bias)
        self.output = output

    def forward(self, X):
        score = self.linear(X)[:, 0]
        return torch.sigmoid(score) if self.output == "probability" else score


def _predict(model, x):
    with torch.no_grad():
        return model(torch.tensor(np.atleast_2d(x), dtype=torch.float32)).numpy()


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=10) * 0.3 - np.eye(10)[2]  # predicted well below 0.5


def test_mad_exact_and_against_scipy():
    assert mad([[1.0, 0.0], [2.0, 0.0], [3.0, 5.0], [4.0, 0.0], [100.0, 0.0]]).tolist() == [1.0, 0.0]
    X = np.random.default_rng(1).standard_t(df=2, size=(301, 6))
    expected = np.median(np.abs(X - np.median(X, axis=0)), axis=0)
    np.testing.assert_allclose(mad(X), expected, rtol=0, atol=0)
    np.testing.assert_allclose(mad(X), median_abs_deviation(X, axis=0), rtol=1e-12)


def test_distance_and_loss_small_cases():
    x, x_cf, scale = torch.tensor([1.0, 2.0, 0.0]), torch.tensor([3.0, 2.0, -1.0]), torch.tensor([0.5, 1.0, 4.0])
    assert mad_distance(x, x_cf, scale).item() == pytest.approx(2 / 0.5 + 0 + 1 / 4)
    assert mad_distance(x, torch.stack([x, x_cf]), scale).tolist() == pytest.approx([0.0, 4.25])
    assert wachter_loss(torch.tensor(0.8), 0.5, x, x_cf, scale, 10.0).item() == pytest.approx(10 * 0.09 + 4.25)


def test_lambda_schedule_returns_the_first_valid_lambda():
    calls = []

    def solve(lam):
        calls.append(lam)
        return np.array([lam]), 1.0 / lam

    x_cf = lambda_schedule(solve, 0.5, 0.1, 10)
    assert calls == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0] and x_cf.tolist() == [16.0]
    with pytest.raises(RuntimeError, match="after 3 values of lambda"):
        lambda_schedule(solve, 0.5, 0.1, 3)


def test_reaches_target_changing_only_the_two_used_features(x):
    model = Logistic()
    x_cf = wachter(model, x, target=0.5, mad=SCALE)
    assert abs(_predict(model, x_cf)[0] - 0.5) <= 0.05
    changed = np.flatnonzero(x_cf != x)
    assert 0 < len(changed) and set(changed) <= {2, 7}
    np.testing.assert_array_equal(np.delete(x_cf, [2, 7]), np.delete(x, [2, 7]))  # exactly unchanged


def test_l1_mad_picks_the_cheapest_feature_and_the_exact_distance(x):
    # |w_j| * MAD_j: feature 2 gives 0.75 per MAD unit, feature 7 gives 0.8: the optimum moves 7 only,
    # just far enough to enter the tolerance band: logit(0.5 - tol) = w.x' + b.
    model, tol = Logistic(), 0.05
    x_cf = wachter(model, x, target=0.5, mad=SCALE, tol=tol)
    assert np.flatnonzero(x_cf != x).tolist() == [7]
    needed = (logit(0.5 - tol) - (WEIGHTS @ x + BIAS)) / 0.8  # MAD units to reach the band's edge
    exact = (logit(0.5) - (WEIGHTS @ x + BIAS)) / 0.8  # ... and to reach the target itself
    distance = abs(x_cf[7] - x[7]) / SCALE[7]
    assert needed - 1e-3 <= distance <= exact + 1e-3


class Curved(nn.Module):
    """sigmoid(2 x0 + x1^2 - 2): nonlinear in x1, so the cheapest change is not obvious."""

    def forward(self, X):
        return torch.sigmoid(2 * X[:, 0] + X[:, 1] ** 2 - 2)


@pytest.mark.parametrize("x, scale", [([-1.0, 0.5], [1.0, 0.5]), ([-1.0, 1.5], [1.0, 0.25]), ([0.2, -0.3], [0.3, 1.0])])
def test_nonlinear_model_matches_a_grid_search(x, scale):
    x, scale, tol = np.array(x), np.array(scale), 0.05
    x_cf = wachter(Curved(), x, target=0.5, mad=scale, tol=tol)
    assert abs(_predict(Curved(), x_cf)[0] - 0.5) <= tol
    step = 0.004
    grid = np.stack(np.meshgrid(*(np.arange(-4, 4 + step, step) for _ in range(2))), -1).reshape(-1, 2)
    candidates = x + grid * scale
    gaps, distances = np.abs(_predict(Curved(), candidates) - 0.5), np.abs(grid).sum(axis=1)
    gap, distance = abs(_predict(Curved(), x_cf)[0] - 0.5), np.abs((x_cf - x) / scale).sum()
    # no valid point is much closer; and no point as close to the target as ours is closer
    # (the lambda schedule stops at a gap somewhere in the band, not on its edge)
    assert distances[gaps <= tol].min() - 2 * step <= distance <= distances[gaps <= gap + 1e-4].min() + 2 * step


def test_immutable_feature_leaves_only_the_other(x):
    model = Logistic()
    x_cf = wachter(model, x, target=0.5, mad=SCALE, immutable=[7])
    assert abs(_predict(model, x_cf)[0] - 0.5) <= 0.05
    assert np.flatnonzero(x_cf != x).tolist() == [2] and x_cf[7] == x[7]


def test_bounds_are_respected_and_force_the_second_feature(x):
    model = Logistic()
    upper = np.full(10, np.inf)
    lower = np.full(10, -np.inf)
    lower[7] = x[7] - 0.2  # feature 7 may only fall by 0.2: not enough alone
    x_cf = wachter(model, x, target=0.5, mad=SCALE, lower=lower, upper=upper)
    assert abs(_predict(model, x_cf)[0] - 0.5) <= 0.05
    assert x_cf[7] >= lower[7] and x_cf[7] == pytest.approx(lower[7])
    assert np.flatnonzero(x_cf != x).tolist() == [2, 7]


def test_regression_output_reaches_a_score():
    # Wachter et al.'s law school model regresses a score: the target is any real number.
    weights = np.array([0.3, 0.0, -1.2])
    model = Logistic(weights, bias=0.1, output="score")
    x = np.array([-2.0, 1.0, 0.5])
    x_cf = wachter(model, x, target=0.0, mad=np.ones(3), tol=0.01)
    assert abs(_predict(model, x_cf)[0]) <= 0.01 and np.flatnonzero(x_cf != x).tolist() == [2]


def test_impossible_targets_raise_saying_how_close(x):
    model = Logistic()
    with pytest.raises(NoCounterfactualError, match=r"closest output reached was .* gap") as info:
        wachter(model, x, target=0.5, mad=SCALE, immutable=[2, 7])
    assert info.value.gap > 0.05 and np.array_equal(info.value.closest, x)
    upper = np.full(10, np.inf)
    upper[2], lower = x[2] + 0.5, np.where(np.arange(10) == 7, x[7] - 0.5, -np.inf)
    with pytest.raises(NoCounterfactualError) as info:
        wachter(model, x, target=0.9, mad=SCALE, lower=lower, upper=upper)
    best = 1 / (1 + np.exp(-(WEIGHTS @ x + BIAS + 1.5 * 0.5 + 0.8 * 0.5)))  # both at their bounds
    assert info.value.prediction == pytest.approx(best, abs=1e-4)
    assert info.value.closest[2] == pytest.approx(upper[2]) and info.value.closest[7] == pytest.approx(lower[7])


def test_model_is_left_unchanged(x):
    model = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 1), nn.Flatten(0),
                          nn.Sigmoid())
    model[3].weight.requires_grad_(False)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = wachter_batch(model, np.stack([x, -x]), target=0.5, mad=SCALE, steps=200)
    assert model.training and not model[3].weight.requires_grad and model[0].weight.requires_grad
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # evaluated in eval mode (dropout off): the reported predictions are reproducible
    model.eval()
    valid = result.valid
    np.testing.assert_allclose(_predict(model, result.closest), result.predictions, atol=1e-6)
    assert np.all(np.abs(result.predictions[valid] - 0.5) <= 0.05)


def test_batch_matches_single_rows_and_marks_invalid_rows(x):
    model = Logistic()
    X = np.stack([x, x + 0.3, x - 0.2])
    result = wachter_batch(model, X, target=0.5, mad=SCALE, immutable=[7])
    for row, x_row in enumerate(X):
        np.testing.assert_allclose(result.counterfactuals[row], wachter(model, x_row, target=0.5, mad=SCALE,
                                                                        immutable=[7]), atol=1e-6)
    impossible = wachter_batch(model, X, target=0.5, mad=SCALE, immutable=[2, 7])
    assert not impossible.valid.any() and np.isnan(impossible.counterfactuals).all()
    assert np.all(impossible.lam == pytest.approx(0.1 * 2 ** (MAX_ROUNDS - 1)))


def test_argument_errors(x):
    model = Logistic()
    with pytest.raises(ValueError, match="x must have 1 dimension"):
        wachter(model, x[None], target=0.5, mad=SCALE)
    with pytest.raises(ValueError, match=r"mad must have one value per feature \(10\), got shape \(3,\)"):
        wachter(model, x, target=0.5, mad=np.ones(3))
    with pytest.raises(ValueError, match=r"mad must be positive for every feature, got \[0.0\] at \[4\]"):
        wachter(model, x, target=0.5, mad=np.where(np.arange(10) == 4, 0.0, 1.0))
    with pytest.raises(ValueError, match="tol must be a real number > 0, got 0"):
        wachter(model, x, target=0.5, mad=SCALE, tol=0)
    with pytest.raises(TypeError, match="target must be a finite real number"):
        wachter(model, x, target="0.5", mad=SCALE)
    with pytest.raises(ValueError, match="steps must be a positive int, got 0"):
        wachter(model, x, target=0.5, mad=SCALE, steps=0)
    with pytest.raises(ValueError, match="lam_init must be a real number > 0"):
        wachter(model, x, target=0.5, mad=SCALE, lam_init=-1.0)
    with pytest.raises(ValueError, match=r"immutable must hold feature indices in \[0, 10\), got 12"):
        wachter(model, x, target=0.5, mad=SCALE, immutable=[12])
    with pytest.raises(ValueError, match=r"immutable must hold feature indices in \[0, 10\), got -1"):
        wachter(model, x, target=0.5, mad=SCALE, immutable=[-1])
    with pytest.raises(TypeError, match="immutable must be a sequence of feature indices"):
        wachter(model, x, target=0.5, mad=SCALE, immutable=3)
    with pytest.raises(ValueError, match="x must lie within"):
        wachter(model, x, target=0.5, mad=SCALE, lower=x + 1)
    with pytest.raises(ValueError, match="lower must have shape"):
        wachter(model, x, target=0.5, mad=SCALE, lower=np.zeros(3))
    with pytest.raises(ValueError, match="lower must not exceed upper"):
        wachter(model, x, target=0.5, mad=SCALE, lower=x - 1, upper=x - 2)
    with pytest.raises(ValueError, match=r"model must map an \(n, d\) batch to n outputs"):
        wachter(nn.Linear(10, 1), x, target=0.5, mad=SCALE)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        wachter(lambda z: z, x, target=0.5, mad=SCALE)
    with pytest.raises(ValueError, match="X must have at least one row"):
        mad(np.zeros((0, 3)))


@pytest.mark.parametrize("method", ["random", "genetic"])
def test_no_valid_dice_counterfactual_is_closer_than_ours(method, x):
    """DiCE (the library; optional) searches differently; none of its valid answers may beat our MAD-L1 distance."""
    dice_ml = pytest.importorskip("dice_ml", reason="pip install --no-deps dice-ml==0.12 raiutils")
    import pandas as pd

    model, names = Logistic(), [f"x{j}" for j in range(10)]

    class Wrapped:
        def predict_proba(self, frame):
            p = _predict(model, np.asarray(frame, dtype=float))
            return np.column_stack([1 - p, p])

    X = np.random.default_rng(2).normal(size=(400, 10)) * SCALE
    frame = pd.DataFrame(X, columns=names).assign(y=(_predict(model, X) > 0.5).astype(int))
    explainer = dice_ml.Dice(dice_ml.Data(dataframe=frame, continuous_features=names, outcome_name="y"),
                             dice_ml.Model(model=Wrapped(), backend="sklearn", model_type="classifier"), method=method)
    query = pd.DataFrame(x[None], columns=names)
    extra = {"random_seed": 0} if method == "random" else {}
    found = explainer.generate_counterfactuals(query, total_CFs=5, desired_class=1, verbose=False, **extra)
    theirs = found.cf_examples_list[0].final_cfs_df[names].to_numpy(dtype=float)
    theirs = theirs[_predict(model, theirs) >= 0.5]
    assert len(theirs) > 0
    ours = wachter(model, x, target=0.51, mad=SCALE, tol=0.01)  # the band [0.50, 0.52] starts where DiCE's does
    ours_distance = np.abs((ours - x) / SCALE).sum()
    assert ours_distance <= np.abs((theirs - x) / SCALE).sum(axis=1).min() + 0.1
