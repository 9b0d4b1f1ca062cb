"""How fast is the course's anchor search next to anchor-exp, the authors' package?

Run from the repository root: ``python benchmarks/bench_anchors.py [--n 10]``. Both explain
the same Adult people for the same models (logistic regression and gradient boosting) with
the same settings (threshold 0.95, delta 0.1, epsilon 0.15, beam 2, batch 100). It prints,
per model, the mean time per explanation, model calls and rows the model was evaluated on,
and the ratios anchor-exp / ours, all measured in one run; then the quality of both rules:
their precision under D(z|A) re-estimated with 20,000 fresh samples, and their coverage of
the training data. It is not a test.

anchor-exp (``pip install anchor-exp``) draws from NumPy's global generator, so it is seeded
with ``np.random.seed`` before each explanation.
"""
import argparse
import time

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from course_utils import data
from course_utils.xai.anchors import anchor_tabular, candidate_predicates, conditional_sample, rule_from_text, rule_holds


class CountingModel:
    """Wraps ``predict`` and counts calls and rows."""

    def __init__(self, predict):
        self.predict, self.calls, self.rows = predict, 0, 0

    def __call__(self, X):
        self.calls += 1
        self.rows += len(X)
        return self.predict(X)


def adult_models(n_train: int, rng: np.random.Generator):
    table = data.adult("train")
    X, categories = table.encoded()  # one encoding for every row (the test file lacks a country)
    rows = rng.permutation(len(X))
    train, people = rows[:n_train], rows[n_train:]
    one_hot = ColumnTransformer([("categorical", OneHotEncoder(handle_unknown="ignore"), sorted(categories))],
                                remainder=StandardScaler())
    models = {
        "logistic regression": make_pipeline(one_hot, LogisticRegression(max_iter=2000)),
        "gradient boosting": GradientBoostingClassifier(random_state=0),
    }
    for model in models.values():
        model.fit(X[train], table.y[train])
    return X[train], X[people], categories, table.features, models


def run(explain, predict, people):
    """Mean seconds, model calls and rows per explanation, and each explanation's rule."""
    times, calls, rows, found = [], [], [], []
    for i, x in enumerate(people):
        model = CountingModel(predict)
        start = time.perf_counter()
        found.append(explain(model, x, i))
        times.append(time.perf_counter() - start)
        calls.append(model.calls)
        rows.append(model.rows)
    return np.mean(times), np.mean(calls), np.mean(rows), found


def quality(rule, x, predict, X_train, rng):
    """Precision under D(z|A) from 20,000 fresh samples, and coverage of the training data."""
    label = predict(x[None])[0]
    Z = conditional_sample(X_train, x, rule, 20_000, rng)
    return np.mean(predict(Z) == label), rule_holds(X_train, rule).mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10, help="people explained per model")
    args = parser.parse_args()
    try:
        from anchor.anchor_tabular import AnchorTabularExplainer
    except ImportError:
        print("anchor-exp is not installed (pip install anchor-exp): nothing to compare with.")
        return
    X_train, people, categories, names, models = adult_models(10_000, np.random.default_rng(0))
    people = people[:args.n]
    library = AnchorTabularExplainer(["<=50K", ">50K"], names, X_train, categories)
    settings = dict(threshold=0.95, delta=0.1, batch_size=100, beam_size=2)

    def ours(model, x, i):
        return list(anchor_tabular(model, X_train, x, feature_names=names, categorical_names=categories,
                                   epsilon=0.15, rng=i, **settings).predicates)

    def theirs(model, x, i):
        np.random.seed(i)
        names_found = library.explain_instance(x, model, tau=0.15, **settings).names()
        return rule_from_text(names_found, candidate_predicates(X_train, x, sorted(categories)), names, categories)

    print(f"Adult, {len(X_train)} training rows, {len(people)} people per model")
    for name, model in models.items():
        ours_stats = run(ours, model.predict, people)
        their_stats = run(theirs, model.predict, people)
        print(f"\n{name}:")
        print(f"  {'':12s} {'s/explanation':>14s} {'model calls':>12s} {'rows evaluated':>15s}"
              f" {'predicates':>11s} {'prec. D(z|A)':>13s} {'coverage':>9s}")
        for label, (seconds, calls, rows, found) in (("ours", ours_stats), ("anchor-exp", their_stats)):
            checked = np.array([quality(rule, x, model.predict, X_train, np.random.default_rng(0))
                                for rule, x in zip(found, people)])
            print(f"  {label:12s} {seconds:14.2f} {calls:12.1f} {rows:15.0f} {np.mean([len(r) for r in found]):11.1f}"
                  f" {checked[:, 0].mean():13.3f} {checked[:, 1].mean():9.3f}")
        print(f"  anchor-exp / ours: time {their_stats[0] / ours_stats[0]:.1f}x, calls "
              f"{their_stats[1] / ours_stats[1]:.1f}x, rows {their_stats[2] / ours_stats[2]:.2f}x")
        same = np.mean([{p[0] for p in a} == {p[0] for p in b} for a, b in zip(ours_stats[3], their_stats[3])])
        print(f"  same features in both anchors: {same:.0%} of people")


if __name__ == "__main__":
    main()
