# %% [markdown]
# # 06 · Counterfactual explanations
#
# *"You were denied a loan because your annual income was £30,000. If your income had been
# £45,000, you would have been offered a loan."* That sentence explains a decision without
# saying anything about how the model works inside: it names the **smallest change** to the
# input that would have changed the output. Wachter, Mittelstadt and Russell (2018) proposed
# such **counterfactual explanations** as what people are owed under the GDPR, and a simple
# way to compute them for any differentiable model: minimise
#
# $$\lambda\,\big(f(x') - y'\big)^2 + d(x, x'), \qquad d(x, x') = \sum_j \frac{|x_j - x'_j|}{\mathrm{MAD}_j},$$
#
# where $y'$ is the output we want, $\mathrm{MAD}_j$ the median absolute deviation of
# feature $j$, and $\lambda$ is increased until $|f(x') - y'| \le \epsilon$.
#
# **Learning objectives.** After this notebook you can
# 1. write the MAD-scaled L1 distance, Wachter's loss and the lambda schedule, and find a
#    counterfactual by gradient descent in torch;
# 2. judge a counterfactual by its validity, proximity and sparsity, and explain why the
#    L1 distance gives sparse changes and the L2 distance dense ones;
# 3. use counterfactuals to reveal a model's bias (law school data: does race change?);
# 4. generate personalised, *actionable* counterfactuals (Pima diabetes: immutable
#    features, bounds, integers) and compare them with DiCE's diverse counterfactuals.
#
# **Time:** about 75 minutes (full mode runs in under a minute on a laptop CPU).

# %%
#@course_setup

from course_utils import setup_notebook

ctx = setup_notebook(seed=0)

# %% [markdown]
# ## 1 · The idea, and the task (about 10 minutes)
#
# Where counterfactuals sit on the map of XAI (lesson 01): **local** (one decision),
# **model-agnostic** in spirit (only inputs and outputs matter; the optimisation below uses
# gradients, but any black-box optimiser would do) and an **explanation by example**: the
# explanation is a point, $x'$, close to $x$.
#
# A good counterfactual is
# - **valid**: the model really gives the desired output, $|f(x') - y'| \le \epsilon$;
# - **close** (proximity): $d(x, x')$ is small;
# - **sparse**: few features change, so a person can read it and act on it;
# - **actionable and realistic**: it changes only what can be changed (not age or race),
#   within plausible values.
#
# Why the **median absolute deviation**? Features live on different scales (glucose in
# mg/dl, BMI in kg/m²): dividing by a spread makes "one unit of change" comparable. The MAD,
# $\mathrm{median}_i |x_{ij} - \mathrm{median}_k x_{kj}|$, is a spread that outliers do not
# inflate. And the **L1** norm (not the squared L2 norm) makes changes sparse, as section 3 shows.
#
# Our first task is the paper's second experiment: the **Pima Indians diabetes** data
# (768 women, 8 measurements, did diabetes appear within five years). A small neural
# network predicts the risk; for a high-risk woman we ask *what is the smallest change that
# brings her predicted risk down to 0.5?*

# %%
import numpy as np
import pandas as pd
import torch
from torch import nn

from course_utils import data, pick

pima = data.pima()
pima_names = pima.features
X_pima, y_pima = pima.X.to_numpy(dtype=float), pima.y.astype(float)
order = ctx.rng.permutation(len(X_pima))
pima_train, pima_test = order[:576], order[576:]
pima.frame.describe().T[["mean", "min", "max"]].round(1)

# %% [markdown]
# The models of this lesson are small tabular networks. Their first layer standardises the
# inputs (like the images' `Normalize` layer), so the network, and the counterfactual
# search, work in the features' own units: a counterfactual says "glucose 120", not
# "glucose -0.3 standard deviations". They are tiny, so they run on the CPU with **one
# thread**: for operations this small, coordinating two threads costs more than the work.

# %%
from course_utils.models import tabular_mlp  # standardises inside, then ReLU layers: (n, d) -> (n,)
from course_utils.predict import batched_predict
from course_utils.train import fit_tabular  # AdamW on shuffled mini-batches; returns the model in eval mode

torch.set_num_threads(1)


def predict(model, X):
    """The model's raw outputs (no softmax) for one row or a batch of rows, as numpy."""
    return batched_predict(model, np.atleast_2d(X), probs=False)


pima_model = fit_tabular(tabular_mlp(X_pima[pima_train]), X_pima[pima_train], y_pima[pima_train],
                         nn.functional.binary_cross_entropy, epochs=20, batch_size=32)
risk = predict(pima_model, X_pima)
test_accuracy = np.mean((risk[pima_test] > 0.5) == y_pima[pima_test])
print(f"test accuracy {test_accuracy:.2f} (always 'no diabetes': {1 - y_pima[pima_test].mean():.2f})")

# %%
# NBVAL_CHECK_OUTPUT
print("the network beats the majority class on test data:", test_accuracy > 1 - y_pima[pima_test].mean())

