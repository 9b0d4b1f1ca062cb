"""Our kernel_shap against shap.KernelExplainer: same model, same background, same budget.

Run from the repository root: ``python benchmarks/bench_shap.py`` (several minutes on two
CPU cores; ``--quick`` for a smaller run). For each model and budget of coalitions it
explains the same inputs with the same seeds with both, and reports in one run:

- rows evaluated per explanation, counted by a wrapper around the model's predict function
  (whatever each package reports about itself);
- the error of each against the exact SHAP values (L2 distance, mean over inputs x seeds)
  and the error ratio ours / shap with a 95% confidence interval from a paired bootstrap
  over the (input, seed) pairs. Verdict: "better" if the interval lies below 1, "worse" if
  above, "equal" if it lies inside [0.9, 1.1], otherwise "undecided" (more seeds needed);
- our sampling Shapley (random orders, antithetic) given about the rows Kernel SHAP's budget
  costs (``budget * N / d`` orders): its rows per explanation and its error;
- the wall-time ratio shap / ours from paired repeats (ours, shap, ours, shap, ...: the
  median and range of the per-pair ratios; target >= 1, no slower).

Cases:

- Adult, gradient boosting, log-odds, 13 features, 20 background rows; exact values from
  ``shap.TreeExplainer`` (interventional, same background).
- A neural network (scikit-learn MLP) on 14 synthetic features, 10 background rows;
  exact values from our Kernel SHAP over all 2**14 - 2 coalitions.

Both run with one BLAS thread (``one_blas_thread``): their regressions are small, and on a
shared machine multi-threaded BLAS makes them slower by a factor that depends on the load.
shap samples with numpy's global generator, seeded here before each explanation.
"""
import argparse
import warnings

import numpy as np
import shap
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.neural_network import MLPRegressor

from course_utils import data
from course_utils.runtime import one_blas_thread
from course_utils.xai.shapley import kernel_shap, sampling_shapley
from timing import CountingModel, paired_ratios, spread


def values_of(result) -> np.ndarray:
    """Attributions from either API (an Explanation, or the bare array of the old one)."""
    return np.asarray(getattr(result, "values", result), dtype=float)


def adult_case(n_inputs: int):
    train, test = data.adult("train"), data.adult("test")
    X, _ = train.encoded()
    X_test, _ = test.encoded()
    rows = np.random.default_rng(0).permutation(len(X))[:5000]
    gbm = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(X[rows], train.y[rows])
    background, inputs = X[rows[:20]], X_test[:n_inputs]
    exact = shap.TreeExplainer(gbm, data=background, feature_perturbation="interventional").shap_values(inputs)
    return "Adult GBM (d=13, N=20)", gbm.decision_function, background, inputs, exact


def mlp_case(n_inputs: int):
    rng = np.random.default_rng(1)
    d = 14
    X = rng.normal(size=(3000, d))
    y = np.tanh(X @ rng.normal(size=d)) + X[:, 0] * X[:, 1] - np.abs(X[:, 2]) + 0.3 * X[:, 3:].sum(axis=1)
    mlp = MLPRegressor(hidden_layer_sizes=(32, 32), max_iter=300, random_state=0).fit(X, y)
    background, inputs = X[:10], X[100:100 + n_inputs]
    exact = np.array([values_of(kernel_shap(mlp.predict, x, background, n_samples=2**d)) for x in inputs])
    return f"MLP (d={d}, N=10)", mlp.predict, background, inputs, exact


def run_ours(model, background, inputs, budget, seeds):
    return [[values_of(kernel_shap(model, x, background, n_samples=budget, rng=seed * 1000 + k))
             for k, x in enumerate(inputs)] for seed in seeds]


def run_sampling(model, background, inputs, budget, seeds):
    """Our sampling Shapley with as many model rows as Kernel SHAP's budget of coalitions costs."""
    n_permutations = max(1, round(budget * len(background) / background.shape[1]))
    return [[values_of(sampling_shapley(model, x, background, n_permutations=n_permutations, rng=seed * 1000 + k))
             for k, x in enumerate(inputs)] for seed in seeds]


def run_shap(model, background, inputs, budget, seeds):
    explainer = shap.KernelExplainer(model, background)
    runs = []
    for seed in seeds:
        values = []
        for k, x in enumerate(inputs):
            np.random.seed(seed * 1000 + k)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values.append(values_of(explainer.shap_values(x, nsamples=budget, l1_reg=False, silent=True)))
        runs.append(values)
    return runs


