# %% [markdown]
# # 04 · Gradients, Integrated Gradients and DeepLIFT
#
# A neural network is differentiable, so the most direct question to ask it is: *how
# does the score of class c change when I nudge pixel i?* That is the **gradient**, the
# first explanation of this lesson. It has a flaw, **saturation**: once a unit is switched
# fully on, its gradient is zero, even though the input that switched it on clearly
# matters. Two methods fix this by comparing the input with a **reference** (a baseline)
# instead of looking at an infinitesimal change: **Integrated Gradients** integrates the
# gradient along the path from the reference to the input, and **DeepLIFT** propagates
# *differences from the reference* backwards through the network. Both have a property
# plain gradients lack, **completeness**: the attributions add up to
# $f(x) - f(\text{reference})$.
#
# **Learning objectives.** After this notebook you can
# 1. compute saliency, gradient × input, Integrated Gradients, SmoothGrad and guided
#    backprop by hand in a few lines, and with captum;
# 2. explain gradient saturation with a worked example, and why IG and DeepLIFT do not suffer from it;
# 3. run DeepLIFT's multipliers and its Rescale rule by hand on a tiny network and check
#    them against `captum.attr.DeepLift`;
# 4. choose a reference (black, blurred, mean image) knowing what it changes;
# 5. recognise the traps users hit (a ReLU module used twice, an in-place ReLU);
# 6. reproduce, at small scale, the two experiments of the DeepLIFT paper: erasing pixels
#    to turn an MNIST 8 into a 3, and finding motifs in simulated DNA.
#
# **Time:** about 90 minutes (full mode runs in under a minute on a laptop CPU).

# %%
#@course_setup

from course_utils import setup_notebook

ctx = setup_notebook(seed=0)

# %% [markdown]
# ## 1 · The model and a digit (about 3 minutes)
#
# The course's MNIST CNN (two convolutions, two dense layers; its test accuracy is printed
# below) takes
# pixels in [0, 1]; its normalisation is its first layer, and each ReLU is a separate,
# non-in-place module (section 7 shows why that matters). We explain its **logits**, the
# scores before the softmax: the softmax saturates near 0 and 1 and would add a
# saturation of its own.

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from course_utils import data, load_pretrained, pick
from course_utils.plotting import show_attribution, show_image

warnings.filterwarnings("ignore", module="captum")  # captum warns that it sets requires_grad and hooks
device = ctx.device
model = load_pretrained("mnist_cnn", device=device)
X_test, y_test = data.mnist_tensors("test")
index = int(torch.where(y_test == 8)[0][0])
digit, label = X_test[index:index + 1].to(device), 8
with torch.no_grad():
    logits = model(digit)[0].cpu()
    test_accuracy = torch.cat([model(batch.to(device)).argmax(dim=1).cpu() for batch in X_test.split(2000)]).eq(y_test)
print(f"test accuracy on {len(X_test)} MNIST test digits: {test_accuracy.float().mean():.1%}")
print(f"test image {index}: label {int(y_test[index])}, predicted {int(logits.argmax())}; "
      f"logit of 8: {logits[8]:.1f}, of 3: {logits[3]:.1f}")

# %% [markdown]
# ## 2 · Gradients: saliency and gradient × input (about 10 minutes)
#
# **Saliency** (Simonyan et al., 2014) is the gradient of the class score $f_c$ with
# respect to the input, $S_i = \partial f_c / \partial x_i$: how much the score moves per
# unit change of pixel $i$. Simonyan et al. show its absolute value. **Gradient × input**
# multiplies it by the input, $x_i \, \partial f_c / \partial x_i$: for a linear model
# without bias these are exactly the terms $w_i x_i$ that add up to the score.
#
# By hand, with autograd, in three lines (`torch.autograd.grad` differentiates with
# respect to the input only, so the model's own `.grad` fields stay untouched):

# %%
x = digit.clone().requires_grad_(True)
score = model(x)[0, label]
(gradient_by_hand,) = torch.autograd.grad(score, x)
input_x_gradient_by_hand = digit * gradient_by_hand

# %% [markdown]
# The course's `course_utils.xai.gradients` has the same as functions (batched, with one
# target per sample if you like), and captum has them as `Saliency` and `InputXGradient`.
# Note that captum's `Saliency` returns the **absolute** gradient unless you pass `abs=False`.

# %%
# NBVAL_CHECK_OUTPUT
from captum.attr import InputXGradient, Saliency

from course_utils.xai.gradients import input_x_gradient, saliency

checks = {
    "saliency (ours) == by hand": torch.allclose(saliency(model, digit, label), gradient_by_hand),
    "captum Saliency(abs=False) == by hand": torch.allclose(
        Saliency(model).attribute(digit, target=label, abs=False), gradient_by_hand),
    "captum Saliency() == |by hand|": torch.allclose(Saliency(model).attribute(digit, target=label),
                                                     gradient_by_hand.abs()),
    "captum InputXGradient == by hand": torch.allclose(InputXGradient(model).attribute(digit, target=label),
                                                       input_x_gradient_by_hand),
}
for name, same in checks.items():
    print(f"{name}: {same}")

# %%
fig, axes = plt.subplots(1, 4, figsize=(11, 3))
show_image(digit[0], ax=axes[0], title=f"the digit ({label})")
show_image(gradient_by_hand[0].abs() / gradient_by_hand.abs().max(), ax=axes[1], title="|gradient| (Simonyan)",
           cmap="inferno")
fig.colorbar(axes[1].images[0], ax=axes[1], fraction=0.046, label="|gradient| / largest")
show_attribution(gradient_by_hand[0], ax=axes[2], title="gradient (signed)", colorbar=True)
show_attribution(input_x_gradient_by_hand[0], ax=axes[3], title="gradient × input", colorbar=True)
fig.tight_layout()
plt.show()

# %% [markdown]
# Red is evidence for "8", blue against (the colour map is centred at zero). The plain
# gradient is noisy and lights up the background too: black pixels that, if brightened,
# would change the score. Gradient × input keeps only pixels that are on.
#
# ### Why gradients saturate: a worked example
#
# Take $f(x_1, x_2) = \min(1,\, x_1 + x_2) = 1 - \mathrm{ReLU}(1 - x_1 - x_2)$, a unit
# that switches on and then stays flat. At $x = (1, 1)$ the output is 1; at $(0, 0)$ it is
# 0. Both inputs clearly matter, yet:

# %%
saturating = nn.Sequential(nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 1))
with torch.no_grad():  # f(x) = 1 - relu(1 - x1 - x2)
    saturating[0].weight.fill_(-1.0), saturating[0].bias.fill_(1.0)
    saturating[2].weight.fill_(-1.0), saturating[2].bias.fill_(1.0)
x_sat, reference_sat = torch.tensor([[1.0, 1.0]]), torch.zeros(1, 2)

# %%
# NBVAL_CHECK_OUTPUT
print("f(1, 1) =", saturating(x_sat).item(), "  f(0, 0) =", saturating(reference_sat).item())
print("gradient at (1, 1):        ", saliency(saturating, x_sat, 0).tolist())
print("gradient × input at (1, 1):", input_x_gradient(saturating, x_sat, 0).tolist())

# %%
alphas = torch.linspace(0, 1, 101)[:, None]
with torch.no_grad():
    path_values = saturating(alphas * x_sat).squeeze(1)
