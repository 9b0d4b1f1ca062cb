# %% [markdown]
# # 09 · Robustness of explanations: input perturbations, fragility, model shift, robust training
#
# An explanation is only useful if it describes the model and not noise. Lin, Covert and
# Lee (NeurIPS 2023) put the question in two parts: is the change of an attribution
# $\|\phi(f, x) - \phi(f, x')\|$ controlled by the change of the input $\|x - x'\|$, and is
# $\|\phi(f, x) - \phi(f', x)\|$ controlled by the change of the model $\|f - f'\|$? This
# lesson measures both on the course's MNIST CNNs and on an Adult MLP, attacks explanations
# on purpose (Ghorbani, Abid and Zou, AAAI 2019), checks Meyer et al.'s bound on how far
# input gradients move when a model is fine-tuned on shifted data (UAI 2023, Lemma 1), and
# trains models whose explanations are more robust (Ross and Doshi-Velez, AAAI 2018; Woods,
# Chen and Teuscher, 2019).
#
# **Learning objectives.** After this notebook you can
# 1. compute max-sensitivity (Yeh et al., NeurIPS 2019) by hand and with captum, and separate
#    a sampling explainer's noise floor from its true sensitivity;
# 2. say which attributions are Lipschitz in the input (removal-based ones, when the model is)
#    and which depend on the model's curvature (gradient-based ones);
# 3. attack a saliency map while keeping the prediction, through a softplus surrogate;
# 4. measure explanation drift under fine-tuning against the parameter distance, estimate
#    the gradient-parameter Lipschitz constant and check Lemma 1; see counterfactuals expire;
# 5. train with the input-gradient penalty (double backpropagation) and compare standard,
#    gradient-regularised, Lipschitz-regularised and PGD-trained models.
#
# **Time:** about 75 minutes (full mode runs in about 12 minutes on a laptop CPU).

# %%
#@course_setup

from course_utils import setup_notebook

ctx = setup_notebook(seed=0)

# %%
import copy
import json

import ipywidgets as widgets
import matplotlib.pyplot as plt
import warnings

import numpy as np
import torch
from captum.attr import FeatureAblation, KernelShap, Lime, Occlusion, Saliency
from captum.metrics import sensitivity_max
from torch import nn

from course_utils import check, data, load_pretrained, pick, plotting
from course_utils.models import checkpoint_path, gradcam_layer
from course_utils.xai import attacks, evaluation, gradcam, gradients, robustness, shapley
from course_utils.xai.counterfactuals import mad, wachter_batch

# captum warns at every batched LIME / Kernel SHAP call that it fits one surrogate per example (we mean it to),
# and at every saliency call that the input did not require gradients (it sets that itself)
warnings.filterwarnings("ignore", message="You are providing multiple inputs for Lime")
warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
device = torch.device("cpu")  # small models: the CPU is fast enough, and results do not depend on the device
X_test, y_test = data.mnist_tensors("test")
cnns = {name: load_pretrained(name) for name in ("mnist_cnn", "mnist_cnn_robust", "mnist_cnn_gradreg")}
standard, robust, gradreg = cnns.values()
print(f"{len(X_test)} test digits; models: {', '.join(cnns)}")

# %% [markdown]
# ## 1 · Input perturbations: max-sensitivity (about 20 minutes)
#
# Yeh et al. (NeurIPS 2019) define the **max-sensitivity** of an explanation $\phi$ at $x$ as
# the largest change of the explanation over perturbations in a small ball,
#
# $$\mathrm{SENS}_{\max}(\phi, f, x, r) = \max_{\|\delta\|_\infty \le r}
#   \frac{\|\phi(f, x + \delta) - \phi(f, x)\|_F}{\|\phi(f, x)\|_F},$$
#
# estimated by sampling $\delta$ uniformly from the ball (captum's `sensitivity_max` divides
# by $\|\phi(f,x)\|$ as here). **Exercise 9.1.** Given the explanations `reference` (N, ...)
# of the inputs and `perturbed` (S, N, ...) of S perturbations, return the estimate, shape (N,).

# %%
def max_relative_change(reference, perturbed):
    # BEGIN SOLUTION Exercise 9.1: max over perturbations of the relative Frobenius change
    flat = reference.reshape(len(reference), -1).double()
    change = (perturbed.reshape(len(perturbed), len(reference), -1).double() - flat).norm(dim=2).amax(dim=0)
    return change / flat.norm(dim=1)
    # END SOLUTION


max_relative_change = check("9.1", max_relative_change)

# %% [markdown]
# `evaluation.max_sensitivity(explain_fn, x, radius=..., n_samples=..., rng=...)` draws the
# perturbations, calls `explain_fn` once per perturbation on the whole batch and uses the
# function of exercise 9.1. The methods of lessons 02-07, each as a function of a batch: the
# gradient family (saliency, gradient × input, Integrated Gradients, SmoothGrad, Grad-CAM)
# and the removal-based family (occlusion of 7×7 patches, and LIME and Kernel SHAP on the
# same 16 patches, captum's implementations). The sampling explainers draw fresh noise at
# every call unless we fix their seed.