# %% [markdown]
# ## 2 · Counterfactuals by hand (about 20 minutes)
#
# We search in **MAD units**, $z = (x' - x)/\mathrm{MAD}$: one step of the optimiser then
# means the same amount for every feature, whatever its scale.
#
# **Exercise 6.1 — the MAD-scaled L1 distance.** Return $\sum_j |x_j - x'_j| / \mathrm{MAD}_j$
# for torch tensors, summing over the **last** dimension (so that a batch of counterfactuals
# `x_cf` of shape (n, d) gives n distances). Use torch operations, so that gradients flow.

# %%
from course_utils import check
from course_utils.xai.counterfactuals import mad


def mad_distance(x, x_cf, mad):
    # BEGIN SOLUTION Exercise 6.1: the MAD-scaled L1 distance
    return (torch.abs(x_cf - x) / mad).sum(dim=-1)
    # END SOLUTION


mad_distance = check("6.1", mad_distance)

# %% [markdown]
# **Exercise 6.2 — Wachter's loss.** Return $\lambda\,(f(x') - y')^2 + d(x, x')$, where
# `prediction` is $f(x')$ and `target` is $y'$ (use your `mad_distance`).

# %%
def wachter_loss(prediction, target, x, x_cf, mad, lam):
    # BEGIN SOLUTION Exercise 6.2: Wachter's loss
    return lam * (prediction - target) ** 2 + mad_distance(x, x_cf, mad)
    # END SOLUTION


wachter_loss = check("6.2", wachter_loss)

# %% [markdown]
# For a fixed $\lambda$, minimising the loss is a few lines of torch. Note
# `torch.autograd.grad(loss, z)`: it differentiates with respect to the change `z` only,
# so the model's weights get no gradients (`loss.backward()` would fill their `.grad`).

# %%
def solve_fixed_lambda(model, x, target, mad_, lam, loss_fn, *, steps=200, lr=0.05):
    """Minimise loss_fn(f(x'), target, x, x', mad, lam) with Adam over z = (x' - x) / mad."""
    x, mad_ = torch.tensor(x, dtype=torch.float32), torch.tensor(mad_, dtype=torch.float32)
    z = torch.zeros_like(x, requires_grad=True)
    optimiser = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        x_cf = x + mad_ * z
        loss = loss_fn(model(x_cf[None])[0], target, x, x_cf, mad_, lam)
        (z.grad,) = torch.autograd.grad(loss, z)
        optimiser.step()
    x_cf = (x + mad_ * z).detach()
    return x_cf.numpy().astype(float), abs(model(x_cf[None])[0].item() - target)

# %% [markdown]
# The tolerance is on the *output*, while $\lambda$ is only a knob: Wachter et al. start
# with a small $\lambda$ (the distance dominates: $x' = x$) and increase it until the
# prediction is within $\epsilon$ of the target.
#
# **Exercise 6.3 — the lambda schedule.** `solve(lam)` returns `(x_cf, gap)`, the minimiser
# for this $\lambda$ and its $|f(x') - y'|$. Start at `lam_init`; return the first `x_cf`
# whose gap is at most `tol`, doubling $\lambda$ after each failure; after `max_rounds`
# values of $\lambda$, raise a `RuntimeError` (never return an invalid counterfactual).

# %%
def lambda_schedule(solve, lam_init, tol, max_rounds):
    # BEGIN SOLUTION Exercise 6.3: the lambda schedule
    lam = lam_init
    for _ in range(max_rounds):
        x_cf, gap = solve(lam)
        if gap <= tol:
            return x_cf
        lam *= 2
    raise RuntimeError(f"no valid counterfactual after {max_rounds} values of lambda (last gap {gap:.3g})")
    # END SOLUTION


lambda_schedule = check("6.3", lambda_schedule)

# %% [markdown]
# Now the whole method, on the first high-risk woman of the test set.

# %%
def counterfactual_by_hand(model, x, target, mad_, loss_fn=wachter_loss, tol=0.05):
    """Wachter et al.'s counterfactual from the three exercises."""
    solve = lambda lam: solve_fixed_lambda(model, x, target, mad_, lam, loss_fn)  # noqa: E731
    return lambda_schedule(solve, lam_init=1.0, tol=tol, max_rounds=20)


def compare(x, x_cfs: dict, names, model):
    """A table: the person, each counterfactual, and the predictions."""
    table = pd.DataFrame({"x": x, **x_cfs}, index=names)
    table.loc["prediction"] = predict(model, np.stack([x, *x_cfs.values()]))
    return table


pima_mad = mad(X_pima[pima_train])
high_risk = np.flatnonzero(risk >= 0.75)
woman = X_pima[np.intersect1d(high_risk, pima_test)[0]]
by_hand = counterfactual_by_hand(pima_model, woman, 0.5, pima_mad)
print("MAD of each feature:", dict(zip(pima_names, pima_mad.round(2).tolist())))
compare(woman, {"by hand (L1, MAD)": by_hand}, pima_names, pima_model).round(2)

# %% [markdown]
# ## 3 · Validity, proximity, sparsity: L1 against L2 (about 10 minutes)
#
# Replace the MAD-L1 distance by the squared L2 distance (in the same MAD units) and look
# at *how* the two counterfactuals change the woman.

# %%
import matplotlib.pyplot as plt

from course_utils.plotting import SIGNED_CMAP