fig, ax = plt.subplots(figsize=(5, 2.8))
ax.plot(alphas.squeeze(1), path_values)
ax.axvspan(0.5, 1.0, color="tab:gray", alpha=0.2, label="gradient = 0 here")
ax.set_xlabel(r"$\alpha$ (input $= \alpha \cdot (1, 1)$)")
ax.set_ylabel("f")
ax.set_title("the output rises, then saturates")
ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# The gradient at $(1, 1)$ is zero: locally, nothing changes the output. Yet the output
# went from 0 to 1 *because of* the two inputs. A good attribution should split that 1
# between them (by symmetry, 0.5 each). Both methods below do.
#
# ## 3 · Integrated Gradients (about 15 minutes)
#
# Sundararajan, Taly and Yan (2017) integrate the gradient along the straight path from a
# **baseline** $x'$ (an input that means "nothing": here a black image) to the input $x$:
#
# $$\mathrm{IG}_i(x) = (x_i - x'_i) \int_0^1 \frac{\partial f\big(x' + \alpha (x - x')\big)}{\partial x_i}\, d\alpha .$$
#
# By the fundamental theorem of calculus for path integrals, the attributions add up to
# the change of the output: $\sum_i \mathrm{IG}_i(x) = f(x) - f(x')$ (**completeness**).
# The picture: walk from the black image to the digit, and add up, step by step, how much
# each pixel's gradient pushes the class score; the running total is the score's rise.

# %%
path_digit, path_label = X_test[:1].to(device), int(y_test[0])
alpha_grid = torch.linspace(0, 1, 51, device=device)
path_points = (alpha_grid.view(-1, 1, 1, 1) * path_digit).requires_grad_(True)  # black baseline -> digit
path_scores = model(path_points)[:, path_label]
path_gradients = torch.autograd.grad(path_scores.sum(), path_points)[0]
rate = (path_gradients * path_digit).flatten(1).sum(dim=1)  # d score / d alpha along the path
running_total = torch.cat([torch.zeros(1, device=device), torch.cumulative_trapezoid(rate, alpha_grid)])

fig, axes = plt.subplots(1, 6, figsize=(12, 2.8), width_ratios=[1, 1, 1, 1, 1, 3.5])
for ax, alpha in zip(axes, [0.0, 0.25, 0.5, 0.75, 1.0]):
    show_image(alpha * path_digit[0].cpu(), ax=ax, title=f"α = {alpha}")
ax = axes[-1]
ax.plot(alpha_grid.cpu(), (path_scores - path_scores[0]).detach().cpu(), label="score(α) − score(0)")
ax.plot(alpha_grid.cpu(), running_total.detach().cpu(), "--", label="running sum of gradient · step")
ax.set(xlabel="α: the point x' + α (x − x') on the path", ylabel=f"class {path_label} logit",
       title="IG adds up the gradient along the path")
ax.legend(loc="upper left", fontsize=8)
fig.tight_layout()
plt.show()
path_error = (running_total[-1] - (path_scores[-1] - path_scores[0])).abs().item()
print(f"sum along the path {running_total[-1].item():.3f} vs the score's rise "
      f"{(path_scores[-1] - path_scores[0]).item():.3f} (difference {path_error:.3f}, the 51-point rule's error)")

# %% [markdown]
# In practice the integral is a sum over $m$ points; the paper's is the right Riemann sum
#
# $$\mathrm{IG}_i(x) \approx (x_i - x'_i) \cdot \frac{1}{m} \sum_{k=1}^{m} \frac{\partial f\big(x' + \tfrac{k}{m} (x - x')\big)}{\partial x_i} .$$
#
# Every quadrature rule has this shape: points $\alpha_k$ on $[0, 1]$ and weights $w_k$
# (the right Riemann sum: $\alpha_k = k/m$, $w_k = 1/m$), and
# $\mathrm{IG}(x) \approx (x - x') \odot \sum_k w_k \nabla f\big(x' + \alpha_k (x - x')\big)$.
#
# **Exercise 4.1 — IG as a weighted sum along the path.** Write
# `path_integral(model, x, target, baseline, alphas, weights)` for a batch `x` (shape
# `(n, ...)`), an int `target`, a `baseline` shaped like `x` and the rule's `alphas` and
# `weights` (tensors of shape `(m,)`): for each point of the path, the gradient of the
# target output with respect to the point (`torch.autograd.grad`), weighted; at the end,
# the weighted sum times `x - baseline`. The course's `integrated_gradients` calls exactly
# this function (batched), with the points and weights of `path_rule(steps, method)`.

# %%
from course_utils import check
from course_utils.xai.gradients import path_rule


def path_integral(model, x, target, baseline, alphas, weights):
    # BEGIN SOLUTION Exercise 4.1: IG as the weighted sum of gradients along the path
    total = torch.zeros_like(x)
    for alpha, weight in zip(alphas.tolist(), weights.tolist()):
        point = (baseline + alpha * (x - baseline)).detach().requires_grad_(True)
        total += weight * torch.autograd.grad(model(point)[:, target].sum(), point)[0]
    return (x - baseline) * total
    # END SOLUTION


path_integral = check("4.1", path_integral)

# %% [markdown]
# On the saturating unit, IG splits the output between the two inputs, as it should:

# %%
# NBVAL_CHECK_OUTPUT
ig_sat = path_integral(saturating, x_sat, 0, reference_sat, *path_rule(100, "riemann_right"))
print("IG at (1, 1), 100 steps:", [round(v, 3) for v in ig_sat[0].tolist()], "sum:", round(ig_sat.sum().item(), 3))
print("(0.5 each in the limit: the gradient is 1 for alpha < 1/2 and 0 after; the sum has 49 of its 100 points before the kink)")

# %% [markdown]
# **Exercise 4.2 — the completeness check.** Write `completeness_gap(model, x, target,
# attributions, baseline)`: for each sample, the sum of its attributions minus
# $f_t(x) - f_t(x')$. `target` is an int or one int per sample (a tensor). A complete
# method gives zero; IG's numerical sum gets close as the number of steps grows. You will
# use this check again in section 7: it is the one test that catches a broken
# attribution implementation.

# %%
def completeness_gap(model, x, target, attributions, baseline):
    # BEGIN SOLUTION Exercise 4.2: sum of attributions minus f(x) - f(baseline)
    target = torch.as_tensor(target, device=x.device).expand(len(x)).reshape(-1, 1)
    with torch.no_grad():
        delta = model(x).gather(1, target) - model(baseline).gather(1, target)
    return attributions.reshape(len(x), -1).sum(dim=1) - delta[:, 0]
    # END SOLUTION


completeness_gap = check("4.2", completeness_gap)

# %% [markdown]
# Now the digit, with a black baseline. Your loop is exactly captum's `IntegratedGradients`
# with `method="riemann_right"`. The course's `integrated_gradients` batches the path
# points through the model (`internal_batch_size` caps how many go at once; the
# benchmark `benchmarks/bench_gradients.py` measures the gain) and uses Gauss-Legendre
# points by default, like captum.

# %%
# NBVAL_CHECK_OUTPUT
from captum.attr import IntegratedGradients

from course_utils.xai.gradients import integrated_gradients

