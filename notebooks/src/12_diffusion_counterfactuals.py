# %% [markdown]
# # 12 · Diffusion models for explanations: counterfactuals that stay on the data manifold
#
# Lesson 06 asked "what is the smallest change that flips the decision?" on tables, and
# answered it by gradient descent on the input (Wachter et al.). On images the same descent
# finds adversarial noise (lesson 08): a change no person would call a different digit. A
# **diffusion model** knows what digits look like. This lesson builds one from its parts
# (the forward noising process, the noise-predicting network, the DDPM and DDIM reverse
# steps), then uses it to make **counterfactual explanations that stay on the manifold of
# real digits**: noise a digit part of the way, and denoise it while a classifier pulls it
# towards another class. We compare them, on the same digits and targets, with pixel-space
# Wachter counterfactuals and with targeted PGD on a standard and on a robust model, by
# validity for a classifier that did not guide them, by distance, by sparsity and by
# realism, and we measure what they cost.
#
# **Learning objectives.** After this notebook you can
# 1. write the forward process $q(x_t \mid x_0)$ in closed form, explain the noise schedule
#    and $\bar\alpha_t$, and state what the network is trained to predict;
# 2. take a DDPM and a DDIM step by hand, and sample digits from the course's model;
# 3. make counterfactuals by classifier-guided diffusion and explain the trade-off that
#    the noise level $t^*$ and the guidance scale control;
# 4. compare counterfactual methods on images by validity for an independent classifier,
#    proximity, sparsity and realism, and say what each one teaches about the model;
# 5. name where guided diffusion fails: far targets, guidance by a non-robust classifier,
#    and its cost.
#
# **Time:** about 80 minutes (full mode computes in about a minute on a laptop CPU).
#

# %%
#@course_setup

from course_utils import setup_notebook

ctx = setup_notebook(seed=0)

# %%
import json
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier

from course_utils import check, data, load_pretrained, pick, plotting
from course_utils.models import checkpoint_path
from course_utils.xai import attacks, counterfactuals
from course_utils.xai import diffusion as dif
from course_utils.xai.manipulation import nearest_real_distance

device = ctx.device
denoiser = load_pretrained("mnist_ddpm", device=device)
cnn = load_pretrained("mnist_cnn", device=device)
robust = load_pretrained("mnist_cnn_robust", device=device)
card = json.loads(checkpoint_path("mnist_ddpm").with_suffix(".json").read_text())
schedule = dif.linear_schedule(card["schedule"]["T"], card["schedule"]["beta_start"], card["schedule"]["beta_end"])
X_test, y_test = data.mnist_tensors("test")
n_digits = pick(full=64, fast=12)
print(f"the course's diffusion model: {card['n_parameters']:,} weights, trained for {card['training_steps']} steps "
      f"({card['train_minutes']} min on {card['train_hardware']}); {n_digits} test digits explained; on {device}")

# %% [markdown]
# ## 1 · Diffusion by hand (about 25 minutes)
#
# **The forward process** destroys a digit in $T$ small steps, with no network at all:
# $q(x_t \mid x_{t-1}) = \mathcal N(\sqrt{1-\beta_t}\,x_{t-1}, \beta_t I)$. Ho, Jain and Abbeel
# ("Denoising Diffusion Probabilistic Models", NeurIPS 2020) take $T = 1000$ and a linear
# schedule $\beta_t$ from $10^{-4}$ to $0.02$. Because Gaussians compose, any step can be
# reached in one draw: with $\alpha_t = 1 - \beta_t$ and $\bar\alpha_t = \prod_{s\le t}\alpha_s$,
#
# $$q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t) I\big),\qquad
#   x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon,\ \epsilon \sim \mathcal N(0, I).$$
#
# The diffusion runs on digits scaled to $[-1, 1]$ (`dif.to_diffusion_space`), so that the
# clean signal and the noise have comparable sizes. Steps are 0-based here: `t = 0 ... 999`.
#
# **Exercise 12.1 — the forward process in closed form.** Given clean images `x0` (N, ...),
# an int step `t`, standard normal `noise` of the same shape and the `schedule`
# (`schedule.alpha_bar` is the tensor of $\bar\alpha_t$), return $x_t$.

# %%
def add_noise(x0, t, noise, schedule):
    # BEGIN SOLUTION Exercise 12.1: the clean image and the noise, mixed by alpha-bar
    abar = schedule.alpha_bar[t].to(x0.dtype)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise
    # END SOLUTION


add_noise = check("12.1", add_noise)

# %% [markdown]
# One digit noised to several steps, and the schedule: $\sqrt{\bar\alpha_t}$ is how much of
# the digit is left, $\sqrt{1-\bar\alpha_t}$ how much noise.