def l2_loss(prediction, target, x, x_cf, mad_, lam):
    return lam * (prediction - target) ** 2 + (((x_cf - x) / mad_) ** 2).sum(dim=-1)


by_hand_l2 = counterfactual_by_hand(pima_model, woman, 0.5, pima_mad, loss_fn=l2_loss)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharex=True, sharey=True)
for ax, (title, x_cf) in zip(axes, [("L1 distance / MAD", by_hand), ("squared L2 distance / MAD", by_hand_l2)]):
    change = (x_cf - woman) / pima_mad
    ax.barh(pima_names[::-1], change[::-1], color=[plt.get_cmap(SIGNED_CMAP)(0.85 if c > 0 else 0.15) for c in change[::-1]])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_title(f"{title}: change in MADs")
    ax.set_xlabel("change (MADs of the feature)")
axes[0].set_ylabel("feature")
fig.tight_layout()
plt.show()
compare(woman, {"L1 (MAD)": by_hand, "L2 (MAD)": by_hand_l2}, pima_names, pima_model).round(2)

# %% [markdown]
# The L2 counterfactual nudges **every** feature a little (the square of a small change is
# tiny, so spreading the change is cheap); the L1 counterfactual moves a few features and
# leaves the rest exactly, or almost exactly, where they were (each unit of change costs
# the same, so the search spends it where it buys the most). A person can act on "lower your
# glucose to 120"; not on "change all eight measurements slightly".
#
# "Almost exactly": plain (sub)gradient descent on $|z|$ makes the unused features jitter
# around zero by about the step size, so here a feature counts as changed if it moves by
# more than 0.05 MAD. The course's `wachter` (in `course_utils.xai.counterfactuals`)
# minimises the same loss with the same schedule but moves one feature at a time, the one
# that lowers the loss most: unused features then stay *exactly* unchanged. It also takes
# bounds and immutable features, and solves many people at once.

# %%
from course_utils.xai.counterfactuals import NoCounterfactualError, wachter, wachter_batch

ours = wachter(pima_model, woman, target=0.5, mad=pima_mad)
distance = lambda x_cf: np.abs((x_cf - woman) / pima_mad).sum()  # noqa: E731
changed_by_hand = lambda x_cf: int(np.sum(np.abs((x_cf - woman) / pima_mad) > 0.05))  # noqa: E731
sparsity = pd.DataFrame({
    "valid": [abs(predict(pima_model, c)[0] - 0.5) <= 0.05 for c in (by_hand, by_hand_l2, ours)],
    "distance (MAD-L1)": [distance(c) for c in (by_hand, by_hand_l2, ours)],
    "features changed": [changed_by_hand(by_hand), changed_by_hand(by_hand_l2), int(np.sum(ours != woman))],
}, index=["by hand, L1", "by hand, L2", "course's wachter (L1)"])
sparsity.round(2)

# %%
# NBVAL_CHECK_OUTPUT
print("all three counterfactuals are valid:", bool(sparsity["valid"].all()))
print("L2 changes more features than L1:", sparsity.loc["by hand, L2", "features changed"]
      > sparsity.loc["by hand, L1", "features changed"])
print("wachter's MAD-L1 distance is within 5% of the by-hand one, or smaller:",
      sparsity.loc["course's wachter (L1)", "distance (MAD-L1)"] <= 1.05 * sparsity.loc["by hand, L1", "distance (MAD-L1)"])

# %% [markdown]
# ## 4 · Experiment 1: law school, and a bias revealed (about 15 minutes)
#
# Wachter et al.'s first experiment uses the law school data in the version of Kusner et
# al. (2017): 21,791 students, their **race**, undergraduate grade point average (**UGPA**)
# and admission test score (**LSAT**), and their standardised first-year average (**ZFYA**,
# 0 is the average). A small network predicts ZFYA; for each student, ask *what would have
# to change for the model to predict an average score (0)?*
#
# **Encoding race.** The data have eight categories. Like Wachter et al. we encode race as
# one binary feature, `white` (1 for White students, 0 for everyone else). The counterfactual
# search treats it as a number in $[0, 1]$: a counterfactual **changes race** when it moves
# `white` at all, and it **turns a student white** when it moves `white` past 0.5 (it would
# then round to the other group). A value such as 0.3 is not a real person; we keep it
# because it shows *that* the model's answer depends on race. (A one-hot encoding would give
# each group its own column, and "change race" would mean moving weight between columns.)
#
# **The MAD of a binary feature.** 84% of the students are White: the median of `white` is
# 1 and more than half of the values equal it, so its MAD is 0, and dividing by it would
# make race infinitely expensive. Like the DiCE library we replace a zero MAD by 1: moving
# `white` all the way from 0 to 1 then costs as much as one MAD of UGPA (0.3 points) or of
# LSAT (4 points).

# %%
law = data.law_school()
law_names = ["white", "UGPA", "LSAT"]
X_law = np.column_stack([(law.frame["race"] == "White").astype(float), law.frame["UGPA"], law.frame["LSAT"]])
y_law, group = law.frame["ZFYA"].to_numpy(dtype=float), law.frame["race"].to_numpy()
order = ctx.rng.permutation(len(X_law))
law_train, law_test = order[: int(0.8 * len(order))], order[int(0.8 * len(order)):]