# %%
n_sens = pick(full=64, fast=4)
sens_samples = pick(full=10, fast=2)
radius = 0.05
n_draws = pick(full=200, fast=32)  # LIME / Kernel SHAP samples per explanation
patches = (torch.arange(28)[:, None] // 7 * 4 + torch.arange(28)[None, :] // 7).view(1, 1, 28, 28)  # broadcastable
x_sens, y_sens = X_test[:n_sens], y_test[:n_sens]


def seeded(fn, seed):
    """fn with torch's global generator fixed inside it (common random numbers), or fresh noise for seed None."""
    if seed is None:
        return fn

    def call(batch):
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return fn(batch)
    return call


def image_explainers(model, target, seed=None):
    layer = gradcam_layer(model)
    return {
        "saliency": lambda b: gradients.saliency(model, b, target),
        "grad x input": lambda b: gradients.input_x_gradient(model, b, target),
        "IG": lambda b: gradients.integrated_gradients(model, b, target, steps=pick(full=32, fast=8)),
        "SmoothGrad": lambda b: gradients.smoothgrad(model, b, target, n_samples=pick(full=50, fast=8),
                                                     rng=seed),
        "Grad-CAM": lambda b: gradcam.gradcam(model, layer, b, target),
        "occlusion": lambda b: Occlusion(model).attribute(b, target=target, sliding_window_shapes=(1, 7, 7),
                                                          strides=(1, 7, 7), baselines=0.0),
        "LIME": seeded(lambda b: Lime(model).attribute(b, target=target, feature_mask=patches, n_samples=n_draws,
                                                       baselines=0.0, perturbations_per_eval=n_draws), seed),
        "Kernel SHAP": seeded(lambda b: KernelShap(model).attribute(b, target=target, feature_mask=patches,
                                                                    n_samples=n_draws, baselines=0.0,
                                                                    perturbations_per_eval=n_draws), seed),
    }


SAMPLING = ("SmoothGrad", "LIME", "Kernel SHAP")
sensitivity, compared = {}, ("mnist_cnn", "mnist_cnn_robust")
for name in compared:
    model = cnns[name]
    fresh, fixed = image_explainers(model, y_sens), image_explainers(model, y_sens, seed=0)
    for method in fresh:
        row = {"r": evaluation.max_sensitivity(fresh[method], x_sens, radius=radius, n_samples=sens_samples, rng=1)}
        if method in SAMPLING:  # true sensitivity: the same noise at x and at x + delta (common random numbers)
            row["fixed"] = evaluation.max_sensitivity(fixed[method], x_sens, radius=radius, n_samples=sens_samples, rng=1)
        if method in SAMPLING and name == "mnist_cnn":  # the noise floor: radius 0, fresh noise
            row["floor"] = evaluation.max_sensitivity(fresh[method], x_sens, radius=0.0, n_samples=sens_samples, rng=1)
        if method == "saliency":  # the size of the map, to turn the relative change into an absolute one
            row["norm"] = fresh[method](x_sens).flatten(1).norm(dim=1)
        sensitivity[name, method] = {k: float(v.nanmean()) for k, v in row.items()}

print(f"mean max-sensitivity at radius {radius} ({n_sens} digits, {sens_samples} perturbations each; "
      "sampling methods with fixed noise in brackets)")
print(f"{'method':14s}" + "".join(f"{name:>24s}" for name in compared))
for method in fresh:
    cells = [sensitivity[name, method] for name in compared]
    print(f"{method:14s}" + "".join(f"{c['r']:14.3f}" + (f" [{c['fixed']:.3f}]" if "fixed" in c else " " * 8) + "  "
                                    for c in cells))
absolute = {name: sensitivity[name, "saliency"]["r"] * sensitivity[name, "saliency"]["norm"] for name in compared}
print("saliency: mean ||e(x)|| " + ", ".join(f"{n} {sensitivity[n, 'saliency']['norm']:.3f}" for n in compared)
      + "; relative change x ||e(x)|| (absolute) " + ", ".join(f"{n} {absolute[n]:.3f}" for n in compared))
print("\nsampling explainers on mnist_cnn: noise floor (radius 0, fresh noise) vs fixed-noise sensitivity")
for method in SAMPLING:
    row = sensitivity["mnist_cnn", method]
    print(f"  {method:12s} floor {row['floor']:.3f} | fresh noise at r {row['r']:.3f} | fixed noise at r {row['fixed']:.3f}")

# %% [markdown]
# The same numbers from captum. captum 0.9.0's `sensitivity_max` fails with a per-example
# `feature_mask` (it repeats the inputs but not the mask); a mask of shape (1, 1, 28, 28)
# broadcasts and works (fixed upstream after 0.9.0). Our estimate and captum's draw different
# perturbations, so they agree statistically, not digit by digit.

# %%
try:
    sensitivity_max(Lime(standard).attribute, x_sens, target=y_sens, n_perturb_samples=2, n_samples=16,
                    feature_mask=patches.expand(n_sens, 1, 28, 28).contiguous(), baselines=0.0)
    per_example_mask = "works"
except RuntimeError as err:
    per_example_mask = f"fails ({type(err).__name__}: shape mismatch)" if "size" in str(err) else f"fails: {err}"
print("captum sensitivity_max with a per-example LIME feature mask:", per_example_mask)
torch.manual_seed(0)
captum_saliency = sensitivity_max(Saliency(standard).attribute, x_sens, target=y_sens, perturb_radius=radius,
                                  n_perturb_samples=sens_samples, abs=False)
ours_saliency = evaluation.max_sensitivity(image_explainers(standard, y_sens)["saliency"], x_sens, radius=radius,
                                           n_samples=sens_samples, rng=0)
print(f"saliency on mnist_cnn: ours {ours_saliency.mean():.3f}, captum {captum_saliency.mean():.3f} "
      f"(relative gap {abs(ours_saliency.mean() / captum_saliency.mean() - 1):.1%})")

# %%
# NBVAL_CHECK_OUTPUT
s = {key: value.get("fixed", value["r"]) for key, value in sensitivity.items()}
print("with fixed noise, SmoothGrad is less sensitive than saliency on both models:",
      all(s[n, "SmoothGrad"] < s[n, "saliency"] for n in compared))
print("with fresh noise, SmoothGrad's noise floor is most of its sensitivity:",
      sensitivity["mnist_cnn", "SmoothGrad"]["floor"] > 0.5 * sensitivity["mnist_cnn", "SmoothGrad"]["r"])
print("the PGD-trained model's input gradients are smaller:",
      sensitivity["mnist_cnn_robust", "saliency"]["norm"] < sensitivity["mnist_cnn", "saliency"]["norm"])
print("the PGD-trained model's saliency moves less in absolute terms:", absolute["mnist_cnn_robust"] < absolute["mnist_cnn"])
print("... but not in relative terms (its max-sensitivity is not lower):",
      not s["mnist_cnn_robust", "saliency"] < s["mnist_cnn", "saliency"])
print("occlusion (removal) is less sensitive than saliency (gradient) on both models:",
      all(s[n, "occlusion"] < s[n, "saliency"] for n in compared))
print("every sampling explainer has a noise floor above 0 at radius 0:",
      all(sensitivity["mnist_cnn", m]["floor"] > 0 for m in SAMPLING))
print("captum's sensitivity_max with a per-example mask fails, a broadcastable one works:",
      per_example_mask.startswith("fails"))
print("ours and captum's saliency max-sensitivity agree within 25%:",
      bool(abs(ours_saliency.mean() / captum_saliency.mean() - 1) < 0.25))

# %% [markdown]
# **What Lin et al. prove, and what we see.** Removal-based attributions (occlusion, Shapley
# values, LIME's weights) are built from model outputs at hybrid inputs; if the model is
# $L$-Lipschitz, so is every output they use, and the attribution is Lipschitz in $x$
# (their section 4). A gradient's change is governed by the second derivative: for a ReLU
# network the gradient is piecewise constant and jumps whenever a unit switches, so a small
# $\delta$ can move saliency a lot: on both CNNs the gradient maps are far less stable than
# occlusion's. SmoothGrad averages the gradient over a neighbourhood, which smooths those
# jumps, but only once its own noise is held fixed. The sampling explainers differ from call
# to call even at radius 0: that **noise floor** is not sensitivity to the input, and fixing
# the random draws (common random numbers) removes it. Whether adversarial training steadies
# saliency depends on how it is measured: the checks above print it both ways. The PGD-trained
# model's input gradients are much smaller, so the same absolute change is a larger
# *relative* one, which is what max-sensitivity reports.
#
# The same measurement on a tabular model: an MLP on seven Adult features (standardised).
# Occlusion replaces a feature by its training mean; Kernel SHAP is the course's own
# (lesson 03), with 20 training rows as background.

# %%
adult_train, adult_test = data.adult("train"), data.adult("test")
ADULT_FEATURES = ["age", "education_num", "log capital_gain", "log capital_loss", "hours_per_week", "male", "married"]


def adult_matrix(table):
    frame = table.frame
    columns = [frame.age, frame.education_num, np.log1p(frame.capital_gain), np.log1p(frame.capital_loss),
               frame.hours_per_week, frame.sex.eq("Male"), frame.marital_status.str.startswith("Married")]
    return np.column_stack([np.asarray(c, dtype=float) for c in columns])


A_train_raw, A_test_raw = adult_matrix(adult_train), adult_matrix(adult_test)
mean, std = A_train_raw.mean(axis=0), A_train_raw.std(axis=0)
A_train = torch.tensor((A_train_raw - mean) / std, dtype=torch.float32)
A_test = torch.tensor((A_test_raw - mean) / std, dtype=torch.float32)
b_train, b_test = torch.tensor(adult_train.y), torch.tensor(adult_test.y)
torch.manual_seed(0)
adult_mlp = nn.Sequential(nn.Linear(7, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))
adult_mlp = robustness.fine_tune(adult_mlp, A_train, b_train, epochs=pick(full=10, fast=2), lr=3e-3,
                                 batch_size=256, rng=0)
adult_accuracy = float((adult_mlp(A_test).argmax(dim=1) == b_test).float().mean())
print(f"Adult MLP: test accuracy {adult_accuracy:.3f} ({len(A_test)} rows)")

# %%
n_rows = pick(full=200, fast=10)
a_sens = A_test[:n_rows]
a_target = adult_mlp(a_sens).argmax(dim=1).detach()
background = A_train[torch.randperm(len(A_train), generator=torch.Generator().manual_seed(0))[:20]]
a_mean = A_train.mean(dim=0, keepdim=True)


def adult_kernel_shap(batch, seed):
    def class_probability(Z):
        with torch.no_grad():
            return adult_mlp(torch.as_tensor(Z, dtype=torch.float32)).softmax(dim=1).numpy()
    rows = [shapley.kernel_shap(lambda Z, c=int(c): class_probability(Z)[:, c], x.numpy(), background.numpy(),
                                n_samples=pick(full=100, fast=64), rng=seed).values
            for x, c in zip(batch, a_target)]
    return torch.tensor(np.array(rows))


adult_explainers = {
    "saliency": lambda b: gradients.saliency(adult_mlp, b, a_target),
    "grad x input": lambda b: gradients.input_x_gradient(adult_mlp, b, a_target),
    "IG": lambda b: gradients.integrated_gradients(adult_mlp, b, a_target, steps=32),
    "SmoothGrad": lambda b: gradients.smoothgrad(adult_mlp, b, a_target, n_samples=50, noise_level=0.1),
    "occlusion": lambda b: FeatureAblation(adult_mlp).attribute(b, target=a_target, baselines=a_mean),
    "LIME": lambda b: Lime(adult_mlp).attribute(b, target=a_target, baselines=a_mean, n_samples=n_draws,
                                                perturbations_per_eval=n_draws),
    "Kernel SHAP": lambda b: adult_kernel_shap(b, None),
}
adult_sensitivity = {}
for method, explain in adult_explainers.items():
    adult_sensitivity[method] = (
        float(evaluation.max_sensitivity(explain, a_sens, radius=0.1, n_samples=sens_samples, rng=2).nanmean()),
        float(evaluation.max_sensitivity(explain, a_sens, radius=0.0, n_samples=sens_samples, rng=2).nanmean()))
print(f"Adult MLP, radius 0.1 (in standard deviations), {n_rows} rows: max-sensitivity | noise floor at radius 0")
for method, (value, floor) in adult_sensitivity.items():
    print(f"  {method:12s} {value:.3f} | {floor:.3f}")

# %%
# NBVAL_CHECK_OUTPUT
print("Adult MLP accuracy above 0.80:", adult_accuracy > 0.80)
print("deterministic Adult explainers have no noise floor:",
      all(adult_sensitivity[m][1] == 0 for m in ("saliency", "grad x input", "IG", "occlusion")))
print("sampling Adult explainers have one:", all(adult_sensitivity[m][1] > 0 for m in ("SmoothGrad", "LIME", "Kernel SHAP")))

# %% [markdown]
# **Widget: radius.** One digit, its saliency map and the map after a random perturbation of
# the chosen radius, on the standard and the PGD-trained model.

# %%
def show_radius(radius=0.05, index=0):
    x, y = X_test[index:index + 1], y_test[index:index + 1]
    delta = (torch.rand(x.shape, generator=torch.Generator().manual_seed(index)) * 2 - 1) * radius
    fig, axes = plt.subplots(1, 4, figsize=(11, 2.8))
    for column, (name, model) in enumerate((("standard", standard), ("PGD-trained", robust))):
        before, after = gradients.saliency(model, x, y)[0], gradients.saliency(model, x + delta, y)[0]
        change = float((after - before).norm() / before.norm())
        plotting.show_attribution(before, ax=axes[2 * column], title=f"{name}: saliency", colorbar=True)
        plotting.show_attribution(after, ax=axes[2 * column + 1], title=f"radius {radius:g}: change {change:.2f}",
                                  colorbar=True)
    fig.tight_layout()
    plt.show()


widgets.interact(show_radius, radius=widgets.FloatSlider(value=0.05, min=0.0, max=0.3, step=0.01, description="radius",
                                                         continuous_update=False),
                 index=widgets.IntSlider(value=0, min=0, max=99, description="digit", continuous_update=False));

# %% [markdown]
# ## 2 · Fragility: attacking the explanation, not the prediction (about 15 minutes)
#
# Ghorbani, Abid and Zou (AAAI 2019) search for a perturbation within $\|\delta\|_\infty \le
# \epsilon$ that keeps the predicted class but makes the saliency map as different as
# possible. The **top-k attack** lowers the saliency of the originally most important k
# pixels; the **centre-of-mass attack** moves the map's centre of mass. Both follow the
# gradient of a function of the saliency map, that is a second derivative of the network.
# A ReLU network's second derivatives are zero almost everywhere, so (Dombrowski et al.,
# NeurIPS 2019) we compute the direction on a copy with every ReLU replaced by a softplus
# ($\beta = 10$) and evaluate everything on the real ReLU model.
#
# **Exercise 9.3.** The top-k objective: the share of a saliency map's mass that lies on the
# original top-k pixels (given as a 0/1 mask), per example, shape (N,).

# %%
def topk_objective(saliency_map, top_mask):
    # BEGIN SOLUTION Exercise 9.3: mass on the original top-k pixels over total mass
    mass = saliency_map.flatten(1)
    return (mass * top_mask.flatten(1)).sum(dim=1) / mass.sum(dim=1)
    # END SOLUTION


topk_objective = check("9.3", topk_objective)

# %%
from course_utils.xai.manipulation import softplus_model  # every ReLU replaced by softplus(beta) (lesson 10 too)


def saliency_derivative(model, x, target):
    """d/dx of the total saliency mass sum |d logit / dx|: what a fragility attack follows."""
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x).gather(1, target[:, None]).sum(), x, create_graph=True)
    if not grad.requires_grad:  # the gradient does not depend on x at all
        return torch.zeros_like(x)
    (second,) = torch.autograd.grad(grad.abs().sum(), x, allow_unused=True)
    return torch.zeros_like(x) if second is None else second