black = torch.zeros_like(digit)
ig_yours = path_integral(model, digit, label, black, *path_rule(50, "riemann_right"))
ig_captum = IntegratedGradients(model).attribute(digit, black, target=label, n_steps=50, method="riemann_right")
ig_ours = integrated_gradients(model, digit, label, baseline=black, steps=50, internal_batch_size=25)
ig_captum_default = IntegratedGradients(model).attribute(digit, black, target=label, n_steps=50)
print("your loop == captum (riemann_right):", torch.allclose(ig_yours, ig_captum, atol=1e-5))
print("course integrated_gradients == captum (Gauss-Legendre):", torch.allclose(ig_ours, ig_captum_default, atol=1e-5))
with torch.no_grad():
    delta = (model(digit) - model(black))[0, label].item()
gap = completeness_gap(model, digit, label, ig_ours, black).item()
print(f"f(x) - f(black) = {delta:.1f}; IG completeness gap below 1% of it: {abs(gap) < 0.01 * abs(delta)}")

# %% [markdown]
# How many steps are enough? The gap shrinks with the number of points; the midpoint and
# Gauss-Legendre rules converge much faster than the paper's right sum. (The course's IG is
# tested to sum to $f(x) - f(x')$ within 1% at 50 points on this model.)

# %%
steps_grid = [2, 5, 10, 20, 50] + pick(full=[100], fast=[])
n_digits = pick(full=8, fast=2)
some_digits, some_labels = X_test[:n_digits].to(device), y_test[:n_digits].to(device)
with torch.no_grad():
    deltas = (model(some_digits) - model(torch.zeros_like(some_digits))).gather(1, some_labels[:, None])[:, 0]
fig, ax = plt.subplots(figsize=(5.5, 3.2))
relative_gap = {}
for method in ["riemann_right", "riemann_middle", "gausslegendre"]:
    relative_gap[method] = []
    for steps in steps_grid:
        ig = integrated_gradients(model, some_digits, some_labels, steps=steps, method=method, internal_batch_size=400)
        gaps = completeness_gap(model, some_digits, some_labels, ig, torch.zeros_like(some_digits))
        relative_gap[method].append((gaps / deltas).abs().mean().item())
    ax.loglog(steps_grid, relative_gap[method], marker="o", label=method)
ax.set_xticks(steps_grid, [str(steps) for steps in steps_grid])  # one label per point, no overprinted minor ticks
ax.minorticks_off()
ax.set_xlabel("number of points on the path")
ax.set_ylabel("|sum IG - Δf| / |Δf|")
ax.set_title("IG's completeness gap vs steps")
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
at_50 = {method: values[steps_grid.index(50)] for method, values in relative_gap.items()}
print("Gauss-Legendre at 50 steps: mean relative gap below 1%:", at_50["gausslegendre"] < 0.01)
print("midpoint and Gauss-Legendre beat the right Riemann sum at 50 steps:",
      max(at_50["riemann_middle"], at_50["gausslegendre"]) < at_50["riemann_right"])

# %% [markdown]
# ## 4 · SmoothGrad and guided backprop (about 10 minutes)
#
# **SmoothGrad** (Smilkov et al., 2017) averages the gradient over noisy copies of the
# input, $\frac{1}{n}\sum_k \nabla f(x + \varepsilon_k)$ with
# $\varepsilon_k \sim \mathcal N(0, \sigma^2)$ and $\sigma$ about 15% of the input's range.
# The noise averages away the gradient's pixel-to-pixel jitter. By hand:

# %%
from captum.attr import NoiseTunnel

from course_utils.xai.gradients import smoothgrad

n_noisy = pick(full=50, fast=20)
sigma = 0.15 * (digit.max() - digit.min())
generator = torch.Generator(device=device).manual_seed(0)
total = torch.zeros_like(digit)
for _ in range(n_noisy):
    total += saliency(model, digit + sigma * torch.randn(digit.shape, generator=generator, device=device), label)
smoothgrad_by_hand = total / n_noisy
smoothgrad_ours = smoothgrad(model, digit, label, n_samples=n_noisy, noise_level=0.15, rng=0)
smoothgrad_captum = NoiseTunnel(Saliency(model)).attribute(digit, nt_type="smoothgrad", nt_samples=n_noisy,
                                                           stdevs=float(sigma), target=label, abs=False)

# %% [markdown]
# **Guided backprop** (Springenberg et al., 2015) changes the backward pass through every
# ReLU: it lets a gradient through only where the unit was on (as the true gradient does)
# **and** the gradient coming from above is positive. By hand, a ReLU with that backward
# rule. The course's `guided_backprop` (lesson 07 uses it too) hooks every `nn.ReLU` so
# that its backward pass keeps only positive gradients, `max(g, 0) * (z > 0)`:

# %%
from captum.attr import GuidedBackprop

from course_utils.xai.gradcam import guided_backprop

guided_ours = guided_backprop(model, digit, label)

# %%
# NBVAL_CHECK_OUTPUT
from course_utils.xai.evaluation import pearson_correlation


def correlation(a, b):
    """Pearson correlation of two maps (one number)."""
    return float(pearson_correlation(a.flatten()[None], b.flatten()[None])[0])


print("SmoothGrad: ours == by hand (same noise):", torch.allclose(smoothgrad_ours, smoothgrad_by_hand, atol=1e-6))
print("SmoothGrad: correlation with captum's NoiseTunnel > 0.9:",
      correlation(smoothgrad_ours, smoothgrad_captum) > 0.9)
guided_captum = GuidedBackprop(model).attribute(digit, target=label)
print("guided backprop: ours == captum GuidedBackprop:", torch.allclose(guided_ours, guided_captum, atol=1e-6))

# %%
fig, axes = plt.subplots(1, 4, figsize=(11, 3))
show_attribution(gradient_by_hand[0], ax=axes[0], title="gradient", colorbar=True)
show_attribution(smoothgrad_ours[0], ax=axes[1], title=f"SmoothGrad ({n_noisy} samples)", colorbar=True)
show_attribution(guided_ours[0], ax=axes[2], title="guided backprop, class 8", colorbar=True)
show_attribution(guided_backprop(model, digit, 3)[0], ax=axes[3], title="guided backprop, class 3", colorbar=True)
fig.tight_layout()
plt.show()

# %% [markdown]
# Guided backprop's maps are crisp, but look at the last two: the map for "8" and the map
# for "3" are nearly the same picture of the digit. Throwing away negative gradients
# throws away the evidence *against* a class, so the map hardly depends on the class
# (Adebayo et al., 2018, and Nie et al., 2018, show it mostly reconstructs the image). The
# DeepLIFT paper's experiment in section 8 measures what that costs.

# %%
# NBVAL_CHECK_OUTPUT
print("maps for class 8 vs class 3, correlation:")
print(f"  guided backprop above 0.7: {correlation(guided_ours, guided_backprop(model, digit, 3)) > 0.7}")
print(f"  gradient × input below 0:  "
      f"{correlation(input_x_gradient(model, digit, 8), input_x_gradient(model, digit, 3)) < 0}")

