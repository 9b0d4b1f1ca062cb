"""Bad input, tried as a careless learner would (issue 21): every public function says what is wrong.

The sweep discovers every function in ``__all__`` of every ``course_utils`` module and
``course_utils.xai`` submodule (so functions added later are covered), builds one valid call
for it (from the parameter names, :data:`NAMED`, or from :data:`SPECS` where the names are not
enough), checks that the valid call works, then replaces ONE argument at a time by a defect
generated from the valid value's kind:

- ints: ``-1``, ``0`` for a budget, ``2.5``, ``"3"``; reals: NaN, inf, a string, ``-1`` for a
  positive scale; option strings: an unknown option; ``rng``: ``"abc"``;
- NumPy arrays: one NaN, an extra dimension, no rows, a string, one value too few (when the
  function takes another array it must match); torch tensors: the same, and a NumPy array in
  place of the tensor; label tensors: floats, out-of-range labels, one label too few;
- callables (``predict_fn``, ...): not callable, returning NaN, returning the wrong shape;
  models: not a module.

A bad call passes when it raises a ValueError or TypeError whose message names the parameter
(``ALIASES`` lists other acceptable names); it fails when it raises anything else or a message
that does not name it (unclear), returns (silent), or runs past ``TIMEOUT_S`` (hang). Two
valid variants are checked too: a float64 tensor into a torch function works (cast to the
model's dtype), and a model in train mode (dropout) gives the same result twice and is left in
train mode. ``python tests/test_bad_inputs.py`` prints the counts per outcome.
"""
from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import signal
import sys
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
import torchvision  # noqa: F401 - imported once here, so that data.mnist's first call is not timed
from torch import nn

import course_utils
import course_utils.papers
import course_utils.xai

TIMEOUT_S = 10

MODULES = [importlib.import_module(f"{pkg.__name__}.{m.name}")
           for pkg in (course_utils, course_utils.xai) for m in pkgutil.iter_modules(pkg.__path__)
           if not m.name.startswith("_") and m.name != "xai"]


def _public_functions():
    for module in MODULES:
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                yield f"{module.__name__.removeprefix('course_utils.')}.{name}", obj


PUBLIC = dict(_public_functions())

# Functions the sweep does not call, each with its reason.
SKIPPED = {
    # repository tools and side effects
    "paths.repo_root": "takes no argument",
    "data.cache_dir": "takes no argument",
    "plotting.use_course_style": "takes no argument",
    "runtime.one_blas_thread": "takes no argument",
    "runtime.fast_mode": "takes no argument",
    "runtime.is_colab": "takes no argument",
    "runtime.pick": "any two values are valid",
    "runtime.setup_notebook": "sets up a notebook session (style, global seed): tested in test_runtime",
    "exercises.all_exercises": "takes no argument",
    "exercises.register": "registers exercises into the course's global table",
    "xai.quantus_compare.quantus_comparison": "needs the optional quantus package, which CI does not install; "
                                              "its argument checks run first and are tested in test_quantus_compare",
    "train.save_checkpoint": "writes into the repository's checkpoints folder",
    "train.train_mnist_cnn": "trains for minutes on MNIST (its arguments are checked before: see test_training_arguments)",
    "train.train_mnist_pairs_cnn": "trains for minutes on MNIST (see test_training_arguments)",
    "train.train_mnist_cnn_robust": "trains for minutes on MNIST (see test_training_arguments)",
    "models.mnist_cnn": "takes no argument",
    "simulation.prize_model": "takes no argument",
    "models.mnist_pairs_cnn": "takes no argument",
    "models.mnist_cnn_robust": "takes no argument",
    "data.pima": "takes no argument",
    "data.law_school": "takes no argument",
    "data.german_credit": "takes no argument",
    "data.compas": "takes no argument",
    "data.sentiment": "takes no argument",
    "data.imagenet_labels": "takes no argument",
    "data.mirror_folder": "takes no argument",
    "data.check_data_available": "takes no argument",
    "models.mnist_cnn_gradreg": "takes no argument",
    "models.mnist_cnn_backdoor": "takes no argument",
    "models.mnist_cnn_gradcam_fooled": "takes no argument",
    "train.train_mnist_cnn_backdoor": "trains for minutes on MNIST (see test_training_arguments)",
    "train.train_mnist_cnn_gradcam_fooled": "trains for minutes on MNIST (see test_training_arguments)",
    "xai.manipulation.lime_library_weights": "takes a lime library Explanation object (tested in test_manipulation)",
    "train.train_mnist_cnn_gradreg": "trains for minutes on MNIST (see test_training_arguments)",
    "train.train_mnist_ddpm": "trains for minutes on MNIST (see test_training_arguments)",
    "models.mnist_ddpm": "takes no argument",
    "xai.methods.course_methods": "builds the explain functions only (every argument is a budget passed on to a "
                                  "method the sweep calls directly)",
    **{f"site.{name}": "the site builder, a repository tool (tests/test_site.py)" for name in (
        "build", "execute_lessons", "execution_key", "fold_answers", "further_reading", "lessons",
        "library_fingerprint", "main", "page_notebook", "readme_pages", "reference_key", "references_markdown",
        "solution_blocks", "static_widget_outputs", "write_book")},
    # the checks themselves: their first argument is the name printed in messages
    "validation.check_positive_int": "a check: its messages name its `name` argument (tested in test_validation)",
    "validation.check_nonnegative_int": "a check (tested in test_validation)",
    "validation.check_real": "a check (tested in test_validation)",
    "validation.check_in": "a check (tested in test_validation)",
    "validation.check_array": "a check (tested in test_validation)",
    "validation.check_callable": "a check (tested in test_validation)",
    "validation.check_tensor": "a check (tested in test_validation)",
    "validation.check_same_length": "a check (tested in test_validation)",
}


# ------------------------------------------------------------------ tiny valid inputs


def image_model() -> nn.Sequential:
    """A tiny CNN on 1x6x6 images with 3 classes, with dropout (for the train-mode check)."""
    generator = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Dropout(0.5), nn.Linear(144, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    return model.eval()


def tabular_model(probability: bool = True) -> nn.Sequential:
    generator = torch.Generator().manual_seed(0)
    layers = [nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 1)] + ([nn.Sigmoid()] if probability else [])
    layers.append(nn.Flatten(0))
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator))
    return model.eval()


def classifier_4() -> nn.Sequential:
    """4 features -> 3 logits."""
    generator = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator))
    return model.eval()


def images(n: int = 4) -> torch.Tensor:
    return torch.rand(n, 1, 6, 6, generator=torch.Generator().manual_seed(1))


def labels(n: int = 4) -> torch.Tensor:
    return torch.tensor([0, 1, 2, 1, 0, 2][:n])


def table(n: int = 40) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 4))


W4 = np.array([1.0, -1.0, 0.5, 0.0])


def proba_fn(Z):
    """One probability per row."""
    return 1 / (1 + np.exp(-np.asarray(Z, dtype=float) @ W4))


def label_fn(Z):
    """One label per row."""
    return (np.asarray(Z, dtype=float) @ W4 > 0).astype(int)


def proba_2_fn(Z):
    """(N, 2) class probabilities."""
    p = proba_fn(Z)
    return np.column_stack([1 - p, p])


def _sparse_proba_2_fn(Z):
    """(N, 2) class probabilities of rows given as a scipy.sparse matrix (bag-of-words rows)."""
    return proba_2_fn(Z.toarray() if hasattr(Z, "toarray") else Z)


def heatmap() -> np.ndarray:
    heat = np.zeros((8, 8))
    heat[2:5, 3:6] = 1.0
    return heat


def slides_game(coalition) -> float:
    return float(len(coalition) ** 2)