relu_second = saliency_derivative(standard, X_test[:4], y_test[:4]).abs().max().item()
softplus_second = saliency_derivative(softplus_model(standard, beta=10.0), X_test[:4], y_test[:4]).abs().max().item()
print(f"largest |d saliency / dx|: ReLU model {relu_second:.3g}, softplus surrogate {softplus_second:.3g}")

n_frag = pick(full=100, fast=8)
k_top = 40  # of 784 pixels (Ghorbani et al.: 1,000 of ImageNet's 50,176)
frag_steps = pick(full=30, fast=8)
frag_eps = np.array(pick(full=[0.01, 0.02, 0.05, 0.1, 0.15], fast=[0.02, 0.1]))
x_frag = X_test[:n_frag]
label = standard(x_frag).argmax(dim=1).detach()


def maps_of(model, x, target):
    return {"saliency": gradients.saliency(model, x, target, absolute=True).detach(),
            "IG": gradients.integrated_gradients(model, x, target, steps=pick(full=32, fast=8)).detach()}


original_maps = maps_of(standard, x_frag, label)
fragility = {}
for kind in ("topk", "mass", "random"):
    for eps in frag_eps:
        x_adv = robustness.fragility_attack(standard, x_frag, label, eps=float(eps), steps=frag_steps, k=k_top,
                                            kind=kind, rng=0)
        attacked = maps_of(standard, x_adv, label)
        same = bool((standard(x_adv).argmax(dim=1) == label).all())
        for method in original_maps:
            fragility[kind, method, float(eps)] = (
                float(evaluation.top_k_intersection(original_maps[method], attacked[method], k_top).mean()),
                float(np.nanmean(evaluation.rank_correlation(original_maps[method].abs(), attacked[method].abs()))),
                same)