law_model = fit_tabular(tabular_mlp(X_law[law_train], probability=False), X_law[law_train], y_law[law_train],
                        nn.functional.mse_loss, epochs=pick(full=20, fast=3), batch_size=256)
score = predict(law_model, X_law)
r2 = 1 - np.mean((score[law_test] - y_law[law_test]) ** 2) / np.var(y_law[law_test])
as_white, as_other = X_law.copy(), X_law.copy()
as_white[:, 0], as_other[:, 0] = 1.0, 0.0
race_effect = np.mean(predict(law_model, as_white) - predict(law_model, as_other))
law_mad = mad(X_law[law_train])
print(f"test R^2 {r2:.2f}; MAD {dict(zip(law_names, law_mad.round(2).tolist()))} -> white's MAD set to 1")
print(f"predicted ZFYA if every student were White minus if none were: {race_effect:+.2f} (in SDs of ZFYA)")
law_mad = np.where(law_mad > 0, law_mad, 1.0)

# %% [markdown]
# First-year grades are hard to predict from these three features (the $R^2$ is small), but
# the network has learned that race matters. Now the counterfactuals. We
# take students the model predicts **below** average (by more than the tolerance), up to
# `per_group` of each group, and ask for a predicted ZFYA of 0 (within 0.05), with every
# feature kept in its range: `white` in $[0, 1]$, UGPA and LSAT within the data's range
# (Wachter et al. note that a suitable distance avoids oddities such as negative race values;
# bounds rule them out).

# %%
per_group = pick(full=400, fast=25)
lower, upper = np.array([0.0, *X_law[:, 1:].min(axis=0)]), np.array([1.0, *X_law[:, 1:].max(axis=0)])


def sample_students(mask, per_group):
    """Up to per_group students of each race group among those where mask holds."""
    chosen = [ctx.rng.permutation(np.flatnonzero(mask & (group == g)))[:per_group] for g in np.unique(group)]
    return np.concatenate(chosen)


def race_table(students, result, result_fixed):
    """By group: how often the counterfactual moves race, and the changes when race is immutable."""
    x, x_cf, x_fixed = X_law[students], result.closest, result_fixed.closest
    return pd.DataFrame({
        "group": group[students],
        "students": 1,
        "valid": result.valid,
        "race changes": x_cf[:, 0] != x[:, 0],
        "turned white / non-white": np.abs(x_cf[:, 0] - x[:, 0]) > 0.5,
        "LSAT change": x_cf[:, 2] - x[:, 2],
        "race immutable: valid": result_fixed.valid,
        "race immutable: LSAT change": x_fixed[:, 2] - x[:, 2],
        "race immutable: UGPA change": x_fixed[:, 1] - x[:, 1],
    }).groupby("group").agg({"students": "sum", **{c: "mean" for c in [
        "valid", "race changes", "turned white / non-white", "LSAT change", "race immutable: valid",
        "race immutable: LSAT change", "race immutable: UGPA change"]}})


below = sample_students(score < -0.05, per_group)
below_cf = wachter_batch(law_model, X_law[below], target=0.0, mad=law_mad, lower=lower, upper=upper)
below_fixed = wachter_batch(law_model, X_law[below], target=0.0, mad=law_mad, lower=lower, upper=upper,
                            immutable=[0])
below_table = race_table(below, below_cf, below_fixed)
below_table.round(2)

# %%
fig, ax = plt.subplots(figsize=(8, 3.2))
shown = below_table.sort_values("race changes")
ax.barh(shown.index, shown["race changes"], color="tab:gray", label="race changes")
ax.barh(shown.index, shown["turned white / non-white"], color="tab:red", label="turned White (past 0.5)")
for row, (name, share) in enumerate(shown["race changes"].items()):
    if share == 0:  # an empty bar: say so instead of leaving a gap
        ax.text(0.01, row, "race never changes", va="center", fontsize=9)
ax.set_xlabel("fraction of counterfactuals")
ax.set_ylabel("group")
ax.set_title("Students predicted below average: what must change to reach 0?")
ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
fig.tight_layout()
plt.show()

# %% [markdown]
# How much is race worth, in LSAT points? Take the non-white students above, record each of
# them as White (same UGPA and LSAT), and ask again with race immutable.

# %%
nonwhite_below = below[group[below] != "White"]
twins = X_law[nonwhite_below].copy()
twins[:, 0] = 1.0
twin_cf = wachter_batch(law_model, twins, target=0.0, mad=law_mad, lower=lower, upper=upper, immutable=[0])
as_recorded = below_fixed.closest[group[below] != "White", 2] - X_law[nonwhite_below, 2]
recorded_white = twin_cf.closest[:, 2] - twins[:, 2]
print(f"LSAT change the model asks for, race immutable: {round(as_recorded.mean(), 1) + 0.0:+.1f} points as recorded, "
      f"{round(recorded_white.mean(), 1) + 0.0:+.1f} points for the same students recorded as White")

# %%
# NBVAL_CHECK_OUTPUT
non_white = below_table.drop(index="White")
print("every counterfactual is valid, with race free and with race immutable:",
      bool(below_cf.valid.all() and below_fixed.valid.all()))