def _toy_table():
    import pandas as pd

    frame = pd.DataFrame({"age": np.arange(20.0), "group": ["a", "b"] * 10, "y": [0, 1] * 10})
    return course_utils.data.TabularData(frame, "y", ("group",), "a toy table")


class Spec:
    """One valid call: ``args`` and ``kwargs`` are built afresh by ``make()`` for every call."""

    def __init__(self, make, *, skip=(), valid=(), random=False, mutates_model=False, no_train_mode=False):
        self.make = make          # () -> (args tuple, kwargs dict) as {name: value}
        self.skip = set(skip)     # parameters not mutated (free text, names, titles, ...)
        self.valid = set(valid)   # (parameter, defect) pairs that are valid calls, not defects
        self.random = random
        self.mutates_model = mutates_model or no_train_mode


def spec(**kwargs_spec):
    """Decorator sugar: ``SPECS[name] = spec(skip=..)(lambda: dict(...))``."""
    def wrap(make):
        return Spec(make, **kwargs_spec)
    return wrap


def _w():
    return np.random.default_rng(0).uniform(0.1, 1, 30)


def _Z():
    return (np.random.default_rng(1).random((30, 4)) > 0.5).astype(float)


def _y30():
    return np.random.default_rng(2).normal(size=30)


M = image_model
SPECS: dict[str, Spec] = {
    # ---------------------------------------------------------------- package modules
    "canvases.ink_boxes": Spec(lambda: dict(digits=np.pad(np.ones((2, 3, 3)), ((0, 0), (1, 1), (1, 1))))),
    "canvases.make_canvases": Spec(lambda: dict(X=_digits(), y=np.array([0, 1, 2, 3, 4, 5]), n=3,
                                                 rng=np.random.default_rng(0), size=64)),
    "canvases.mnist_canvases": Spec(lambda: dict(split="test", n=3, rng=0, size=64)),
    "canvases.exact_match_accuracy": Spec(lambda: dict(model=_pairs_model(), canvases=_canvases())),
    "data.fetch": Spec(lambda: dict(name="mnist/t10k-labels-idx1-ubyte.gz")),
    "data.mnist": Spec(lambda: dict(split="test")),
    "data.mnist_tensors": Spec(lambda: dict(split="test", n=3)),
    "data.adult": Spec(lambda: dict(split="test")),
    "data.photo": Spec(lambda: dict(name="cat_dog")),
    "simulation.sickness_model": Spec(lambda: dict(through="cough")),
    "xai.lime.sample_distances": Spec(lambda: dict(Z=np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]), metric="cosine")),
    "papers.cite": Spec(lambda: dict(table=course_utils.papers.LIME_RECALL)),
    "exercises.check": Spec(lambda: dict(exercise_id="2.1", answer=lambda d, w: np.exp(-np.asarray(d) ** 2 / w ** 2))),
    "exercises.get_exercise": Spec(lambda: dict(exercise_id="2.1")),
    "exercises.solution_notebook": Spec(lambda: dict(exercise_id="2.1")),
    "models.tabular_mlp": Spec(lambda: dict(X_train=table(), hidden=(3,), rng=0),
                               # a table with one feature fewer is another valid table; (103,) a wider layer
                               valid={("X_train", "one column too few"), ("hidden", "out-of-range values")}),
    "models.load_pretrained": Spec(lambda: dict(name="mnist_cnn")),
    "models.checkpoint_path": Spec(lambda: dict(name="mnist_cnn")),
    "models.gradcam_layer": Spec(lambda: dict(model=_course_cnn())),
    # an image of shape (1, C, H, W), a batch of one, is shown as that image (by design)
    "plotting.to_image_array": Spec(lambda: dict(image=images()[0]), skip={"name"}, valid={("image", "extra dimension")}),
    "plotting.show_image": Spec(lambda: dict(image=images()[0], ax=None), skip={"title", "cmap"},
                                valid={("image", "extra dimension")}),
    "plotting.show_attribution": Spec(lambda: dict(attr=images()[0] - 0.5, image=images()[0]), skip={"title"},
                                      valid={("image", "extra dimension"), ("attr", "extra dimension")}),
    "plotting.show_heatmap": Spec(lambda: dict(heat=images()[0], image=images()[0]), skip={"title"},
                                  valid={("image", "extra dimension"), ("heat", "extra dimension")}),
    "plotting.image_grid": Spec(lambda: dict(images=list(images()), titles=["a", "b", "c", "d"]), skip={"cmap"}),
    "plotting.bar_weights": Spec(lambda: dict(weights=W4, names=["a", "b", "c", "d"]), skip={"title"}),
    "plotting.draw_box": Spec(lambda: dict(ax=_image_axes(), box=(0, 0, 2, 2)), skip={"color", "label"}),
    "plotting.gradcam_pipeline": Spec(lambda: dict(image=images()[0], activations=torch.rand(3, 2, 2), gradients=torch.randn(3, 2, 2), n_maps=2)),
    "predict.batched_predict": Spec(lambda: dict(model=M(), X=images().numpy(), batch_size=2)),
    "predict.as_predict_fn": Spec(lambda: dict(model=M(), class_index=1)),
    "runtime.get_device": Spec(lambda: dict(prefer="cpu")),
    "runtime.as_generator": Spec(lambda: dict(rng=0), skip={"name"}),
    "runtime.as_torch_generator": Spec(lambda: dict(rng=0, device="cpu"), skip={"name"}),
    "runtime.seed_everything": Spec(lambda: dict(seed=0), mutates_model=True),
    "simulation.additive_task": Spec(lambda: dict(n=3, n_background=10, rng=0)),
    "simulation.simulate_motif_sequences": Spec(lambda: dict(n=4, length=105, rng=0)),
    "train.fit_tabular": Spec(lambda: dict(model=tabular_model(), X=table(), y=(table()[:, 0] > 0).astype(float),
                                           loss_fn=nn.BCELoss(), epochs=1, batch_size=8, rng=0), no_train_mode=True),
    "train.fit_classifier": Spec(lambda: dict(model=M(), X=images(), y=labels(), epochs=1, batch_size=2, rng=0,
                                              init_seed=0, progress=False), no_train_mode=True),
    "train.evaluate_accuracy": Spec(lambda: dict(model=M(), X=images(), y=labels(), batch_size=2)),
    # ---------------------------------------------------------------- anchors
    "xai.anchors.anchor_tabular": Spec(lambda: dict(predict_fn=label_fn, x=table()[0], X_train=table(), rng=0,
                                                    batch_size=20),
                                       skip={"feature_names"}),
    "xai.anchors.anchor_text": Spec(lambda: dict(predict_fn=lambda texts: np.array(["good" in t for t in texts], dtype=int),
                                                 text="a good film", rng=0, batch_size=20), skip={"text", "replacements"}),
    "xai.anchors.quartile_edges": Spec(lambda: dict(column=table()[:, 0])),
    "xai.anchors.candidate_predicates": Spec(lambda: dict(x=table()[0], X_train=table())),
    "xai.anchors.rule_holds": Spec(lambda: dict(X=table(), rule=[(0, ">", 0.0)])),
    "xai.anchors.describe_rule": Spec(lambda: dict(rule=[(0, ">", 0.5), (1, "==", 2.0)], feature_names=["age", "colour"],
                                                   categorical_names={1: ["red", "green", "blue"]})),
    "xai.anchors.rule_from_text": Spec(lambda: dict(texts=["age > 0.50"], predicates=[(0, ">", 0.5), (0, "<=", 0.5)],
                                                    feature_names=["age", "colour"]), skip={"texts"}),
    "xai.anchors.conditional_sample": Spec(lambda: dict(x=table()[0], X_train=table(), rule=[(0, ">", -5.0)],
                                                        n_samples=5, rng=0),
            valid={("n_samples", "zero")}),  # an empty batch: check_nonnegative_int by design
    "xai.anchors.perturb_text": Spec(lambda: dict(tokens=["a", "good", "film"], keep=[1], n_samples=4, rng=0),
                                     skip={"replacements"},
            # an empty batch (check_nonnegative_int by design); keep=[]: the empty anchor keeps no word
            valid={("n_samples", "zero"), ("keep", "empty")}),
    "xai.anchors.precision_and_coverage": Spec(lambda: dict(predict_fn=label_fn, Z=table(), label=1, X_pool=table(),
                                                            rule=[(0, ">", 0.0)]),
            valid={("label", "negative int")}),  # -1 is a class label (the +-1 convention)
    "xai.anchors.kl_bernoulli": Spec(lambda: dict(p=0.3, q=0.5)),
    "xai.anchors.kl_upper_bound": Spec(lambda: dict(p_hat=0.3, n=10, beta=1.0), valid={("n", "float for an int")}),
    "xai.anchors.kl_lower_bound": Spec(lambda: dict(p_hat=0.3, n=10, beta=1.0), valid={("n", "float for an int")}),
    "xai.anchors.kl_lucb_beta": Spec(lambda: dict(n_arms=5, t=7, delta=0.1)),
    "xai.anchors.kl_lucb": Spec(lambda: dict(draw=_draw, n=np.full(5, 10.0), positives=np.array([2.0, 9, 5, 7, 4]),
                                             top_n=2, epsilon=0.05, delta=0.05, batch_size=20)),
    "xai.anchors.extend_beam": Spec(lambda: dict(beam=[()], slots=[0, 0, 1, 1], holds=np.eye(4, dtype=bool)[[0, 1, 2, 3, 0]],
                                                 min_coverage=0.0),
            valid={("slots", "out-of-range values")}),  # slots are group ids: any ints group alike
    "xai.anchors.lime_rule_scores": Spec(lambda: dict(intercept=0.4, weights={0: 0.3, 2: -0.2}, x_codes=np.array([1, 0, 2]),
                                                      Z_codes=np.array([[1, 0, 2], [1, 1, 0], [0, 0, 2], [0, 1, 1]])),
            valid={("x_codes", "out-of-range values"), ("Z_codes", "out-of-range values")}),  # codes are compared for equality: any ints
    "xai.anchors.simulated_user": Spec(lambda: dict(covered=np.array([True, False, True, True]),
                                                    user_predictions=np.array([1, 0, 0, 1]),
                                                    model_predictions=np.array([1, 1, 1, 0])),
            valid={("model_predictions", "out-of-range values"), ("user_predictions", "out-of-range values")}),  # class labels of any value
    "xai.anchors.lime_threshold_coverage": Spec(lambda: dict(scores=[np.array([0.9, 0.55, 0.45, 0.1])],
                                                             model_predictions=np.array([1, 1, 0, 0]),
                                                             target_precision=0.75),
            valid={("model_predictions", "out-of-range values")}),  # class labels of any value
    # ---------------------------------------------------------------- attacks
    "xai.attacks.fgsm": Spec(lambda: dict(model=M(), x=images(), y=labels(), eps=0.1)),
    "xai.attacks.pgd": Spec(lambda: dict(model=M(), x=images(), y=labels(), eps=0.1, alpha=0.05, steps=2, rng=0),
                            valid={("steps", "zero")}),  # documented: 0 steps returns the start point
    "xai.attacks.cw_l2": Spec(lambda: dict(model=M(), x=images(), y=labels(), steps=2)),
    "xai.attacks.fgsm_step": Spec(lambda: dict(x=images(), grad=images() - 0.5, step=0.1)),
    "xai.attacks.project_linf": Spec(lambda: dict(x_adv=images(), x=images().flip(0), eps=0.1)),
    "xai.attacks.pgd_step": Spec(lambda: dict(model=M(), x=images().flip(0), y=labels(), x_adv=images(), eps=0.1,
                                              alpha=0.05)),
    "xai.attacks.linear_min_linf": Spec(lambda: dict(weight=torch.ones(3, 5) * torch.arange(3.0)[:, None],
                                                     bias=torch.zeros(3), x=torch.rand(4, 5), y=labels())),
    "xai.attacks.cw_objective": Spec(lambda: dict(x_adv=images(), x=images().flip(0), logits=torch.randn(4, 3),
                                                  y=labels(), c=1.0, kappa=0.0)),
    "xai.attacks.margin": Spec(lambda: dict(logits=torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), y=labels())),
    "xai.attacks.accuracy_under_attack": Spec(lambda: dict(model=M(), X=images(), y=labels(), attack=_fgsm, batch_size=2)),
    "xai.attacks.accuracy_vs_eps": Spec(lambda: dict(model=M(), X=images(), y=labels(), epsilons=[0.0, 0.1],
                                                     attack=_fgsm_eps, batch_size=2),
                                        valid={("epsilons", "one value too few")}),  # one attack size: one accuracy
    "xai.attacks.accuracy_robustness_area": Spec(lambda: dict(epsilons=[0.0, 0.1, 0.2], accuracies=[1.0, 0.5, 0.2])),
    # ---------------------------------------------------------------- counterfactuals
    "xai.counterfactuals.mad": Spec(lambda: dict(X=table())),
    "xai.counterfactuals.mad_distance": Spec(lambda: dict(x=torch.ones(4), x_cf=torch.zeros(4), mad=torch.full((4,), 0.5)),
                                             # x and x_cf broadcast by design: (1, 4) against (4,) is a batch of one
                                             valid={("x", "extra dimension"), ("x_cf", "extra dimension")}),
    "xai.counterfactuals.wachter_loss": Spec(lambda: dict(prediction=torch.tensor(0.8), target=0.5, x=torch.ones(4),
                                                          x_cf=torch.zeros(4), mad=torch.full((4,), 0.5), lam=10.0),
                                             # as mad_distance: (1, 4) against (4,) is a batch of one, a loss of shape (1,)
                                             valid={("x", "extra dimension"), ("x_cf", "extra dimension")}),
    "xai.counterfactuals.lambda_schedule": Spec(lambda: dict(solve=_solve, lam_init=0.5, tol=0.1, max_rounds=10)),
    "xai.counterfactuals.wachter": Spec(lambda: dict(model=tabular_model(), x=table()[0], target=0.5, mad=np.ones(4),
                                                     steps=20)),
    "xai.counterfactuals.wachter_batch": Spec(lambda: dict(model=tabular_model(), X=table()[:2], target=0.5,
                                                           mad=np.ones(4), steps=20)),
    # ---------------------------------------------------------------- evaluation
    "xai.evaluation.erase_top": Spec(lambda: dict(x=images(), scores=images().flip(0), k=3),
                                     valid={("k", "zero")}),  # nothing erased: the first point of an erasure curve
    "xai.evaluation.erasure_curve": Spec(lambda: dict(model=M(), x=images(), scores=images().flip(0), counts=[0, 3, 10]),
                                         valid={("counts", "one value too few")}),  # a curve of two points
    "xai.evaluation.rank_correlation": Spec(lambda: dict(maps_a=table(3), maps_b=table(6)[3:])),
    "xai.evaluation.pearson_correlation": Spec(lambda: dict(maps_a=table(3), maps_b=table(6)[3:])),
    "xai.evaluation.top_k_intersection": Spec(lambda: dict(maps_a=table(3), maps_b=table(6)[3:], k=2)),
    "xai.evaluation.max_sensitivity": Spec(lambda: dict(explain_fn=_explain, x=images(), n_samples=2, rng=0)),
    "xai.evaluation.box_iou": Spec(lambda: dict(box_a=(0, 0, 2, 2), box_b=(1, 1, 3, 3)),
                                   valid={("box_a", "out-of-range values"), ("box_b", "out-of-range values")}),
    "xai.evaluation.threshold_box": Spec(lambda: dict(heatmap=heatmap())),
    "xai.evaluation.pointing_game": Spec(lambda: dict(heatmap=heatmap(), box=(2, 2, 6, 6)),
                                         valid={("heatmap", "one column too few")}),  # an 8x7 map: the box still fits
    "xai.evaluation.weak_localisation": Spec(lambda: dict(heatmaps=np.stack([heatmap(), heatmap().T]),
                                                          boxes=[(2, 2, 6, 6), (0, 0, 8, 8)])),
    "xai.evaluation.box_mass": Spec(lambda: dict(heatmap=heatmap(), box=(2, 2, 6, 6)),
                                    valid={("heatmap", "one column too few")}),  # an 8x7 map: the box still fits
    "xai.evaluation.saliency_segmentation": Spec(lambda: dict(image=heatmap() * 0.9, heatmap=heatmap()),
                                                 valid={("image", "extra dimension")}),  # (1, H, W): one grey image
    "xai.evaluation.mask_iou": Spec(lambda: dict(mask_a=heatmap() > 0, mask_b=heatmap().T > 0)),
    "xai.evaluation.randomise_layer": Spec(lambda: dict(module=nn.Linear(3, 2), rng=0), no_train_mode=True),
    "xai.evaluation.cascading_randomisation": Spec(lambda: dict(model=M(), layer_names=["4", "0"], rng=0),
                                                   no_train_mode=True),
    # lesson 11: ROAR and ROAD
    "xai.roar.top_fraction_mask": Spec(lambda: dict(attributions=images().flip(0), x=images(), fraction=0.5),
                                       skip={"name"}),
    "xai.roar.mean_fill": Spec(lambda: dict(x=images(), mask=images()[:, 0] > 0.5, value=0.5)),
    "xai.roar.noisy_linear_imputation": Spec(lambda: dict(x=images(), mask=images()[:, 0] > 0.5, noise_std=0.01, rng=0)),
    "xai.roar.road_accuracy": Spec(lambda: dict(model=M(), x=images(), attributions=images().flip(0), target=labels(),
                                                fractions=(0.0, 0.5), rng=0),
                                   valid={("fractions", "one value too few")}),
    "xai.roar.roar_accuracy": Spec(lambda: dict(train_fn=lambda A, b: M(), X_train=images(), y_train=labels(),
                                                X_test=images(), y_test=labels(), train_attributions=images().flip(0),
                                                test_attributions=images(), fractions=(0.0, 0.5), progress=False),
                                   skip={"train_fn"}, valid={("fractions", "one value too few")}),
    "xai.evaluation.deletion_curve": Spec(lambda: dict(model=M(), x=images(), attributions=images().flip(0), target=labels(),
                                                       n_steps=3, batch_size=8)),
    "xai.evaluation.insertion_curve": Spec(lambda: dict(model=M(), x=images(), attributions=images().flip(0),
                                                        target=labels(), n_steps=3, batch_size=8)),
    "xai.evaluation.curve_auc": Spec(lambda: dict(fractions=np.array([0.0, 0.5, 1.0]), values=np.array([[1.0, 0.5, 0.2]]))),
    "xai.evaluation.blurred": Spec(lambda: dict(x=images(), sigma=1.0, kernel_size=3)),
    "xai.evaluation.infidelity_from_samples": Spec(lambda: dict(dots=torch.rand(4, 5), drops=torch.rand(4, 5))),
    "xai.evaluation.infidelity": Spec(lambda: dict(model=M(), x=images(), attributions=images().flip(0), target=labels(),
                                                   n_samples=3, rng=0)),
    "xai.evaluation.infidelity_optimal": Spec(lambda: dict(model=M(), x=images(), target=labels(), n_samples=8,
                                                           batch_size=8, rng=0)),
    "xai.evaluation.rise_masks": Spec(lambda: dict(n_masks=3, size=(6, 6), cell_size=3, rng=0),
                                      valid={("size", "out-of-range values")}),  # (105, 105): masks for larger images
    "xai.evaluation.rise_saliency": Spec(lambda: dict(scores=torch.rand(4, 3), masks=torch.rand(3, 6, 6), p_keep=0.5),
                                         valid={("scores", "one row too few")}),  # three images' scores: three maps
    "xai.evaluation.rise": Spec(lambda: dict(model=M(), x=images(), target=labels(), n_masks=4, cell_size=3, rng=0,
                                             batch_size=8)),
    "xai.evaluation.noisy_gradient_maps": Spec(lambda: dict(model=M(), x=images(), target=labels(), n_samples=2, rng=0)),
    # ---------------------------------------------------------------- gradcam
    "xai.gradcam.class_model_visualisation": Spec(lambda: dict(model=M(), targets=[0, 2], shape=(1, 6, 6), steps=2),
                                                   valid={("targets", "one value too few")}),  # one image fewer
    "xai.gradcam.layer_activations_and_gradients": Spec(lambda: _with_layer(dict(x=images(), target=labels()))),
    "xai.gradcam.gradcam_weights": Spec(lambda: dict(gradients=torch.randn(2, 3, 4, 4))),
    "xai.gradcam.gradcam_map": Spec(lambda: dict(activations=torch.rand(2, 3, 4, 4), weights=torch.randn(2, 3), size=(8, 8)),
                                     valid={("size", "out-of-range values")}),  # (107, 107): a larger upsampling
    "xai.gradcam.gradcam": Spec(lambda: _with_layer(dict(x=images(), target=labels()))),
    "xai.gradcam.guided_backprop": Spec(lambda: dict(model=M(), x=images(), target=labels())),
    "xai.gradcam.guided_gradcam": Spec(lambda: _with_layer(dict(x=images(), target=labels()))),
    "xai.gradcam.heatmaps": Spec(lambda: _with_layer(dict(x=images(), target=labels(), batch_size=2))),
    # ---------------------------------------------------------------- gradients
    # lesson 10: attacks on explanations
    "xai.manipulation.fooling_data": Spec(lambda: dict(table=_toy_table(), protected="group", protected_value="b",
                                                      n_unrelated=2, test_fraction=0.25, rng=0)),
    "xai.manipulation.fooling_scaffold": Spec(lambda: dict(biased_fn=proba_2_fn, innocuous_fn=_innocuous_2_fn,
                                                          X_train=table(), n_perturbations=2, n_estimators=5, rng=0)),
    "xai.manipulation.detector_training_set": Spec(lambda: dict(X_real=table(),
                                                               noise=np.random.default_rng(0).normal(size=(2, 40, 4)))),
    "xai.manipulation.route": Spec(lambda: dict(real=np.arange(40) % 2 == 0, biased_output=proba_2_fn(table()),
                                               innocuous_output=_innocuous_2_fn(table()))),
    "xai.manipulation.kmeans_background": Spec(lambda: dict(X=table(), n_clusters=3, rng=0)),
    "xai.manipulation.shap_perturbations": Spec(lambda: dict(X=table(), background=table()[:3], n_per_row=2, rng=0)),
    "xai.manipulation.nearest_real_distance": Spec(lambda: dict(X=table()[:5], X_reference=table())),
    "xai.manipulation.data_lime": Spec(lambda: dict(predict_fn=proba_fn, x=table()[0], X_train=table(), n_features=2,
                                                   n_samples=50, rng=0)),
    "xai.manipulation.softplus_model": Spec(lambda: dict(model=M(), beta=10.0)),
    "xai.manipulation.normalise_map": Spec(lambda: dict(maps=images())),
    "xai.manipulation.manipulation_loss": Spec(lambda: dict(explanation=images(), target_map=images().flip(0),
                                                           output=torch.rand(4, 3), original_output=torch.rand(4, 3),
                                                           output_weight=10.0)),
    "xai.manipulation.manipulate_input": Spec(lambda: dict(model=M(), x=images(), target_map=images().flip(0),
                                                          target=labels(), steps=2, rng=0)),
    "xai.manipulation.differentiable_gradcam": Spec(lambda: (lambda m: dict(model=m, layer=m[1], x=images(),
                                                                            target=labels()))(image_model()),
                                                    no_train_mode=True),  # a training loss's building block
    "xai.manipulation.location_fooling_loss": Spec(lambda: dict(maps=images()[:, 0], box=(0, 0, 3, 3)),
                                                   valid={("maps", "one row too few")}),  # three maps: three losses
    "xai.manipulation.region_mass": Spec(lambda: dict(maps=images()[:, 0], box=(0, 0, 3, 3)),
                                         valid={("maps", "one row too few")}),  # three maps: three masses
    "xai.manipulation.trigger_box": Spec(lambda: dict(shape=(1, 6, 6), size=2, margin=1),
                                         valid={("shape", "out-of-range values")}),  # (100, 105, 105): larger images
    "xai.manipulation.add_trigger": Spec(lambda: dict(x=images(), size=2, value=1.0)),
    "xai.manipulation.poison_dataset": Spec(lambda: dict(X=images(6), y=labels(6), fraction=0.5, target_class=0, size=2,
                                                        rng=0),
                                            # the labels of any number of classes (99.. here) are relabelled alike
                                            valid={("y", "labels out of range")}),
    "xai.manipulation.penultimate_features": Spec(lambda: (lambda m: dict(model=m, layer=m[2], X=images(),
                                                                          batch_size=2))(image_model())),
    "xai.manipulation.spectral_signature_scores": Spec(lambda: dict(features=table())),
    "xai.manipulation.activation_clusters": Spec(lambda: dict(features=table(), n_components=2, rng=0)),
    "xai.manipulation.precision_recall": Spec(lambda: dict(flagged=np.arange(10) < 5, truth=np.arange(10) < 3)),
    "xai.evaluation.feature_rank": Spec(lambda: dict(attributions=table()[:5], feature=1)),
    "xai.evaluation.rank_shares": Spec(lambda: dict(attributions=table()[:5], feature=1, k=2)),
    # lesson 09: robustness of explanations
    "xai.robustness.centre_of_mass": Spec(lambda: dict(saliency_map=images().abs())),
    # a training loss: computed in the mode the trainer set (input_gradient_penalty is its eval-mode form)
    "xai.robustness.cross_entropy_and_penalty": Spec(lambda: dict(model=M(), x=images(), y=labels()), no_train_mode=True),
    "xai.robustness.input_gradient_penalty": Spec(lambda: dict(model=M(), x=images(), y=labels())),
    "xai.robustness.lipschitz_penalty": Spec(lambda: dict(model=M(), x=images(), y=labels(), eps=0.1, rng=0)),
    "xai.robustness.explanation_shift": Spec(lambda: dict(model_a=M(), model_b=image_model().train().eval(),
                                                         X=images(), target=labels(), n_points=3)),
    "xai.robustness.fragility_attack": Spec(lambda: dict(model=M(), x=images(), target=labels(), eps=0.05, steps=2,
                                                        k=4, rng=0)),
    "xai.robustness.topk_objective": Spec(lambda: dict(saliency_map=images().abs(),
                                                      top_mask=images() > 0.5)),
    "xai.robustness.fine_tune": Spec(lambda: dict(model=M(), X=images(), y=labels(), epochs=1.0, batch_size=2, rng=0),
                                     no_train_mode=True),
    "xai.evaluation.max_relative_change": Spec(lambda: dict(reference=images(), perturbed=torch.stack([images()] * 2)),
                                               valid={("perturbed", "one row too few")}),  # one perturbation sample
    "xai.evaluation.evaluate_explanations": Spec(lambda: dict(
        explain_fn=_explain_model, model=M(), x=images(), target=labels(), n_steps=2, n_infidelity=2, n_sensitivity=1, rng=0)),
    "xai.methods.cell_masks": Spec(lambda: dict(masks=np.eye(4), size=(6, 6), cell_size=3)),
    "xai.gradients.saliency": Spec(lambda: dict(model=M(), x=images(), target=labels())),
    "xai.gradients.input_x_gradient": Spec(lambda: dict(model=M(), x=images(), target=labels())),
    "xai.gradients.integrated_gradients": Spec(lambda: dict(model=M(), x=images(), target=labels(), steps=4)),
    "xai.gradients.smoothgrad": Spec(lambda: dict(model=M(), x=images(), target=labels(), n_samples=2, rng=0)),
    "xai.gradients.deeplift_rescale": Spec(lambda: dict(model=_mlp_seq(), x=torch.rand(4, 4), target=labels())),
    "xai.gradients.completeness_gap": Spec(lambda: dict(model=M(), x=images(), target=labels(), attributions=images())),
    "xai.gradients.path_rule": Spec(lambda: dict(steps=5)),
    "xai.gradients.path_integral": Spec(lambda: dict(model=M(), x=images(), target=labels(), baseline=torch.zeros(4, 1, 6, 6),
                                                     alphas=torch.tensor([0.25, 0.75]), weights=torch.tensor([0.5, 0.5]))),
    "xai.gradients.rescale_multiplier": Spec(lambda: dict(z=torch.tensor([1.0, -1.0, 2.0]), z_ref=torch.tensor([0.0, 0.0, 1.0]))),
    # ---------------------------------------------------------------- lime
    "xai.lime.kernel": Spec(lambda: dict(distances=np.array([0.0, 1.0, 2.0]), kernel_width=2.0)),
    "xai.lime.weighted_ridge": Spec(lambda: dict(Z=_Z(), y=_y30(), weights=_w()),
                                    valid={("Z", "one column too few")}),  # three features: a surrogate on fewer features
    "xai.lime.forward_selection": Spec(lambda: dict(Z=_Z(), y=_y30(), weights=_w(), n_features=2),
                                    valid={("Z", "one column too few")}),  # three features: a surrogate on fewer features
    "xai.lime.select_features": Spec(lambda: dict(Z=_Z(), y=_y30(), weights=_w(), n_features=2),
                                    valid={("Z", "one column too few")}),  # three features: a surrogate on fewer features
    "xai.lime.fit_sparse_surrogate": Spec(lambda: dict(Z=_Z(), y=_y30(), weights=_w(), n_features=2),
                                    valid={("Z", "one column too few")}),  # three features: a surrogate on fewer features
    "xai.lime.sample_tabular": Spec(lambda: dict(x=table()[0], X_train=table(), n_samples=5, rng=0)),
    "xai.lime.lime_tabular": Spec(lambda: dict(predict_fn=proba_fn, x=table()[0], X_train=table(), n_features=2,
                                               n_samples=50, rng=0)),
    "xai.lime.tabular_feature_names": Spec(lambda: dict(x=table()[0], X_train=table(), feature_names=["a", "b", "c", "d"])),
    "xai.lime.sample_masks": Spec(lambda: dict(d=4, n_samples=5, rng=0)),
    "xai.lime.lime_binary": Spec(lambda: dict(predict_fn=lambda Mk: np.asarray(Mk, float) @ W4, d=4, n_features=2,
                                              n_samples=30, rng=0)),
    "xai.lime.submodular_pick": Spec(lambda: dict(W=table(5), budget=2)),
    "xai.lime.coverage": Spec(lambda: dict(W=table(5), rows=[0, 2]),
                              # fewer picked rows (none: coverage 0) or fewer features are valid picks
                              valid={("rows", "empty"), ("rows", "one value too few"), ("W", "one column too few")}),
    "xai.lime.random_explanation": Spec(lambda: dict(d=5, n_features=2, rng=0)),
    "xai.lime.greedy_removal": Spec(lambda: dict(predict_fn=lambda Mk: np.asarray(Mk, float) @ W4 / 2 + 0.5, d=4,
                                                 n_features=2)),
    "xai.lime.parzen_proba": Spec(lambda: dict(X_train=table(), labels=(table()[:, 0] > 0).astype(int), X=table(3),
                                               sigma=1.0)),
    "xai.lime.select_parzen_sigma": Spec(lambda: dict(X_fit=table(), labels_fit=(table()[:, 0] > 0).astype(int),
                                                      X_held_out=table(6), labels_held_out=(table(6)[:, 0] > 0).astype(int),
                                                      sigmas=(0.5, 1.0)),
                                        valid={("sigmas", "one value too few")}),  # one candidate width
    "xai.lime.parzen_gradient": Spec(lambda: dict(X_train=table(), labels=(table()[:, 0] > 0).astype(int), x=table()[1],
                                                  sigma=1.0, features=np.arange(4)),
                                    # the gradient along fewer features (none: an empty gradient)
                                    valid={("features", "empty"), ("features", "one value too few")}),
    "xai.lime.masked_predictor": Spec(lambda: dict(predict_proba=_sparse_proba_2_fn, x=np.array([1.0, 0.0, 2.0, 3.0]),
                                                   label=1)),
    "xai.lime.linear_model_features": Spec(lambda: dict(coef=np.array([0.0, 1.0, -2.0, 0.5]), x=np.array([1, 1, 0, 1])),
                                           # word counts of 100 are non-zero alike; coef of shape (1, d) is sklearn's coef_
                                           valid={("x", "out-of-range values"), ("coef", "extra dimension")}),
    "xai.lime.tree_path_features": Spec(lambda: dict(tree=_tree(), x=np.array([1.0, 1.0, 0.0, 0.0]))),
    "xai.lime.count_used_features": Spec(lambda: dict(model=_tree(), X=np.eye(4))),
    "xai.lime.recall": Spec(lambda: dict(explained=[1, 2], gold={1, 3}),
                            # nothing explained (recall 0) and features outside gold are valid explanations
                            valid={("explained", "empty"), ("explained", "out-of-range values")}),
    # ---------------------------------------------------------------- permutation
    # ---------------------------------------------------------------- diffusion (lesson 12)
    "xai.diffusion.linear_schedule": Spec(lambda: dict(T=10, beta_start=1e-4, beta_end=0.02)),
    # step 0 is the first noising step (0-based): a valid step
    "xai.diffusion.add_noise": Spec(lambda: dict(x0=images(), t=3, noise=images().flip(0), schedule=_schedule()),
                                    valid={("t", "zero")}),
    "xai.diffusion.predict_x0": Spec(lambda: dict(x_t=images(), t=3, eps=images().flip(0), schedule=_schedule()),
                                     valid={("t", "zero")}),
    "xai.diffusion.ddim_step": Spec(lambda: dict(x_t=images(), t=5, t_prev=2, eps=images().flip(0), schedule=_schedule()),
                                    valid={("t_prev", "negative int")}),  # t_prev = -1: the clean image
    "xai.diffusion.ddpm_step": Spec(lambda: dict(x_t=images(), t=5, eps=images().flip(0), schedule=_schedule(), rng=0),
                                    valid={("t", "zero")}),
    "xai.diffusion.ddim_timesteps": Spec(lambda: dict(t_start=9, steps=3)),
    # pixel-wise maps: a tensor of any shape
    "xai.diffusion.to_diffusion_space": Spec(lambda: dict(x=images()), valid={("x", "extra dimension")}),
    "xai.diffusion.from_diffusion_space": Spec(lambda: dict(z=images() * 2 - 1), valid={("z", "extra dimension")}),
    "xai.diffusion.guided_x0": Spec(lambda: dict(x0_hat=images(), grad=images() - 0.5, x_orig=images().flip(0),
                                                guidance_scale=0.5, distance_weight=0.1, abar_t=0.5)),
    "xai.diffusion.sample": Spec(lambda: dict(denoiser=_tiny_denoiser(), n=2, schedule=_schedule(), steps=2, rng=0),
                                 no_train_mode=True),  # the denoiser has no dropout: train mode changes nothing
    "xai.diffusion.reconstruction_error": Spec(lambda: dict(denoiser=_tiny_denoiser(), x=_digits28(), schedule=_schedule(),
                                                           t=5, steps=2, rng=0), no_train_mode=True),
    "xai.diffusion.diffusion_counterfactual": Spec(lambda: dict(denoiser=_tiny_denoiser(), classifier=_digit_classifier(),
                                                               x=_digits28(), target=labels(2), t_start=5,
                                                               guidance_scale=0.2, steps=2, distance_weight=0.05,
                                                               schedule=_schedule(), rng=0),
                                                   no_train_mode=True),
    "xai.counterfactuals.wachter_images": Spec(lambda: dict(model=M(), x=images(), target=labels(), lam_init=0.1, steps=2,
                                                           lr=0.01, max_rounds=2)),
    "xai.permutation.accuracy": Spec(lambda: dict(y_true=np.array([0, 1, 1]), y_pred=np.array([0, 1, 0])),
                                     # class labels of any value (99, 100, ...)
                                     valid={("y_true", "out-of-range values"), ("y_pred", "out-of-range values")}),
    "xai.permutation.permutation_drop": Spec(lambda: dict(predict_fn=label_fn, X=table(), y=label_fn(table()), column=1,
                                                          rng=np.random.default_rng(0)),
                                             valid={("y", "out-of-range values")}),  # class labels of any value
    "xai.permutation.permutation_importance": Spec(lambda: dict(predict_fn=label_fn, X=table(), y=label_fn(table()),
                                                                n_permutations=2, rng=0),
                                                   valid={("y", "out-of-range values")}),  # class labels of any value
    "xai.permutation.nearest_neighbours": Spec(lambda: dict(X_train=table(), x=table()[0], k=3)),
    # ---------------------------------------------------------------- shapley
    "xai.shapley.marginal_contributions": Spec(lambda: dict(value_fn=slides_game, order=[2, 0, 1])),
    "xai.shapley.exact_shapley": Spec(lambda: dict(value_fn=slides_game, n_players=3)),
    "xai.shapley.interventional_game": Spec(lambda: dict(predict_fn=proba_fn, x=table()[0], background=table(5))),
    "xai.shapley.coalition_values": Spec(lambda: dict(predict_fn=proba_fn, x=table()[0], background=table(5),
                                                      masks=np.eye(4, dtype=bool))),
    "xai.shapley.shapley_kernel_weight": Spec(lambda: dict(n_features=4, size=1),
                                              valid={("size", "zero")}),  # the empty coalition: infinite weight, by definition
    "xai.shapley.sample_coalitions": Spec(lambda: dict(n_features=5, n_samples=10, rng=0)),
    "xai.shapley.constrained_wls": Spec(lambda: dict(Z=_Z(), y=_y30(), weights=_w(), total=1.0),
                                        valid={("Z", "one column too few")}),  # a fit over three features
    "xai.shapley.kernel_shap": Spec(lambda: dict(predict_fn=proba_fn, x=table()[0], background=table(5), n_samples=14, rng=0)),
    "xai.shapley.sampling_shapley": Spec(lambda: dict(predict_fn=proba_fn, x=table()[0], background=table(5),
                                                      n_permutations=2, rng=0)),
    "xai.shapley.lime_coalitions": Spec(lambda: dict(predict_fn=proba_fn, x=table()[0], background=table(5), n_samples=20,
                                                     rng=0)),
}