# %% [markdown]
# ## 5 · DeepLIFT (about 15 minutes)
#
# DeepLIFT (Shrikumar, Greenside and Kundaje, 2017) explains the **difference from a
# reference**: with $t$ the output, $t_0$ its value on the reference input and
# $\Delta t = t - t_0$, it assigns each input a **contribution** $C_{\Delta x_i \Delta t}$
# so that they add up, $\sum_i C_{\Delta x_i \Delta t} = \Delta t$ (*summation-to-delta*).
#
# - A **multiplier** is a contribution per unit of difference,
#   $m_{\Delta x \Delta t} = C_{\Delta x \Delta t} / \Delta x$: a gradient taken over a
#   finite difference instead of an infinitesimal one.
# - Multipliers follow a **chain rule**, like derivatives: for hidden units $y_j$,
#   $m_{\Delta x_i \Delta t} = \sum_j m_{\Delta x_i \Delta y_j}\, m_{\Delta y_j \Delta t}$.
#   So they can be back-propagated, in one backward pass.
# - For a linear layer $y = Wx + b$ the multipliers are the weights (like the gradient).
# - For a nonlinearity $y = g(z)$ the **Rescale rule** uses
#   $m_{\Delta z \Delta y} = \Delta y / \Delta z = \frac{g(z) - g(z_0)}{z - z_0}$, the slope
#   of the secant instead of the tangent. When $z \approx z_0$ the secant is the tangent, so
#   it falls back to the gradient.
#
# **Exercise 4.3 — the Rescale multiplier of a ReLU.** Given pre-activations `z` and their
# reference values `z_ref` (tensors of the same shape), return
# $(\mathrm{relu}(z) - \mathrm{relu}(z_{ref})) / (z - z_{ref})$, and where
# $|z - z_{ref}| \le$ `eps` the ReLU's gradient at $z$ (1.0 where $z > 0$, else 0.0).

# %%
def rescale_multiplier(z, z_ref, eps=1e-10):
    # BEGIN SOLUTION Exercise 4.3: Delta relu / Delta z, the gradient where Delta z is ~0
    delta_in = z - z_ref
    delta_out = torch.relu(z) - torch.relu(z_ref)
    usable = delta_in.abs() > eps
    return torch.where(usable, delta_out / torch.where(usable, delta_in, torch.ones_like(delta_in)),
                       (z > 0).to(z.dtype))
    # END SOLUTION


rescale_multiplier = check("4.3", rescale_multiplier)

# %% [markdown]
# ### DeepLIFT by hand on a tiny network
#
# Two inputs, two hidden ReLUs, one output:
# $h_1 = \mathrm{relu}(x_1 + x_2 - 1)$, $h_2 = \mathrm{relu}(x_1 - x_2 + 0.5)$,
# $t = 2 h_1 - h_2$. Input $x = (2, 1)$, reference $x^0 = (0, 0)$.

# %%
tiny = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
with torch.no_grad():
    tiny[0].weight.copy_(torch.tensor([[1.0, 1.0], [1.0, -1.0]]))
    tiny[0].bias.copy_(torch.tensor([-1.0, 0.5]))
    tiny[2].weight.copy_(torch.tensor([[2.0, -1.0]]))
    tiny[2].bias.zero_()
x_tiny, reference_tiny = torch.tensor([[2.0, 1.0]]), torch.zeros(1, 2)

W1, b1, W2 = tiny[0].weight.detach(), tiny[0].bias.detach(), tiny[2].weight.detach()
z, z_ref = x_tiny @ W1.T + b1, reference_tiny @ W1.T + b1       # forward pass, input and reference
m_hidden = rescale_multiplier(z, z_ref)                          # m_{Δz Δh}: Rescale rule
m_input = (W2 * m_hidden) @ W1                                   # chain rule: m_{Δx Δt} = Σ_j W2_j m_j W1_j
contributions = m_input * (x_tiny - reference_tiny)              # C = m Δx

# %%
# NBVAL_CHECK_OUTPUT
from captum.attr import DeepLift

from course_utils.xai.gradients import deeplift_rescale

with torch.no_grad():
    delta_t = (tiny(x_tiny) - tiny(reference_tiny)).item()
print("pre-activations z:", z.tolist(), " reference z0:", z_ref.tolist())
print("Rescale multipliers Δh/Δz:", [round(v, 4) for v in m_hidden[0].tolist()])
print("input multipliers:", [round(v, 4) for v in m_input[0].tolist()])
print("contributions:", [round(v, 4) for v in contributions[0].tolist()], " sum:", round(contributions.sum().item(), 4),
      " Δt:", delta_t)
print("gradient × input:", input_x_gradient(tiny, x_tiny, 0)[0].tolist(), "(sums to 5, not Δt)")
print("course deeplift_rescale == by hand:", torch.allclose(deeplift_rescale(tiny, x_tiny, 0, reference_tiny), contributions))
print("captum DeepLift == by hand:", torch.allclose(DeepLift(tiny).attribute(x_tiny, reference_tiny, target=0), contributions))

# %% [markdown]
# The first hidden unit went from $-1$ (off) to $2$: its output changed by 2 for a
# pre-activation change of 3, a multiplier of $2/3$, where the gradient says 1. The
# contributions add up to $\Delta t = 3$ exactly; gradient × input adds up to 5.
#
# The same on the saturating unit of section 2, and on a random, deeper MLP with one
# target per sample (the course's `deeplift_rescale` handles Sequential MLPs of Linear and
# ReLU layers; captum's `DeepLift` handles CNNs too):

# %%
# NBVAL_CHECK_OUTPUT
print("saturating unit, DeepLIFT:", deeplift_rescale(saturating, x_sat, 0, reference_sat)[0].tolist(),
      "(the gradient was [0, 0])")
torch.manual_seed(0)  # the layers' initial weights come from torch's global generator
generator = torch.Generator().manual_seed(0)
mlp = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))
x_mlp, reference_mlp = torch.randn(20, 8, generator=generator), torch.randn(20, 8, generator=generator)
targets = torch.arange(20) % 3
ours = deeplift_rescale(mlp, x_mlp, targets, reference_mlp)
theirs = DeepLift(mlp).attribute(x_mlp, reference_mlp, target=targets)
print("random MLP, 20 inputs: course == captum:", torch.allclose(ours, theirs, atol=1e-5),
      "| largest completeness gap below 1e-5:",
      completeness_gap(mlp, x_mlp, targets, ours, reference_mlp).abs().max().item() < 1e-5)

# %% [markdown]
# On the CNN, captum's `DeepLift` uses the Rescale rule for the ReLUs and its own rule for
# max pooling; with `return_convergence_delta=True` it also returns the completeness gap.

# %%
# NBVAL_CHECK_OUTPUT
deeplift_black, convergence = DeepLift(model).attribute(digit, black, target=label, return_convergence_delta=True)
print("DeepLIFT on the digit: completeness gap below 0.5% of f(x) - f(black):",
      abs(convergence.item()) < 0.005 * abs(delta))

# %% [markdown]
# The gap is small but not zero: captum's rule for max pooling does not conserve the
# difference exactly when the maximum moves between the input and the reference (the
# MLP above, with ReLUs only, was exact).

# %% [markdown]
# ## 6 · Choosing the reference (about 10 minutes)
#
# Both IG and DeepLIFT explain $f(x) - f(x')$: the reference decides *which question* is
# answered. The paper used a black image for MNIST. Three common choices:
#
# - **black** (all zeros): "why this digit rather than nothing?" Black pixels of the
#   digit get exactly zero attribution, whatever the model does with them;
# - **blurred** digit: keeps the rough shape, so the explanation is about the fine
#   strokes and edges;
# - **mean image** (the average of the test digits): "why this digit rather than an
#   average one?" Ink shared with the average digit explains little; what sets this digit
#   apart (and dark pixels where the average is grey) carries the attribution.

# %%
from torchvision.transforms.functional import gaussian_blur

