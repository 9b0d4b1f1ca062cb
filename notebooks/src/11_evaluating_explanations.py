# %% [markdown]
# # 11 · Evaluating explanations: deletion and insertion, infidelity, sanity checks, and a report card
#
# Ten lessons have produced a dozen ways to say which pixels a network used. They disagree,
# and a map that looks convincing to us is no evidence that it is right about the model.
# This capstone lesson measures explanations instead of looking at them: **deletion and
# insertion curves** (remove the pixels a map calls important and watch the class
# probability), **RISE** (an explanation built from that very idea), **ROAR and ROAD**
# (the same question without testing the model on broken images), **infidelity and
# max-sensitivity** (does the map predict what noise does to the output; does it jump when
# the input barely moves), and **sanity checks** (does the map change when the model's
# weights are destroyed?). It ends with a **report card**: every method of the course on
# the same MNIST CNN, ranked by every metric, and with the question of why the metrics
# disagree.
#
# **Learning objectives.** After this notebook you can
# 1. compute deletion and insertion curves and their areas, and explain why the substrate
#    (black, blurred or mean image) can change which method wins;
# 2. implement RISE's weighted sum of random masks and check it against the course's version,
#    and run ROAR (remove and retrain) and ROAD (remove and impute) to take the broken-image
#    shock out of removal metrics;
# 3. compute infidelity and max-sensitivity by hand, agree with captum, avoid the scale
#    trap, and see how the optimal explanation for a metric "games" it;
# 4. run Adebayo et al.'s model-randomisation and data-randomisation tests and say which
#    methods fail them;
# 5. test the metrics themselves: which of them notice a model manipulated to fool
#    Grad-CAM, how much the explainers' seeds move them, and whether they agree with
#    Quantus;
# 6. read a report card of twelve methods critically: what each column rewards, and how
#    much the rankings agree.
#
# **Time:** about 110 minutes (full mode computes in about 12 minutes on a laptop CPU).
#

# %%
#@course_setup

from course_utils import setup_notebook

ctx = setup_notebook(seed=0)

# %%
import copy
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from course_utils import check, data, load_pretrained, pick, plotting
from course_utils.xai import evaluation as ev
from course_utils.xai.methods import REPORT_CARD_METHODS, course_methods

device = ctx.device
cnn = load_pretrained("mnist_cnn", device=device)
X_test, y_test = data.mnist_tensors("test")
n_eval = pick(full=32, fast=6)
x, y = X_test[:n_eval], y_test[:n_eval]
methods = course_methods(n_samples=pick(full=500, fast=100), ig_steps=pick(full=50, fast=16),
                            smoothgrad_samples=pick(full=50, fast=10), n_masks=pick(full=2000, fast=300), rng=0)
print(f"{len(methods)} methods of the course; {n_eval} test digits explained; model on {device}")

# %% [markdown]
# ## 1 · Deletion and insertion curves, and RISE (about 20 minutes)
#
# Petsiuk, Das and Saenko (BMVC 2018) turn "this map shows what the model used" into a
# measurement. Rank the pixels by the map. **Deletion:** set the most important pixels to
# a neutral value, a few at a time, and record the probability of the class; if the map is
# right, the probability collapses early, so a **low** area under the curve is good.
# **Insertion:** start from a blurred (or blank) image and put the most important pixels
# back first; a **high** area is good. `ev.deletion_curve` and `ev.insertion_curve` sum a
# map over the channels, rank its pixels (ties: the lower pixel index first), and replace
# `round(s * H * W / n_steps)` pixels at step `s`; all steps of all images go through the
# model in one batch.
#
# **Exercise 11.1 — the area under a curve.** Given `fractions` (S,) and `values` (N, S),
# return the trapezoidal area under each row: one number per curve.

# %%
def curve_auc(fractions, values):
    # BEGIN SOLUTION Exercise 11.1: the trapezoid rule on each row
    fractions, values = np.asarray(fractions, dtype=float), np.asarray(values, dtype=float)
    return ((values[..., 1:] + values[..., :-1]) / 2 * np.diff(fractions)).sum(axis=-1)
    # END SOLUTION


curve_auc = check("11.1", curve_auc)

# %% [markdown]
# Four maps of the same digits: the gradient (lesson 04), Integrated Gradients, Grad-CAM
# (lesson 07) and occlusion, and their curves. Deletion goes to black (0), insertion starts
# from Petsiuk et al.'s blurred copy of the image (`ev.blurred`: Gaussian, kernel 11, sigma 5).

# %%
shown = ("saliency", "integrated gradients", "Grad-CAM", "occlusion")
maps = {name: methods[name](cnn, x, y) for name in shown}
substrate_blur = ev.blurred(x)
curves = {name: (ev.deletion_curve(cnn, x, maps[name], y), ev.insertion_curve(cnn, x, maps[name], y,
                                                                               baseline=substrate_blur))
          for name in shown}
generator = torch.Generator().manual_seed(0)
random_map = torch.rand(x.shape, generator=generator)
curves["random"] = (ev.deletion_curve(cnn, x, random_map, y), ev.insertion_curve(cnn, x, random_map, y,
                                                                                  baseline=substrate_blur))

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for name, ((fractions, deleted), (_, inserted)) in curves.items():
    axes[0].plot(fractions, deleted.mean(0), label=f"{name} ({curve_auc(fractions, deleted).mean():.3f})")
    axes[1].plot(fractions, inserted.mean(0), label=f"{name} ({curve_auc(fractions, inserted).mean():.3f})")
axes[0].set(xlabel="fraction of pixels deleted (to 0)", ylabel="P(true class)", title="Deletion (lower area is better)")
axes[1].set(xlabel="fraction of pixels inserted (into the blur)", ylabel="P(true class)",
            title="Insertion (higher area is better)")