def _with_layer(kwargs):
    model = M()
    return dict(model=model, layer=model[1], **kwargs)


def _schedule():
    from course_utils.xai.diffusion import linear_schedule
    return linear_schedule(10)


def _tiny_denoiser():
    from course_utils.models import DDPMUNet
    torch.manual_seed(0)
    return DDPMUNet((8, 8, 8), emb_dim=8).eval()


def _digits28() -> torch.Tensor:
    return torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(3))


def _digit_classifier() -> nn.Sequential:
    """28x28 images -> 3 logits."""
    generator = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.1)
    return model.eval()


def _mlp_seq():
    return nn.Sequential(*[m for m in classifier_4() if not isinstance(m, nn.Dropout)])


def _course_cnn():
    from course_utils.models import mnist_cnn
    model = mnist_cnn()
    model.course_name = "mnist_cnn"
    return model


def _fgsm(model, x, y):
    from course_utils.xai.attacks import fgsm
    return fgsm(model, x, y, eps=0.1)


def _fgsm_eps(model, x, y, eps):
    from course_utils.xai.attacks import fgsm
    return fgsm(model, x, y, eps=eps)


def _innocuous_2_fn(Z):
    """(N, 2) probabilities from the second feature only."""
    p = 1 / (1 + np.exp(-np.asarray(Z, dtype=float)[:, 1]))
    return np.column_stack([1 - p, p])


