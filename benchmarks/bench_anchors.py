"""How fast is the course's anchor search next to anchor-exp, the authors' package?

Run from the repository root: ``python benchmarks/bench_anchors.py [--n 10] [--quick]``.
Both explain the same Adult people for the same models (logistic regression and gradient
boosting) with the same settings (threshold 0.95, delta 0.1, epsilon 0.15, beam 2, batch
100), person by person in turn (ours, then anchor-exp: paired, so that a shared machine's
drift hits both). It prints, per model, the mean time per explanation, model calls and rows
the model was evaluated on (counted by a wrapper around ``predict``, whatever each package
reports), the ratios anchor-exp / ours (time: median and range of the per-person ratios),
then the quality of both rules: their precision under D(z|A) re-estimated with 20,000 fresh
samples, and their coverage of the training data. The targets: rows per explanation <=
anchor-exp's at a precision under D(z|A) >= anchor-exp's, and time no slower (median
ratio >= 1). It is not a test.

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
from timing import CountingModel, spread


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


def run_paired(explainers: dict, predict, people) -> dict:
    """Per explainer: seconds, model calls and rows per explanation and the rules, people in turn."""
    results = {name: {"seconds": [], "calls": [], "rows": [], "rules": []} for name in explainers}
    for i, x in enumerate(people):
        for name, explain in explainers.items():
            model = CountingModel(predict)
            start = time.perf_counter()
            rule = explain(model, x, i)
            results[name]["seconds"].append(time.perf_counter() - start)
            results[name]["calls"].append(model.calls)
            results[name]["rows"].append(model.rows)
            results[name]["rules"].append(rule)
    return {name: {key: (value if key == "rules" else np.array(value)) for key, value in result.items()}
            for name, result in results.items()}


def quality(rule, x, predict, X_train, rng):
    """Precision under D(z|A) from 20,000 fresh samples, and coverage of the training data."""
    label = predict(x[None])[0]
    Z = conditional_sample(x, X_train, rule, n_samples=20_000, rng=rng)
    return np.mean(predict(Z) == label), rule_holds(X_train, rule).mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="people explained per model (default 10; 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="three people per model")
    args = parser.parse_args()
    n_people = args.n if args.n is not None else (3 if args.quick else 10)
    try:
        from anchor.anchor_tabular import AnchorTabularExplainer
    except ImportError:
        print("anchor-exp is not installed (pip install anchor-exp): nothing to compare with.")
        return
    X_train, people, categories, names, models = adult_models(10_000, np.random.default_rng(0))
    people = people[:n_people]
    library = AnchorTabularExplainer(["<=50K", ">50K"], names, X_train, categories)
    settings = dict(threshold=0.95, delta=0.1, batch_size=100, beam_size=2)

    def ours(model, x, i):
        return list(anchor_tabular(model, x, X_train, feature_names=names, categorical_names=categories,
                                   epsilon=0.15, rng=i, **settings).predicates)

    def theirs(model, x, i):
        np.random.seed(i)
        names_found = library.explain_instance(x, model, tau=0.15, **settings).names()
        return rule_from_text(names_found, candidate_predicates(x, X_train, sorted(categories)), names, categories)

    print(f"Adult, {len(X_train)} training rows, {len(people)} people per model")
    met = []
    for name, model in models.items():
        results = run_paired({"ours": ours, "anchor-exp": theirs}, model.predict, people)
        print(f"\n{name}:")
        print(f"  {'':12s} {'s/explanation':>14s} {'model calls':>12s} {'rows evaluated':>15s}"
              f" {'predicates':>11s} {'prec. D(z|A)':>13s} {'coverage':>9s}")
        precision = {}
        for label, result in results.items():
            checked = np.array([quality(rule, x, model.predict, X_train, np.random.default_rng(0))
                                for rule, x in zip(result["rules"], people)])
            precision[label] = checked[:, 0].mean()
            print(f"  {label:12s} {result['seconds'].mean():14.2f} {result['calls'].mean():12.1f} "
                  f"{result['rows'].mean():15.0f} {np.mean([len(r) for r in result['rules']]):11.1f}"
                  f" {checked[:, 0].mean():13.3f} {checked[:, 1].mean():9.3f}")
        ours_r, theirs_r = results["ours"], results["anchor-exp"]
        time_ratios = theirs_r["seconds"] / ours_r["seconds"]
        rows_ratio = theirs_r["rows"].mean() / ours_r["rows"].mean()
        print(f"  anchor-exp / ours: time {spread(time_ratios)} (per person), calls "
              f"{theirs_r['calls'].mean() / ours_r['calls'].mean():.2f}x, rows {rows_ratio:.2f}x")
        same = np.mean([{p[0] for p in a} == {p[0] for p in b} for a, b in zip(ours_r["rules"], theirs_r["rules"])])
        print(f"  same features in both anchors: {same:.0%} of people")
        targets = {"rows <= anchor-exp's": rows_ratio >= 1.0,
                   "precision under D(z|A) >= anchor-exp's": precision["ours"] >= precision["anchor-exp"],
                   "time no slower (median ratio >= 1)": np.median(time_ratios) >= 1.0}
        met.append(all(targets.values()))
        print("  targets: " + "; ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in targets.items()))
    print(f"\nall targets met for {sum(met)} of {len(met)} models")


if __name__ == "__main__":
    main()