for ax in axes:
    ax.legend(title="method (area)", loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
fig.tight_layout()
plt.show()
auc_deletion = {name: curve_auc(f, d).mean() for name, ((f, d), _) in curves.items()}
auc_insertion = {name: curve_auc(f, i).mean() for name, (_, (f, i)) in curves.items()}

# %%
# NBVAL_CHECK_OUTPUT
print("every method deletes better than a random ranking:",
      all(auc_deletion[name] < auc_deletion["random"] for name in shown))

# %% [markdown]
# **RISE by hand.** Petsiuk et al.'s own explanation asks the deletion question directly.
# Draw $N$ random masks $M_i$: a coarse grid of cells (7 x 7 in the paper), each kept with
# probability $p$, upsampled bilinearly and shifted by a random offset so that the mask is
# smooth. The saliency of a pixel $\lambda$ is the expected class probability of the masked
# image given that the pixel was kept:
#
# $$S(\lambda) = \frac{1}{N\,p}\sum_{i=1}^{N} f(x \odot M_i)\, M_i(\lambda).$$
#
# **Exercise 11.2 — RISE's weighted sum.** Given `scores` (N,), the class probability of
# each masked image, `masks` (N, H, W) and `p_keep`, return the (H, W) saliency map above.

# %%
def rise_saliency(scores, masks, p_keep):
    # BEGIN SOLUTION Exercise 11.2: the masks weighted by the scores, over N * p
    return torch.tensordot(scores.to(masks.dtype), masks, dims=1) / (len(masks) * p_keep)
    # END SOLUTION


rise_saliency = check("11.2", rise_saliency)

# %%
n_masks = pick(full=2000, fast=300)
masks = ev.rise_masks(n_masks, (28, 28), p_keep=0.5, rng=1)
with torch.no_grad():
    scores = cnn((x[:1] * masks[:, None]).to(device)).softmax(1)[:, int(y[0])].cpu()
my_rise = rise_saliency(scores, masks, 0.5)
course_rise = ev.rise(cnn, x[:1], y[:1], n_masks=n_masks, p_keep=0.5, rng=1)[0].cpu()

fig, axes = plt.subplots(1, 6, figsize=(13, 2.4))
for i in range(3):
    plotting.show_image(masks[i], ax=axes[i], title=f"mask {i}")
plotting.show_image(x[0] * masks[0], ax=axes[3], title=f"masked: P = {scores[0]:.2f}")
plotting.show_image(x[0], ax=axes[4], title=f"digit {int(y[0])}")
plotting.show_heatmap(my_rise, x[0], ax=axes[5], title="my RISE")
fig.tight_layout()
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
print("my RISE == ev.rise:", torch.allclose(my_rise, course_rise, atol=1e-6))

# %% [markdown]
# **The substrate matters.** "Deleting" a pixel means replacing it by something, and the
# choice decides which maps look good. On MNIST a black substrate (0) deletes nothing where
# the background already is black, so a map that ranks background pixels first wastes its
# first steps; a blur or a gray substrate (the data set's mean intensity) makes those
# pixels count. And a method that itself perturbs with black squares (occlusion) is asked,
# under deletion to black, exactly the question it answered. The same maps, three substrates:

# %%
ranked = ("saliency", "integrated gradients", "Grad-CAM", "occlusion", "random")
all_maps = {**maps, "random": random_map}
substrates = {"zero": 0.0, "blur": substrate_blur, "mean": float(X_test[:1000].mean())}
by_substrate = pd.DataFrame({
    substrate: {name: curve_auc(*ev.deletion_curve(cnn, x, all_maps[name], y, baseline=value)).mean() for name in ranked}
    for substrate, value in substrates.items()})
print("deletion area per substrate (lower is better):")
print(by_substrate.round(3).to_string())
ranks = by_substrate.rank()
print("\nrank of each method (1 = best):")
print(ranks.astype(int).to_string())
flips = {(a, b): ranks.loc[a, "zero"] < ranks.loc[b, "zero"] and ranks.loc[a, "blur"] > ranks.loc[b, "blur"]
         for a in ranked for b in ranked if a != b}
print("\npairs whose order flips between the zero and the blur substrate:",
      [f"{a} before {b} on zero, after it on blur" for (a, b), flipped in flips.items() if flipped])

# %%
# NBVAL_CHECK_OUTPUT
print("the ranking of the methods depends on the substrate:", any(flips.values()))
print("occlusion (black squares) ranks worse under the blur than under black:",
      ranks.loc["occlusion", "blur"] > ranks.loc["occlusion", "zero"])

# %% [markdown]
# **Against the paper.** Petsiuk et al. compare Grad-CAM, the sliding window (occlusion),
# LIME and RISE on ResNet-50 and the ImageNet validation set, in their table of deletion and
# insertion scores: deletion / insertion **Grad-CAM 0.123 / 0.677, sliding window
# 0.142 / 0.587, LIME 0.122 / 0.694, RISE 0.108 / 0.727**: RISE best on both, sliding
# window worst on both. Our model and our digits (deletion to black, insertion into the
# blur, 20 steps):

# %%
paper = pd.DataFrame({"deletion (paper)": [0.123, 0.142, 0.122, 0.108], "insertion (paper)": [0.677, 0.587, 0.694, 0.727]},
                     index=["Grad-CAM", "occlusion", "LIME", "RISE"])
for name in ("LIME", "RISE"):
    maps[name] = methods[name](cnn, x, y)
ours = {name: (curve_auc(*ev.deletion_curve(cnn, x, maps[name], y)).mean(),
               curve_auc(*ev.insertion_curve(cnn, x, maps[name], y, baseline=substrate_blur)).mean())
        for name in paper.index}
paper["deletion (ours)"] = [ours[name][0] for name in paper.index]
paper["insertion (ours)"] = [ours[name][1] for name in paper.index]
print(paper.round(3).to_string())
order_paper = list(paper["deletion (paper)"].sort_values().index)
order_ours = list(paper["deletion (ours)"].sort_values().index)
agreement = spearmanr(paper["deletion (paper)"], paper["deletion (ours)"])[0]
print(f"\ndeletion order, best first: paper {order_paper}; ours {order_ours}")
print(f"rank correlation of the two deletion orders: {agreement:.2f}; "
      f"insertion: {spearmanr(paper['insertion (paper)'], paper['insertion (ours)'])[0]:.2f}")

# %%
# NBVAL_CHECK_OUTPUT
print("our insertion areas all exceed the paper's best (0.727):", bool((paper["insertion (ours)"] > 0.727).all()))

# %% [markdown]
# Read the gaps before the ranks. Our insertion areas are all close to 1 and our deletion
# areas small: a digit covers about a fifth of the image, and the CNN recognises it from a
# few dozen of its brightest pixels, while an ImageNet object must be rebuilt from
# thousands of pixels of texture. The differences between methods are therefore small on
# MNIST, and the order printed above can change with the digits chosen (section 7 looks at
# that noise). Grad-CAM's map is coarse here (7 x 7 feature maps for a 28 x 28 image, like
# ResNet-50's 7 x 7 for 224 x 224).
#
# **ResNet-18 (online extra).** Where torchvision's ImageNet weights can be fetched, the
# same four methods on one of the course's photos; elsewhere this cell says how to enable it.

# %%
from course_utils.data import DataUnavailableError

try:
    resnet = load_pretrained("resnet18_imagenet", device=device)
except DataUnavailableError as err:
    resnet = None
    print("ResNet-18's ImageNet weights cannot be fetched here, so this extra is skipped.")
    print("To run it: use a machine with internet access (e.g. Colab), or put "
          "torch_hub/checkpoints/resnet18-f37072fd.pth into the folder COURSE_DATA_MIRROR points to.")
if resnet is not None:
    import torch.nn.functional as F

    photo = torch.tensor(data.photo("cat_dog")).permute(2, 0, 1).float().div(255)[None]
    photo = F.interpolate(photo, size=(224, 224), mode="bilinear", align_corners=False).to(device)
    with torch.no_grad():
        photo_class = int(resnet(photo).argmax())
    photo_methods = course_methods(cell_size=32, n_samples=pick(full=500, fast=100), occlusion_window=32,
                                      occlusion_stride=16, n_masks=pick(full=2000, fast=200), batch_size=50, rng=0)
    for name in ("Grad-CAM", "occlusion", "LIME", "RISE"):
        photo_map = photo_methods[name](resnet, photo, photo_class)
        photo_del = curve_auc(*ev.deletion_curve(resnet, photo, photo_map, photo_class, batch_size=21))[0]
        photo_ins = curve_auc(*ev.insertion_curve(resnet, photo, photo_map, photo_class, baseline=ev.blurred(photo),
                                                  batch_size=21))[0]
        print(f"ResNet-18, one photo, {name}: deletion {photo_del:.3f}, insertion {photo_ins:.3f} "
              f"(paper, ResNet-50 mean: {paper.loc[name, 'deletion (paper)']} / {paper.loc[name, 'insertion (paper)']})")

# %% [markdown]
# ## 2 · ROAR and ROAD: removing pixels without testing on broken images (about 15 minutes)
#
# A deletion curve shows the model images with black holes it never saw in training. Part
# of the drop it measures is the shock of the holes, not the loss of the information the
# map pointed at. Two fixes.
#
# **ROAR, remove and retrain** (Hooker, Erhan, Kindermans and Kim, NeurIPS 2019): remove
# the top fraction of pixels, by each method's ranking, from *every training and test
# image* (filled with the training images' mean), retrain the model from scratch on the
# modified training set, and measure its test accuracy. The retrained model is used to
# holes, so only the information removed counts; a ranking that finds the informative
# pixels makes accuracy fall faster than a **random** ranking. Their finding (abstract;
# ImageNet, Birdsnap and Food-101): "many popular interpretability methods produce
# estimates of feature importance that are not better than a random designation of feature
# importance. Only certain ensemble based approaches—VarGrad and SmoothGrad-Squared—outperform
# such a random assignment of importance."
#
# **ROAD, remove and debias** (Rong, Leemann, Borisov, Kasneci and Kasneci, ICML 2022):
# the shape of the hole itself leaks the label (a hole shaped like a 7 says "7"). ROAD
# fills the removed pixels by *noisy linear imputation*, each removed pixel the weighted
# mean of its eight neighbours plus a little noise (`roar.noisy_linear_imputation`), and
# does not retrain; the authors report that this "saves up to 99% in computational costs"
# against ROAR (abstract). **MoRF** removes the most relevant pixels first (lower accuracy
# is better), **LeRF** the least relevant first (higher is better).
#
# The rankings here: a random one, the gradient's magnitude, and Hooker et al.'s three
# ensembles of noisy gradients (`ev.noisy_gradient_maps`: SmoothGrad, SmoothGrad-squared,
# VarGrad, all from the same noisy gradients). Signed maps are ranked by magnitude.

# %%
from course_utils import models
from course_utils.train import fit_classifier
from course_utils.xai import roar
from course_utils.xai.gradients import saliency


def ranking_maps(images, labels, seed):
    """The five rankings of this section for a batch of images, each of the images' shape."""
    noisy = ev.noisy_gradient_maps(cnn, images, labels, n_samples=pick(full=16, fast=4), rng=seed)
    return {"random": torch.rand(images.shape, generator=torch.Generator().manual_seed(seed)),
            "gradient": saliency(cnn, images, labels, absolute=True),
            "SmoothGrad": noisy["SmoothGrad"].abs(), "SmoothGrad-squared": noisy["SmoothGrad-squared"],
            "VarGrad": noisy["VarGrad"]}


n_road = pick(full=500, fast=40)
road_x, road_y = X_test[100:100 + n_road], y_test[100:100 + n_road]
road_fractions = pick(full=(0.1, 0.3, 0.5, 0.7, 0.9), fast=(0.25, 0.5, 0.75))
road_maps = ranking_maps(road_x, road_y, seed=1)
road = pd.DataFrame({(order, f): {name: acc for name, acc in zip(road_maps, accuracies)}
                     for order, most in (("MoRF", True), ("LeRF", False))
                     for f, accuracies in zip(road_fractions, zip(*[
                         roar.road_accuracy(cnn, road_x, m, road_y, fractions=road_fractions, most_relevant=most,
                                            rng=0)[1] for m in road_maps.values()]))})
road.columns = pd.MultiIndex.from_tuples(road.columns, names=["order", "fraction removed"])
print(f"ROAD accuracy of the CNN on {n_road} test digits, pixels removed and imputed (no retraining):")
print(road.round(3).to_string())

# %% [markdown]
# What noisy linear imputation does to a digit: the same 50% of pixels removed by the
# gradient's ranking, filled with the training mean (what ROAR does) and by ROAD's
# imputation. Look at the middle panel: the outline of the hole alone shows where the
# digit's strokes were, the leak that ROAD's imputation hides.

# %%
mask_demo = roar.top_fraction_mask(road_maps["gradient"][:1], road_x[:1], 0.5)
demo = {"the digit": road_x[0, 0],
        "50% removed, mean fill": roar.mean_fill(road_x[:1], mask_demo, float(X_test.mean()))[0, 0],
        "50% removed, ROAD imputation": roar.noisy_linear_imputation(road_x[:1], mask_demo, rng=0)[0, 0]}
fig, axes = plt.subplots(1, 3, figsize=(8, 3))
for ax, (title, image) in zip(axes, demo.items()):
    plotting.show_image(image, ax=ax, title=title)
fig.tight_layout()
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
road_morf_mid = road[("MoRF", 0.5)]
print("ROAD, MoRF at 50%: the gradient's ranking removes more of what the CNN needs than a random one:",
      bool(road_morf_mid["gradient"] < road_morf_mid["random"]))

# %% [markdown]
# **ROAR.** Every ranking below retrains a fresh `mnist_cnn` (same initial weights, same
# mini-batch order: `fit_classifier(..., init_seed=0)`) on training digits with their top
# pixels removed. Fast mode shows the mechanics only: three rankings, a thousand training
# digits and one epoch leave the retrained model well below the course CNN even before
# removal (the run prints its accuracy), and one retraining per ranking is too few to
# separate methods from the noise of training; full mode uses all five rankings, five
# thousand digits, two epochs and three fractions.

# %%
n_roar_train, n_roar_test = pick(full=5000, fast=1000), pick(full=1000, fast=200)
roar_fractions = pick(full=(0.3, 0.6, 0.9), fast=(0.5,))
X_train_all, y_train_all = data.mnist_tensors("train")
roar_X, roar_y = X_train_all[:n_roar_train], y_train_all[:n_roar_train]
roar_Xt, roar_yt = X_test[-n_roar_test:], y_test[-n_roar_test:]
roar_train_maps, roar_test_maps = ranking_maps(roar_X, roar_y, seed=2), ranking_maps(roar_Xt, roar_yt, seed=3)


def retrain(images, labels):
    """A fresh mnist_cnn trained on the modified digits, from the same initial weights every time."""
    return fit_classifier(models.mnist_cnn().to(device), images.to(device), labels.to(device),
                          epochs=pick(full=2, fast=1), rng=0, init_seed=0, progress=False)


start = time.perf_counter()
roar_rows = {}
roar_rankings = pick(full=list(roar_train_maps), fast=["random", "gradient", "SmoothGrad-squared"])
for name in roar_rankings:
    fractions_run = (0.0, *roar_fractions) if name == "random" else roar_fractions
    _, accuracies = roar.roar_accuracy(retrain, roar_X, roar_y, roar_Xt, roar_yt, roar_train_maps[name],
                                       roar_test_maps[name], fractions=fractions_run)
    roar_rows[name] = dict(zip(fractions_run, accuracies))
roar_table = pd.DataFrame(roar_rows).T
roar_table.columns.name = "fraction removed"
roar_seconds = time.perf_counter() - start
retrained_clean = roar_table.loc["random", 0.0]
beats_random = [name for name in roar_table.index if name != "random"
                and all(roar_table.loc[name, f] < roar_table.loc["random", f] for f in roar_fractions)]
print(f"ROAR test accuracy after retraining ({n_roar_train} training digits, {n_roar_test} test digits; "
      f"{roar_seconds:.0f} s):")
print(roar_table.round(3).astype(object).where(roar_table.notna(), "").to_string())
print(f"retrained on unmodified digits: {retrained_clean:.3f}")
print(f"below random at every fraction in this run: {', '.join(beats_random) or 'none'}")

# %% [markdown]
# **Does the hole's shape give the label away?** Rong et al.'s worry can be measured
# directly. Forget the pixels: keep only the *mask*, 1 where a pixel was removed and 0
# elsewhere, at the largest fraction. Average the training digits' masks per class, and
# label each test digit's mask by the nearest class average (scikit-learn's
# `NearestCentroid`, a linear classifier with nothing to tune). A random ranking's
# mask knows nothing about the digit (chance is 10%); a ranking computed from the digit
# carries its outline with it.

# %%
import warnings

from sklearn.neighbors import NearestCentroid

leak_fraction = max(roar_fractions)
mask_only = {}
for name in roar_rankings:
    train_masks = roar.top_fraction_mask(roar_train_maps[name], roar_X, leak_fraction).flatten(1).double().numpy()
    test_masks = roar.top_fraction_mask(roar_test_maps[name], roar_Xt, leak_fraction).flatten(1).double().numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pixels never removed in a class: zero spread, harmless
        reader = NearestCentroid().fit(train_masks, roar_y.numpy())
    mask_only[name] = reader.score(test_masks, roar_yt.numpy())
print(f"test accuracy of a nearest-centroid classifier that sees only which {leak_fraction:.0%} of the pixels were removed:")
for name, accuracy in mask_only.items():
    print(f"  {name:20s} {accuracy:.3f}   (ROAR's retrained CNN: {roar_table.loc[name, leak_fraction]:.3f})")
above_random = [name for name in roar_rankings if name != "random"
                and roar_table.loc[name, leak_fraction] > roar_table.loc["random", leak_fraction]]
print(f"retrained accuracy above random removal at {leak_fraction:.0%}: {', '.join(above_random) or 'none'}")

# %%
# NBVAL_CHECK_OUTPUT
print("the masks of every ranking computed from the digit give its label away (mask-only accuracy > 0.5), "
      "a random mask does not (< 0.3):",
      bool(min(v for k, v in mask_only.items() if k != "random") > 0.5 and mask_only["random"] < 0.3))

# %% [markdown]
# How to read the tables. ROAD's MoRF and LeRF columns should tell the same story
# with opposite signs (a good ranking is low in MoRF and high in LeRF); where they
# disagree, the removal order itself carries information, which is what Rong et al. set
# out to remove. ROAR's numbers are accuracies of *new* models: a ranking that leaves the
# retrained accuracy as high as random removal found nothing the data could not do
# without.
#
# **Why ROAR on MNIST can say the opposite of Hooker et al.** The mask-only classifier
# above reads the digit from the hole alone, for every ranking computed from the digit.
# A retrained CNN can do the same: after ROAR's mean fill the removed region is a uniform
# gray patch shaped like the strokes and their surroundings, so the new model learns the
# label from the patch's outline, not from the pixels left. This is the leak that ROAD
# was designed to remove, and on MNIST, where a digit *is* its outline, it is large. It is
# why a ranking can keep the retrained accuracy *above* random removal at high fractions,
# the opposite of Hooker et al.'s ranking (the cell above lists the rankings that did so
# in your run; with fast mode's single small retraining the list is mostly noise): a random mask destroys the digit's shape, a smooth, digit-shaped mask preserves it as
# a silhouette. Hooker et al. worked on ImageNet, Birdsnap and Food-101, where an object's
# class does not follow from the outline of a blob of its most salient pixels. Read ROAR
# on MNIST as a measurement of the leak, and ROAD's table as the better answer to the
# question. Two more cautions: one retraining per cell is noisy (Hooker et al. average
# five), and Song, Cha and Seo (2023, "On pitfalls of RemOve-And-Retrain") show that
# blurring a map, which adds no information about the model, can improve its ROAR and
# ROAD scores.

# %% [markdown]
# ## 3 · Infidelity and max-sensitivity (about 15 minutes)
#
# Yeh, Hsieh, Suggala, Inouye and Ravikumar (NeurIPS 2019) ask two questions of an
# explanation $\Phi(f, x)$. **Infidelity:** perturb the input by random noise $I$; does the
# explanation predict how much the output drops?
#
# $$\mathrm{INFD}(\Phi, f, x) = \mathbb{E}_{I}\Big[\big(I^\top \Phi(f, x) - (f(x) - f(x - I))\big)^2\Big].$$
#
# A linear model's gradient has infidelity 0 for every noise. **Max-sensitivity:** the
# largest relative change of the explanation when the input moves inside a small ball,
# $\max_{\|\delta\|_\infty \le r} \|\Phi(x + \delta) - \Phi(x)\| / \|\Phi(x)\|$ (captum's
# `sensitivity_max`; the course's `ev.max_sensitivity`).
#
# **Exercise 11.3 — infidelity from its samples.** `dots` (N, S) holds $I_s^\top\Phi$ for S
# perturbations of each of N examples, `drops` (N, S) the output drops
# $f(x) - f(x - I_s)$. Return the mean squared difference per example. With `normalize`,
# first multiply `dots` by the least-squares optimal factor
# $\beta = \sum_s \text{dots}\cdot\text{drops} / \sum_s \text{dots}^2$, per example
# (captum's `normalize=True`).

# %%
def infidelity_from_samples(dots, drops, normalize=False):
    # BEGIN SOLUTION Exercise 11.3: mean of (beta * dots - drops)^2 per row
    if normalize:
        beta = (dots * drops).sum(dim=1, keepdim=True) / (dots * dots).sum(dim=1, keepdim=True)
        dots = beta * dots
    return ((dots - drops) ** 2).mean(dim=1)
    # END SOLUTION


infidelity_from_samples = check("11.3", infidelity_from_samples)

# %% [markdown]
# `ev.infidelity` draws the noise, runs the model and calls this function. With the same
# perturbations it agrees with `captum.metrics.infidelity` (captum repeats each input
# `n_perturb_samples` times in a row, so our draws are reordered to match), and
# `ev.max_sensitivity` with `captum.metrics.sensitivity_max`:

# %%
from captum.metrics import infidelity as captum_infidelity
from captum.metrics import sensitivity_max

from course_utils.xai.gradients import saliency

gradient = saliency(cnn, x, y)
n_perturb, noise_std, radius = 10, 0.1, 0.02
draws = torch.Generator().manual_seed(5)
noise = torch.stack([torch.randn(x.shape, generator=draws) for _ in range(n_perturb)]) * noise_std
noise_captum = noise.transpose(0, 1).reshape(-1, *x.shape[1:]).to(device)  # example-major, as captum expands
theirs = captum_infidelity(cnn, lambda inputs: (noise_captum, inputs - noise_captum), x.to(device), gradient,
                           target=y.to(device), n_perturb_samples=n_perturb)
mine = ev.infidelity(cnn, x, gradient, y, noise_std=noise_std, n_samples=n_perturb, rng=5)

draws = torch.Generator().manual_seed(6)
delta = torch.stack([torch.rand(x.shape, generator=draws) * 2 - 1 for _ in range(n_perturb)]) * radius
delta_captum = delta.transpose(0, 1).reshape(-1, *x.shape[1:]).to(device)
def one(inputs):  # captum hands over a tuple of inputs, or the perturbed tensor itself
    return inputs[0] if isinstance(inputs, tuple) else inputs


sens_theirs = sensitivity_max(lambda inputs, target: (saliency(cnn, one(inputs), target),), x.to(device),
                              perturb_func=lambda inputs, perturb_radius=radius: one(inputs) + delta_captum,
                              n_perturb_samples=n_perturb, target=y.to(device))
sens_mine = ev.max_sensitivity(lambda batch: saliency(cnn, batch, y), x.to(device), radius=radius,
                               n_samples=n_perturb, rng=6)
print(f"infidelity of the gradient, mean over {n_eval} digits: ours {mine.mean():.4f}, captum {theirs.mean():.4f}")
print(f"max-sensitivity of the gradient: ours {sens_mine.mean():.4f}, captum {sens_theirs.mean():.4f}")

# %%
# NBVAL_CHECK_OUTPUT
print("ev.infidelity == captum:", torch.allclose(mine.float().cpu(), theirs.float().cpu(), rtol=1e-3, atol=1e-5))
print("ev.max_sensitivity == captum:", torch.allclose(sens_mine.float().cpu(), sens_theirs.float().cpu(), rtol=1e-3,
                                                      atol=1e-6))

# %% [markdown]
# **The scale trap.** Infidelity compares $I^\top\Phi$ with an output drop in logit units,
# so it depends on the explanation's scale: multiply a map by 10 and its infidelity
# changes, although no ranking of pixels did. LIME's weights are in probability units,
# Grad-CAM's are in units of a feature map, and so on; comparing their raw infidelities
# compares their units. Captum's `normalize=True` first rescales the map by the
# least-squares optimal factor:

# %%
scales = (0.1, 1.0, 10.0)
raw = [ev.infidelity(cnn, x, c * gradient, y, rng=3).mean().item() for c in scales]
normalised = [ev.infidelity(cnn, x, c * gradient, y, normalize=True, rng=3).mean().item() for c in scales]
for c, r, n in zip(scales, raw, normalised):
    print(f"gradient x {c:>4}: infidelity {r:10.3f}   normalised {n:.4f}")

# %%
# NBVAL_CHECK_OUTPUT
print("raw infidelity changes with the scale:", max(raw) > 2 * min(raw))
print("normalised infidelity does not:", max(normalised) - min(normalised) < 1e-6 * max(normalised))

# %% [markdown]
# **Smoothing, and the infidelity-optimal explanation.** Yeh et al. prove that smoothing
# an explanation (averaging it over noisy inputs, as SmoothGrad does) lowers its
# sensitivity, and report that it lowers infidelity too. They also observe that for
# Gaussian noise the explanation with the lowest possible infidelity is
# $\Phi^* = \mathbb{E}[I\,(f(x) - f(x - I))]/\sigma^2$, which `ev.infidelity_optimal`
# estimates by Monte Carlo (with the gradient as a control variate: the estimate is the
# gradient plus the expected correction). The exact optimum wins the metric by
# construction: the metric can be gamed. Does it look like an explanation?

# %%
from course_utils.xai.gradients import smoothgrad

smooth = smoothgrad(cnn, x, y, n_samples=pick(full=50, fast=20), rng=0)
optimal = ev.infidelity_optimal(cnn, x, y, noise_std=noise_std, n_samples=pick(full=20000, fast=4000), rng=7)
contest = {"gradient": gradient, "SmoothGrad": smooth, "infidelity-optimal": optimal}
scores_inf = {name: ev.infidelity(cnn, x, a, y, normalize=True, n_samples=50, rng=11).mean().item()
              for name, a in contest.items()}
n_smooth = pick(full=50, fast=20)
scores_sens = {
    "gradient": ev.max_sensitivity(lambda b: saliency(cnn, b, y), x, n_samples=5, rng=12).mean().item(),
    "SmoothGrad": ev.max_sensitivity(lambda b: smoothgrad(cnn, b, y, n_samples=n_smooth, rng=0), x, n_samples=5,
                                     rng=12).mean().item(),
    "infidelity-optimal": float("nan"),  # one Monte Carlo estimate per input: not computed under perturbation
}
for name in contest:
    print(f"{name:20s} infidelity (normalised) {scores_inf[name]:.3f}   max-sensitivity {scores_sens[name]:.3f}")
print("SmoothGrad lowers max-sensitivity here:", scores_sens["SmoothGrad"] < scores_sens["gradient"],
      "| lowers infidelity here:", scores_inf["SmoothGrad"] < scores_inf["gradient"])
print(f"the Monte Carlo estimate of the optimum ({pick(full=20000, fast=4000)} draws per digit) beats the gradient:",
      scores_inf["infidelity-optimal"] < scores_inf["gradient"])

fig, axes = plt.subplots(1, 4, figsize=(10, 2.6))
plotting.show_image(x[0], ax=axes[0], title=f"digit {int(y[0])}")
for ax, (name, a) in zip(axes[1:], contest.items()):
    plotting.show_attribution(a[0, 0], ax=ax, title=name, colorbar=True)
fig.tight_layout()
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
print("SmoothGrad is less sensitive than the gradient:", scores_sens["SmoothGrad"] < scores_sens["gradient"])

# %% [markdown]
# The optimal map is the best linear prediction of what Gaussian noise does to the logit:
# that is what the metric asks, and nothing in it asks for a map a person can read. Whether
# our estimate of it actually beats the gradient (printed above) depends on the budget:
# the noise has 784 dimensions and a standard deviation of 0.1 per pixel, so the estimate's
# own Monte Carlo error, spread over every pixel, costs about as much infidelity as the
# optimum gains over the gradient unless the draws run into the hundreds of thousands. Change the noise (Yeh et al. also use square patches set to
# a baseline) and the optimum changes. A metric defines what "good" means; an explanation
# tuned to one metric can be poor on the next.
#
# ## 4 · Sanity checks (about 15 minutes)
#
# Adebayo et al. (NeurIPS 2018) ask whether a map depends on the model at all.
# **Cascading randomisation:** replace the weights of the top layer by random ones, then
# the next, down to the first, and compare each map with the trained model's. A method
# whose maps survive the destruction of the model is an edge detector, not an explanation.
# They compare with the **Spearman rank correlation**, with and without absolute values,
# and with **SSIM**; in their figures the gradient and SmoothGrad change completely, while
# guided backpropagation and guided Grad-CAM barely change, and gradient x input and IG
# keep the input's shape.

# %%
from skimage.metrics import structural_similarity

sanity_methods = ("saliency", "gradient x input", "integrated gradients", "SmoothGrad", "guided backprop",
                  "Grad-CAM", "guided Grad-CAM")
layers = ["fc2", "fc1", "conv2", "conv1"]


def compare(a, b):
    """Mean Spearman of |maps|, of signed maps, and SSIM of |maps| scaled to [0, 1]."""
    a, b = a.detach().cpu().sum(1), b.detach().cpu().sum(1)
    scaled = [(m.abs() / m.abs().flatten(1).amax(1).clamp(min=1e-12)[:, None, None]).numpy() for m in (a, b)]
    ssim = np.mean([structural_similarity(p, q, data_range=1.0) for p, q in zip(*scaled)])
    return np.nanmean(ev.rank_correlation(a.abs(), b.abs())), np.nanmean(ev.rank_correlation(a, b)), ssim


trained_maps = {name: methods[name](cnn, x, y) for name in sanity_methods}
cascade = {name: [] for name in sanity_methods}
randomised_models = {}
for layer, model in ev.cascading_randomisation(cnn, layers, rng=0):
    randomised_models[layer] = model
    for name in sanity_methods:
        cascade[name].append(compare(trained_maps[name], methods[name](model, x, y)))

fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
for name in sanity_methods:
    for k, title in enumerate(("Spearman, |maps|", "Spearman, signed", "SSIM, |maps|")):
        axes[k].plot(range(1, len(layers) + 1), [c[k] for c in cascade[name]], marker="o", label=name)
for k, title in enumerate(("Spearman, |maps|", "Spearman, signed", "SSIM, |maps|")):
    axes[k].set(xticks=range(1, len(layers) + 1), xticklabels=[f"..{layer}" for layer in layers],
                xlabel="randomised down to", ylabel="similarity to the trained model's map", title=title)
axes[2].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
fig.tight_layout()
plt.show()
final = pd.DataFrame({name: cascade[name][-1] for name in sanity_methods},
                     index=["Spearman |.|", "Spearman signed", "SSIM"]).T
print("similarity after randomising every layer (lower: the map depends on the weights):")
print(final.round(2).to_string())
fails = [name for name in sanity_methods if final.loc[name, "Spearman |.|"] > 0.5]
print("methods whose |map| keeps a rank correlation above 0.5 with a fully random model:", fails)

# %%
# NBVAL_CHECK_OUTPUT
print("gradient x input and IG fail (rank correlation > 0.5):", {"gradient x input", "integrated gradients"} <= set(fails))
print("the gradient passes:", "saliency" not in fails)

# %% [markdown]
# Gradient x input and IG multiply by the input, so their absolute maps keep the digit's
# shape whatever the weights: the randomised model's map is still "a digit". The signed
# correlation tells a different story for them (the signs become random), which is why
# Adebayo et al. report both. Guided backprop sits in between on our small CNN (its
# positive-gradient rule reconstructs edges of the input through any weights).
#
# **Independent randomisation** re-draws one layer at a time and keeps the others trained:

# %%
independent = {}
for k, layer in enumerate(layers):
    model = copy.deepcopy(cnn)
    ev.randomise_layer(dict(model.named_modules())[layer], rng=k)
    independent[layer] = {name: compare(trained_maps[name], methods[name](model, x, y))[0] for name in sanity_methods}
print("Spearman of |maps| with one layer randomised:")
print(pd.DataFrame(independent).round(2).to_string())

# %% [markdown]
# **Data randomisation.** Train the same architecture on the same images twice: once with
# the true labels and once with the labels shuffled, so that the second model can only
# memorise. An explanation of the memorising model that still looks like a good
# explanation of the digit says little about the model. (Fast mode trains on few images
# for few epochs, so the shuffled model memorises only part of its training set; the
# accuracy printed says how much.)

# %%
from course_utils.models import mnist_cnn
from course_utils.train import evaluate_accuracy, fit_classifier

X_train, y_train = data.mnist_tensors("train")
n_small, epochs = pick(full=2000, fast=300), pick(full=40, fast=8)
shuffled = y_train[:n_small][torch.randperm(n_small, generator=torch.Generator().manual_seed(0))]


def train_small(labels, seed):
    # a constant learning rate (lr_decay=1): halving it every epoch, the course's default,
    # stops a model long before it can memorise shuffled labels
    model = fit_classifier(mnist_cnn().to(device), X_train[:n_small], labels, epochs=epochs, batch_size=64, lr=1e-3,
                           lr_decay=1.0, rng=seed, init_seed=seed, progress=False)
    return model, evaluate_accuracy(model, X_train[:n_small], labels), evaluate_accuracy(model, X_test[:1000], y_test[:1000])


true_model, true_fit, true_test = train_small(y_train[:n_small], 0)
random_model, random_fit, random_test = train_small(shuffled, 0)
print(f"true labels: training accuracy {true_fit:.2f}, test {true_test:.2f}; "
      f"shuffled labels: accuracy on its own (shuffled) training labels {random_fit:.2f}, test {random_test:.2f}")
data_test = {name: compare(methods[name](true_model, x, y), methods[name](random_model, x, y))[0]
             for name in sanity_methods}
print("Spearman of |maps| between the true-label and the shuffled-label model:")
print(pd.Series(data_test).round(2).to_string())

# %%
# NBVAL_CHECK_OUTPUT
print("the shuffled-label model is at chance on the test set (< 0.3):", random_test < 0.3)
print("gradient x input maps of the two models stay similar (> 0.5):", data_test["gradient x input"] > 0.5)

# %% [markdown]
# ## 5 · Ground truth: a model whose Shapley values are known, and a planted feature (about 10 minutes)
#
# Every metric so far compares a map with the *model's behaviour*, never with a right
# answer, because for a trained network there is none. Two cases where there is one.
#
# **An additive model.** $f(x) = \sum_j g_j(x_j)$ on six independent standard-normal
# features, with $g$ = $2x$, $x^2$, $\sin 2x$, $3\,\mathrm{relu}(x)$, $0$ (an unused
# feature) and $0.5x$ (`simulation.additive_task`). Against a background set $B$, every
# coalition's value is a sum of one term per feature, so feature $j$'s marginal
# contribution is the same in every coalition and its Shapley value is exactly
# $\phi_j = g_j(x_j) - \frac{1}{|B|}\sum_{b \in B} g_j(b_j)$. We compare the course's
# explainers with it: the mean absolute error per feature, and the rank correlation of
# $|\phi|$ (does the method order the features right?).

# %%
from scipy.stats import spearmanr

from course_utils import simulation
from course_utils.xai import gradients, shapley
from course_utils.xai.lime import lime_tabular

task = simulation.additive_task(pick(full=50, fast=12), n_background=pick(full=100, fast=40), rng=0)
exact_phi = task.shapley_values()
additive = task.module().double()
rows, background_rows = torch.tensor(task.X), torch.tensor(task.background)
background_mean = background_rows.mean(0, keepdim=True).expand_as(rows)
z_scores = (task.X - task.background.mean(0)) / task.background.std(0)
estimates = {
    "Kernel SHAP (16 coalitions)": np.array([shapley.kernel_shap(task.predict, r, task.background, n_samples=16,
                                                                 rng=i).values for i, r in enumerate(task.X)]),
    "sampling Shapley (10 orders)": np.array([shapley.sampling_shapley(task.predict, r, task.background,
                                                                       n_permutations=10, rng=i).values
                                              for i, r in enumerate(task.X)]),
    "IG, baseline = background mean": gradients.integrated_gradients(additive, rows, 0, baseline=background_mean).numpy(),
    "IG averaged over the background": np.mean([gradients.integrated_gradients(
        additive, rows, 0, baseline=b.expand_as(rows), steps=32).numpy() for b in background_rows], axis=0),
    "gradient x input": gradients.input_x_gradient(additive, rows, 0).numpy(),
    "LIME weight x z-score": z_scores * np.array([lime_tabular(task.predict, r, task.background, n_features=6,
                                                               n_samples=pick(full=2000, fast=500), discretize=False,
                                                               rng=i).values for i, r in enumerate(task.X)]),
}
ground_truth = pd.DataFrame({name: {**dict(zip(task.terms, np.abs(v - exact_phi).mean(0))),
                                    "all": np.abs(v - exact_phi).mean(),
                                    "rank corr.": np.mean([spearmanr(np.abs(a), np.abs(b))[0]
                                                           for a, b in zip(v, exact_phi)])}
                             for name, v in estimates.items()}).T
print(f"{len(task.X)} rows explained against {len(task.background)} background rows; "
      f"the unused feature's exact value is {np.abs(exact_phi[:, 4]).max():.1f} everywhere")
print("mean |error| against the exact Shapley values, per term g_j and over all; rank correlation of |phi|:")
print(ground_truth.round(3).to_string())

# %%
# NBVAL_CHECK_OUTPUT
err = ground_truth["all"]
print("Kernel SHAP and IG averaged over the background recover the exact values (error < 0.01):",
      bool(err["Kernel SHAP (16 coalitions)"] < 0.01 and err["IG averaged over the background"] < 0.01))
print("IG from the mean baseline is exact on the linear terms and wrong on x^2 and relu:",
      bool(ground_truth.loc["IG, baseline = background mean", ["2 x", "0.5 x"]].max() < 1e-6
           and ground_truth.loc["IG, baseline = background mean", ["x^2", "3 relu(x)"]].min() > 0.1))

# %% [markdown]
# Each error has a cause, and none of them is "noise" in the usual sense:
#
# - **Kernel SHAP is exact with 16 of the 64 coalitions**: for an additive model the
#   coalition game is linear in the coalition, so any coalitions that span the six
#   features solve the regression exactly. An additive model is the easy case; the
#   convergence experiment of lesson 03 is the hard one.
# - **Sampling Shapley's error comes from the background, not the orders**: the course's
#   version uses one background row per order (lesson 03), so ten orders average $g_j$
#   over ten background rows instead of all of them.
# - **IG from the mean baseline** computes $g_j(x_j) - g_j(\bar b_j)$, which differs from
#   $\phi_j$ by $\overline{g_j(b)} - g_j(\bar b)$: zero for linear terms, the variance
#   for $x^2$ (Jensen's gap). **IG averaged over the background** (expected gradients,
#   captum's `GradientShap` without noise) averages $g_j(x_j) - g_j(b_j)$ over $b$: exact.
# - **Gradient x input** is IG from the zero input taken in one step: it compares with
#   zero, not with the background, so even the linear terms are off by $g_j(\bar b_j)$
#   (small here: the background's mean is near 0), and the curved terms are wrong.
# - **LIME** fits a local slope: a good ranking where $g_j$ is locally straight, a poor one
#   where it bends ($x^2$, $\sin 2x$).
#
# **A planted feature.** Lesson 10's backdoored CNN answers 0 whenever a 3 x 3 white
# square sits in the bottom-right corner; on triggered digits the trigger *is* the reason
# for the answer. Which share of each map's (positive) mass falls on the 9 trigger pixels,
# against their 9/784 = 1.1% of the image?

# %%
from course_utils.xai import manipulation as man

backdoored = load_pretrained("mnist_cnn_backdoor", device=device)
triggered = man.add_trigger(X_test[200:200 + pick(full=64, fast=12)])
box = man.trigger_box(triggered.shape)
triggered_answer = backdoored(triggered).argmax(1)
planted = {name: float(man.region_mass(methods[name](backdoored, triggered, triggered_answer).sum(1).clamp(min=0),
                                       box).mean())
           for name in ("saliency", "integrated gradients", "Grad-CAM", "occlusion")}
print(f"{len(triggered)} triggered digits; answered with the backdoor's class "
      f"{int(triggered_answer.mode().values)} on {float((triggered_answer == triggered_answer.mode().values).double().mean()):.0%}")
for name, mass in planted.items():
    print(f"  {name:22s} {mass:6.1%} of the map's mass on the trigger ({mass / (9 / 784):.0f} x its area share)")

# %%
# NBVAL_CHECK_OUTPUT
print("every method puts more than the trigger's area share (9/784) on it:",
      all(mass > 9 / 784 for mass in planted.values()))

# %% [markdown]
# Every method puts more than the trigger's area share on it, by the factors printed; the
# planted feature is found by the pixel-level maps, and Grad-CAM's coarse 7 x 7 map
# spreads its mass over whole cells, so that 9 pixels can hold only a small share of it.
# This is the one image task of the course where a localisation score is a score against
# the truth rather than against where a person would look.

# %% [markdown]
# ## 6 · Meta-evaluation: a manipulated model, the metrics' own noise, and Quantus (about 15 minutes)
#
# A metric is itself a measurement, and it can be wrong. Three tests of the metrics.
#
# **Do the metrics notice a manipulated model?** Lesson 10's `mnist_cnn_gradcam_fooled` is
# `mnist_cnn` fine-tuned so that Grad-CAM points at the empty top-left 8 x 8 corner while
# the accuracy stays (Heo, Joo and Moon, NeurIPS 2019). We take test digits on which it
# worked (lesson 10 measures how many: nearly all), the fooled Grad-CAM holding more than
# half of its mass in the corner, and run
# every metric of this lesson on Grad-CAM for both models, and on saliency, which the
# fine-tuning did not target, as a control.

# %%
from course_utils.models import checkpoint_path, gradcam_layer
from course_utils.xai import gradcam

fooled = load_pretrained("mnist_cnn_gradcam_fooled", device=device)
fool_card = pd.read_json(checkpoint_path("mnist_cnn_gradcam_fooled").with_suffix(".json"), typ="series")
FOOL_BOX = tuple(int(v) for v in fool_card["fooling_box"])
n_scan, n_fooled = pick(full=2000, fast=200), pick(full=32, fast=12)
scan_x, scan_y = X_test[:n_scan].to(device), y_test[:n_scan].to(device)
corner_mass = np.array([ev.box_mass(h, FOOL_BOX)
                        for h in gradcam.gradcam(fooled, gradcam_layer(fooled), scan_x, scan_y).detach().cpu()])
fooled_digits = np.flatnonzero(corner_mass > 0.5)[:n_fooled]
xf, yf = scan_x[fooled_digits], scan_y[fooled_digits]
print(f"fooled Grad-CAM has more than half its mass in the corner on {np.mean(corner_mass > 0.5):.1%} of "
      f"{n_scan} test digits; the first {len(fooled_digits)} are evaluated")

fully_randomised = {"mnist_cnn": randomised_models[layers[-1]],  # section 4's, every layer randomised
                    "fooled": list(ev.cascading_randomisation(fooled, layers, rng=0))[-1][1]}
meta_rows = {}
for model_name, model in (("mnist_cnn", cnn), ("fooled", fooled)):
    for method in ("Grad-CAM", "saliency"):
        row = ev.evaluate_explanations(methods[method], model, xf, yf, randomised=fully_randomised[model_name],
                                       n_infidelity=10,
                                       n_sensitivity=pick(full=5, fast=2), rng=0)
        meta_rows[(method, model_name)] = {metric: np.nanmean(row[metric]) for metric in
                                           ("deletion", "insertion", "infidelity", "max-sensitivity", "sanity")}
noise = (torch.rand(xf.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1).to(device) * 0.02
moved = np.array([ev.box_mass(h, FOOL_BOX)
                  for h in gradcam.gradcam(fooled, gradcam_layer(fooled), xf + noise, yf).detach().cpu()]) <= 0.5
meta = pd.DataFrame(meta_rows)
meta.columns.names = ["method", "model"]
infidelity_growth = {method: meta.loc["infidelity", (method, "fooled")] / meta.loc["infidelity", (method, "mnist_cnn")]
                     for method in ("Grad-CAM", "saliency")}
shown = meta.set_axis([f"{method}, {model_name}" for method, model_name in meta.columns], axis=1)
print(shown.assign(**{"better when": ["lower", "higher", "lower", "lower", "lower"]}).round(3).to_string())
print(f"one random perturbation of 0.02 per pixel moves the fooled Grad-CAM out of the corner on "
      f"{moved.mean():.0%} of these digits")
print("infidelity on the fooled model / on mnist_cnn: "
      + ", ".join(f"{method} {growth:.1f}x" for method, growth in infidelity_growth.items()))

# %%
fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
plotting.show_image(xf[0].cpu(), ax=axes[0], title=f"digit {int(yf[0])}")
plotting.draw_box(axes[0], FOOL_BOX, color="red", label="fooling box")
axes[0].legend(loc="upper left", bbox_to_anchor=(0, -0.02), fontsize=8, frameon=False)
for ax, (model_name, model) in zip(axes[1:3], (("mnist_cnn", cnn), ("fooled", fooled))):
    plotting.show_heatmap(gradcam.gradcam(model, gradcam_layer(model), xf[:1], yf[:1])[0].detach().cpu(), ax=ax,
                          title=f"Grad-CAM, {model_name}")
    fig.colorbar(ax.images[-1], ax=ax, fraction=0.046, pad=0.04)
for model_name, model in (("mnist_cnn", cnn), ("fooled", fooled)):
    fractions, deleted = ev.deletion_curve(model, xf, methods["Grad-CAM"](model, xf, yf), yf)
    axes[3].plot(fractions, deleted.mean(0), label=f"{model_name} ({curve_auc(fractions, deleted).mean():.2f})")
axes[3].set(xlabel="fraction of pixels deleted", ylabel="P(class), mean", title="deletion curve of Grad-CAM")
axes[3].legend(title="model (area)", fontsize=8)
fig.tight_layout()
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
cam_original, cam_fooled = meta[("Grad-CAM", "mnist_cnn")], meta[("Grad-CAM", "fooled")]
print("deletion and insertion both rank the fooled Grad-CAM worse:",
      bool(cam_fooled["deletion"] > cam_original["deletion"] and cam_fooled["insertion"] < cam_original["insertion"]))
print("max-sensitivity ranks it worse too:", bool(cam_fooled["max-sensitivity"] > cam_original["max-sensitivity"]))
print("the sanity check does not: the fooled map looks at least as 'sane' (lower correlation):",
      bool(cam_fooled["sanity"] <= cam_original["sanity"]))
print("infidelity grows for the untargeted saliency (by at least half of Grad-CAM's factor; it measures the model too):",
      bool(infidelity_growth["saliency"] > 1 and infidelity_growth["saliency"] >= 0.5 * infidelity_growth["Grad-CAM"]))

# %% [markdown]
# What each metric saw, and why:
#
# - **Deletion and insertion** catch the manipulation, for the reason they were built:
#   removing the corner that the fooled map ranks first changes nothing, so the class
#   probability stays up (deletion's area grows) and inserting the corner into the blur
#   restores nothing (insertion's falls). A metric that asks the *model* is hard to fool
#   with a map that the model does not use.
# - **Max-sensitivity** flags it for a different reason: the fooled map is unsteady.
#   Perturbations of 0.02 per pixel, invisible on the digit, leave it in the corner (the
#   share they move out of it is printed above), but they change its values by a much
#   larger fraction of its norm than they change the honest Grad-CAM's (the table's
#   max-sensitivity row).
# - **The sanity check is fooled.** It rewards a map that changes when the weights are
#   randomised, and the corner map changes completely. Adebayo et al.'s test detects
#   explanations that ignore the model; this one depends on the model all too well.
# - **Infidelity** rises for saliency as well (by the factors printed above), which the
#   fine-tuning did not target. Normalised infidelity asks how well a map, rescaled by
#   the best factor, predicts the logit's response to noise as a linear function; where
#   the model itself responds less linearly, every map pays. It measures the model as
#   much as the map: compare infidelities of maps of one model, never across models.
#
# **How noisy are the metrics?** Section 7 resamples the digits. The other source of
# noise is the explainers' own randomness: LIME, Kernel SHAP, RISE and SmoothGrad draw
# samples, and a report card is computed from one seed. The deletion area of each, over
# three seeds, on this lesson's digits:

# %%
stochastic = ("SmoothGrad", "LIME", "Kernel SHAP", "RISE")
seed_auc = {}
for seed in (0, 1, 2):
    seeded = course_methods(n_samples=pick(full=500, fast=100), ig_steps=pick(full=50, fast=16),
                            smoothgrad_samples=pick(full=50, fast=10), n_masks=pick(full=2000, fast=300), rng=seed)
    seed_auc[f"seed {seed}"] = {name: curve_auc(*ev.deletion_curve(cnn, x, seeded[name](cnn, x, y), y)).mean()
                                for name in stochastic}
seed_table = pd.DataFrame(seed_auc)
seed_table["spread (max - min)"] = seed_table.max(axis=1) - seed_table.min(axis=1)
between_methods = seed_table["seed 0"].max() - seed_table["seed 0"].min()
print(f"deletion area (lower is better) of the sampling explainers on {n_eval} digits, three seeds:")
print(seed_table.round(3).to_string())
print(f"largest change with the seed: {seed_table['spread (max - min)'].max():.3f} "
      f"({seed_table['spread (max - min)'].idxmax()}); "
      f"gap between the best and the worst of these methods (seed 0): {between_methods:.3f}")
seed_ranges = seed_table[["seed 0", "seed 1", "seed 2"]].agg(["min", "max"], axis=1)
overlapping = [f"{a} / {b}" for i, a in enumerate(stochastic) for b in stochastic[i + 1:]
               if seed_ranges.loc[a, "min"] <= seed_ranges.loc[b, "max"]
               and seed_ranges.loc[b, "min"] <= seed_ranges.loc[a, "max"]]
print(f"pairs whose ranges over the seeds overlap (one seed cannot rank them): {', '.join(overlapping) or 'none'}")

# %% [markdown]
# A report card is computed from one seed. Where two methods' ranges over the seeds
# overlap (the pairs printed), that seed decided their order, not the methods; the spread
# shrinks as the sampling budget grows (compare fast and full mode). Report card entries
# of sampling methods need several seeds, or a budget raised until the spread is below
# the gaps that the card is used to show.
#
# **Do our metrics agree with Quantus?** Quantus (Hedström et al., JMLR 2023) is the
# toolkit most papers use. `quantus_compare.quantus_comparison` runs three of its metrics
# beside ours on the same digits and saliency maps: PixelFlipping is our deletion curve
# without its first point (the values must be equal), MaxSensitivity is our
# max-sensitivity (equal up to the random perturbations), and Quantus's Infidelity sets
# square patches to a baseline where ours adds Gaussian noise (different definitions: only
# the times compare). Quantus is an optional extra of the course (`pip install
# "quantus==0.6.0"`); where it is not installed the cell says so and moves on.

# %%
import importlib.util

from course_utils.xai.gradients import saliency
from course_utils.xai.quantus_compare import quantus_comparison

if importlib.util.find_spec("quantus") is None:
    print("Quantus is not installed in this environment: pip install 'quantus==0.6.0' and rerun this cell.")
else:
    cnn_cpu = copy.deepcopy(cnn).cpu()
    x_q, y_q = X_test[:pick(full=64, fast=16)], y_test[:pick(full=64, fast=16)]

    def saliency_abs(model, images, target):
        return saliency(model, images, target, absolute=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Quantus: a patch on the black background changes nothing
        versus = pd.DataFrame(quantus_comparison(cnn_cpu, x_q, y_q, saliency_abs(cnn_cpu, x_q, y_q), saliency_abs,
                                                 n_steps=16, rng=0)).T
    versus["time ratio (quantus / ours)"] = versus["quantus s"] / versus["course_utils s"]
    print(f"saliency maps of {len(x_q)} digits, evaluated by Quantus 0.6.0 and by course_utils (means; seconds):")
    print(versus.to_string(float_format=lambda v: f"{v:.4g}"))

# %% [markdown]
# Where the cell runs, read it with two facts in mind. Pixel flipping costs the same
# forward passes of the model in both implementations, so neither can be much faster
# than the other (Quantus's issue #96 reports PixelFlipping taking 45 minutes where a
# hand-written loop took 2, for an older version that did not batch them). Quantus's
# Infidelity evaluates the model once per patch position and sample, ours once per
# sample, so the time ratio of that row is a ratio of definitions as much as of code.

# %% [markdown]
# ## 7 · The report card (about 20 minutes)
#
# Every method of the course on the MNIST CNN, the same digits, the same metrics:
#
# - **deletion** (to black) and **insertion** (into the blur): areas over 20 steps (section 1);
# - **infidelity**, normalised (scale-free), Gaussian noise of 0.1, and **max-sensitivity**
#   in an L-inf ball of 0.02 (section 3);
# - **sanity**: Spearman correlation of |maps| between the trained and the fully randomised
#   model (section 4; low is good);
# - **localisation**: the share of the positive map inside the explained digit's box on
#   lesson 07's two-digit canvases, with the canvas CNN (`mnist_pairs_cnn`), and the pointing
#   game (is the map's maximum in the box?);
# - **time** per explanation on this machine.

# %%
fully_random = randomised_models[layers[-1]]
n_sens = pick(full=5, fast=2)
card_rows = {}
for name, explain in methods.items():
    card_rows[name] = ev.evaluate_explanations(explain, cnn, x, y, randomised=fully_random, n_infidelity=10,
                                               n_sensitivity=n_sens, rng=0)
print(f"{len(card_rows)} methods evaluated on {n_eval} digits")

# %%
from course_utils.canvases import mnist_canvases
from course_utils.models import gradcam_layer

pairs = load_pretrained("mnist_pairs_cnn", device=device)
canvases = mnist_canvases("test", pick(full=16, fast=3), rng=0)
canvas_methods = course_methods(cell_size=8, n_samples=pick(full=500, fast=100), ig_steps=pick(full=50, fast=16),
                                   smoothgrad_samples=pick(full=50, fast=10), n_masks=pick(full=2000, fast=300),
                                   occlusion_window=8, occlusion_stride=4, rng=0)
explained_digit, explained_box = canvases.digits[:, 0], canvases.boxes[:, 0]
localisation = {}
for name, explain in canvas_methods.items():
    heat = explain(pairs, canvases.images, explained_digit).detach().cpu().sum(1).clamp(min=0)
    localisation[name] = (np.mean([ev.box_mass(h, b) for h, b in zip(heat, explained_box)]),
                          np.mean([ev.pointing_game(h, b) for h, b in zip(heat, explained_box)]))
box_share = np.mean([((b[2] - b[0]) * (b[3] - b[1])).item() / 64 ** 2 for b in explained_box])
print(f"localisation on {len(canvases)} canvases; the boxes cover {box_share:.0%} of a canvas on average")

# %%
card = pd.DataFrame({name: {"deletion": np.mean(row["deletion"]), "insertion": np.mean(row["insertion"]),
                            "infidelity": np.mean(row["infidelity"]), "max-sensitivity": np.mean(row["max-sensitivity"]),
                            "sanity": np.nanmean(row["sanity"]), "mass in box": localisation[name][0],
                            "pointing": localisation[name][1], "ms / explanation": 1000 * row["seconds"][0]}
                     for name, row in card_rows.items()}).T
lower_is_better = {"deletion": True, "insertion": False, "infidelity": True, "max-sensitivity": True, "sanity": True,
                   "mass in box": False, "pointing": False, "ms / explanation": True}
card_ranks = pd.DataFrame({column: card[column].rank(ascending=lower) for column, lower in lower_is_better.items()})
card["mean rank"] = card_ranks.drop(columns="ms / explanation").mean(axis=1)
print(card.sort_values("mean rank").round(3).to_string())

# %%
fig, ax = plt.subplots(figsize=(10, 5.2))
order = card.sort_values("mean rank").index
image = ax.imshow(card_ranks.loc[order].to_numpy(), cmap="RdYlGn_r", vmin=1, vmax=len(card), aspect="auto")
for i, name in enumerate(order):
    for j, column in enumerate(card_ranks.columns):
        value = card.loc[name, column]
        ax.text(j, i, f"{value:.0f}" if column == "ms / explanation" else f"{value:.2f}", ha="center", va="center",
                fontsize=8)
ax.set(xticks=range(len(card_ranks.columns)), yticks=range(len(order)), yticklabels=order,
       title=f"Report card: every method of the course on the MNIST CNN ({n_eval} digits; colour = rank)")
ax.set_xticklabels(card_ranks.columns, rotation=30, ha="right")
fig.colorbar(image, ax=ax, label="rank (1 = best)")
fig.tight_layout()
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
print("one row per method of the course:", list(card.index) == list(REPORT_CARD_METHODS))
print("gradient x input fails the sanity check worse than the gradient:",
      card.loc["gradient x input", "sanity"] > card.loc["saliency", "sanity"])
print("the best method puts over half of its mass in the box:", bool(card["mass in box"].max() > 0.5))

# %% [markdown]
# **Do the metrics agree?** Each column ranks the twelve methods. If the metrics measured
# one thing, "faithfulness", their rankings would agree. The rank correlation between the
# rankings of each pair of columns:

# %%
agreement_matrix = card_ranks.drop(columns="ms / explanation").corr(method="spearman")
print(agreement_matrix.round(2).to_string())
off_diagonal = agreement_matrix.to_numpy()[~np.eye(len(agreement_matrix), dtype=bool)]
print(f"\nmean agreement between two metrics: {off_diagonal.mean():.2f} "
      f"(from {off_diagonal.min():.2f} to {off_diagonal.max():.2f})")

# %% [markdown]
# **How noisy is a column?** Resample the evaluated digits (a bootstrap) and see how often
# the deletion ranking of the methods stays the same:

# %%
boot = np.random.default_rng(0)
per_digit = pd.DataFrame({name: row["deletion"] for name, row in card_rows.items()})
stability = []
for _ in range(200):
    sample = per_digit.iloc[boot.integers(0, n_eval, n_eval)].mean()
    stability.append(spearmanr(sample, per_digit.mean())[0])
print(f"rank correlation of a bootstrap deletion ranking with the full one: median {np.median(stability):.2f}, "
      f"5th percentile {np.percentile(stability, 5):.2f} ({n_eval} digits)")

# %%
# NBVAL_CHECK_OUTPUT
print("the metrics do not all agree (some pair correlates below 0.5):", bool(off_diagonal.min() < 0.5))

# %% [markdown]
# The disagreement is the lesson. Deletion rewards maps that find the few pixels whose
# removal hurts most (and depends on the substrate); insertion rewards the pixels that
# rebuild the class from the blur; normalised infidelity rewards the best linear
# prediction of noise; max-sensitivity rewards smoothness (a constant map is perfect); the
# sanity check rewards dependence on the weights, whatever the map says; localisation
# rewards agreement with a box a person drew. No column is "the truth" about an
# explanation, and a method can be tuned to any one of them (section 3's optimal map).
#
# **Try it: one method on one digit.** Pick a method and a digit; the curves and the map
# are recomputed (slow methods take a few seconds, so the sliders act on release).

# %%
def show_method(method="integrated gradients", index=0):
    xi, yi = X_test[index:index + 1], y_test[index:index + 1]
    attribution = methods[method](cnn, xi, yi)
    fractions, deleted = ev.deletion_curve(cnn, xi, attribution, yi)
    _, inserted = ev.insertion_curve(cnn, xi, attribution, yi, baseline=ev.blurred(xi))
    fig, axes = plt.subplots(1, 3, figsize=(11, 3))
    plotting.show_attribution(attribution[0, 0].cpu(), ax=axes[0], title=f"{method}, digit {int(yi)}")
    axes[1].plot(fractions, deleted[0], label=f"deletion ({curve_auc(fractions, deleted)[0]:.3f})")
    axes[1].plot(fractions, inserted[0], label=f"insertion ({curve_auc(fractions, inserted)[0]:.3f})")
    axes[1].set(xlabel="fraction of pixels", ylabel="P(class)", title="curves")
    axes[1].legend(loc="center right")
    plotting.show_image(ev.erase_top(xi, attribution.sum(1), 78)[0], ax=axes[2], title="top 10% deleted")
    fig.tight_layout()
    plt.show()


widgets.interact(show_method,
                 method=widgets.Dropdown(options=list(methods), value="integrated gradients", description="method"),
                 index=widgets.IntSlider(value=0, min=0, max=99, description="digit", continuous_update=False));

# %% [markdown]
# **Capstone exercise (open).** Evaluate a method of your choice on a model of your
# choice: for example SmoothGrad-squared or VarGrad (`ev.noisy_gradient_maps`) on the
# adversarially trained `mnist_cnn_robust` (lesson 08). Wrap it as
# `explain(model, x, target)`, call `ev.evaluate_explanations`, and add its row to the
# card. Before you look at the numbers, write down which columns you expect it to win, and
# why.
#
# ### Think
#
# 1. A map ranks the background pixels of an MNIST digit first. Why is that invisible to
#    deletion with a black substrate but not with a gray one? Which substrate would you
#    choose, and what does your choice reward?
# 2. Why does normalised infidelity not change when a map is multiplied by 10, and what
#    does that say about comparing raw infidelities of LIME and Grad-CAM?
# 3. A constant map has max-sensitivity 0. What does that tell you about using
#    max-sensitivity alone?
# 4. Gradient x input fails the model-randomisation test, yet it scores well on deletion.
#    How can both be true?
# 5. Two metrics rank the methods in nearly opposite orders. Is one of them wrong?
#
# <!-- BEGIN SOLUTION -->
# **Answers.** (1) Deleting a black pixel to black changes nothing, so a map's wasted
# background picks cost nothing on deletion-to-black; a gray substrate turns each deleted
# background pixel into a stroke-like change, so the same picks now move the output.
# Every substrate asks "what does absent mean?": black rewards maps that find ink, gray or
# blur reward maps that also know where ink must not be. State the substrate with the
# number. (2) Normalising multiplies the map by the least-squares optimal factor, so any
# rescaled map gets the same factor times its inverse; raw infidelity compares the units
# of the maps (probabilities against feature-map units) as much as their quality. (3) It
# rewards explanations that ignore the input; it must come with a faithfulness metric.
# (4) Deletion with a black substrate rewards ranking ink pixels first, and x times
# anything is 0 on the background, so gradient x input ranks ink first whatever the model
# is: its good deletion score partly comes from the input, not the model; the
# randomisation test exposes exactly that. (5) Not necessarily: they measure different
# properties (a faithful map can be sensitive; a smooth map can be unfaithful). Choose the
# metric that matches the question the explanation is meant to answer.
# <!-- END SOLUTION -->

# %% [markdown]
# ## Summary
#
# - Deletion and insertion curves measure how fast the class probability falls or rises
#   when pixels are removed or restored in the map's order; their areas depend on the
#   substrate, which can reorder the methods.
# - RISE explains by averaging random masks weighted by the masked image's probability;
#   it is built for the deletion/insertion question and scores well on it.
# - ROAR retrains on images with the top pixels removed, so that only the information
#   removed counts; ROAD imputes the removed pixels from their neighbours instead of
#   retraining, so that the hole's shape does not give the label away. Both compare a
#   ranking with a random one.
# - Where the answer is known (an additive model's exact Shapley values, a planted
#   trigger), each method's error has a cause: the baseline (IG from the mean), the
#   background sample (sampling Shapley), the local slope (LIME).
# - Infidelity asks whether the map predicts the effect of noise; it depends on the map's
#   scale unless normalised, and its optimum is a smoothed gradient that "games" it.
#   Max-sensitivity rewards smooth maps; SmoothGrad lowers it.
# - Sanity checks show which maps depend on the weights: gradient x input and IG keep the
#   digit's shape under a random model (in absolute value), the gradient does not.
# - Metrics can be tested too: deletion, insertion and max-sensitivity notice a model
#   fine-tuned to fool Grad-CAM, the sanity check does not, and infidelity measures the
#   model as much as the map. ROAR on MNIST measures how much the hole's outline gives
#   the digit away.
# - The report card ranks twelve methods by eight columns; the columns disagree, and
#   which method is "best" depends on which property you need.
#
# The report card's full-mode table (32 digits, full budgets) is computed by running this
# notebook with `COURSE_FAST=0`.
#
# ## Further reading
#
# - V. Petsiuk, A. Das, K. Saenko, "RISE: Randomized Input Sampling for Explanation of
#   Black-box Models", BMVC 2018 (deletion, insertion, RISE).
# - S. Hooker, D. Erhan, P.-J. Kindermans, B. Kim, "A Benchmark for Interpretability
#   Methods in Deep Neural Networks", NeurIPS 2019 (ROAR).
# - Y. Rong, T. Leemann, V. Borisov, G. Kasneci, E. Kasneci, "A Consistent and Efficient
#   Evaluation Strategy for Attribution Methods", ICML 2022 (ROAD).
# - J. Song, K. Cha, J. Seo, "On Pitfalls of RemOve-And-Retrain: Data Processing
#   Inequality Perspective", arXiv:2304.13836, 2023 (blurry maps score better).
# - C.-K. Yeh, C.-Y. Hsieh, A. S. Suggala, D. I. Inouye, P. Ravikumar, "On the (In)fidelity
#   and Sensitivity of Explanations", NeurIPS 2019.
# - J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt, B. Kim, "Sanity Checks for
#   Saliency Maps", NeurIPS 2018.
# - A. Hedström et al., "Quantus: An Explainable AI Toolkit for Responsible Evaluation of
#   Neural Network Explanations and Beyond", JMLR 2023.