references = {
    "black": torch.zeros_like(digit),
    "blurred": gaussian_blur(digit, kernel_size=[13, 13], sigma=[3.0, 3.0]),
    "mean image": X_test.mean(dim=0, keepdim=True).to(device),
}
fig, axes = plt.subplots(2, 3, figsize=(9.5, 5.5))
for column, (name, reference) in enumerate(references.items()):
    attribution = DeepLift(model).attribute(digit, reference, target=label)
    with torch.no_grad():
        change = (model(digit) - model(reference))[0, label].item()
    show_image(reference[0], ax=axes[0, column], title=f"reference: {name}")
    show_attribution(attribution[0], ax=axes[1, column], title=f"DeepLIFT, Δf = {change:.1f}", colorbar=True)
fig.tight_layout()
plt.show()

# %% [markdown]
# The three maps answer three questions, and $\Delta f$ changes with them: with the blurred
# reference the strokes' edges and the inner loops matter. With the mean image every
# attribution is a multiplier times $x_i - x'_i$, so a pixel where this 8 and the average
# digit agree gets next to none, whatever the network does with it: only where they differ
# can the map say anything.
#
# The widget recomputes Integrated Gradients for a reference and a number of steps. With
# few steps the sum drifts away from $\Delta f$; note also how the map changes with the
# reference while the model and the input stay the same.

# %%
import ipywidgets as widgets


def explore_ig(steps=50, reference="black"):
    baseline = references[reference]
    attribution = integrated_gradients(model, digit, label, baseline=baseline, steps=steps)
    with torch.no_grad():
        change = (model(digit) - model(baseline))[0, label].item()
    fig, axes = plt.subplots(1, 2, figsize=(6, 3))
    show_image(baseline[0], ax=axes[0], title=f"reference: {reference}")
    show_attribution(attribution[0], digit[0], ax=axes[1], title=f"IG, {steps} steps", colorbar=True)
    plt.show()
    print(f"sum of IG = {attribution.sum().item():.2f}, f(x) - f(reference) = {change:.2f}")


widgets.interact(explore_ig, steps=widgets.IntSlider(value=50, min=1, max=200, description="IG steps",
                                                     continuous_update=False),
                 reference=widgets.Dropdown(options=list(references), value="black", description="reference"));

# %% [markdown]
# ## 7 · Traps: a ReLU module used twice, an in-place ReLU (about 10 minutes)
#
# Libraries implement DeepLIFT (and guided backprop, and Grad-CAM) with **hooks**: during
# the forward passes, a hook on each nonlinearity records its input and output for the
# input and for the reference; during the backward pass another hook replaces the
# gradient by $\Delta\text{out} / \Delta\text{in}$. Two common ways to write a model break
# that bookkeeping. The code below records what such a hook sees.

# %%
def record_relu_inputs(network, inputs):
    """Run `network` once; return what a forward hook on each ReLU module saw (as hooks usually store it)."""
    seen, handles = {}, []
    for name, module in network.named_modules():
        if isinstance(module, nn.ReLU):
            handles.append(module.register_forward_hook(
                lambda mod, args, out, name=name: seen.__setitem__(name, args[0])))  # no clone, one slot per module
    with torch.no_grad():
        network(inputs)
    for handle in handles:
        handle.remove()
    return seen


torch.manual_seed(1)
layers = [nn.Linear(4, 6), nn.Linear(6, 6), nn.Linear(6, 2)]
generator = torch.Generator().manual_seed(1)
shared_relu = nn.ReLU()
distinct = nn.Sequential(layers[0], nn.ReLU(), layers[1], nn.ReLU(), layers[2])
reused = nn.Sequential(layers[0], shared_relu, layers[1], shared_relu, layers[2])
in_place = nn.Sequential(layers[0], nn.ReLU(inplace=True), layers[1], nn.ReLU(inplace=True), layers[2])
x_trap, reference_trap = torch.randn(3, 4, generator=generator), torch.zeros(3, 4)
with torch.no_grad():
    first_pre_activation = layers[0](x_trap)
    second_pre_activation = layers[1](torch.relu(first_pre_activation))

# %%
# NBVAL_CHECK_OUTPUT
seen = record_relu_inputs(reused, x_trap)
print(f"reused ReLU: {len(seen)} record for 2 uses; it holds the 2nd layer's input: "
      f"{torch.equal(seen['1'], second_pre_activation)}")
seen = record_relu_inputs(in_place, x_trap)
print(f"in-place ReLU: the true input had negative values: {bool((first_pre_activation < 0).any())}; "
      f"the recorded one has none: {bool((seen['1'] >= 0).all())}")
with torch.no_grad():
    reference_pre_activation = layers[0](reference_trap)
true_multipliers = rescale_multiplier(first_pre_activation, reference_pre_activation)
recorded_multipliers = rescale_multiplier(seen["1"], torch.relu(reference_pre_activation))  # its reference is clamped too
wrong = int((true_multipliers != recorded_multipliers).sum())
print(f"  Rescale multipliers computed from the records: {wrong} of {true_multipliers.numel()} are wrong")

# %% [markdown]
# - **Reused module.** A hook keeps one record per module, so the second use overwrites
#   the first: the first layer's multipliers would be computed from the second layer's
#   activations (or crash if the shapes differ). torchvision's ResNet reuses one ReLU per
#   block this way.
# - **In-place ReLU.** `ReLU(inplace=True)` overwrites its input with its output; a hook
#   that kept a reference to the input now holds the output, with no negative values left.
#
# What do the libraries do? captum 0.9 checks for the first trap and clones the input in
# its hooks (so in-place works there); shap's `DeepExplainer` (the same rules, its own
# hooks) returns wrong numbers silently for a reused ReLU, and fails on an in-place one.
# The course's `deeplift_rescale` walks the layers of the Sequential without hooks, so a
# reused module is harmless to it. The completeness check of exercise 4.2 catches the
# silent case.

# %%
# NBVAL_CHECK_OUTPUT
def deeplift_gap(explain, network):
    """Largest completeness gap of an explainer, or the first line of its error."""
    try:
        attribution = explain(network)
    except Exception as error:  # noqa: BLE001 (show what the library says)
        return f"error: {type(error).__name__}: {str(error).splitlines()[0][:90]}"
    gap = completeness_gap(network, x_trap, 0, attribution, reference_trap).abs().max().item()
    return ("correct (completeness gap below 1e-5)" if gap < 1e-5 else
            "WRONG (completeness gap above 1e-3)" if gap > 1e-3 else "completeness gap between 1e-5 and 1e-3")


explainers = {
    "course deeplift_rescale": lambda network: deeplift_rescale(network, x_trap, 0, reference_trap),
    "captum DeepLift": lambda network: DeepLift(network).attribute(x_trap, reference_trap, target=0),
}
try:
    import shap

    def shap_deep(network):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = shap.DeepExplainer(network, reference_trap[:1]).shap_values(x_trap, check_additivity=False)
        return torch.as_tensor(np.asarray(values)[..., 0], dtype=torch.float32)

    explainers["shap DeepExplainer"] = shap_deep
except ImportError:
    print("shap is not installed (pip install shap) : its row is skipped.")
for explainer, explain in explainers.items():
    for network_name, network in [("distinct ReLUs", distinct), ("reused ReLU", reused), ("in-place ReLU", in_place)]:
        print(f"{explainer:24s} {network_name:15s} {deeplift_gap(explain, network)}")

