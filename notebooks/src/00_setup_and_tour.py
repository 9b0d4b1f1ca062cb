# %% [markdown]
# # 00 · Setup and tour
#
# Welcome to the hands-on course on **explainable AI (XAI) and adversarial robustness**.
# Each lesson is a notebook like this one: you read a little, run code, write short
# exercises that check themselves, and reproduce an experiment from a paper at small scale.
#
# **Learning objectives.** After this notebook you can
# 1. check that your environment has everything the course needs, and see which device it uses;
# 2. fetch the course's data (verified by checksum, from a mirror when you are offline);
# 3. load the course's own trained model and get predictions from it;
# 4. do an exercise and read the checker's answer;
# 5. use a widget to change a parameter and watch the result.
#
# **Time:** about 15 minutes (the code runs in well under a minute on a laptop CPU).

# %% [markdown]
# ## 0 · Setup (about 1 minute)
#
# Every notebook starts with the same cell. On Colab it installs the course from its
# repository first; everywhere it then calls `setup_notebook`, which sets the plot style,
# seeds every random generator, picks the device and prints one line about them.
#
# *Fast mode.* When the variable `COURSE_FAST=1` is set (the course's tests set it), the
# notebooks use fewer samples and epochs so that they run in about a minute on two CPU
# cores. Leave it unset when you learn: full mode is the real lesson.

# %%
#@course_setup

from course_utils import setup_notebook

ctx = setup_notebook(seed=0)

# %% [markdown]
# ## 1 · Your environment (about 3 minutes)
#
# The course stands on a few well-kept libraries: **PyTorch** for models, **captum** for
# gradient-based explanations, **lime** and **shap** for model-agnostic ones,
# **scikit-learn** for classic models, and **ipywidgets** for the interactive parts.

# %%
from importlib.metadata import version

import pandas as pd

packages = ["torch", "torchvision", "captum", "lime", "shap", "scikit-learn", "scikit-image", "numpy",
            "pandas", "matplotlib", "ipywidgets", "tqdm"]  # names as pip installs them
versions = {name: version(name) for name in packages}  # lime has no __version__: ask the installed package
pd.Series(versions, name="version").to_frame()

# %% [markdown]
# ### Which device?
#
# `course_utils.get_device()` picks a CUDA GPU if there is one, then Apple's MPS, then
# the CPU. You can force a choice with the environment variable `COURSE_DEVICE`
# (`auto`, `cpu`, `cuda` or `mps`); asking for a device that is not there is an error that
# lists what is available.
#
# **On Colab:** *Runtime → Change runtime type → Hardware accelerator: GPU*, then run the
# notebook again. Every lesson runs on a CPU too; a GPU makes full mode faster.

# %%
import torch

from course_utils import get_device

print("device chosen:", get_device())
print("CUDA available:", torch.cuda.is_available())
try:
    get_device("cuda") if not torch.cuda.is_available() else None
except RuntimeError as err:
    print("asking for CUDA here says:", err)

# %% [markdown]
# ## 2 · Data (about 3 minutes)
#
# The course never downloads anything without checking it. `course_utils.data.REGISTRY`
# lists every file with its canonical URL, its size and its SHA-256; `fetch(name)` looks in
# the cache, then in a mirror (`COURSE_DATA_MIRROR`, for machines without internet), then
# at the canonical URL, and verifies the checksum every time.

# %%
from course_utils import data

registry = pd.DataFrame([(e.path, round(e.size / 1e6, 3), e.license) for e in data.REGISTRY.values()],
                        columns=["file", "MB", "license"])
registry

# %% [markdown]
# Let us fetch every data file (the ImageNet weights aside: they are large and only used
# by the optional photo sections) and check that each arrived intact.

# %%
# NBVAL_CHECK_OUTPUT
from course_utils.data import DataUnavailableError, fetch

names = [name for name in data.REGISTRY if not name.startswith("torch_hub/")]
status = {}
for name in names:
    try:
        fetch(name)
        status[name] = "ok"
    except DataUnavailableError as err:
        status[name] = "missing"
        print(err)
