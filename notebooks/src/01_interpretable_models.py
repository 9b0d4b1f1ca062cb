# %% [markdown]
# # 01 · Interpretable models and the map of XAI
#
# Before explaining black boxes, ask whether you need one. This lesson trains models that
# explain themselves (logistic regression, a decision tree, nearest neighbours) and black
# boxes (a neural network, an SVM, a random forest) on the same task, compares their
# accuracy with what each lets you read off, and meets the first model-agnostic tool:
# **permutation importance**.
#
# **Learning objectives.** After this notebook you can
# 1. place an explanation method on the map of XAI: local or global, model-specific or
#    model-agnostic, and which kind of explanation it gives;
# 2. read a logistic regression's coefficients, a decision tree's rules and a nearest
#    neighbour's examples;
# 3. measure the accuracy gap between interpretable models and black boxes on a real task;
# 4. compute permutation importance by hand and check it against scikit-learn.
#
# **Time:** about 40 minutes (full mode trains six models in about a minute on a laptop CPU).

# %%
#@course_setup

from course_utils import setup_notebook

ctx = setup_notebook(seed=0)

# %% [markdown]
# ## 1 · The map of XAI (about 5 minutes)
#
# Explanation methods are commonly sorted along three axes (as in the survey of Barredo
# Arrieta et al., 2020, listed under Further reading):
#
# | axis | one end | other end |
# |---|---|---|
# | **scope** | *local*: why this prediction? | *global*: how does the model behave overall? |
# | **relation to the model** | *model-specific*: uses the model's insides (weights, gradients, tree splits) | *model-agnostic*: only calls the model |
# | **kind of explanation** | feature relevance, simplification (a surrogate model), visualisation, examples, rules | |
#
# The survey also sorts models into **interpretable** ones ("transparent": regression
# models, decision trees, kNN) and **uninterpretable** ones, which need an explanation
# from outside (neural networks, SVMs, random forests). Where the course's
# methods sit:
#
# | method | lesson | scope | relation | kind |
# |---|---|---|---|---|
# | coefficients, tree rules | 01 | global (and local) | specific | simplification, rules |
# | nearest neighbours | 01 | local | agnostic | examples |
# | permutation importance | 01 | global | agnostic | feature relevance |
# | LIME, SP-LIME | 02 | local (global) | agnostic | simplification, feature relevance |
# | SHAP | 03 | local (and global) | agnostic (Kernel), specific (Tree, Deep) | feature relevance |
# | gradients, IG, DeepLIFT | 04 | local | specific | feature relevance, visualisation |
# | Anchors | 05 | local | agnostic | rules |
# | counterfactuals | 06 | local | agnostic | examples |
# | Grad-CAM | 07 | local | specific | visualisation |

# %% [markdown]
# ## 2 · The task: UCI Adult (about 5 minutes)
#
# Census records of 45,222 adults (Kohavi, 1996); the target is whether a person earns
# more than 50,000 dollars a year. A quarter of them do, so always answering "no" is
# already 75% accurate: keep that baseline in mind.

# %%
import numpy as np
import pandas as pd

from course_utils import data, pick

train, test = data.adult("train"), data.adult("test")
X_train, categories = train.encoded()
X_test, _ = test.encoded(categories)  # the training table's codes (a category can be missing from one table)
y_train, y_test = train.y, test.y
feature_names = train.features

# Fast mode trains on a sample; full mode on all 30,162 training rows.
n_train = pick(full=len(X_train), fast=3000)
n_test = pick(full=len(X_test), fast=3000)
rows = ctx.rng.permutation(len(X_train))[:n_train]
X_train, y_train = X_train[rows], y_train[rows]
X_test, y_test = X_test[:n_test], y_test[:n_test]
print(f"{n_train} training rows, {n_test} test rows, {len(feature_names)} features; "
      f"base rate of >50K: {y_train.mean():.2f}")
train.frame.head()

# %% [markdown]
# The categorical columns are stored as integer codes (`encoded()`); each model below
# one-hot encodes them and standardises the numbers, inside a scikit-learn pipeline, so
# every model takes the same (n, 13) array.