print("the model rewards being White (race effect > 0.1 SD):", race_effect > 0.1)
print("race changes in most counterfactuals of every non-white group:", bool((non_white["race changes"] > 0.5).all()))
print("race never changes for White students predicted below average:", below_table.loc["White", "race changes"] == 0)
print("recorded as White, the same students would need fewer LSAT points:", recorded_white.mean() < as_recorded.mean())

# %% [markdown]
# That is the paper's finding: for students of every non-white group, the cheapest way to an
# average predicted score is, very often, **to be White**; White students predicted below
# average must instead raise their LSAT (`white` is already at its upper bound). Nobody
# opened the network: a handful of counterfactuals revealed that its output depends on race.
# Making race **immutable**, as it should be for actionable advice, gives advice that can be
# followed, but the bias stays visible in it: the model asks a non-white student for more
# LSAT points than it would ask of the same student recorded as White.
#
# The mirror question, for students predicted **above** average ("what would bring you down
# to 0?"), tells the same story from the other side:

# %%
above = sample_students(score > 0.05, per_group)
above_cf = wachter_batch(law_model, X_law[above], target=0.0, mad=law_mad, lower=lower, upper=upper)
above_fixed = wachter_batch(law_model, X_law[above], target=0.0, mad=law_mad, lower=lower, upper=upper,
                            immutable=[0])
above_table = race_table(above, above_cf, above_fixed)
above_table.round(2)

# %%
# NBVAL_CHECK_OUTPUT
print("race changes (White -> non-white) in most counterfactuals of White students above average:",
      above_table.loc["White", "race changes"] > 0.5)

# %% [markdown]
# ## 5 · Experiment 2: lowering the risk of diabetes (about 10 minutes)
#
# Back to Pima. For every woman whose predicted risk is at least 0.75 (the first 40 of them
# in fast mode): the smallest change (MAD-L1) that brings it to 0.5 (within 0.05). The paper reports that most counterfactuals
# change only one or two features, such as the glucose or insulin level, close to how a
# doctor would explain a risk.

# %%
n_women = pick(full=len(high_risk), fast=40)
women = high_risk[:n_women]
plain = wachter_batch(pima_model, X_pima[women], target=0.5, mad=pima_mad)
n_changed = (plain.closest != X_pima[women]).sum(axis=1)
print(f"{len(women)} high-risk women (of {len(high_risk)}); valid counterfactuals: {plain.valid.mean():.0%}")
counts = pd.Series(n_changed).value_counts().sort_index()
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
axes[0].bar(counts.index, counts.values, color="tab:gray")
axes[0].set_xticks(counts.index)
axes[0].set_xlabel("features changed")
axes[0].set_ylabel("women")
how_often = pd.Series((plain.closest != X_pima[women]).mean(axis=0), index=pima_names).sort_values()
axes[1].barh(how_often.index, how_often.values, color="tab:gray")
axes[1].set_xlabel("fraction of counterfactuals changing it")
axes[1].set_ylabel("feature")
fig.tight_layout()
plt.show()

# %%
def examples(rows, result, k=5):
    """The first k women: each changed feature as 'before -> after', and the risks."""
    lines = []
    for i, x_cf in zip(rows[:k], result.closest[:k]):
        changes = [f"{name} {a:g} -> {b:.3g}" for name, a, b in zip(pima_names, X_pima[i], x_cf) if a != b]
        lines.append({"woman": i, "risk": risk[i], "new risk": predict(pima_model, x_cf)[0],
                      "changes": "; ".join(changes)})
    return pd.DataFrame(lines).set_index("woman").round(2)


examples(women, plain)

# %% [markdown]
# As in the paper, one or two features suffice for most women. Which ones depends on the
# model: the paper names glucose and insulin; our network leans on glucose and, for some
# women, BMI, and hardly on insulin (a different network, trained differently, on data where
# about half the insulin values are 0, i.e. not measured).

# %%
# NBVAL_CHECK_OUTPUT
print("all counterfactuals valid:", bool(plain.valid.all()))
print("at least 60% change only 1 or 2 features:", np.mean(n_changed <= 2) >= 0.6)
print("glucose is the feature changed most often:", how_often.index[-1] == "Glucose")
print("insulin is changed in fewer than 10% of them:", how_often["Insulin"] < 0.1)

# %% [markdown]
# ## 6 · Actionability: immutable features, bounds, integers; diverse counterfactuals (about 15 minutes)
#
# The counterfactuals above may ask a woman to be younger, to have had fewer pregnancies or a
# different family history (`DiabetesPedigreeFunction`), and nothing stops them from moving
# a measurement to 0, which in these data means *not measured*. Advice must respect what can
# change:
#
# - **immutable**: `DiabetesPedigreeFunction` (genetics);
# - **one-sided**: `Pregnancies` and `Age` cannot decrease (lower bound = the woman's value);
# - **realistic bounds**: glucose, blood pressure, skin thickness, insulin and BMI stay
#   within the range *measured* in the training data (the smallest non-zero value up to the
#   largest);
# - **integers**: six features are whole numbers; we round each change away from the
#   woman's value (so that it is no smaller) and check the prediction again.