# %% [markdown]
# The rule the course follows in all its models: **one ReLU module per use, never
# in-place** (and, for residual networks, no in-place `+=`). And whichever library you
# use: check completeness on a few inputs before trusting a map.
#
# ## 8 · Experiment 1 of the DeepLIFT paper: turn an 8 into a 3 (about 15 minutes)
#
# **The paper** (section 4.1): for images of an 8, score every pixel for the difference
# "8 rather than 3", $S_{\text{diff}} = S_8 - S_3$, erase up to 157 pixels (20% of the
# image) in decreasing order of $S_{\text{diff}}$, only those with $S_{\text{diff}} > 0$,
# and measure how much the log-odds of 8 against 3 drop. A method whose top pixels are
# really the evidence for "8 and not 3" makes the log-odds drop fastest. The paper found
# DeepLIFT (with its RevealCancel rule) best, Integrated Gradients (5 or 10 steps) about as
# good as gradient × input, and guided backprop worst, "perhaps" because it discards
# negative gradients.
#
# **Our protocol.** The course's CNN; correctly classified test 8s; the log-odds of 8
# against 3 are $z_8 - z_3$ (the softmax's log-ratio $\log p_8/p_3$). Each method explains
# the output $z_8 - z_3$ directly (all of them are linear in the output, so this equals
# $S_8 - S_3$): DeepLIFT (captum, Rescale rule: captum does not implement RevealCancel),
# Integrated Gradients (50 points), gradient × input, guided backprop × input (multiplied
# by the input, like the gradient, so that its ranking concerns pixels that are on), all
# with a black reference; and a random order of the digit's pixels. Erasing sets a pixel
# to 0 (black, the reference). We record the drop after 0, 10, ..., 150 and 157 pixels.

# %%
from course_utils.xai.evaluation import ClassDifference, erase_top, erasure_curve

eight_vs_three = ClassDifference(model, 8, 3).eval()  # z_8 - z_3 as a one-output model
n_eights = pick(full=200, fast=8)
candidates = torch.where(y_test == 8)[0][:n_eights + 20]
with torch.no_grad():
    predicted = model(X_test[candidates].to(device)).argmax(dim=1).cpu()
eights = candidates[predicted == 8][:n_eights]
x8 = X_test[eights].to(device)
print(f"{len(x8)} correctly classified 8s")

# %%
from tqdm.auto import tqdm

rng = np.random.default_rng(0)
score_functions = {
    "DeepLIFT": lambda x: DeepLift(eight_vs_three).attribute(x, torch.zeros_like(x), target=0),
    "Integrated Gradients": lambda x: integrated_gradients(eight_vs_three, x, 0, steps=50, internal_batch_size=500),
    "gradient × input": lambda x: input_x_gradient(eight_vs_three, x, 0),
    "guided backprop × input": lambda x: guided_backprop(eight_vs_three, x, 0) * x,
    "random": lambda x: torch.as_tensor(rng.random(x.shape), dtype=x.dtype, device=x.device) * (x > 0),
}
scores = {name: torch.cat([function(batch).detach() for batch in x8.split(50)])
          for name, function in tqdm(score_functions.items(), desc="scoring pixels")}

# %%
# NBVAL_CHECK_OUTPUT
from course_utils import papers

protocol = papers.DEEPLIFT_PROTOCOL["values"]
print("paper:", papers.cite(papers.DEEPLIFT_PROTOCOL))
most = protocol["mnist"]["pixels erased at most"]
print(f"the paper erases at most {most} pixels, {protocol['mnist']['share of the image']:.0%} of the image:",
      most == round(protocol["mnist"]["share of the image"] * x8[0].numel()))
erased_counts = list(range(0, most, 10)) + [most]


# `erase_top` sets the k highest-scoring pixels with a positive score to 0; `erasure_curve`
# measures the drop of z_8 - z_3 after erasing 0, 10, ..., 157 pixels (course_utils.xai.evaluation).
drops = {name: torch.from_numpy(erasure_curve(eight_vs_three, x8, score, erased_counts, positive_only=True))
         for name, score in scores.items()}

# %%
colours = {"DeepLIFT": "tab:red", "Integrated Gradients": "tab:orange", "gradient × input": "tab:blue",
           "guided backprop × input": "tab:green", "random": "tab:gray"}
fig, ax = plt.subplots(figsize=(6.5, 4))
for name, values in drops.items():
    mean, sem = values.mean(0).numpy(), (values.std(0) / len(values) ** 0.5).numpy()
    ax.plot(erased_counts, mean, label=name, color=colours[name])
    ax.fill_between(erased_counts, mean - sem, mean + sem, color=colours[name], alpha=0.2)
ax.set_xlabel("pixels erased")
ax.set_ylabel("drop in log-odds (8 vs 3)")
ax.set_title(f"erasing what each method ranks highest, {len(x8)} eights (mean ± s.e.)")
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
import pandas as pd

summary = pd.DataFrame({
    "drop after 10 pixels": {name: values[:, erased_counts.index(10)].mean().item() for name, values in drops.items()},
    "drop after 50 pixels": {name: values[:, erased_counts.index(50)].mean().item() for name, values in drops.items()},
    f"drop after {most} pixels": {name: values[:, -1].mean().item() for name, values in drops.items()},
    "mean over the curve": {name: values.mean().item() for name, values in drops.items()},
})
curve = summary["mean over the curve"]
best_three = ["DeepLIFT", "Integrated Gradients", "gradient × input"]
print("DeepLIFT, IG and gradient × input each beat guided backprop over the curve:",
      bool((curve[best_three] > curve["guided backprop × input"]).all()))
print("guided backprop × input is the weakest attribution method:",
      curve.drop("random").idxmin() == "guided backprop × input")
print("every attribution method beats random after 50 pixels:",
      bool((summary["drop after 50 pixels"].drop("random") > summary["drop after 50 pixels"]["random"]).all()))
print("DeepLIFT within 10% of the best over the curve:", bool(curve["DeepLIFT"] >= 0.9 * curve.max()))
print("guided backprop × input drops the log-odds at least 2x more than random after 10 and after 50 pixels:",
      all(summary[column]["guided backprop × input"] > 2 * summary[column]["random"]
          for column in ("drop after 10 pixels", "drop after 50 pixels")))
print("Integrated Gradients and gradient × input within 5% of each other over the curve:",
      bool(abs(curve["Integrated Gradients"] - curve["gradient × input"]) < 0.05 * curve[best_three].max()))
at_most = summary[f"drop after {most} pixels"]
print(f"after {most} pixels random is within 10% of guided backprop × input, and below 90% of the other three:",
      bool(abs(at_most["random"] - at_most["guided backprop × input"]) < 0.1 * at_most["guided backprop × input"]
           and (at_most["random"] < 0.9 * at_most[best_three]).all()))

# %%
for column in ("drop after 10 pixels", "drop after 50 pixels", "mean over the curve"):
    values = summary[column]
    print(f"{column}: guided backprop × input {values['guided backprop × input']:.1f}, random {values['random']:.1f}, "
          f"the best ({values.idxmax()}) {values.max():.1f}")
summary.round(1)

# %% [markdown]
# One 8, its $S_{\text{diff}}$ maps, and the image after erasing 157 pixels:

# %%
fig, axes = plt.subplots(2, len(scores), figsize=(2.8 * len(scores), 5))
with torch.no_grad():
    start = eight_vs_three(x8[:1]).item()