# %%
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

categorical_columns = sorted(categories)
numeric_columns = [j for j in range(len(feature_names)) if j not in categories]


def preprocessing():
    """One-hot encode categorical codes, standardise numeric columns."""
    return ColumnTransformer([
        ("categorical", OneHotEncoder(categories=[list(range(len(categories[j]))) for j in categorical_columns]),
         categorical_columns),
        ("numeric", StandardScaler(), numeric_columns),
    ], sparse_threshold=0)

# %% [markdown]
# ## 3 · Six models (about 8 minutes)
#
# Three interpretable models and three black boxes, trained on the same rows. The SVM's
# training time grows with the square of the rows, so it sees at most 5,000 of them.

# %%
import time

from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from tqdm.auto import tqdm

n_trees = pick(full=200, fast=60)
forest_name = f"random forest ({n_trees} trees)"
candidates = {
    "logistic regression": (LogisticRegression(max_iter=2000), "interpretable"),
    "decision tree (depth 4)": (DecisionTreeClassifier(max_depth=4, random_state=0), "interpretable"),
    "k nearest neighbours (k=15)": (KNeighborsClassifier(n_neighbors=15), "interpretable"),
    "neural network (64-32)": (MLPClassifier((64, 32), max_iter=pick(full=200, fast=60), early_stopping=True,
                                             random_state=0), "black box"),
    "SVM (RBF kernel)": (SVC(random_state=0), "black box"),
    forest_name: (RandomForestClassifier(n_estimators=n_trees, random_state=0, n_jobs=-1), "black box"),
}
models, results = {}, []
for name, (estimator, kind) in tqdm(candidates.items(), desc="training"):
    limit = 5000 if name.startswith("SVM") else n_train
    start = time.perf_counter()
    models[name] = make_pipeline(preprocessing(), estimator).fit(X_train[:limit], y_train[:limit])
    seconds = time.perf_counter() - start
    results.append((name, kind, models[name].score(X_test, y_test), seconds))
scores = pd.DataFrame(results, columns=["model", "kind", "test accuracy", "training s"]).set_index("model")
scores.round(3)

# %%
import matplotlib.pyplot as plt

best = scores.groupby("kind")["test accuracy"].max()
gap = best["black box"] - best["interpretable"]
print(f"best black box {best['black box']:.3f}, best interpretable model {best['interpretable']:.3f}: "
      f"a gap of {round(100 * gap, 1) + 0.0:.1f} accuracy points")  # + 0.0: a tie prints 0.0, not -0.0
fig, ax = plt.subplots(figsize=(7, 3))
colours = ["tab:green" if kind == "interpretable" else "tab:gray" for kind in scores["kind"]]
ax.barh(scores.index[::-1], scores["test accuracy"][::-1], color=colours[::-1])
ax.axvline(1 - y_test.mean(), color="black", linestyle="--", label="always '<=50K'")
ax.set_xlim(0.7, 0.9)
ax.set_xlabel("test accuracy")
ax.set_title("Adult: interpretable (green) vs black boxes (gray)")
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the axes, not over a bar
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
print(f"best interpretable model beats the baseline: {best['interpretable'] > 1 - y_test.mean()}")
print(f"black boxes gain less than 3 accuracy points here: {gap < 0.03}")

# %% [markdown]
# On this task the best black box gains less than three accuracy points over the best
# interpretable model (the gap is printed above the figure). That is common for tabular
# data (Rudin, 2019, argues it is the rule), and it is why "do I need a black box?" is the
# first question of explainability.
#
# ## 4 · Reading the interpretable models (about 10 minutes)
#
# ### Logistic regression: coefficients
#
# The model is $\log \frac{p}{1-p} = b + \sum_j w_j x_j$. With standardised inputs, a
# coefficient is the change in log-odds for one standard deviation (numbers) or for
# belonging to a category (one-hot columns): a **global**, **model-specific** explanation.