def errors(runner, f, background, inputs, exact, budget, seeds):
    """L2 errors per (seed, input) pair, and rows evaluated per explanation."""
    model = CountingModel(f)
    with one_blas_thread():
        estimates = runner(model, background, inputs, budget, seeds)
    errs = np.array([[np.linalg.norm(e - x) for e, x in zip(run, exact)] for run in estimates]).ravel()
    return errs, model.rows / errs.size


def ratio_interval(ours: np.ndarray, theirs: np.ndarray, rng: np.random.Generator, n_boot: int = 4000):
    """Mean-error ratio ours / theirs and its 95% paired-bootstrap interval."""
    picks = rng.integers(len(ours), size=(n_boot, len(ours)))
    boot = ours[picks].mean(axis=1) / theirs[picks].mean(axis=1)
    return ours.mean() / theirs.mean(), np.percentile(boot, 2.5), np.percentile(boot, 97.5)


def verdict(low: float, high: float) -> str:
    if high < 1.0:
        return "better"
    if low > 1.0:
        return "worse"
    if low >= 0.9 and high <= 1.1:
        return "equal"
    return "undecided"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer inputs, seeds, budgets and timing repeats")
    args = parser.parse_args()
    n_inputs, seeds = (20, range(6)) if args.quick else (25, range(8))
    budgets = [100, 500] if args.quick else [100, 300, 1000, 3000]
    repeats = 3 if args.quick else 5
    print(f"{n_inputs} inputs x {len(seeds)} seeds per setting; error: mean L2 distance to the exact SHAP values; "
          f"ratio ours/shap with its 95% paired-bootstrap interval; time: shap/ours over {repeats} paired repeats")
    header = (f"{'model':24} {'coalitions':>10} {'rows/expl. ours':>15} {'shap':>7} {'error ours':>10} "
              f"{'error shap':>10} {'error ratio [95% CI]':>22} {'verdict':>9} {'time shap/ours (range)':>24}")
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    summary = []
    for name, f, background, inputs, exact in (adult_case(n_inputs), mlp_case(n_inputs)):
        for budget in budgets:
            ours, our_rows = errors(run_ours, f, background, inputs, exact, budget, seeds)
            theirs, their_rows = errors(run_shap, f, background, inputs, exact, budget, seeds)
            sampled, sampled_rows = errors(run_sampling, f, background, inputs, exact, budget, seeds)
            ratio, low, high = ratio_interval(ours, theirs, rng)
            timing_inputs = inputs[:4]
            with one_blas_thread():
                times = paired_ratios(lambda: run_ours(f, background, timing_inputs, budget, [0]),
                                      lambda: run_shap(f, background, timing_inputs, budget, [0]), repeats)
            summary.append((name, budget, verdict(low, high), np.median(times) >= 1.0))
            print(f"{name:24} {budget:>10} {our_rows:>15.0f} {their_rows:>7.0f} {ours.mean():>10.4f} "
                  f"{theirs.mean():>10.4f} {ratio:>7.2f} [{low:.2f}, {high:.2f}]{'':>4} {summary[-1][2]:>9} "
                  f"{spread(times):>24}")
            print(f"{'':24} {'':>10} sampling Shapley (ours) at about the same rows: {sampled_rows:.0f} rows/expl., "
                  f"error {sampled.mean():.4f} ({sampled.mean() / ours.mean():.2f}x Kernel SHAP's)")
    verdicts = [s[2] for s in summary]
    print(f"\naccuracy: better in {verdicts.count('better')}, equal in {verdicts.count('equal')}, worse in "
          f"{verdicts.count('worse')}, undecided in {verdicts.count('undecided')} of {len(summary)} settings; "
          f"no slower (median time ratio >= 1) in {sum(s[3] for s in summary)} of {len(summary)}")
    worse = [f"{s[0]} at {s[1]} coalitions" for s in summary if s[2] == "worse"]
    print("target (no setting worse than shap, none slower): " +
          ("met" if not worse and all(s[3] for s in summary) else "NOT met" + (f"; worse: {', '.join(worse)}" if worse else "")))


if __name__ == "__main__":
    main()