for column, (name, score) in enumerate(scores.items()):
    erased = erase_top(x8[:1], score[:1], most, positive_only=True)
    with torch.no_grad():
        after = eight_vs_three(erased).item()
    show_attribution(score[0], ax=axes[0, column], title=name, colorbar=True)
    show_image(erased[0], ax=axes[1, column], title=f"log-odds {start:.0f} → {after:.0f}")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Compared with the paper.** As in the paper, guided backprop is the weakest attribution
# method (checked above): its maps barely depend on the class (section 4), so its top
# pixels are "the digit", not "what makes it an 8 rather than a 3". Yet it is far from
# useless: it beats random erasure by a wide margin over the first 50 pixels, and its
# shortfall against the best method is printed above (after 10 and 50 pixels, and over
# the curve); how large it is depends on the network. Also as in the paper, Integrated
# Gradients and gradient × input are close (checked), which says that saturation is not a
# big effect for this CNN on MNIST. DeepLIFT with the Rescale rule lands with them; the
# paper's edge for DeepLIFT came from its RevealCancel rule, which captum does not
# implement (the paper reports that Rescale does worse than RevealCancel on this task).
# By 157 pixels the random order has caught up with guided backprop, but not with the
# three other methods (checked): 157 random pixels of the ink are most of a digit, so
# erasing them destroys much of the 8 whichever pixels they are, while the better methods
# erased the right ink first.
#
# ## 9 · Experiment 2 of the DeepLIFT paper: motifs in simulated DNA (about 12 minutes)
#
# **The paper** (section 4.3) simulated DNA sequences of 200 bases, inserted instances of
# two transcription-factor motifs (GATA1 and TAL1) and trained a multi-task CNN on three
# tasks: "both motifs present", "GATA1 present", "TAL1 present". A good explanation scores
# the bases of the inserted motifs highest. DeepLIFT did best; gradient × input and guided
# backprop produced false positives and negatives.
#
# **Ours**: `simulate_motif_sequences` draws bases with the paper's background
# frequencies (A 0.3, C 0.2, G 0.2, T 0.3); a quarter of the sequences get both motifs, a
# quarter only GATA1, a quarter only TAL1, a quarter neither, each present motif 1-3
# times. The motifs are simplified GATA1-like and TAL1-like consensus sites sampled with
# 90% purity per base (the paper sampled ENCODE's position weight matrices, which are not
# shipped here). Sequences are one-hot encoded, 4 channels (A, C, G, T) by 200 positions.

# %%
from course_utils.simulation import BACKGROUND, MOTIFS, TASKS, simulate_motif_sequences

dna_train = simulate_motif_sequences(pick(full=8000, fast=2000), rng=ctx.rng)
dna_test = simulate_motif_sequences(pick(full=1000, fast=400), rng=ctx.rng)
example = int(torch.where(dna_test.y[:, 0] == 1)[0][0])
letters = dna_test.strings(example)
marked = "".join(c.lower() if dna_test.task_mask(0)[example, i] else c for i, c in enumerate(letters))
print("the paper's sequence length and background frequencies:",
      dna_train.X.shape[-1] == protocol["dna"]["sequence length"]
      and np.allclose(BACKGROUND, list(protocol["dna"]["background"].values())))
print("motif consensus sites:", MOTIFS)
print(f"test sequence {example} (labels {dna_test.y[example].int().tolist()} for {TASKS}), motifs in lower case:")
print(marked[:100] + "\n" + marked[100:])

# %% [markdown]
# A small CNN in the spirit of the paper's (two convolutions, then a dense layer): the
# first convolution's 11-base filters can learn the motifs, a global max pool asks "is
# the motif anywhere?", and one output per task (a logit, trained with a sigmoid loss).

# %%
torch.manual_seed(0)
dna_model = nn.Sequential(
    nn.Conv1d(4, 16, kernel_size=11, padding=5), nn.ReLU(),
    nn.Conv1d(16, 16, kernel_size=5, padding=2), nn.ReLU(),
    nn.MaxPool1d(kernel_size=200), nn.Flatten(),
    nn.Linear(16, 3),
).to(device)
optimizer = torch.optim.Adam(dna_model.parameters(), lr=1e-2)
loss_function = nn.BCEWithLogitsLoss()
X_dna, y_dna = dna_train.X.to(device), dna_train.y.to(device)
shuffle = torch.Generator().manual_seed(0)
for epoch in tqdm(range(pick(full=8, fast=3)), desc="training the DNA model"):
    for batch in torch.randperm(len(X_dna), generator=shuffle).split(64):
        optimizer.zero_grad()
        loss_function(dna_model(X_dna[batch]), y_dna[batch]).backward()
        optimizer.step()
dna_model.eval()
with torch.no_grad():
    test_accuracy = ((dna_model(dna_test.X.to(device)) > 0).float().cpu() == dna_test.y).float().mean(0)

# %%
print("test accuracy per task:", {task: round(float(a), 3) for task, a in zip(TASKS, test_accuracy)})

# %%
# NBVAL_CHECK_OUTPUT
print("test accuracy at least 0.9 on every task:", bool((test_accuracy >= 0.9).all()))

# %% [markdown]
# Now explain each task's logit on the test sequences that are positive for it. The
# reference for DeepLIFT and IG is the paper's: the background frequencies at every
# position. A position's score is the sum over its 4 channels (for gradient × input only
# the present base is non-zero). **Metric**: the fraction of the top-scored positions that
# lie inside an inserted motif the task depends on, taking as many top positions as one
# motif instance has bases (10) per motif the task needs (20 for "both"). Random scores
# give about the fraction of the sequence covered by such motifs.

# %%
dna_reference = torch.tensor(BACKGROUND, device=device).view(1, 4, 1).expand(1, 4, 200)
dna_methods = {
    "DeepLIFT": lambda x, t: DeepLift(dna_model).attribute(x, dna_reference.expand_as(x), target=t),
    "Integrated Gradients": lambda x, t: integrated_gradients(dna_model, x, t, baseline=dna_reference[0], steps=50),
    "gradient × input": lambda x, t: input_x_gradient(dna_model, x, t),
    "guided backprop × input": lambda x, t: guided_backprop(dna_model, x, t) * x,
    "random": lambda x, t: torch.as_tensor(rng.random(x.shape), dtype=x.dtype, device=x.device),
}
n_explained = pick(full=200, fast=30)
hit_rate, position_scores = {}, {}
for task, task_name in enumerate(TASKS):
    positive = torch.where(dna_test.y[:, task] == 1)[0][:n_explained]
    x_task, motif_mask = dna_test.X[positive].to(device), dna_test.task_mask(task)[positive]
    k = 20 if task == 0 else 10
    for method, explain in dna_methods.items():
        per_position = explain(x_task, task).detach().sum(dim=1).cpu()  # (n, 200)
        top = per_position.argsort(dim=1, descending=True)[:, :k]
        hit_rate[(method, task_name)] = motif_mask.gather(1, top).float().mean().item()
        if task == 0:
            position_scores[method] = per_position[0]
hits = pd.Series(hit_rate).unstack()[list(TASKS)].loc[list(dna_methods)]

# %%
print("fraction of top positions inside the motifs, by task:")
hits.round(2)