print(f"top-{k_top} intersection | rank correlation with the original map ({n_frag} digits, mnist_cnn)")
for (kind, method, eps), (inter, rho, same) in fragility.items():
    print(f"  {kind:6s} attack, {method:8s} eps {eps:.2f}: {inter:.2f} | {rho:.2f} | predictions kept: {same}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for ax, method in zip(axes, original_maps):
    for kind in ("topk", "mass", "random"):
        ax.plot(frag_eps, [fragility[kind, method, float(e)][0] for e in frag_eps], marker="o", label=kind)
    ax.set(xlabel="epsilon (L-inf)", ylabel=f"top-{k_top} intersection", title=f"{method} (attack on saliency)",
           ylim=(0, 1.05))
axes[1].legend(title="attack", loc="upper left", bbox_to_anchor=(1.02, 1))
fig.tight_layout()
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
largest = float(frag_eps[-1])
print("every attack kept every prediction:", all(v[2] for v in fragility.values()))
print("the top-k attack beats random signs on saliency at every epsilon:",
      all(fragility["topk", "saliency", float(e)][0] < fragility["random", "saliency", float(e)][0] for e in frag_eps))
print("the ReLU model's saliency has zero input-derivative, the softplus surrogate's does not:",
      relu_second == 0 and softplus_second > 0)
print(f"at eps {largest:g} the top-k attack leaves under half of saliency's top-{k_top}:",
      fragility["topk", "saliency", largest][0] < 0.5)
print("IG's top-k moves less under the saliency attack than saliency's does:",
      fragility["topk", "IG", largest][0] > fragility["topk", "saliency", largest][0])

# %% [markdown]
# Ghorbani et al. found, on ImageNet and CIFAR-10 models, that their targeted attacks change
# the top-k pixels far more than random sign perturbations of the same size, for simple
# gradients, DeepLIFT and Integrated Gradients alike, while the predicted label stays. The
# same happens here at MNIST scale. Here the attack targets the saliency map only; IG's map
# moves too, but less: the attack transfers only partly to a method it was not aimed at.
#
# **Widget: epsilon.** The top-k attack on one digit: the map before and after.

# %%
def show_fragility(eps=0.1, index=0):
    x, y = X_test[index:index + 1], standard(X_test[index:index + 1]).argmax(dim=1)
    x_adv = robustness.fragility_attack(standard, x, y, eps=eps, steps=10, k=k_top) if eps > 0 else x
    before, after = (gradients.saliency(standard, v, y, absolute=True)[0] for v in (x, x_adv))
    overlap = float(evaluation.top_k_intersection(before[None], after[None], k_top)[0])
    fig, axes = plt.subplots(1, 3, figsize=(9, 2.8))
    plotting.show_image(x_adv[0], ax=axes[0], title=f"attacked, class {int(standard(x_adv).argmax())}")
    plotting.show_heatmap(before[0], ax=axes[1], title="saliency before")
    plotting.show_heatmap(after[0], ax=axes[2], title=f"after: top-{k_top} overlap {overlap:.2f}")
    fig.tight_layout()
    plt.show()


widgets.interact(show_fragility, eps=widgets.FloatSlider(value=0.1, min=0.0, max=0.2, step=0.01, description="epsilon",
                                                         continuous_update=False),
                 index=widgets.IntSlider(value=0, min=0, max=99, description="digit", continuous_update=False));

# %% [markdown]
# ## 3 · Model perturbations: fine-tuning on shifted data (about 15 minutes)
#
# Meyer, Ley, Srinivas and Lakkaraju (UAI 2023) ask how much the explanations of a model
# $f_1$ trained on $D_1$ change when it is fine-tuned on a slightly shifted $D_2$ into $f_2$.
# **Lemma 1:**
#
# $$\mathbb{E}_{x \sim D}\,\|\nabla_x f(x;\theta_1) - \nabla_x f(x;\theta_2)\|_2 \le
#   \mathcal{L}_{\Theta, D}\,\|\theta_2 - \theta_1\|_2,\qquad
#   \Theta = \{\lambda\theta_1 + (1-\lambda)\theta_2\}.$$
#
# `robustness.explanation_shift` measures the left side, the distance, and estimates
# $\mathcal{L}$ from models on the segment (the largest secant ratio between neighbours, so
# the bound holds on the data by the triangle inequality). The shift: **thickened digits**
# (a 5×5 dilation). We fine-tune the standard CNN on them for longer and longer.

# %%
def thicken(x):
    return nn.functional.max_pool2d(x, 5, stride=1, padding=2)


X_shift_train = thicken(data.mnist_tensors("train", n=pick(full=20_000, fast=2_000))[0])
y_shift_train = data.mnist_tensors("train", n=len(X_shift_train))[1]
x_eval, y_eval = X_test[:pick(full=500, fast=64)], y_test[:pick(full=500, fast=64)]
shift_points = pick(full=10, fast=4)
shifts, tuned_models = {}, {}
for epochs in pick(full=[0.05, 0.2, 0.5, 1.0], fast=[0.1, 0.5]):
    tuned = robustness.fine_tune(standard, X_shift_train, y_shift_train, epochs=epochs, lr=1e-3, rng=0)
    tuned_models[epochs] = tuned
    shifts[epochs] = robustness.explanation_shift(standard, tuned, x_eval, y_eval, n_points=shift_points)
thick_before = attacks.accuracy_under_attack(standard, thicken(x_eval), y_eval)
thick_after = attacks.accuracy_under_attack(tuned, thicken(x_eval), y_eval)
print(f"accuracy on thickened test digits: f1 {thick_before:.3f}, f2 (longest fine-tuning) {thick_after:.3f}")
print("epochs | E||grad f1 - grad f2|| | ||theta2 - theta1|| | L estimate | bound L * distance")
for epochs, shift in shifts.items():
    print(f"  {epochs:4.2f} | {shift.gradient_change:8.3f} | {shift.parameter_distance:7.3f} | "
          f"{shift.lipschitz:.3f} | {shift.bound:8.3f}")

# %%
fig, ax = plt.subplots(figsize=(5, 3.5))
distances = [s.parameter_distance for s in shifts.values()]
ax.plot(distances, [s.gradient_change for s in shifts.values()], marker="o", label="measured drift")
ax.plot(distances, [s.bound for s in shifts.values()], marker="s", linestyle="--", label="Lemma 1 bound")
ax.set(xlabel="||theta_2 - theta_1||_2", ylabel="mean ||grad_x f1 - grad_x f2||_2",
       title="Explanation drift under fine-tuning")
ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1))
fig.tight_layout()
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
print("Lemma 1's bound holds at every fine-tuning length:",
      all(s.gradient_change <= s.bound * (1 + 1e-9) for s in shifts.values()))