def _explain_model(model, batch, target):
    from course_utils.xai.gradients import saliency
    return saliency(model, batch, target)


def _explain(batch):
    from course_utils.xai.gradients import saliency
    return saliency(M(), batch, labels(len(batch)))


def _draw(arms, sizes):
    means = np.array([0.2, 0.9, 0.5, 0.75, 0.4])
    rng = np.random.default_rng(len(arms))
    return np.array([rng.binomial(m, means[a]) for a, m in zip(arms, sizes)])


def _solve(lam):
    return np.array([lam]), 0.5 - 1 / (1 + lam)


def _tree():
    from sklearn.tree import DecisionTreeClassifier
    X = np.random.default_rng(0).integers(0, 2, (40, 4)).astype(float)
    return DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, X[:, 0].astype(int) ^ X[:, 1].astype(int))


def _axes():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt.figure().add_subplot()


def _image_axes():
    """An axis showing an 8 x 8 image, as draw_box is used."""
    ax = _axes()
    ax.imshow(np.zeros((8, 8)))
    return ax


def _pairs_model():
    generator = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 5, stride=4), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 15 * 15, 10))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.1)
    return model.eval()


def _digits():
    return np.pad(np.ones((6, 8, 8)), ((0, 0), (10, 10), (10, 10)))