# %%
measured = [pima_names.index(n) for n in ["Glucose", "BloodPressure", "SkinThickness", "Insulin", "BMI"]]
integer = [pima_names.index(n) for n in ["Pregnancies", "Glucose", "BloodPressure", "SkinThickness", "Insulin", "Age"]]
train_values = X_pima[pima_train]
low, high = train_values.min(axis=0), train_values.max(axis=0)
low[measured] = [train_values[train_values[:, j] > 0, j].min() for j in measured]


def actionable_bounds(X):
    """Per-woman bounds: measured ranges, and no decrease of pregnancies or age."""
    lower, upper = np.minimum(low, X), np.maximum(high, X)  # a woman's own value is always allowed
    for name in ["Pregnancies", "Age"]:
        j = pima_names.index(name)
        lower[:, j] = X[:, j]
    return lower, upper


def round_integers(X, X_cf):
    """Round the integer features of X_cf away from X (a change is never made smaller)."""
    X_cf = X_cf.copy()
    up = X_cf[:, integer] > X[:, integer]
    X_cf[:, integer] = np.where(up, np.ceil(X_cf[:, integer]), np.floor(X_cf[:, integer]))
    return X_cf


immutable = [pima_names.index("DiabetesPedigreeFunction")]
lower, upper = actionable_bounds(X_pima[women])
act = wachter_batch(pima_model, X_pima[women], target=0.5, mad=pima_mad, immutable=immutable,
                    lower=lower, upper=upper)
rounded = round_integers(X_pima[women], act.closest)
still_valid = np.abs(predict(pima_model, rounded) - 0.5) <= 0.05
print(f"actionable counterfactuals valid: {act.valid.mean():.0%}; after rounding to integers: {still_valid.mean():.0%}")
actionable_changes = pd.DataFrame({"plain": (plain.closest != X_pima[women]).mean(axis=0),
                                   "actionable": (act.closest != X_pima[women]).mean(axis=0)}, index=pima_names)
actionable_changes.round(2)

# %%
# NBVAL_CHECK_OUTPUT
j_dpf, j_age, j_preg = (pima_names.index(n) for n in ["DiabetesPedigreeFunction", "Age", "Pregnancies"])
print("family history never changes:", bool(np.all(act.closest[:, j_dpf] == X_pima[women, j_dpf])))
print("age and pregnancies never decrease:",
      bool(np.all(act.closest[:, [j_age, j_preg]] >= X_pima[women][:, [j_age, j_preg]])))
print("at least 90% still valid after rounding to integers:", still_valid.mean() >= 0.9)

# %% [markdown]
# Rounding changes a feature by less than one unit (a glucose lowered to 131.4 becomes 131),
# small next to its MAD, so the predictions barely move; where one falls just outside the band,
# searching again from the rounded point, or a solver for mixed-integer problems (Russell,
# 2019), fixes it.
#
# ### Diverse counterfactuals with DiCE
#
# One counterfactual is one story; a person may prefer another (lower BMI rather than
# glucose). **DiCE** (Mothilal, Sharma and Tan, 2020) returns several *diverse*
# counterfactuals per person. Its model-agnostic methods: **random** (sample changes of a
# few features, keep the valid ones) and **genetic** (evolve a population towards valid,
# close, sparse points). We ask both for four counterfactuals per woman with risk below 0.5,
# varying only the actionable features within the same ranges, and compare with ours (target
# 0.45 ± 0.05, i.e. a risk between 0.40 and 0.50, the same side of 0.5).
#
# DiCE is optional: its package pulls in heavy libraries that conflict with PyTorch, so it
# is installed without them: `pip install --no-deps dice-ml==0.12 raiutils`.

# %%
import importlib.util
import time
import warnings

from IPython.display import display

have_dice = importlib.util.find_spec("dice_ml") is not None
if not have_dice:
    print("dice-ml is not installed; skipping this part. Install it with:\n"
          "    pip install --no-deps dice-ml==0.12 raiutils")
n_dice = pick(full=20, fast=3)
varying = [pima_names[j] for j in measured]
dice_women = women[:n_dice]


class RiskModel:
    """The torch network as DiCE's 'sklearn' backend expects: predict_proba on a DataFrame."""

    def __init__(self, model):
        self.model = model

    def predict_proba(self, frame):
        p = predict(self.model, np.asarray(frame, dtype=float))
        return np.column_stack([1 - p, p])

    def predict(self, frame):
        return (self.predict_proba(frame)[:, 1] > 0.5).astype(int)


def summarise(method, X, X_cfs, seconds):
    """Validity, sparsity, proximity and diversity of counterfactuals X_cfs[i] (k, d) of X[i]."""
    rows = []
    for x, x_cf in zip(X, X_cfs):
        k, z = len(x_cf), np.abs(x_cf - x) / pima_mad
        pairwise = np.abs(x_cf[:, None] - x_cf[None]) / pima_mad
        rows.append({"found": k, "valid": np.mean(predict(pima_model, x_cf) <= 0.5) if k else 0.0,
                     "features changed": np.mean((z > 0).sum(axis=1)) if k else np.nan,
                     "distance (MAD-L1)": np.mean(z.sum(axis=1)) if k else np.nan,
                     "diversity (mean pairwise MAD-L1)": pairwise.sum() / (k * (k - 1)) if k > 1 else np.nan})
    return pd.Series({**pd.DataFrame(rows).mean(), "seconds per woman": seconds / len(X)}, name=method)