# %%
from course_utils.plotting import bar_weights

logistic = models["logistic regression"]
encoder = logistic[0]
expanded_names = ([f"{feature_names[j]}={categories[j][k]}" for j in categorical_columns
                   for k in range(len(categories[j]))] + [feature_names[j] for j in numeric_columns])
coefficients = logistic[-1].coef_[0]
ax = bar_weights(coefficients, expanded_names, top_k=15, title="logistic regression: 15 largest coefficients")
plt.show()

largest = np.argsort(-np.abs(coefficients))[:15]
held_by = encoder.transform(X_train).sum(axis=0)  # one-hot columns: how many training rows have the category
rare = [k for k in largest if "=" in expanded_names[k] and held_by[k] < 0.01 * n_train]
print(f"of these 15, categories held by fewer than 1% of the {n_train} training rows:",
      ", ".join(f"{expanded_names[k]} ({int(held_by[k])} rows)" for k in rare))

# %%
# NBVAL_CHECK_OUTPUT
print("some of the 15 largest coefficients belong to categories held by under 1% of the rows:", len(rare) > 0)

# %% [markdown]
# Read a coefficient together with how many people it applies to. Several of the largest
# belong to rare categories (printed above): they are estimated from a handful of people
# and move few predictions. A coefficient says how much belonging to a category moves
# the log-odds, not how often it matters.

# %% [markdown]
# ### Decision tree: rules
#
# A depth-4 tree is a set of at most 16 if-then rules. Each prediction comes with its
# rule: a **local** explanation you can read, and the whole tree is a **global** one.

# %%
from sklearn.tree import plot_tree

tree = models["decision tree (depth 4)"]
tree_names = encoder.get_feature_names_out()
readable = {raw: name for raw, name in zip(tree_names, expanded_names)}
fig, ax = plt.subplots(figsize=(16, 6))
plot_tree(tree[-1], max_depth=2, feature_names=[readable[n] for n in tree_names], class_names=["<=50K", ">50K"],
          filled=True, impurity=False, fontsize=8, ax=ax)
ax.set_title("decision tree (depth 4): its first three levels (value = training rows <=50K, >50K)")
plt.show()

# %%
scaler = encoder.named_transformers_["numeric"]


def readable_rule(column, threshold, goes_left):
    """A split of the tree in the data's own terms: categories by name, numbers in their units."""
    name = readable[tree_names[column]]
    if "=" in name:  # a one-hot column: <= 0.5 means "not this category"
        feature, value = name.split("=", 1)
        return f"{feature} {'!=' if goes_left else '=='} {value}"
    j = numeric_columns.index(feature_names.index(name))
    return f"{name} {'<=' if goes_left else '>'} {threshold * scaler.scale_[j] + scaler.mean_[j]:.1f}"


def decision_path_rules(pipeline, x):
    """The rules a tree pipeline applies to one raw row ``x``."""
    encoded = pipeline[0].transform(x[None])[0]
    fitted = pipeline[-1].tree_
    return [readable_rule(fitted.feature[node], fitted.threshold[node],
                          encoded[fitted.feature[node]] <= fitted.threshold[node])
            for node in pipeline[-1].decision_path(encoded[None]).indices[:-1]]


person = X_test[0]
print("rules for test person 0:", " AND ".join(decision_path_rules(tree, person)))
print("prediction:", ">50K" if tree.predict(person[None])[0] else "<=50K", "| truth:", ">50K" if y_test[0] else "<=50K")

# %% [markdown]
# (The tree figure shows thresholds in standard deviations, since the tree sees
# standardised inputs; the rules above are translated back into the data's units.)
#
# ### Nearest neighbours: examples
#
# kNN's explanation of a prediction is the training people it is based on: an
# **explanation by example**.
#
# **Exercise 1.1 — nearest neighbours.** Return the indices of the `k` rows of `X_train`
# closest to `x` in Euclidean distance, nearest first (use `np.argsort(..., kind="stable")`).

# %%
from course_utils import check
from course_utils.xai import permutation  # lesson 01's module: its reference code and exercises