# %%
digit = X_test[:1]
shown_steps = [0, 50, 100, 200, 400, 600, 800, 999]
generator = torch.Generator().manual_seed(0)
noise = torch.randn(digit.shape, generator=generator)
noised = [dif.from_diffusion_space(add_noise(dif.to_diffusion_space(digit), t, noise, schedule))[0] for t in shown_steps]
fig = plotting.image_grid(noised, titles=[f"t = {t}" for t in shown_steps], ncols=len(shown_steps))
plt.show()

abar = schedule.alpha_bar.numpy()
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(np.sqrt(abar), label=r"signal $\sqrt{\bar\alpha_t}$")
ax.plot(np.sqrt(1 - abar), label=r"noise $\sqrt{1-\bar\alpha_t}$")
ax.set(xlabel="step t", ylabel="scale", title="Ho et al.'s linear schedule (T = 1000)")
ax.legend()
plt.show()
t_half = int(np.argmax(abar < 0.5))
print(f"the signal and the noise have equal variance (alpha-bar = 0.5) at step {t_half}; "
      f"at t = 999 alpha-bar is {abar[-1]:.1e}: pure noise")

# %%
# NBVAL_CHECK_OUTPUT
print("half signal, half noise between steps 200 and 300:", 200 < t_half < 300)
print("almost nothing of the digit is left at the last step:", abar[-1] < 1e-4)

# %% [markdown]
# **The training objective.** A network $\epsilon_\theta(x_t, t)$ sees a noised digit and its
# step and predicts the noise that was added: Ho et al. minimise
# $\mathbb E_{x_0, t, \epsilon}\,\|\epsilon - \epsilon_\theta(\sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\epsilon, t)\|^2$
# (their algorithm 1), a plain regression. The course's `mnist_ddpm` is a compact U-Net
# (three resolutions, 28, 14 and 7 pixels, residual blocks with GroupNorm and SiLU, the step
# given as a sinusoidal embedding), trained by `python -m course_utils.train mnist_ddpm`.
# Its card holds the loss curve. How good is its noise estimate at each step? Predicting
# zero noise would score 1 per pixel.

# %%
n_check = pick(full=500, fast=100)
x0 = dif.to_diffusion_space(X_test[:n_check]).to(device)
generator = torch.Generator().manual_seed(1)
eps = torch.randn(x0.shape, generator=generator).to(device)
steps_checked = [10, 100, 300, 500, 700, 900]
with torch.no_grad():
    eps_error = {t: (denoiser(add_noise(x0, t, eps, schedule), t) - eps).pow(2).mean().item() for t in steps_checked}
print("training loss, mean over each tenth of training:", card["loss_curve"])
print("noise-prediction error per pixel on test digits, by step:",
      {t: round(e, 3) for t, e in eps_error.items()})

# %%
# NBVAL_CHECK_OUTPUT
print("at every step checked the network's error is well below predicting zero noise (1.0):",
      max(eps_error.values()) < 0.5)

# %% [markdown]
# Why is the error largest at small $t$? There the noise is tiny and the network must find
# it on top of a clean digit: a hard regression with little at stake, because a small
# error in $\epsilon$ is multiplied by the small $\sqrt{1-\bar\alpha_t}$ when we recover
# $x_0$. The error that matters for images, that of the implied clean digit, grows with $t$.
#
# **The reverse process.** From $\epsilon_\theta$ we get an estimate of the clean image,
# $\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\epsilon_\theta)/\sqrt{\bar\alpha_t}$. The DDPM
# step (Ho et al., algorithm 2) draws
# $x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\epsilon_\theta\big) + \sqrt{\beta_t}\,z$:
# random, and it needs all 1000 steps. The DDIM step (Song, Meng and Ermon, "Denoising
# Diffusion Implicit Models", ICLR 2021, with $\eta = 0$) is deterministic and can jump:
# $x_{s} = \sqrt{\bar\alpha_s}\,\hat x_0 + \sqrt{1-\bar\alpha_s}\,\epsilon_\theta$ for any
# earlier step $s$: the same noise direction, less of it.
#
# **Exercise 12.2 — one DDIM step.** Given `x_t`, the steps `t` and `t_prev` (ints,
# `t_prev < t`; `t_prev = -1` means the clean image, where $\bar\alpha = 1$), the noise
# estimate `eps` and the `schedule`, return $x_{t_\text{prev}}$.