X_dice = X_pima[dice_women]
lower, upper = actionable_bounds(X_dice)
start = time.perf_counter()
ours_dice = wachter_batch(pima_model, X_dice, target=0.45, mad=pima_mad,
                          immutable=[j for j in range(8) if j not in measured], lower=lower, upper=upper)
ours_dice = round_integers(X_dice, ours_dice.closest)  # DiCE rounds to the data's precision too
comparison = [summarise("ours (Wachter, MAD-L1)", X_dice, ours_dice[:, None], time.perf_counter() - start)]

if have_dice:
    import dice_ml

    dice_data = dice_ml.Data(dataframe=pima.frame.iloc[pima_train], continuous_features=pima_names,
                             outcome_name=pima.target)
    dice_model = dice_ml.Model(model=RiskModel(pima_model), backend="sklearn", model_type="classifier")
    ranges = {pima_names[j]: [float(low[j]), float(high[j])] for j in measured}
    found = {}
    for method in ["random", "genetic"]:
        explainer = dice_ml.Dice(dice_data, dice_model, method=method)
        start = time.perf_counter()
        with warnings.catch_warnings():  # dice-ml 0.12 uses pandas arguments that pandas 3 deprecates
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.simplefilter("ignore", category=FutureWarning)
            result = explainer.generate_counterfactuals(  # shows its own progress bar
                pima.X.iloc[dice_women], total_CFs=4, desired_class=0, features_to_vary=varying,
                permitted_range=ranges, verbose=False, **({"random_seed": 0} if method == "random" else {}))
        found[method] = [np.empty((0, 8)) if e.final_cfs_df is None  # None: DiCE found nothing
                         else e.final_cfs_df[pima_names].to_numpy(dtype=float) for e in result.cf_examples_list]
        comparison.append(summarise(f"DiCE {method}", X_dice, found[method], time.perf_counter() - start))
pd.DataFrame(comparison).round(2)

# %% [markdown]
# Read the table (and the example below) with the definitions in mind. Ours minimises the
# MAD-L1 distance, so it should be the closest and change the fewest features, and it is
# (checked below). DiCE's counterfactuals are several times further away: the random method
# changes few features by large amounts, often far past the threshold (to a risk near 0);
# the genetic method changes more features, each by less.
# In exchange DiCE offers four *different* options per woman, and it rounds to the data's
# precision by itself. Look also at realism: DiCE moves an insulin of 0 (*not measured*) to
# several hundred, a change no one can make. Which is "best" depends on the use: one minimal,
# precise change to reveal what drives the model (Wachter et al.), or a menu of options for a
# person to choose from (DiCE).

# %%
if have_dice:
    i = 0
    table = pd.DataFrame(np.vstack([X_dice[i], ours_dice[i], found["random"][i], found["genetic"][i]]),
                         columns=pima_names,
                         index=["woman", "ours"] + [f"random {k}" for k in range(len(found["random"][i]))]
                         + [f"genetic {k}" for k in range(len(found["genetic"][i]))])
    table["risk"] = predict(pima_model, table[pima_names].to_numpy())
    display(table[varying + ["risk"]].round(2))

# %%
# NBVAL_CHECK_OUTPUT
if have_dice:
    by_method = pd.DataFrame(comparison).set_index(pd.Index(["ours", "random", "genetic"]))
    dice_cfs = np.vstack(found["random"] + found["genetic"])  # each beside the woman it was found for:
    dice_from = np.vstack([np.repeat(X_dice, [len(f) for f in found[m]], axis=0) for m in ("random", "genetic")])
    j_insulin = pima_names.index("Insulin")
    print("ours is the closest and changes the fewest features:",
          bool(by_method["distance (MAD-L1)"].idxmin() == "ours" and by_method["features changed"].idxmin() == "ours"))
    print("DiCE's counterfactuals are at least twice as far:",
          bool(by_method.loc[["random", "genetic"], "distance (MAD-L1)"].min() >= 2 * by_method.loc["ours", "distance (MAD-L1)"]))
    print("the genetic method changes more features than the random one:",
          bool(by_method.loc["genetic", "features changed"] > by_method.loc["random", "features changed"]))
    print("the random method's counterfactuals go far past the threshold (mean risk below 0.25):",
          bool(predict(pima_model, np.vstack(found["random"])).mean() < 0.25))
    print("DiCE moves an unmeasured insulin (0) to 100 or more:",
          bool(np.any((dice_from[:, j_insulin] == 0) & (dice_cfs[:, j_insulin] >= 100))))
else:
    print("dice-ml is not installed: nothing to check")

# %% [markdown]
# ## 7 · Your turn: pick a woman, move the target (about 5 minutes)
#
# Choose one of the high-risk women and the risk you would like the model to predict. The
# widget shows the actionable counterfactual (same constraints as in section 6). Ask for a
# very low risk: at some point no valid counterfactual exists within the constraints, and
# `wachter` says how close it got instead of returning an invalid one.