def _canvases():
    from course_utils.canvases import make_canvases
    return make_canvases(_digits(), np.array([0, 1, 2, 3, 4, 5]), 3, rng=np.random.default_rng(0), size=64)


# ------------------------------------------------------------------ defects generated from the valid call

BUDGET_WORDS = ("n", "n_samples", "n_features", "n_permutations", "steps", "k", "batch_size", "budget", "epochs",
                "beam_size", "top_n", "max_rounds", "n_players", "n_arms", "d", "size", "t", "ncols", "max_instances",
                "length", "max_anchor_size", "first_batch", "min_batch", "attack_steps", "n_masks", "n_points")
POSITIVE_REALS = ("eps", "alpha", "sigma", "kernel_width", "lr", "noise_level", "radius", "delta", "epsilon", "tol",
                  "lam_init", "c", "step", "fraction", "threshold", "purity", "p_keep", "target_precision", "beta",
                  "lam", "l2", "weight_decay")
UNIT_REALS = ("delta", "epsilon", "threshold", "fraction", "purity", "p_keep", "target_precision")
# Another acceptable name in the message, per parameter (a message may name the concept instead).
ALIASES = {"X_train": ("x",), "x": ("X_train", "background", "x_cf", "x_adv"), "background": ("x",),
           "y": ("X",), "X": ("y",), "maps_b": ("maps_a",), "maps_a": ("maps_b",), "rule": ("predicate",),
           "labels": ("X_train",), "z": ("z_ref",), "z_ref": ("z",), "x_cf": ("x",), "x_adv": ("x",),
           "target": ("model",), "logits": ("y",), "predict_proba": ("predict",), "box_a": ("box",),
           "box_b": ("box",), "activations": ("weights",), "weights": ("activations", "Z"), "Z": ("weights", "y"),
           "epsilons": ("accuracies",), "accuracies": ("epsilons",), "user_predictions": ("covered",),
           "model_predictions": ("covered", "scores"), "covered": ("predictions",), "x_codes": ("Z_codes",),
           "Z_codes": ("x_codes",), "n": ("positives",), "positives": ("n",), "slots": ("holds",),
           "holds": ("slots",), "X_held_out": ("X_fit",), "labels_held_out": ("X_held_out",),
           "labels_fit": ("X_fit",), "grad": ("x",), "scores": ("x",), "attributions": ("x",), "mad": ("x",),
           "alphas": ("weights",), "baseline": ("x",), "titles": ("images",), "names": ("weights",)}