print("longer fine-tuning moves the parameters further:", bool(np.all(np.diff(distances) > 0)))
print("fine-tuning on thick digits helps on thick digits:", thick_after > thick_before)

# %% [markdown]
# **Counterfactuals under the shift.** Meyer et al.'s concern is actionable explanations: a
# counterfactual (lesson 06, Wachter et al.) promises "change these features and the decision
# flips". We fine-tune the Adult MLP on a subpopulation (people under 35) and ask how many of
# $f_1$'s counterfactuals for rejected applicants are still valid for $f_2$.

# %%
young = A_train_raw[:, 0] < 35
adult_f2 = robustness.fine_tune(adult_mlp, A_train[young], b_train[young], epochs=pick(full=3, fast=2), lr=3e-3,
                                batch_size=256, rng=1)
adult_shift = robustness.explanation_shift(adult_mlp, adult_f2, A_test[:n_rows], 1, n_points=shift_points)
rejected = A_test[(adult_mlp(A_test).argmax(dim=1) == 0)][:pick(full=200, fast=20)]
log_odds_f1 = evaluation.ClassDifference(adult_mlp, 1, 0)
scale = np.maximum(mad(A_train.numpy()), 0.5)  # binary features have MAD 0: use half a standard deviation
immutable = [ADULT_FEATURES.index("male")]
lower = rejected.numpy().copy()
lower[:, 1:] = -np.inf  # age cannot decrease (column 0); the other features are free
found = wachter_batch(nn.Sequential(log_odds_f1, nn.Flatten(0)), rejected.numpy(), target=0.1, mad=scale,
                      immutable=immutable, lower=lower, tol=0.1, steps=pick(full=300, fast=100))