# %%
import ipywidgets as widgets


def show_counterfactual(woman_index=0, target=0.5):
    i = women[woman_index]
    x = X_pima[i]
    lower, upper = actionable_bounds(x[None])
    try:
        x_cf = wachter(pima_model, x, target=target, mad=pima_mad, immutable=immutable, lower=lower[0],
                       upper=upper[0])
    except NoCounterfactualError as error:
        print(error)
        return
    changed = x_cf != x
    table = pd.DataFrame({"now": x[changed], "counterfactual": x_cf[changed]}, index=np.array(pima_names)[changed])
    print(f"woman {i}: predicted risk {risk[i]:.2f} -> {predict(pima_model, x_cf)[0]:.2f}")
    display(table.round(2))


widgets.interact(show_counterfactual,
                 woman_index=widgets.IntSlider(value=0, min=0, max=len(women) - 1, description="woman"),
                 target=widgets.FloatSlider(value=0.5, min=0.05, max=0.7, step=0.05, description="target risk"));

# %% [markdown]
# ### Think
#
# 1. In section 4 a counterfactual may set `white` to 0.4. What does it say about the model,
#    and why is it not advice to anyone? How would you produce counterfactuals in which race
#    is either unchanged or fully switched?
# 2. We set the MAD of `white` to 1. If turning a student White cost 3 MAD units instead,
#    would race change less often? Does the *bias* of the model depend on that choice?
# 3. "Lower your glucose to 120 and your risk falls to 0.5." Is that medical advice? What
#    does a counterfactual say about the world, and what only about the model?
# 4. Why does the L1 distance give sparse counterfactuals and the squared L2 distance dense
#    ones? (Think of the cost of the first small step away from zero.)
#
# <!-- BEGIN SOLUTION -->
# **Answers.** (1) It says that the model's prediction depends on race: moving the race input
# towards "White" raises the predicted grade. A value of 0.4 is no person, so it is no advice;
# it is a probe of the model. For a binary feature, solve twice (race fixed at its value, and
# race fixed at the other value, each time with race immutable) and keep the closer valid
# counterfactual: enumeration of the discrete values, or mixed-integer programming for many
# (Russell, 2019). (2) Race would change less often, since raising LSAT becomes cheaper by
# comparison: how often a counterfactual changes race depends on the distance we chose, but the
# race effect of the model (its prediction gap between the two values) does not. Counterfactuals
# reveal bias only through the distance, so report the race effect too. (3) It is a statement
# about the model: *this model* would predict 0.5 for that input. Whether lowering glucose lowers
# the real risk is a causal question the model cannot answer (glucose may be a symptom, and
# changing one feature may change others); actionable recourse needs a causal model (Karimi,
# Schölkopf and Valera, 2021). (4) The derivative of $|z|$ is $\pm 1$ even for tiny $z$: moving a
# feature at all costs a fixed price per unit, so only features whose effect on the prediction
# beats that price move (the others stay at exactly 0). The derivative of $z^2$ is $2z$, zero at
# zero: the first small change of any feature is free, so every feature that helps at all moves
# a little.
# <!-- END SOLUTION -->

# %% [markdown]
# ## Summary
#
# - A counterfactual explanation names the smallest change of the input that gives the output
#   one wants; it needs no look inside the model.
# - Wachter et al. minimise $\lambda (f(x') - y')^2 + \sum_j |x_j - x'_j| / \mathrm{MAD}_j$ and
#   raise $\lambda$ until the prediction is within $\epsilon$: the MAD makes features
#   comparable, the L1 norm makes changes sparse (one or two features for most Pima women).
# - On the law school data, counterfactuals reveal that the model rewards being White: for
#   non-white students predicted below average, the cheapest change is very often race.
# - Actionable counterfactuals fix what cannot change (race, family history), respect
#   one-sided and realistic bounds, and round to integers; DiCE adds diverse alternatives.
# - Never present an invalid counterfactual: if none exists within the constraints, say how
#   close the search got.
#
# **Next:** lesson 07, Grad-CAM and saliency maps.
#
# ## Further reading
#
# - S. Wachter, B. Mittelstadt, C. Russell, "Counterfactual explanations without opening the
#   black box: automated decisions and the GDPR", *Harvard Journal of Law & Technology* 31 (2018).
# - M. Kusner, J. Loftus, C. Russell, R. Silva, "Counterfactual fairness", NeurIPS 2017 (the law
#   school data used here).
# - R. K. Mothilal, A. Sharma, C. Tan, "Explaining machine learning classifiers through diverse
#   counterfactual explanations", FAT* 2020 (DiCE).
# - C. Russell, "Efficient search for diverse coherent explanations", FAT* 2019 (mixed-integer
#   counterfactuals).
# - B. Ustun, A. Spangher, Y. Liu, "Actionable recourse in linear classification", FAT* 2019.
# - A.-H. Karimi, B. Schölkopf, I. Valera, "Algorithmic recourse: from counterfactual
#   explanations to interventions", FAccT 2021.
# - J. Nutini et al., "Coordinate descent converges faster with the Gauss-Southwell rule than
#   random selection", ICML 2015 (the greedy coordinate choice inside `wachter`).