@dataclass
class Call:
    function: str
    parameter: str
    defect: str
    value: object = field(repr=False)


def _is_label_tensor(value):
    return isinstance(value, torch.Tensor) and not value.is_floating_point() and value.dtype != torch.bool


def _defects(name: str, value, n_arrays: int):
    """(defect, bad value) pairs for one parameter, from its valid value."""
    if isinstance(value, bool) or value is None or isinstance(value, (dict, set, frozenset)):
        return []
    if name == "rng":
        return [("rng string", "abc")]
    if isinstance(value, nn.Module):
        return [("not a module", "model")]
    if callable(value) and not isinstance(value, (torch.Tensor, np.ndarray)):
        out = []

        def nan_fn(*args, _fn=value, **kwargs):
            result = _fn(*args, **kwargs)
            array = np.array(result.detach() if isinstance(result, torch.Tensor) else result, dtype=float)
            array.reshape(-1)[:1] = np.nan
            return torch.as_tensor(array) if isinstance(result, torch.Tensor) else array

        def shape_fn(*args, _fn=value, **kwargs):
            result = _fn(*args, **kwargs)
            array = np.asarray(result.detach() if isinstance(result, torch.Tensor) else result)
            return np.stack([array, array, array], axis=-1)

        out.append(("not callable", "predict"))
        if name not in ("answer", "loss_fn", "attack", "draw", "solve"):
            out += [("returns NaN", nan_fn), ("returns the wrong shape", shape_fn)]
        return out
    if isinstance(value, (int, np.integer)):
        out = [("negative int", -1), ("float for an int", 2.5), ("string for an int", "3")]
        if name in BUDGET_WORDS:
            out.append(("zero", 0))
        return out
    if isinstance(value, (float, np.floating)):
        out = [("NaN", float("nan")), ("inf", float("inf")), ("string for a real", "0.1")]
        if name in POSITIVE_REALS:
            out.append(("negative real", -1.0))
        if name in UNIT_REALS:
            out.append(("above 1", 1.5))
        return out
    if isinstance(value, str):
        return [("unknown option", "no_such_option")]
    if isinstance(value, torch.Tensor):
        if _is_label_tensor(value):
            out = [("float labels", value.float() + 0.5), ("labels out of range", value + 99)]
            if value.ndim >= 1 and len(value) > 1:
                out.append(("one label too few", value[:-1]))
            return out
        out = [("string for a tensor", "abc")]
        if value.is_floating_point() and value.numel():
            bad = value.clone()
            bad.reshape(-1)[0] = float("nan")
            out += [("NaN in tensor", bad), ("inf in tensor", bad.nan_to_num(nan=float("inf")))]
        if value.ndim >= 1:
            out += [("extra dimension", value[None]), ("empty", value[:0])]
            if len(value) > 1 and n_arrays > 1:
                out.append(("one row too few", value[:-1]))
        return out
    if isinstance(value, np.ndarray) or (isinstance(value, (list, tuple)) and value
                                         and all(isinstance(v, (int, float, np.ndarray, torch.Tensor)) and not isinstance(v, bool)
                                                 for v in value)):
        array = np.asarray(value) if not isinstance(value, np.ndarray) else value
        out = [("string for an array", "abc")]
        if array.dtype.kind == "f" and array.size:
            bad = array.astype(float).copy()
            bad.reshape(-1)[0] = np.nan
            out += [("NaN in array", bad)]
        elif array.dtype.kind in "iu" and array.size:
            out += [("out-of-range values", array + 99)]
        if array.ndim >= 1 and array.dtype != object:
            out += [("extra dimension", array[None]), ("empty", array[:0])]
            if array.ndim == 1 and len(array) > 1 and n_arrays > 1:
                out.append(("one value too few", array[:-1]))
            elif array.ndim == 2 and array.shape[1] > 1 and n_arrays > 1:
                out.append(("one column too few", array[:, :-1]))
        return out
    return []