cf = torch.tensor(found.counterfactuals[found.valid], dtype=torch.float32)
still_valid = float((adult_f2(cf).argmax(dim=1) == 1).float().mean()) if len(cf) else float("nan")
valid_f1 = float((adult_mlp(cf).argmax(dim=1) == 1).float().mean()) if len(cf) else float("nan")
print(f"Adult: drift {adult_shift.gradient_change:.3f} <= bound {adult_shift.bound:.3f} "
      f"(distance {adult_shift.parameter_distance:.3f}, L {adult_shift.lipschitz:.3f})")
print(f"{int(found.valid.sum())} of {len(rejected)} rejected rows got a counterfactual for f1; valid for f1: "
      f"{valid_f1:.0%}, still valid for f2: {still_valid:.0%}")

# %%
# NBVAL_CHECK_OUTPUT
print("Lemma 1's bound holds on Adult:", adult_shift.gradient_change <= adult_shift.bound * (1 + 1e-9))
print("most rejected rows get a counterfactual for f1:", bool(found.valid.mean() > 0.5))
print("some of f1's counterfactuals (log-odds within 0.2 of the boundary) expire under the shift:", still_valid < 1.0)

# %% [markdown]
# ## 4 · Training for robust explanations (about 20 minutes)
#
# Ross and Doshi-Velez (AAAI 2018) add the squared norm of the input gradient of the loss to
# the training objective, "double backpropagation":
#
# $$\min_\theta\ \frac1N\sum_i \mathrm{CE}_i + \lambda\,\frac1N\sum_i
#   \big\|\nabla_{x}\mathrm{CE}(f_\theta(x_i), y_i)\big\|_2^2 .$$
#
# **Exercise 9.2.** Return `(mean cross-entropy, penalty)` for a batch from one forward pass.
# The per-example losses (`reduction="none"`) are differentiated with respect to the input
# with `create_graph=True`, so that the penalty itself can be differentiated with respect
# to the parameters.

# %%
def cross_entropy_and_penalty(model, x, y):
    # BEGIN SOLUTION Exercise 9.2: per-example losses, their input gradient with create_graph=True
    x = x.detach().requires_grad_(True)
    losses = nn.functional.cross_entropy(model(x), y, reduction="none")
    (grad,) = torch.autograd.grad(losses.sum(), x, create_graph=True)
    return losses.mean(), grad.flatten(1).pow(2).sum(dim=1).mean()
    # END SOLUTION


cross_entropy_and_penalty = check("9.2", cross_entropy_and_penalty)
ce, penalty = cross_entropy_and_penalty(copy.deepcopy(standard), X_test[:32], y_test[:32])
print(f"standard CNN on 32 digits: CE {ce.item():.4f}, penalty {penalty.item():.4f}, "
      f"penalty differentiable in the parameters: {penalty.requires_grad}")

# %% [markdown]
# `mnist_cnn_gradreg` was trained with this penalty by `python -m course_utils.train
# mnist_cnn_gradreg` (its card is in `data/checkpoints/`): fine-tuned from `mnist_cnn` for
# five passes over 59,000 digits with $\lambda = 3000$. The penalty is the hard-label
# cross-entropy's, as above, but the loss term's cross-entropy is label-smoothed (0.1): the
# input gradient of the cross-entropy carries the factor $1 - p_y$, so on a model sure of
# its digits it vanishes and the penalty has nothing to act on (with hard labels and
# $\lambda = 100$ the penalty mostly made the model more confident). As a fourth model, a
# **Lipschitz-inspired** regulariser in the spirit of Woods, Chen and Teuscher (2019):
# penalise the squared ratio of the change of the softmax output to the size of an
# adversarial step, $\|p(x') - p(x)\|_2 / \|x' - x\|_\infty$ (`robustness.lipschitz_penalty`),
# by fine-tuning the standard CNN with it here.

