"""Our kernel_shap against shap.KernelExplainer: same model, same background, same budget.

Run from the repository root: ``python benchmarks/bench_shap.py`` (a few minutes on two
CPU cores; ``--quick`` for a smaller run). For each model and budget of coalitions it
explains the same inputs with both, counts the model evaluations each makes, and reports
in one run the wall-time ratio (shap / ours; target >= 1: no slower) and the mean error
against the exact SHAP values (target: ours <= shap's, no less accurate).

- Adult, gradient boosting, log-odds, 13 features, 20 background rows; exact values from
  ``shap.TreeExplainer`` (interventional, same background).
- A neural network (scikit-learn MLP) on 14 synthetic features, 10 background rows;
  exact values from our Kernel SHAP over all 2**14 - 2 coalitions.

Both run with one BLAS thread (``one_blas_thread``): their regressions are small, and on a
shared machine multi-threaded BLAS makes them slower by a factor that depends on the load.
shap samples with numpy's global generator, seeded here before each explanation.
"""
import argparse
import time
import warnings

import numpy as np
import shap
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.neural_network import MLPRegressor

from course_utils import data
from course_utils.xai.shapley import kernel_shap, one_blas_thread


class Counted:
    """A model wrapper that counts evaluated rows and the time spent in the model."""

    def __init__(self, f):
        self.f, self.rows, self.seconds = f, 0, 0.0

    def __call__(self, X):
        start = time.perf_counter()
        out = self.f(np.asarray(X))
        self.seconds += time.perf_counter() - start
        self.rows += len(X)
        return out

    def reset(self):
        self.rows, self.seconds = 0, 0.0


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
    exact = np.array([kernel_shap(mlp.predict, x, background, n_samples=2**d) for x in inputs])
    return f"MLP (d={d}, N=10)", mlp.predict, background, inputs, exact


def run_ours(model, background, inputs, budget, seed):
    return [kernel_shap(model, x, background, n_samples=budget, rng=seed * 1000 + k) for k, x in enumerate(inputs)]


def run_shap(model, background, inputs, budget, seed):
    explainer = shap.KernelExplainer(model, background)
    values = []
    for k, x in enumerate(inputs):
        np.random.seed(seed * 1000 + k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values.append(explainer.shap_values(x, nsamples=budget, l1_reg=False, silent=True))
    return values


def measure(runner, f, background, inputs, exact, budget, seeds):
    model = Counted(f)
    start = time.perf_counter()
    with one_blas_thread():
        estimates = [runner(model, background, inputs, budget, seed) for seed in seeds]
    seconds = time.perf_counter() - start
    n = len(seeds) * len(inputs)
    errors = [np.linalg.norm(e - x) for run in estimates for e, x in zip(run, exact)]
    return {"seconds": seconds, "model_seconds": model.seconds, "evals": model.rows / n, "error": np.mean(errors),
            "error_se": np.std(errors, ddof=1) / np.sqrt(len(errors))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer inputs, seeds and budgets")
    args = parser.parse_args()
    n_inputs, seeds = (4, range(2)) if args.quick else (10, range(5))
    budgets = [100, 500] if args.quick else [100, 300, 1000, 3000]
    print(f"{n_inputs} inputs x {len(seeds)} seeds per setting; errors: mean L2 distance to the exact SHAP values")
    header = (f"{'model':24} {'coalitions':>10} {'evals ours/shap':>17} {'time ours':>9} {'time shap':>9} "
              f"{'shap/ours':>9} {'error ours (se)':>17} {'error shap (se)':>17} {'err ratio':>9}")
    print(header)
    print("-" * len(header))
    verdicts = []
    for name, f, background, inputs, exact in (adult_case(n_inputs), mlp_case(n_inputs)):
        for budget in budgets:
            ours = measure(run_ours, f, background, inputs, exact, budget, seeds)
            theirs = measure(run_shap, f, background, inputs, exact, budget, seeds)
            speed, accuracy = theirs["seconds"] / ours["seconds"], ours["error"] / theirs["error"]
            overhead = (theirs["seconds"] - theirs["model_seconds"]) / (ours["seconds"] - ours["model_seconds"])
            verdicts.append((speed >= 1.0, accuracy <= 1.0))
            print(f"{name:24} {budget:>10} {ours['evals']:>8.0f}/{theirs['evals']:<8.0f} {ours['seconds']:>8.2f}s "
                  f"{theirs['seconds']:>8.2f}s {speed:>8.1f}x {ours['error']:>9.4f} ({ours['error_se']:.4f}) "
                  f"{theirs['error']:>9.4f} ({theirs['error_se']:.4f}) {accuracy:>9.2f}")
            print(f"{'':24} {'':>10} {'time outside the model:':>27} ours {ours['seconds'] - ours['model_seconds']:.2f}s, "
                  f"shap {theirs['seconds'] - theirs['model_seconds']:.2f}s ({overhead:.1f}x)")
    print(f"\nno slower (shap/ours >= 1) in {sum(v[0] for v in verdicts)} of {len(verdicts)} settings; "
          f"no less accurate (error ratio <= 1) in {sum(v[1] for v in verdicts)} of {len(verdicts)} "
          "(se: standard error of the mean error, to judge the noise)")


if __name__ == "__main__":
    main()