print(f"{list(status.values()).count('ok')} of {len(names)} data files fetched and verified")

# %% [markdown]
# The **ImageNet ResNet-18** weights are used by the photo sections of some lessons (the
# "online extra"). They are fetched the same way; where there is no internet and no mirror
# holds them, the lessons say so and carry on with the course's own models.

# %%
from course_utils import load_pretrained

try:
    resnet = load_pretrained("resnet18_imagenet")
    print("ResNet-18 ImageNet weights are available: the photo extras will run.")
except DataUnavailableError as err:
    print("ResNet-18 ImageNet weights are not available here; the photo extras will be skipped.")
    print(str(err).splitlines()[-1])

# %% [markdown]
# The loaders turn files into ready-to-use objects. MNIST comes as torch tensors with
# pixel values in [0, 1]; tables come as a `TabularData` (a pandas frame with its target).

# %%
# NBVAL_CHECK_OUTPUT
X_test, y_test = data.mnist_tensors("test")
adult = data.adult()
print("MNIST test images:", tuple(X_test.shape), "values in", (X_test.min().item(), X_test.max().item()))
print("Adult training rows and columns:", adult.frame.shape, "target:", adult.target)

# %%
from course_utils.plotting import image_grid

fig, axes = image_grid(X_test[:10], titles=[f"label {int(v)}" for v in y_test[:10]], ncols=10, size=1.1)

# %% [markdown]
# ## 3 · The course's models (about 3 minutes)
#
# ImageNet models cannot be downloaded everywhere, so the course trains its own small
# models with its own script (`python -m course_utils.train mnist_cnn`) and ships the
# checkpoint (1.7 MB) with a card that records its SHA-256 and test accuracy. Two
# conventions hold for every image model of the course:
#
# - inputs are pixels in [0, 1]; the normalisation is the model's *first layer*, so attacks
#   and explanations live in pixel space;
# - every ReLU is a separate, non-in-place module (DeepLIFT and hooks need that; lesson 04
#   shows what goes wrong otherwise).

# %%
model = load_pretrained("mnist_cnn", device=ctx.device)
model

# %% [markdown]
# Explainers such as LIME and SHAP call the model on thousands of perturbed inputs, with
# numpy arrays. `batched_predict` does that efficiently: batches, no autograd, numpy in
# and out; it accepts images as NCHW or NHWC, float or uint8.

# %%
# NBVAL_CHECK_OUTPUT
from course_utils import batched_predict

probabilities = batched_predict(model, X_test, batch_size=1000)
accuracy = (probabilities.argmax(axis=1) == y_test.numpy()).mean()
print(f"test accuracy of mnist_cnn: {accuracy:.3f} (at least 0.985: {accuracy >= 0.985})")

# %% [markdown]
# ## 4 · How exercises work (about 3 minutes)
#
# An exercise is a function for you to write. Below it, `check("0.1", softmax)` runs your
# function and the reference solution on a few fixed cases:
#
# - if yours is right, it says so and **your** function is used in the rest of the notebook;
# - if you have not written it yet (it still raises `NotImplementedError`), it says so and
#   returns the **reference solution**, so every later cell still runs;
# - if it is wrong, it shows the first case that fails and a hint.
#
# **Exercise 0.1 — softmax.** The model returns *logits* $z$; the class probabilities are
# $p_i = e^{z_i} / \sum_j e^{z_j}$. Write `softmax(z)` for an array whose last axis holds
# the logits. Subtract the maximum first: $e^{1000}$ overflows, and the result is the same.

# %%
import numpy as np

from course_utils import check


def softmax(z):
    z = np.asarray(z, dtype=float)
    # BEGIN SOLUTION Exercise 0.1: softmax over the last axis
    exp = np.exp(z - z.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)
    # END SOLUTION


softmax = check("0.1", softmax)

# %% [markdown]
# Your softmax (or the reference) applied to the model's logits gives the same
# probabilities as `batched_predict`:

# %%
# NBVAL_CHECK_OUTPUT
logits = batched_predict(model, X_test[:100], probs=False)
print("same as batched_predict:", np.allclose(softmax(logits), probabilities[:100], atol=1e-6))

# %% [markdown]
# ## 5 · Widgets (about 2 minutes)
#
# Where a parameter matters, the lessons give it a slider. Move this one to look at other
# test digits and at what the model believes. (Run without a live kernel, for example in
# the course's tests, a widget runs once with its default value.)

# %%
import ipywidgets as widgets
import matplotlib.pyplot as plt

from course_utils.plotting import show_image


def show_prediction(index=0):
    fig, (ax_image, ax_probs) = plt.subplots(1, 2, figsize=(6, 2.4), width_ratios=[1, 2])
    show_image(X_test[index], ax=ax_image, title=f"label {int(y_test[index])}")
    ax_probs.bar(range(10), probabilities[index])
    ax_probs.set_xticks(range(10))
    ax_probs.set_ylim(0, 1)
    ax_probs.set(xlabel="class", ylabel="probability")
    ax_probs.set_title("predicted probabilities")
    plt.show()


widgets.interact(show_prediction, index=widgets.IntSlider(value=0, min=0, max=len(X_test) - 1, description="digit"));

# %% [markdown]
# The model is rarely wrong, so the mistakes are worth finding on purpose: here are the
# first ten test digits it gets wrong, with the true label, the model's class and its
# probability. (Type one of the printed indices into the slider's box to see all ten bars.)

# %%
predicted = probabilities.argmax(axis=1)
wrong = np.flatnonzero(predicted != y_test.numpy())
print(f"the model gets {len(wrong)} of the {len(X_test)} test digits wrong; the first ten: {wrong[:10].tolist()}")
fig, axes = image_grid(X_test[wrong[:10]], ncols=5, size=1.6,
                       titles=[f"{int(y_test[i])} → {predicted[i]} (p {probabilities[i, predicted[i]]:.2f})"
                               for i in wrong[:10]])
fig.suptitle("misclassified test digits: true label → model's class (its probability)", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Think
#
# 1. Look at the test digits the model gets wrong (the first ten are drawn above). Would
#    *you* have got them right?
# 2. Later lessons explain the model's **logits**, not its softmax probabilities. Why might
#    the gradient of a probability that is already 0.999 say little about the input?
#
# <!-- BEGIN SOLUTION -->
# **Answers.** (1) Some of them are ambiguous to a person too (the 9 drawn like a 4, the
# 2 that could be a 7); others, such as the clear 5 read as a 3, a person gets right at
# once. The model's mistakes are not all the ones we would make. (2) The softmax
# saturates: near 0 or 1 its derivative $p(1-p)$ is tiny, so the gradient of the
# probability vanishes even though the input clearly matters. Logits do not saturate;
# lesson 04 (gradient saturation) and lesson 08 (softmax vs pre-softmax gradients) come
# back to this.
# <!-- END SOLUTION -->

# %% [markdown]
# ## Summary
#
# - `setup_notebook()` at the top of each lesson: style, seeds, device, fast mode.
# - Data come through `course_utils.data`, checksum-verified, from a cache, a mirror or the web.
# - The course's image models take pixels in [0, 1] and use separate, non-in-place ReLUs.
# - `batched_predict` gives numpy predictions for model-agnostic explainers.
# - Exercises check themselves; a blank one falls back to the reference solution.
#
# **Next:** lesson 01, interpretable models and the map of XAI methods.
#
# ## Further reading
#
# - C. Molnar, *Interpretable Machine Learning* (2022), chapters 1–3: why and what to explain.
# - A. Barredo Arrieta et al., "Explainable Artificial Intelligence (XAI): Concepts,
#   taxonomies, opportunities and challenges toward responsible AI", *Information Fusion* 58 (2020).
# - Y. LeCun, C. Cortes, C. Burges, *The MNIST database of handwritten digits*.