# %%
card = json.loads(checkpoint_path("mnist_cnn_gradreg").with_suffix(".json").read_text())
X_train, y_train = data.mnist_tensors("train", n=pick(full=20_000, fast=1_000))
lipschitz = robustness.fine_tune(standard, X_train, y_train, epochs=pick(full=1.0, fast=0.5), lr=5e-4,
                                 penalty=lambda m, xb, yb, g=torch.Generator().manual_seed(0):
                                 robustness.lipschitz_penalty(m, xb, yb, eps=0.1, rng=g),
                                 lam=pick(full=1.0, fast=1.0), rng=0)
zoo = {"standard": standard, "gradient-regularised": gradreg, "Lipschitz-regularised": lipschitz, "PGD-trained": robust}
n_zoo = pick(full=1000, fast=100)
x_zoo, y_zoo = X_test[:n_zoo], y_test[:n_zoo]
zoo_eps = np.array(pick(full=[0.0, 0.05, 0.1, 0.15, 0.2, 0.3], fast=[0.0, 0.1, 0.2]))
ink = (x_zoo > 0.25).float()
report = {}
for name, model in zoo.items():
    fgsm_curve = attacks.accuracy_vs_eps(model, x_zoo, y_zoo, zoo_eps, attacks.fgsm)
    pgd_curve = attacks.accuracy_vs_eps(model, x_zoo, y_zoo, zoo_eps,
                                        lambda m, xb, yb, eps: attacks.pgd(m, xb, yb, eps=eps, alpha=eps / 4,
                                                                           steps=pick(full=20, fast=5), rng=0))
    grads = gradients.saliency(model, x_zoo, y_zoo, absolute=True)
    ink_share = float(((grads * ink).flatten(1).sum(1) / grads.flatten(1).sum(1)).mean())
    sens = float(evaluation.max_sensitivity(lambda b: gradients.saliency(model, b, y_zoo[:n_sens]), x_zoo[:n_sens],
                                            radius=radius, n_samples=sens_samples, rng=1).mean())
    report[name] = {"clean": fgsm_curve[0], "fgsm": fgsm_curve, "pgd": pgd_curve,
                    "ara_pgd": attacks.accuracy_robustness_area(zoo_eps, pgd_curve), "ink": ink_share, "sens": sens}
print(f"{n_zoo} test digits; epsilons {zoo_eps.tolist()}; share of ink pixels: {float(ink.mean()):.2f}")
print(f"{'model':22s} {'clean':>6s} {'FGSM@' + str(zoo_eps[1]):>9s} {'PGD@' + str(zoo_eps[1]):>8s} "
      f"{'ARA(PGD)':>8s} {'saliency sens':>13s} {'ink share':>9s}")
for name, r in report.items():
    print(f"{name:22s} {r['clean']:6.3f} {r['fgsm'][1]:9.3f} {r['pgd'][1]:8.3f} {r['ara_pgd']:8.4f} "
          f"{r['sens']:13.3f} {r['ink']:9.3f}")