# %%
# NBVAL_CHECK_OUTPUT
attribution_methods = [m for m in dna_methods if m != "random"]
print("every attribution method finds the motifs (>= 0.8 on every task):",
      bool((hits.loc[attribution_methods] >= 0.8).all().all()))
print("random stays below 0.4 on every task:", bool((hits.loc["random"] < 0.4).all()))
spread = hits.loc[attribution_methods].max() - hits.loc[attribution_methods].min()
print("the four methods lie within 0.1 of each other on every task (no method ahead):", bool((spread < 0.1).all()))

# %%
first = int(torch.where(dna_test.y[:, 0] == 1)[0][0])
fig, axes = plt.subplots(len(attribution_methods), 1, figsize=(10, 1.5 * len(attribution_methods)), sharex=True)
spans = dna_test.task_mask(0)[first].int().diff(prepend=torch.zeros(1, dtype=torch.int32), append=torch.zeros(1, dtype=torch.int32))
starts, stops = torch.where(spans == 1)[0].tolist(), torch.where(spans == -1)[0].tolist()
for ax, method in zip(axes, attribution_methods):
    values = position_scores[method].numpy()
    ax.vlines(np.arange(200), 0, values, colors=np.where(values >= 0, "tab:red", "tab:blue"), linewidth=2)
    for start, stop in zip(starts, stops):
        ax.axvspan(start - 0.5, stop - 0.5, color="gold", alpha=0.3)
    ax.set_ylabel(method.replace(" × ", "\n× "), fontsize=8)
axes[0].set_title(f"task 'both', test sequence {first}: scores per position (inserted motifs shaded)")
axes[-1].set_xlabel("position")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Compared with the paper.** All four attribution methods put most of their top
# positions on the inserted motifs, far above random, and they agree (checked above, in
# both modes: fast mode, with 2,000 training sequences and 30 explained per task, shows
# the mechanics; full mode, with 8,000 and 200, gives the same picture). So this
# experiment does **not** reproduce the paper's ranking, and says so. Two things make it easier than the paper's setting: the global max pool means one
# instance of each motif is enough, so there is little saturation to trip the gradient,
# and our motifs are clean consensus sites. The paper's differences showed up on weaker
# motif matches and with its RevealCancel rule. The shaded plot also shows what the
# metric cannot: with several instances of a motif, the methods credit mostly the one the
# max pool picked.
#
# ### Think
#
# 1. In section 2, gradient × input gave $[0, 0]$ on the saturated unit. Find a
#    one-input function and an input where it gives the *wrong sign* rather than zero.
#    (Hint: a second ReLU that switches on only for large inputs and pulls the other way.)
# 2. A colleague shows you an IG map computed with 5 steps. How would you tell, from the
#    numbers alone, whether 5 steps are enough for that input?
# 3. For MNIST the black reference means a black pixel never gets any attribution. When
#    would that be the wrong question to ask? Which reference would you use for a chest
#    X-ray? For a DNA sequence?
# 4. In the erasure experiment, why does the random order catch up with guided backprop
#    at 157 pixels, and why is it still a useful baseline?
# 5. Why does the course's `deeplift_rescale` not care whether a ReLU module is used twice,
#    while hook-based implementations do?
#
# <!-- BEGIN SOLUTION -->
# **Answers.** (1) $f(x) = \mathrm{relu}(x) - 2\,\mathrm{relu}(x - 1)$ at $x = 1.5$, reference
# 0: the output rose from 0 to 0.5, but the gradient there is $1 - 2 = -1$, so gradient ×
# input is $-1.5$. Gradients only see the linear piece around $x$, not how the model got
# there from the reference; IG and DeepLIFT both give $+0.5$.
# (2) Compute the completeness gap: if the attributions do not add up to
# $f(x) - f(x')$ within about 1%, add steps (or use the midpoint / Gauss-Legendre rule).
# (3) When darkness is itself evidence (a missing stroke, a dark lesion on an X-ray) a black
# reference cannot attribute anything to it; for an X-ray a blurred image or an average
# healthy scan is a better "nothing"; for DNA the background base frequencies (or shuffled
# sequences keeping the dinucleotide content), as the paper did. (4) Erasing 157 random
# pixels of the ink (20% of the image, most of a digit's lit pixels) wipes out much of the
# 8 whichever pixels they are, so by then random erasure does as much as guided backprop,
# whose top pixels are the digit's shape rather than what separates 8 from 3; the random
# curve shows how much of a method's drop is just "erasing ink" rather than erasing the
# right ink, and early on the gap is large. (5) It follows
# the layers of the Sequential and computes each layer's multipliers from the activations
# it just computed; hooks store one record per *module*, so a module used twice has its
# first record overwritten.
# <!-- END SOLUTION -->

# %% [markdown]
# ## Summary
#
# - The **gradient** says how the output reacts to an infinitesimal change; it is zero
#   where a unit saturates, even for inputs that matter. **Gradient × input** inherits that.
# - **Integrated Gradients** integrates the gradient from a baseline; its attributions
#   add up to $f(x) - f(x')$ (completeness) up to the quadrature error: check it, and use
#   enough points (50 Gauss-Legendre points were within 1% here). Batch the points.
# - **DeepLIFT** back-propagates multipliers $\Delta y / \Delta x$ with a chain rule; the
#   Rescale rule makes them add up exactly (summation-to-delta) in one backward pass.
# - **SmoothGrad** averages away gradient noise; **guided backprop** gives crisp but
#   class-insensitive maps, and was the weakest method at turning an 8 into a 3, as in the
#   paper.
# - The **reference** decides the question being answered (black, blurred, mean image, background DNA).
# - Hook-based implementations need **one non-in-place ReLU module per use**; the
#   completeness check catches the silent failures.
#
# **Next:** lesson 05, Anchors: rules that hold with high precision.
#
# ## Further reading
#
# - A. Shrikumar, P. Greenside, A. Kundaje, "Learning Important Features Through
#   Propagating Activation Differences", *ICML* 2017 (DeepLIFT; the two experiments of this lesson).
# - M. Sundararajan, A. Taly, Q. Yan, "Axiomatic Attribution for Deep Networks", *ICML* 2017 (Integrated Gradients).
# - K. Simonyan, A. Vedaldi, A. Zisserman, "Deep Inside Convolutional Networks: Visualising
#   Image Classification Models and Saliency Maps", *ICLR workshop* 2014.
# - D. Smilkov, N. Thorat, B. Kim, F. Viégas, M. Wattenberg, "SmoothGrad: removing noise by adding noise", 2017.
# - J. T. Springenberg, A. Dosovitskiy, T. Brox, M. Riedmiller, "Striving for Simplicity:
#   The All Convolutional Net", *ICLR workshop* 2015 (guided backprop).
# - M. Ancona, E. Ceolini, C. Öztireli, M. Gross, "Towards better understanding of
#   gradient-based attribution methods for Deep Neural Networks", *ICLR* 2018.
# - J. Adebayo et al., "Sanity Checks for Saliency Maps", *NeurIPS* 2018; W. Nie, Y. Zhang,
#   A. Patel, "A Theoretical Explanation for Perplexing Behaviors of Backpropagation-based
#   Visualizations", *ICML* 2018.
# - P. Sturmfels, S. Lundberg, S.-I. Lee, "Visualizing the Impact of Feature Attribution
#   Baselines", *Distill* 2020 (choosing the reference).
# - N. Kokhlikyan et al., "Captum: A unified and generic model interpretability library for PyTorch", 2020.