# %%
def ddim_step(x_t, t, t_prev, eps, schedule):
    # BEGIN SOLUTION Exercise 12.2: recover x0 from x_t and eps, then noise it to t_prev with the same eps
    abar = schedule.alpha_bar.to(x_t.dtype)
    abar_t = abar[t]
    abar_prev = abar[t_prev] if t_prev >= 0 else torch.ones((), dtype=x_t.dtype)
    x0_hat = (x_t - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
    return abar_prev.sqrt() * x0_hat + (1 - abar_prev).sqrt() * eps
    # END SOLUTION


ddim_step = check("12.2", ddim_step)

# %% [markdown]
# With the true noise, one DDIM step from any $t$ straight to $-1$ gives back the clean
# digit exactly; with the network's estimate it gives the network's guess.

# %%
x_500 = add_noise(x0[:4], 500, eps[:4], schedule)
exact = ddim_step(x_500, 500, -1, eps[:4], schedule)
with torch.no_grad():
    guessed = ddim_step(x_500, 500, -1, denoiser(x_500, 500), schedule)
recovery_error = (exact - x0[:4]).abs().max().item()
fig = plotting.image_grid([dif.from_diffusion_space(v)[0] for v in (x0[:1], x_500[:1], exact[:1], guessed[:1])],
                          titles=["x0", "x_500", "DDIM, true noise", "DDIM, network's noise"], ncols=4)
plt.show()
print(f"largest pixel error of the recovery with the true noise: {recovery_error:.1e}")

# %%
# NBVAL_CHECK_OUTPUT
print("a DDIM step with the true noise recovers x0 to float precision:", recovery_error < 1e-4)

# %% [markdown]
# **Samples from the course's model.** DDIM in 50 jumps from pure noise at $t = 999$, and
# the DDPM chain through all 1000 steps. Are they digits? The card's sample-quality figure
# asks `mnist_cnn` to label them and counts those it labels with confidence above 0.9 (real
# test digits: nearly all).

# %%
n_samples = pick(full=64, fast=16)
samples_ddim = dif.sample(denoiser, n_samples, schedule, steps=pick(full=50, fast=25), rng=0)
n_ddpm = pick(full=16, fast=4)
generator = torch.Generator().manual_seed(0)
z = torch.randn((n_ddpm, 1, 28, 28), generator=generator).to(device)
with torch.no_grad():
    for t in range(schedule.T - 1, -1, -1):  # Ho et al.'s algorithm 2: all 1000 steps, fresh noise at each
        z = dif.ddpm_step(z, t, denoiser(z, t), schedule, rng=t)
samples_ddpm = dif.from_diffusion_space(z)
with torch.no_grad():
    confidence = torch.softmax(cnn(samples_ddim), 1).max(1).values
    confidence_real = torch.softmax(cnn(X_test[:n_samples]), 1).max(1).values
share_confident = (confidence > 0.9).float().mean().item()
share_real = (confidence_real > 0.9).float().mean().item()
fig = plotting.image_grid(list(samples_ddim[:16, 0]) + list(samples_ddpm[:8, 0]),
                          titles=[f"DDIM {c:.2f}" for c in confidence[:16]] + ["DDPM"] * min(8, n_ddpm), ncols=8)
plt.show()
print(f"{share_confident:.0%} of {n_samples} DDIM samples are labelled by mnist_cnn with confidence > 0.9 "
      f"(real test digits: {share_real:.0%}; the card, {card['sample_quality']['n_samples']} samples: "
      f"{card['sample_quality']['share_confident']:.0%})")

# %%
# NBVAL_CHECK_OUTPUT
print("a third or more of the DDIM samples are digits mnist_cnn is confident about:", share_confident >= 1 / 3)
print("... but fewer than of the real test digits:", share_confident < share_real)

# %% [markdown]
# A small model trained for a quarter of an hour on a CPU: many samples are clear digits,
# others are strokes no classifier is sure about. That is enough for what follows, where
# the model never starts from pure noise: it only restores a digit noised part of the way,
# a much easier task.

# %% [markdown]
# ## 2 · Counterfactuals by guided diffusion (about 20 minutes)
#
# A counterfactual explanation of "the model says 4" is a nearby image the model calls 9:
# what would have to change. Jeanneret, Simon and Jurie (DiME, "Diffusion Models for
# Counterfactual Explanations", ACCV 2022) and Augustin, Boreiko, Croce and Hein
# ("Diffusion Visual Counterfactual Explanations", NeurIPS 2022) make them with a
# diffusion model:
#
# 1. noise the digit to an intermediate step $t^*$ (`t_start`): its coarse shape survives,
#    its details are gone;
# 2. denoise it with DDIM, and at every step move the clean-image estimate $\hat x_0$ along
#    the gradient of $\log p(\text{target} \mid \hat x_0) - w\,\|\hat x_0 - x\|_1$:
#    towards the target class, and back towards the original;
# 3. re-derive the noise estimate from the moved $\hat x_0$ and take the DDIM step.
#
# The denoiser keeps every intermediate image on its manifold of digits; the classifier
# picks which digit; the L1 term keeps what need not change. We guide with the robust
# model `mnist_cnn_robust` (lesson 08), whose gradients look like strokes, and judge the
# result with classifiers that did **not** guide it.
#
# **Exercise 12.3 — the guided update.** Given `x0_hat` (N, ...), the gradient `grad` of
# $\log p(\text{target} \mid \hat x_0)$ with respect to it, the original `x_orig`, the
# `guidance_scale` $s$, the `distance_weight` $w$ and $\bar\alpha_t$ (`abar_t`, a float), return
#
# $$\hat x_0 + \sqrt{1-\bar\alpha_t}\,\Big(s\,\frac{\nabla}{\mathrm{rms}(\nabla)} - w\,\mathrm{sign}(\hat x_0 - x_\text{orig})\Big),$$
#
# where $\mathrm{rms}(\nabla)$ is the root-mean-square of each image's gradient over its
# pixels (so that $s$ is a step in pixel units, whatever the classifier's gradient norm: the
# robust model's are small). Both pushes shrink as the noise does, so the last steps polish
# rather than redraw.

# %%
def guided_x0(x0_hat, grad, x_orig, guidance_scale, distance_weight, abar_t):
    # BEGIN SOLUTION Exercise 12.3: the rescaled gradient step and the L1 pull, both times the noise level left
    rms = grad.pow(2).flatten(1).mean(1).sqrt().reshape(-1, *([1] * (grad.ndim - 1)))
    step = guidance_scale * grad / rms - distance_weight * torch.sign(x0_hat - x_orig)
    return x0_hat + (1 - abar_t) ** 0.5 * step
    # END SOLUTION


guided_x0 = check("12.3", guided_x0)

# %% [markdown]
# The targets: for each digit, the class the robust model ranks second (the "nearest"
# other class: "why a 4 and not a 9?"). The independent judges: the standard `mnist_cnn`
# (trained differently, without attacks) and a 5-nearest-neighbour classifier on the
# first 50 principal components of 10,000 training digits (a different kind of model
# altogether).

# %%
x, y = X_test[:n_digits].to(device), y_test[:n_digits].to(device)
with torch.no_grad():
    target_near = robust(x).topk(2, dim=1).indices[:, 1]
    target_far = robust(x).argmin(1)
X_train, y_train = data.mnist_tensors("train", n=10_000)
pca = PCA(n_components=50, random_state=0).fit(X_train.flatten(1).numpy())
train_features = pca.transform(X_train.flatten(1).numpy())
knn = KNeighborsClassifier(n_neighbors=5).fit(train_features, y_train.numpy())
knn_accuracy = knn.score(pca.transform(X_test[1000:3000].flatten(1).numpy()), y_test[1000:3000].numpy())


def knn_labels(images):
    return knn.predict(pca.transform(images.detach().cpu().flatten(1).numpy()))


print(f"k-NN on 50 principal components: {knn_accuracy:.1%} accuracy on 2,000 test digits")

t0 = time.perf_counter()
cf_diffusion = dif.diffusion_counterfactual(denoiser, robust, x, target_near, t_start=dif.LESSON_T_START,
                                            guidance_scale=dif.LESSON_GUIDANCE_SCALE, steps=dif.LESSON_STEPS, rng=0)
seconds_diffusion = time.perf_counter() - t0
with torch.no_grad():
    valid_guide = (robust(cf_diffusion).argmax(1) == target_near).float().mean().item()
    valid_cnn = (cnn(cf_diffusion).argmax(1) == target_near).float().mean().item()
valid_knn = float(np.mean(knn_labels(cf_diffusion) == target_near.cpu().numpy()))
n_show = min(8, n_digits)
fig, axes = plt.subplots(3, n_show, figsize=(1.6 * n_show, 5.2))
for i in range(n_show):
    plotting.show_image(x[i, 0], ax=axes[0, i], title=f"{y[i].item()}")
    plotting.show_image(cf_diffusion[i, 0], ax=axes[1, i], title=f"-> {target_near[i].item()}")
    change = axes[2, i].imshow((cf_diffusion[i, 0] - x[i, 0]).cpu(), cmap="RdBu_r", vmin=-1, vmax=1)
    axes[2, i].set_axis_off()
axes[0, 0].set_ylabel("original")
fig.colorbar(change, ax=axes[2, :].tolist(), shrink=0.8, label="change (red: ink added)")
fig.suptitle(f"Guided-diffusion counterfactuals (t* = {dif.LESSON_T_START}, s = {dif.LESSON_GUIDANCE_SCALE}, "
             f"{dif.LESSON_STEPS} DDIM steps)")
plt.show()
print(f"{n_digits} counterfactuals in {seconds_diffusion:.1f} s; the target class for the guiding robust model: "
      f"{valid_guide:.0%}, for mnist_cnn: {valid_cnn:.0%}, for the k-NN: {valid_knn:.0%}")

# %%
# NBVAL_CHECK_OUTPUT
print("valid for the guiding model in at least 80% of cases:", valid_guide >= 0.8)
print("valid for the independent mnist_cnn in at least 70% of cases:", valid_cnn >= 0.7)

# %% [markdown]
# **The trade-off.** $t^*$ sets how much of the digit may be redrawn: too little noise and
# the guidance cannot change the class without leaving the manifold; too much and the
# counterfactual is a new digit, unrelated to the original. The guidance scale sets how
# hard the classifier pulls. The grid below measures both on the same digits: validity for
# the independent `mnist_cnn` and the L1 distance to the original (in pixels of [0, 1]).

# %%
grid_t = [300, 500, 700]
grid_s = [0.1, 0.2, 0.5]
n_grid = pick(full=32, fast=6)
grid = {}
for t_star in grid_t:
    for scale in grid_s:
        out = dif.diffusion_counterfactual(denoiser, robust, x[:n_grid], target_near[:n_grid], t_start=t_star,
                                           guidance_scale=scale, steps=dif.LESSON_STEPS, rng=0)
        with torch.no_grad():
            valid = (cnn(out).argmax(1) == target_near[:n_grid]).float().mean().item()
        grid[t_star, scale] = (out, valid, (out - x[:n_grid]).abs().flatten(1).sum(1).mean().item())
trade_off = pd.DataFrame([{"t*": t_star, "scale": scale, "valid (mnist_cnn)": v, "L1": l1}
                          for (t_star, scale), (_, v, l1) in grid.items()])
print(trade_off.pivot(index="t*", columns="scale", values="valid (mnist_cnn)").round(2).to_string())
print(trade_off.pivot(index="t*", columns="scale", values="L1").round(1).to_string())


def show_trade_off(t_star=dif.LESSON_T_START, scale=dif.LESSON_GUIDANCE_SCALE, index=0):
    out, valid, l1 = grid[t_star, scale]
    fig, axes = plt.subplots(1, 2, figsize=(4, 2.2))
    plotting.show_image(x[index, 0], ax=axes[0], title=f"original {y[index].item()}")
    plotting.show_image(out[index, 0], ax=axes[1], title=f"-> {target_near[index].item()}")
    fig.suptitle(f"t* {t_star}, s {scale}: valid {valid:.0%}, L1 {l1:.0f}", fontsize=9)
    plt.show()


widgets.interact(show_trade_off,
                 t_star=widgets.SelectionSlider(options=grid_t, value=dif.LESSON_T_START, description="t*",
                                                continuous_update=False),
                 scale=widgets.SelectionSlider(options=grid_s, value=dif.LESSON_GUIDANCE_SCALE, description="scale",
                                               continuous_update=False),
                 index=widgets.IntSlider(value=0, min=0, max=n_grid - 1, description="digit", continuous_update=False));

# %%
# NBVAL_CHECK_OUTPUT
l1_by_t = trade_off.groupby("t*")["L1"].mean()
print("more noise (larger t*) gives counterfactuals farther from the original:",
      bool(l1_by_t.is_monotonic_increasing))

# %% [markdown]
# ## 3 · Compared side by side (about 20 minutes)
#
# The same digits and the same targets, four ways:
#
# - **Wachter in pixel space** (lesson 06's loss on images, `counterfactuals.wachter_images`):
#   the closest image in L1 that `mnist_cnn` labels as the target, by gradient descent on
#   the pixels;
# - **targeted PGD on `mnist_cnn`** and **on `mnist_cnn_robust`** (lesson 08,
#   `attacks.pgd(..., targeted=True)`, 100 steps of 0.01): L-inf budget 0.3 on the standard
#   model; 0.5 on the robust one, which was trained to resist 0.3 (it does: see
#   `robust_at_03` below). The robust model's gradients are perceptually aligned (lesson
#   09), so its "attacks" start to look like edits;
# - **guided diffusion** with the robust model (section 2).
#
# The measures: **validity** for the model each method used and for the two others
# (the standard CNN and the k-NN, or the robust CNN for those made on the standard one);
# **proximity** (L1 and L2 distances); **sparsity** (the share of pixels changed by more
# than 0.1); **realism**, three ways, each relative to the real test digits' value (1.0:
# as real as they are): the distance from the PCA subspace of the training digits (what the
# first 50 components cannot express: strokes lie in it, scattered noise does not), the
# distance to the nearest of the 10,000 training digits inside that subspace (a feature
# space no method used), and the denoiser's own reconstruction error (noise to step 300 and
# denoise; real digits come back nearly unchanged). The last favours the diffusion
# counterfactuals by construction (they are the denoiser's own output), so we read it for
# the other methods. And the **cost**: model evaluations per
# counterfactual, counted with a forward hook (`dif.EvaluationCounter`), each with a
# backward pass.

# %%
def run(name, make, models_used):
    counters = [dif.EvaluationCounter(m) for m in models_used]
    t0 = time.perf_counter()
    for c in counters:
        c.__enter__()
    try:
        out = make()
    finally:
        for c in counters:
            c.__exit__(None, None, None)
    return name, out.detach(), sum(c.count for c in counters) / len(x), time.perf_counter() - t0


wachter_steps = pick(full=100, fast=40)
results = [
    run("Wachter (pixels, mnist_cnn)", lambda: counterfactuals.wachter_images(cnn, x, target_near, steps=wachter_steps,
                                                                              lr=0.02), [cnn]),
    run("PGD on mnist_cnn", lambda: attacks.pgd(cnn, x, target_near, eps=0.3, alpha=0.01, steps=100, targeted=True,
                                                rng=0), [cnn]),
    run("PGD on mnist_cnn_robust (eps 0.5)", lambda: attacks.pgd(robust, x, target_near, eps=0.5, alpha=0.01, steps=100,
                                                                 targeted=True, rng=0), [robust]),
    run("diffusion (guided by mnist_cnn_robust)",
        lambda: dif.diffusion_counterfactual(denoiser, robust, x, target_near, rng=0), [denoiser, robust]),
]
def pca_residual(images):
    """Distance of each image from the 50-component PCA subspace of the training digits."""
    flat = images.detach().cpu().flatten(1).numpy()
    return np.linalg.norm(flat - pca.inverse_transform(pca.transform(flat)), axis=1)


def pca_nearest(images):
    """Distance to the nearest training digit inside the PCA subspace."""
    return nearest_real_distance(pca.transform(images.detach().cpu().flatten(1).numpy()), train_features,
                                 scale=np.ones(pca.n_components_))


residual_real, nearest_real = pca_residual(x).mean(), pca_nearest(x).mean()
with torch.no_grad():
    robust_at_03 = (robust(attacks.pgd(robust, x, target_near, eps=0.3, alpha=0.01, steps=100, targeted=True, rng=0))
                    .argmax(1) == target_near).float().mean().item()
print(f"targeted PGD at eps 0.3 reaches the target on the robust model for {robust_at_03:.0%} of the digits")
recon_real = dif.reconstruction_error(denoiser, x, schedule).mean().item()


def measures(name, out, evaluations, seconds):
    guide = robust if "robust" in name else cnn
    other = cnn if guide is robust else robust
    with torch.no_grad():
        own = (guide(out).argmax(1) == target_near).float().mean().item()
        independent = (other(out).argmax(1) == target_near).float().mean().item()
    change = (out - x).flatten(1)
    return {"method": name, "valid (its model)": own, "valid (the other CNN)": independent,
            "valid (k-NN)": float(np.mean(knn_labels(out) == target_near.cpu().numpy())),
            "L1": change.abs().sum(1).mean().item(), "L2": change.norm(dim=1).mean().item(),
            "pixels changed": (change.abs() > 0.1).float().mean().item(),
            "off the PCA subspace": float(pca_residual(out).mean() / residual_real),
            "nearest training digit (PCA)": float(pca_nearest(out).mean() / nearest_real),
            "reconstruction error": dif.reconstruction_error(denoiser, out, schedule).mean().item() / recon_real,
            "evaluations per counterfactual": evaluations, "seconds": seconds}


table = pd.DataFrame([measures(*r) for r in results]).set_index("method")
print("realism columns relative to the real test digits' values (1.0 = as real as them)")
print(table.round(2).to_string())

fig, axes = plt.subplots(len(results) + 1, n_show, figsize=(1.5 * n_show, 1.7 * (len(results) + 1)))
for i in range(n_show):
    plotting.show_image(x[i, 0], ax=axes[0, i], title=f"{y[i].item()} -> {target_near[i].item()}")
    for row, (name, out, _, _) in enumerate(results, start=1):
        plotting.show_image(out[i, 0], ax=axes[row, i])
for row, (name, *_) in enumerate(results, start=1):
    axes[row, 0].set_title(name, fontsize=8, loc="left")
fig.tight_layout()
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
diffusion_row = table.loc["diffusion (guided by mnist_cnn_robust)"]
pixel_rows = table.loc[["Wachter (pixels, mnist_cnn)", "PGD on mnist_cnn"]]
print("diffusion counterfactuals are valid for the independent k-NN more often than the pixel-space ones:",
      bool((diffusion_row["valid (k-NN)"] > pixel_rows["valid (k-NN)"]).all()))
print("... closer to the PCA subspace of real digits than the PGD attack's:",
      bool(diffusion_row["off the PCA subspace"] < table.loc["PGD on mnist_cnn", "off the PCA subspace"]))
print("Wachter's counterfactual changes fewer than 5% of the pixels (it stays as real as the original):",
      bool(table.loc["Wachter (pixels, mnist_cnn)", "pixels changed"] < 0.05))
print("a diffusion counterfactual costs 2 model evaluations per DDIM step:",
      round(diffusion_row["evaluations per counterfactual"]) == 2 * dif.LESSON_STEPS)

# %% [markdown]
# What does each one teach? The Wachter counterfactual and the PGD attack on the standard
# CNN change the label with faint or scattered changes: valid for the model they were made
# on, hardly for anyone else. Wachter's stays "realistic" only because it hardly changes
# the digit at all (a few pixels: look at its L1 and "pixels changed"); PGD's scattered
# noise leaves the subspace of real digits. They say that `mnist_cnn`'s decision can be
# moved by changes that are not strokes; true, and a finding about the model, but not an
# answer to "what would make this a 9?". PGD on the robust model needs a larger budget,
# and its changes mix stroke-like edits (which transfer to the standard CNN more often)
# with noise everywhere else; the diffusion counterfactual redraws the digit as a
# plausible member of the target class, keeping much of its position, slant and
# thickness. Look at the change maps in section 2: which strokes does it close, open or
# extend?
#
# ## 4 · Where it fails (about 10 minutes)
#
# **Far targets.** The class the robust model ranks last for each digit: a 1 into a 0?

# %%
cf_far = dif.diffusion_counterfactual(denoiser, robust, x, target_far, rng=0)
with torch.no_grad():
    valid_far = (cnn(cf_far).argmax(1) == target_far).float().mean().item()
l1_far = (cf_far - x).abs().flatten(1).sum(1).mean().item()
l1_near = diffusion_row["L1"]
fig = plotting.image_grid(list(x[:n_show, 0]) + list(cf_far[:n_show, 0]),
                          titles=[f"{v}" for v in y[:n_show].tolist()] + [f"-> {v}" for v in target_far[:n_show].tolist()],
                          ncols=n_show)
plt.show()
print(f"far targets: valid for mnist_cnn {valid_far:.0%} (near targets: {diffusion_row['valid (the other CNN)']:.0%}), "
      f"mean L1 {l1_far:.0f} (near: {l1_near:.0f})")

# %%
# NBVAL_CHECK_OUTPUT
print("far targets need larger changes than near ones:", l1_far > l1_near)
print("... and fail more often:", valid_far < diffusion_row["valid (the other CNN)"])

# %% [markdown]
# **Guidance by a non-robust classifier.** The same diffusion, guided by the standard
# `mnist_cnn`, whose input gradient is noisy (lesson 04). At the lesson's settings the
# denoiser has room to turn that noise into strokes; with less noise to work in
# ($t^* = 300$) and a harder push ($s = 1$) it has less, so we compare the two guides there
# too.

# %%
def judged(out):
    with torch.no_grad():
        return {"valid (mnist_cnn)": (cnn(out).argmax(1) == target_near).float().mean().item(),
                "valid (robust)": (robust(out).argmax(1) == target_near).float().mean().item(),
                "valid (k-NN)": float(np.mean(knn_labels(out) == target_near.cpu().numpy())),
                "reconstruction error": dif.reconstruction_error(denoiser, out, schedule).mean().item() / recon_real}


guides = {}
for guide_name, guide in (("standard", cnn), ("robust", robust)):
    for t_star, scale in ((dif.LESSON_T_START, dif.LESSON_GUIDANCE_SCALE), (300, 1.0)):
        out = dif.diffusion_counterfactual(denoiser, guide, x, target_near, t_start=t_star, guidance_scale=scale, rng=0)
        guides[guide_name, t_star, scale] = out
guide_table = pd.DataFrame({key: judged(out) for key, out in guides.items()}).T
guide_table.index.names = ["guide", "t*", "scale"]
print(guide_table.round(2).to_string())
fig = plotting.image_grid(list(guides["robust", 300, 1.0][:n_show, 0]) + list(guides["standard", 300, 1.0][:n_show, 0]),
                          titles=["robust guide"] * n_show + ["standard guide"] * n_show, ncols=n_show)
plt.show()
ratio_standard = guide_table.loc[("standard", 300, 1.0), "reconstruction error"] / guide_table.loc[
    ("robust", 300, 1.0), "reconstruction error"]
print(f"at t* 300, s 1: the standard guide's counterfactuals have {ratio_standard:.1f} times the robust guide's "
      "reconstruction error")

# %%
# NBVAL_CHECK_OUTPUT
print("with little noise and a hard push, the standard guide's edits are less natural to the denoiser:",
      ratio_standard > 1.2)

# %% [markdown]
# In this course's runs the standard guide's counterfactuals were also valid for the
# robust model and the k-NN (the table): the denoiser, and the rescaling of the gradient
# to a fixed step, keep much of its noise out. What it leaves shows as realism: with
# less room ($t^* = 300$) its edits are rougher, and the denoiser, asked to restore them,
# moves them more. Without the diffusion model the same gradient is the adversarial noise
# of section 3.
#
# %% [markdown]
# **The cost.** Counted in section 3: each diffusion counterfactual took `LESSON_STEPS`
# (20) denoiser evaluations and as many classifier forward-and-backward passes; Wachter's
# took up to `steps` per round for up to 6 rounds (those not yet valid go on), PGD's 100.
# Fewer evaluations, though a denoiser evaluation is heavier than a classifier one (a U-Net
# at full resolution against a small CNN); the seconds, on this machine:

# %%
cost = table[["evaluations per counterfactual", "seconds"]].assign(
    **{"ms per counterfactual": lambda d: 1000 * d["seconds"] / n_digits})
print(cost.round(1).to_string())
print("(the benchmark benchmarks/bench_diffusion.py measures the same, best of three rounds, on 64 digits)")

# %% [markdown]
# ### Think
#
# 1. Why does a counterfactual that is valid only for the model it was made on tell the
#    model's owner something, and the person asking "what would make this a 9" nothing?
# 2. The denoiser's reconstruction error rates the diffusion counterfactuals as most
#    realistic. Why is that measure unfair to the other methods, and what does the PCA
#    distance avoid?
# 3. With $t^* = 999$ the counterfactual is a fresh sample of the target class. Is it
#    still an explanation of the original digit?
# 4. The robust model guides better than the standard one. What would you need to
#    explain the standard model's decisions with diffusion counterfactuals?
#
# <!-- BEGIN SOLUTION -->
# **Answers.** (1) It shows that the decision can be moved by changes no person would
# make: a robustness finding. It does not show a change that would make the digit a 9 to
# anyone else, which is what a counterfactual explanation promises. (2) The diffusion
# counterfactuals are outputs of the denoiser, so it reproduces them almost exactly; any
# image off its manifold is pulled back and scores worse, whether or not it looks like a
# digit. The PCA of training digits is a feature space none of the methods used. (3)
# Hardly: nothing of the original survives (only the L1 term links them), so it answers
# "what does a 9 look like", not "what would change this digit". (4) Guidance that the
# denoiser can keep on the manifold: smoothed or noise-aware gradients (DiME uses the
# classifier on the denoised estimate, as here), a robust surrogate of the model, or
# Augustin et al.'s cone projection of the model's gradient onto a robust model's.
# <!-- END SOLUTION -->

# %% [markdown]
# ## Closing note: the comparison and the cost
#
# The table of section 3 (this run's digits; fast mode uses fewer), and the model's card:

# %%
print(table[["valid (its model)", "valid (the other CNN)", "valid (k-NN)", "L1", "L2", "off the PCA subspace",
             "nearest training digit (PCA)", "reconstruction error", "evaluations per counterfactual"]].round(2).to_string())
print(f"mnist_ddpm: {card['n_parameters']:,} weights, {card['training_steps']} training steps "
      f"({card['epochs_equivalent']} epochs), {card['train_minutes']} minutes on {card['train_hardware']}; "
      f"{card['sample_quality']['share_confident']:.0%} of its samples labelled with confidence > 0.9 by mnist_cnn")

# %% [markdown]
# ## Summary
#
# - The forward process noises a digit in closed form,
#   $x_t = \sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\epsilon$; a network trained to predict
#   $\epsilon$ gives an estimate of the clean image at every step.
# - DDPM steps back one step at a time with fresh noise; DDIM ($\eta = 0$) is deterministic and
#   jumps, and with the true noise it recovers $x_0$ exactly.
# - Guided diffusion counterfactuals noise a digit to $t^*$ and denoise it while a classifier
#   pulls the clean estimate towards the target: $t^*$ and the guidance scale trade
#   resemblance for validity.
# - Compared on the same digits and targets, they are valid for classifiers that did not
#   guide them, where pixel-space counterfactuals and attacks on the standard CNN are valid
#   only for it; they stay nearer the subspace of real digits than PGD's noise, at the cost
#   of a denoiser and a classifier evaluation per DDIM step.
# - They fail more often, with larger changes, on far targets; a non-robust guide's edits
#   are rougher where the denoiser has little room (small $t^*$, hard push).
#
# ## Further reading
#
# - J. Ho, A. Jain, P. Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
# - J. Song, C. Meng, S. Ermon, "Denoising Diffusion Implicit Models", ICLR 2021.
# - P. Dhariwal, A. Nichol, "Diffusion Models Beat GANs on Image Synthesis", NeurIPS 2021
#   (classifier guidance).
# - G. Jeanneret, L. Simon, F. Jurie, "Diffusion Models for Counterfactual Explanations",
#   ACCV 2022 (DiME).
# - M. Augustin, V. Boreiko, F. Croce, M. Hein, "Diffusion Visual Counterfactual
#   Explanations", NeurIPS 2022.
# - S. Wachter, B. Mittelstadt, C. Russell, "Counterfactual Explanations without Opening the
#   Black Box", Harvard Journal of Law & Technology 31, 2018.