def _is_array(value):
    return isinstance(value, (np.ndarray, torch.Tensor)) or bool(
        isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float, np.ndarray, torch.Tensor)) for v in value))


def _valid_call(fname):
    fn = PUBLIC[fname]
    spec_ = SPECS[fname]
    kwargs = spec_.make()
    signature = inspect.signature(fn)
    for pname, parameter in signature.parameters.items():
        if pname not in kwargs and parameter.default is not inspect.Parameter.empty and parameter.default is not None:
            if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                kwargs[pname] = parameter.default
    return kwargs


def _call(fname, kwargs):
    fn = PUBLIC[fname]
    signature = inspect.signature(fn)
    args, kw = [], {}
    for pname, parameter in signature.parameters.items():
        if pname not in kwargs:
            continue
        if parameter.kind is parameter.POSITIONAL_ONLY:
            args.append(kwargs[pname])
        else:
            kw[pname] = kwargs[pname]
    result = fn(*args, **kw)
    if inspect.isgenerator(result):
        result = list(result)
    return result


def bad_calls(fname):
    spec_ = SPECS[fname]
    kwargs = _valid_call(fname)
    n_arrays = sum(_is_array(v) for v in kwargs.values())
    calls = []
    for pname, value in kwargs.items():
        if pname in spec_.skip:
            continue
        for defect, bad in _defects(pname, value, n_arrays):
            if (pname, defect) in spec_.valid:
                continue
            calls.append(Call(fname, pname, defect, bad))
    return calls


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def classify(call: Call) -> tuple[str, str]:
    """('clear' | 'unclear' | 'silent' | 'hang', detail)."""
    kwargs = _valid_call(call.function)
    kwargs[call.parameter] = call.value
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT_S)
    try:
        with np.errstate(all="ignore"):
            _call(call.function, kwargs)
    except Hang:
        return "hang", f"ran past {TIMEOUT_S} s"
    except (ValueError, TypeError) as err:
        message = str(err)
        names = (call.parameter, *ALIASES.get(call.parameter, ()))
        if any(re.search(rf"(?<![\w.]){re.escape(n)}(?!\w)", message) for n in names):
            return "clear", f"{type(err).__name__}: {message}"
        return "unclear", f"{type(err).__name__} not naming {call.parameter}: {message}"
    except Exception as err:  # noqa: BLE001 - an unclear error is what the sweep counts
        return "unclear", f"{type(err).__name__}: {err}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return "silent", "returned"