print(f"card of mnist_cnn_gradreg (all 10,000 test digits): clean {card['test_accuracy']}, FGSM eps 0.1 "
      f"{card['fgsm_eps0.1_accuracy']} vs standard {card['mnist_cnn_fgsm_eps0.1_accuracy']}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for name, r in report.items():
    axes[0].plot(zoo_eps, r["fgsm"], marker="o", label=name)
    axes[1].plot(zoo_eps, r["pgd"], marker="o", label=name)
axes[0].set(xlabel="epsilon", ylabel="accuracy", title="FGSM", ylim=(0, 1.02))
axes[1].set(xlabel="epsilon", ylabel="accuracy", title="PGD", ylim=(0, 1.02))
axes[1].legend(loc="upper left", bbox_to_anchor=(1.02, 1))
fig.tight_layout()
plt.show()
fig, axes = plt.subplots(1, 4, figsize=(11, 2.8))
for ax, (name, model) in zip(axes, zoo.items()):
    plotting.show_attribution(gradients.saliency(model, X_test[:1], y_test[:1])[0], ax=ax, title=name, colorbar=True)
fig.tight_layout()
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
r = report
print("card: gradreg clean accuracy >= 98.5%:", card["test_accuracy"] >= 0.985)
print("card: gradreg FGSM eps 0.1 at least 5 points above the standard CNN:",
      card["fgsm_eps0.1_accuracy"] >= card["mnist_cnn_fgsm_eps0.1_accuracy"] + 0.05)
print("gradient regularisation beats the standard CNN under FGSM here:",
      bool(r["gradient-regularised"]["fgsm"][1] > r["standard"]["fgsm"][1]))
print("PGD training has the largest PGD area:", max(r, key=lambda n: r[n]["ara_pgd"]) == "PGD-trained")
print("robust training puts more gradient mass on the ink:",
      r["PGD-trained"]["ink"] > r["standard"]["ink"] and r["gradient-regularised"]["ink"] > r["standard"]["ink"])

# %%
print("relative max-sensitivity of saliency (section 1's measure): "
      + ", ".join(f"{name} {r[name]['sens']:.3f}" for name in zoo))

# %% [markdown]
# The last line is printed, not checked: as section 1 found, whether robust training lowers
# saliency's *relative* sensitivity depends on the model and the digits. Robust models'
# input gradients are smaller and sparser, so a small absolute change can be a large share
# of them; read the values above for this run.
#
# Robust models make their gradients look like the data: the PGD-trained CNN's saliency sits
# on the strokes (its ink share in the table above), which is why, in lesson 08, its smallest targeted attacks
# were readable edits of the digit; "attacks as explanations" (Woods et al.) need such a
# model. Woods et al. report an accuracy-robustness area of **0.0053** for their ImageNet
# network (abstract of arXiv:1906.02896, 2.4x the previous best); our areas are on MNIST,
# with L-inf budgets in pixel units up to the largest epsilon above, so the numbers are not
# on the same scale: only the ranking of models can be compared.
#
# ### Think
#
# 1. Why can a sampling explainer never reach max-sensitivity 0, even on a constant model?
#    What is the cheapest fix, and what does it hide?
# 2. Lin et al. prove removal-based attributions are Lipschitz when the model is. Why is that
#    no guarantee for the standard CNN, whose Lipschitz constant may be huge?
# 3. Lemma 1's bound holds by construction for our secant estimate. What would make it
#    *useful* in practice, before fine-tuning happens?
# 4. A counterfactual that expires after a model update: whose problem is it, and what could
#    a bank promise instead?
#
# <!-- BEGIN SOLUTION -->
# **Answers.** (1) Each call draws new noise, so two calls at the same input differ: the
# noise floor. Fixing the seed (common random numbers) removes it but only measures one
# random draw's stability; the honest report gives the floor and the fixed-seed number
# side by side. (2) Their bound scales with the model's Lipschitz constant; a standard
# network's can be very large (adversarial examples exist), so "Lipschitz" can still mean
# "moves a lot". Robust training lowers the constant, which is why robust models' removal
# attributions are stable too. (3) An a priori bound on $\mathcal{L}$ (Meyer et al.
# regularise it during training) and on how far fine-tuning will move $\theta$; then a
# counterfactual can be given with a margin that survives the update. (4) The applicant
# acted on a promise; the institution should either honour counterfactuals for a period, or
# issue robust ones (with a margin beyond the decision boundary) as Meyer et al. propose.
# <!-- END SOLUTION -->

# %% [markdown]
# ## What reproduced, and what did not
#
# The next cell prints the lesson's results from the variables above.

# %%
print(f"1. max-sensitivity at radius {radius}: saliency standard {s['mnist_cnn', 'saliency']:.3f}, "
      f"PGD-trained {s['mnist_cnn_robust', 'saliency']:.3f} (absolute change {absolute['mnist_cnn']:.3f} vs "
      f"{absolute['mnist_cnn_robust']:.3f}); "
      f"SmoothGrad {s['mnist_cnn', 'SmoothGrad']:.3f}; occlusion {s['mnist_cnn', 'occlusion']:.3f}; "
      f"LIME noise floor {sensitivity['mnist_cnn', 'LIME']['floor']:.3f} vs fixed-noise {sensitivity['mnist_cnn', 'LIME']['fixed']:.3f}.")
print(f"2. fragility at eps {largest:g}: top-{k_top} intersection of saliency {fragility['topk', 'saliency', largest][0]:.2f} "
      f"(top-k attack), {fragility['mass', 'saliency', largest][0]:.2f} (centre of mass), "
      f"{fragility['random', 'saliency', largest][0]:.2f} (random signs); IG {fragility['topk', 'IG', largest][0]:.2f}.")
last = list(shifts.values())[-1]
print(f"3. Lemma 1: drift {last.gradient_change:.3f} <= {last.lipschitz:.3f} x {last.parameter_distance:.3f} = "
      f"{last.bound:.3f}; Adult counterfactuals still valid after the shift: {still_valid:.0%}.")
print(f"4. FGSM eps 0.1 on all test digits (cards): gradient-regularised {card['fgsm_eps0.1_accuracy']:.3f} vs "
      f"standard {card['mnist_cnn_fgsm_eps0.1_accuracy']:.3f}; ink share standard {r['standard']['ink']:.2f}, "
      f"gradient-regularised {r['gradient-regularised']['ink']:.2f}, PGD {r['PGD-trained']['ink']:.2f}.")

# %% [markdown]
# ## Summary
#
# - Max-sensitivity measures how far an explanation moves in a small input ball; separate a
#   sampling explainer's noise floor (radius 0) from its true sensitivity (fixed noise).
# - Removal-based attributions inherit the model's Lipschitz constant; gradients depend on
#   curvature and jump on ReLU networks. SmoothGrad steadies them; robust training makes
#   them smaller (whether also relatively steadier depends on the measure).
# - Fragility attacks keep the prediction and move the map; they need a smooth surrogate
#   (softplus) for the direction, because ReLU networks have no second derivative.
# - Fine-tuning on shifted data moves input gradients at most by a gradient-parameter
#   Lipschitz constant times the parameter distance (Meyer et al., Lemma 1), and
#   counterfactuals found for the old model can expire.
# - Input-gradient regularisation (double backpropagation), a Lipschitz-inspired penalty
#   and adversarial training buy robustness and explanations that sit on the digit.
#
# **Next:** lesson 10, attacks on explanations: fooling LIME and SHAP, manipulated models
# and backdoors.
#
# ## Further reading
#
# - C. Lin, I. Covert, S.-I. Lee, "On the Robustness of Removal-Based Feature Attributions",
#   NeurIPS 2023 (arXiv:2306.07462).
# - A. P. Meyer, D. Ley, S. Srinivas, H. Lakkaraju, "On Minimizing the Impact of Dataset
#   Shifts on Actionable Explanations", UAI 2023 (arXiv:2306.06716).
# - C.-K. Yeh, C.-Y. Hsieh, A. S. Suggala, D. I. Inouye, P. Ravikumar, "On the (In)fidelity
#   and Sensitivity of Explanations", NeurIPS 2019.
# - A. Ghorbani, A. Abid, J. Zou, "Interpretation of Neural Networks is Fragile", AAAI 2019.
# - A.-K. Dombrowski, M. Alber, C. Anders, M. Ackermann, K.-R. Müller, P. Kessel,
#   "Explanations can be manipulated and geometry is to blame", NeurIPS 2019.
# - A. S. Ross, F. Doshi-Velez, "Improving the Adversarial Robustness and Interpretability
#   of Deep Neural Networks by Regularizing their Input Gradients", AAAI 2018.
# - W. Woods, J. Chen, C. Teuscher, "Adversarial Explanations for Understanding Image
#   Classification Decisions and Improved Neural Network Robustness", Nature Machine
#   Intelligence 2019 (arXiv:1906.02896).