def nearest_neighbours(X_train, x, k):
    # BEGIN SOLUTION Exercise 1.1: the k nearest rows, nearest first
    distances = np.linalg.norm(np.asarray(X_train, float) - np.asarray(x, float), axis=1)
    return np.argsort(distances, kind="stable")[:k]
    # END SOLUTION


nearest_neighbours = check("1.1", nearest_neighbours)

# %%
knn = models["k nearest neighbours (k=15)"]
neighbours = nearest_neighbours(knn[0].transform(X_train), knn[0].transform(person[None])[0], 5)
print(f"kNN predicts {knn.predict_proba(person[None])[0, 1]:.2f} for >50K; the 5 closest training people:")
train.frame.iloc[rows[neighbours]]

# %% [markdown]
# ## 5 · Black boxes and permutation importance (about 10 minutes)
#
# A random forest's trees or a network's thousands of weights (both counted below) cannot
# be read. A first
# **global, model-agnostic** question: *which features does the model rely on?* Shuffle
# one feature's column in the test set: its values keep their distribution but lose their
# link to the target. The drop in accuracy is that feature's **permutation importance**
# (Breiman, 2001; Fisher et al., 2019).
#
# **Exercise 1.2 — one permutation drop.** Copy `X`, replace column `column` by
# `X[rng.permutation(len(X)), column]` (call `rng.permutation` exactly once), and return
# the accuracy on `X` minus the accuracy on the shuffled copy. `predict` maps an array to
# labels.

# %%
def permutation_drop(predict, X, y, column, rng):
    # BEGIN SOLUTION Exercise 1.2: accuracy drop when one column is shuffled
    shuffled = X.copy()
    shuffled[:, column] = X[rng.permutation(len(X)), column]
    return np.mean(predict(X) == y) - np.mean(predict(shuffled) == y)
    # END SOLUTION


permutation_drop = check("1.2", permutation_drop)

# %% [markdown]
# Repeating the shuffle a few times per feature gives a mean and a spread. The course's
# `permutation_importance` does just that with your function's logic; scikit-learn's
# `permutation_importance` is the library version. They use different random shuffles, so
# they agree up to noise.

# %%
from sklearn.inspection import permutation_importance as sklearn_permutation_importance

from course_utils.xai.permutation import permutation_importance

n_repeats = pick(full=5, fast=3)
n_explain = pick(full=5000, fast=3000)  # rows to shuffle: enough for stable means
X_explain, y_explain = X_test[:n_explain], y_test[:n_explain]
forest = models[forest_name]
network = models["neural network (64-32)"][-1]
n_weights = sum(w.size for w in network.coefs_) + sum(b.size for b in network.intercepts_)
print(f"the forest has {len(forest[-1].estimators_)} trees; the network {n_weights} weights and biases")
ours, ours_std = permutation_importance(forest.predict, X_explain, y_explain, n_permutations=n_repeats, rng=ctx.rng)
library = sklearn_permutation_importance(forest, X_explain, y_explain, n_repeats=n_repeats, random_state=0)
importance = pd.DataFrame({"ours": ours, "ours (std)": ours_std, "scikit-learn": library.importances_mean},
                          index=feature_names).sort_values("ours", ascending=False)
importance.round(4)

# %%
# NBVAL_CHECK_OUTPUT
print("largest mean difference between ours and scikit-learn's:",
      "below 0.01" if np.abs(importance["ours"] - importance["scikit-learn"]).max() < 0.01 else "0.01 or more")
print("same most important feature:", importance.index[0] == importance["scikit-learn"].idxmax())

# %% [markdown]
# Below the top feature, several importances differ by less than their standard deviation:
# their order is noise, and ours and scikit-learn's may rank them differently. More rows
# and more repeats shrink the spread; an importance is only meaningful with its spread.
# An importance can also be *negative*: the model was slightly more accurate with that
# column shuffled. Within its spread that is noise; beyond it, the model uses the feature
# in a way that does not carry over to the test rows.
#
# Two black boxes with similar accuracy need not rely on the same features. The same
# measurement for the forest and the network, both drawn in the forest's order:

# %%
from matplotlib.ticker import MaxNLocator

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
order = None
for ax, name in zip(axes, [forest_name, "neural network (64-32)"]):
    means, stds = permutation_importance(models[name].predict, X_explain, y_explain, n_permutations=n_repeats, rng=ctx.rng)
    order = np.argsort(means) if order is None else order  # the forest's order, for both panels
    ax.barh(np.array(feature_names)[order], means[order], xerr=stds[order], color="tab:gray")
    ax.set_title(name)
    ax.set_xlabel("accuracy drop when shuffled")
    ax.xaxis.set_major_locator(MaxNLocator(5))  # fewer ticks: the two panels' labels do not collide
    print(f"{name}: the three most important features are", ", ".join(np.array(feature_names)[np.argsort(-means)[:3]]))
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 6 · How much can you read? A widget (about 3 minutes)
#
# Deeper trees are more accurate, up to a point, and have more rules to read. Move the
# slider: how deep can a tree grow before you stop calling it interpretable?

# %%
import ipywidgets as widgets


def tree_of_depth(depth=4):
    pipeline = make_pipeline(preprocessing(), DecisionTreeClassifier(max_depth=depth, random_state=0))
    pipeline.fit(X_train, y_train)
    leaves = pipeline[-1].get_n_leaves()
    print(f"depth {depth}: {leaves} rules (leaves), test accuracy {pipeline.score(X_test, y_test):.3f}")


widgets.interact(tree_of_depth, depth=widgets.IntSlider(value=4, min=1, max=20, description="max depth"));

# %% [markdown]
# ### Think
#
# 1. Permutation importance of a feature that is strongly correlated with another (say
#    `education` and `education_num`) can be small for both. Why?
# 2. Is the logistic regression "explained" by its coefficients if the inputs were not
#    standardised? What would a large coefficient on `capital_gain` then mean?
# 3. Where on the map of XAI does permutation importance sit? And kNN's neighbours?
#
# <!-- BEGIN SOLUTION -->
# **Answers.** (1) When one of two redundant features is shuffled, the model can still
# get the information from the other, so accuracy barely drops; shuffling also creates
# unrealistic combinations (a doctorate with 9 years of education). Permute them together,
# or use conditional methods. (2) Coefficients are per unit of the input: with raw inputs a
# large coefficient on a feature measured in dollars and a small one on age in years are not
# comparable; standardising makes them per standard deviation. (3) Permutation importance is
# global, model-agnostic, feature relevance; kNN's neighbours are local, model-agnostic
# (any model can be explained with neighbours), explanation by example.
# <!-- END SOLUTION -->

# %% [markdown]
# ## Summary
#
# - Explanations differ in scope (local/global), in how they use the model
#   (specific/agnostic) and in kind (relevance, simplification, visualisation, examples, rules).
# - On Adult the best interpretable model is within three accuracy points of the best black box.
# - Coefficients, tree rules and neighbours are explanations you get for free.
# - Permutation importance asks any model which features it relies on; ours matches
#   scikit-learn's up to random noise.
#
# **Next:** lesson 02, LIME: a local surrogate for any black box.
#
# ## Further reading
#
# - L. Breiman, "Random Forests", *Machine Learning* 45 (2001): permutation importance.
# - A. Fisher, C. Rudin, F. Dominici, "All Models are Wrong, but Many are Useful", *JMLR* 20 (2019).
# - C. Rudin, "Stop explaining black box machine learning models for high stakes decisions
#   and use interpretable models instead", *Nature Machine Intelligence* 1 (2019).
# - R. Kohavi, "Scaling Up the Accuracy of Naive-Bayes Classifiers: a Decision-Tree Hybrid", KDD 1996 (the Adult data).
# - A. Barredo Arrieta et al., "Explainable Artificial Intelligence (XAI)", *Information Fusion* 58 (2020): the taxonomy.