SWEPT = sorted(n for n in PUBLIC if n not in SKIPPED and not n.startswith("validation."))
CALLS = [call for fname in SWEPT if fname in SPECS for call in bad_calls(fname)]


@pytest.fixture(autouse=True)
def _offline_data(tmp_path, monkeypatch):
    """No data files and no network: a data function must reject a bad argument before loading."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path / "no_mirror"))
    import urllib.request

    def offline(*args, **kwargs):
        raise OSError("the sweep runs offline")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    yield
    import matplotlib.pyplot as plt
    plt.close("all")


def test_every_public_function_is_swept_or_skipped_with_a_reason():
    missing = [n for n in SWEPT if n not in SPECS]
    assert not missing, f"add a valid call to SPECS (or a reason to SKIPPED) for {missing}"
    assert not set(SKIPPED) - set(PUBLIC), f"SKIPPED names no longer public: {sorted(set(SKIPPED) - set(PUBLIC))}"
    assert len(SWEPT) > 120 and len(CALLS) > 700


def _id(call):
    return f"{call.function}:{call.parameter}:{call.defect}"


def _known(path="bad_inputs_known.txt"):
    """Defects found by the sweep and not fixed yet (one ``function:parameter:defect`` a line): strict xfails."""
    here = os.path.join(os.path.dirname(__file__), path)
    if not os.path.exists(here):
        return set()
    with open(here) as file:
        return {line.strip() for line in file if line.strip() and not line.startswith("#")}


KNOWN = _known()


@pytest.mark.parametrize("call", [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason="known defect (issue 21)"))
                                  if _id(c) in KNOWN else c for c in CALLS], ids=_id)
def test_bad_input_gets_a_clear_error(call):
    outcome, detail = classify(call)
    assert outcome == "clear", f"{call.function}({call.parameter}: {call.defect}) -> {outcome}: {detail}"


def test_the_known_defects_are_still_calls_of_the_sweep():
    assert not KNOWN - {_id(c) for c in CALLS}, sorted(KNOWN - {_id(c) for c in CALLS})


@pytest.mark.parametrize("fname", [n for n in SWEPT if n in SPECS and not n.startswith("data.")
                                   and n not in ("canvases.mnist_canvases", "models.load_pretrained")])
def test_the_valid_call_works(fname):
    with np.errstate(all="ignore"):
        _call(fname, _valid_call(fname))


TORCH_FUNCTIONS = [n for n in SWEPT if n in SPECS and any(isinstance(v, nn.Module) for v in _valid_call(n).values())
                   and not SPECS[n].mutates_model]


def _same(a, b):
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if hasattr(a, "__dataclass_fields__"):
        return all(_same(getattr(a, k), getattr(b, k)) for k in a.__dataclass_fields__)
    if callable(a):
        return True
    return a == b or (a != a and b != b)


@pytest.mark.parametrize("fname", TORCH_FUNCTIONS)
def test_a_model_in_train_mode_gives_the_same_result_twice_and_stays_in_train_mode(fname):
    kwargs = _valid_call(fname)
    models = [v for v in kwargs.values() if isinstance(v, nn.Module)]
    for model in models:
        model.train()
    first = _call(fname, kwargs)
    assert all(m.training for model in models for m in model.modules())
    second = _call(fname, kwargs)
    if isinstance(first, dict):  # a report-card row: its measured time per explanation differs between calls
        first, second = ({k: v for k, v in row.items() if k != "seconds"} for row in (first, second))
    assert _same(first, second), f"{fname} changed between two calls on a model in train mode"


@pytest.mark.parametrize("fname", [n for n in TORCH_FUNCTIONS
                                   if any(isinstance(v, torch.Tensor) and v.is_floating_point() and v.ndim == 4
                                          for v in _valid_call(n).values())])
def test_a_float64_batch_works_with_a_float32_model(fname):
    kwargs = _valid_call(fname)
    for name, value in kwargs.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and value.ndim == 4:
            kwargs[name] = value.double()
    _call(fname, kwargs)


def summary():
    counts: dict[str, int] = {}
    rows = []
    for call in CALLS:
        outcome, detail = classify(call)
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome != "clear":
            rows.append(f"{outcome:8s} {call.function}({call.parameter}: {call.defect}): {detail[:150]}")
    return counts, rows


if __name__ == "__main__":
    os.environ["COURSE_DATA_DIR"] = "/tmp/badinput_empty_cache"
    os.environ["COURSE_DATA_MIRROR"] = "/tmp/badinput_no_mirror"
    import urllib.request
    urllib.request.urlopen = lambda *a, **k: (_ for _ in ()).throw(OSError("offline"))
    counts, rows = summary()
    print("\n".join(rows))
    print(f"{len(SWEPT)} functions, {len(CALLS)} bad calls:", counts)
    sys.exit(0)
