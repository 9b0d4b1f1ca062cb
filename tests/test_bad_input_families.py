"""The seven families of bad input that issue 21 names, one test each (the sweep in test_bad_inputs covers the rest).

Each call is the one the issue found silent, unclear or hanging; each must now fail at once
with a ValueError or TypeError whose message names the parameter (or, for valid variants, work).
"""
from __future__ import annotations

import signal

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import exercises, runtime
from course_utils.data import mnist_tensors
from course_utils.models import Normalize
from course_utils.predict import as_predict_fn
from course_utils.simulation import simulate_motif_sequences
from course_utils.xai import attacks, counterfactuals, gradcam, gradients, lime, shapley
from course_utils.xai.anchors import anchor_tabular
from course_utils.xai.evaluation import box_iou
from course_utils.xai.permutation import nearest_neighbours

W4 = np.array([1.0, -1.0, 0.5, 0.0])


def cnn() -> nn.Sequential:
    """A tiny CNN on 1x6x6 images, 3 classes, with dropout (different results in train mode)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Dropout(0.5),
                         nn.Linear(144, 3)).eval()


def batch(n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(n, 1, 6, 6, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1, 2, 1][:n])


def table(n: int = 40) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 4))


def proba(Z):
    return 1 / (1 + np.exp(-np.asarray(Z, dtype=float) @ W4))


def nan_proba(Z):
    out = proba(Z)
    out[:2] = np.nan
    return out


def tabular_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid(), nn.Flatten(0)).eval()


def _timeout(signum, frame):
    raise TimeoutError("ran past 10 s")


# 1. the hang
def test_the_motif_simulation_rejects_a_length_it_cannot_fill_at_once():
    previous = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(10)
    try:
        with pytest.raises(ValueError, match=r"length must be at least .* = 105 .* got 60"):
            simulate_motif_sequences(4, length=60, rng=0)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# 2. a model in train mode
TRAIN_MODE_CALLS = {
    "saliency": lambda m, x, y: gradients.saliency(m, x, y),
    "input_x_gradient": lambda m, x, y: gradients.input_x_gradient(m, x, y),
    "integrated_gradients": lambda m, x, y: gradients.integrated_gradients(m, x, y, steps=8),
    "smoothgrad": lambda m, x, y: gradients.smoothgrad(m, x, y, n_samples=4, rng=0),
    "gradcam": lambda m, x, y: gradcam.gradcam(m, m[0], x, y),
    "guided_gradcam": lambda m, x, y: gradcam.guided_gradcam(m, m[0], x, y),
    "accuracy_under_attack": lambda m, x, y: attacks.accuracy_under_attack(
        m, x, y, lambda model, xb, yb: attacks.fgsm(model, xb, yb, eps=0.1)),
}


@pytest.mark.parametrize("name", TRAIN_MODE_CALLS)
def test_a_model_in_train_mode_is_explained_in_eval_mode_and_left_in_train_mode(name):
    model, (x, y) = cnn().train(), batch()
    first, second = (TRAIN_MODE_CALLS[name](model, x, y) for _ in range(2))
    assert all(m.training for m in model.modules())
    if isinstance(first, torch.Tensor):
        torch.testing.assert_close(first, second)
    else:
        assert first == second
    evaluated = TRAIN_MODE_CALLS[name](cnn(), x, y)
    if isinstance(first, torch.Tensor):
        torch.testing.assert_close(first, evaluated)  # what the same model gives in eval mode


# 3. NaN or inf: inputs and model outputs, with a count
def test_non_finite_model_outputs_are_rejected_with_a_row_count():
    x, background = table()[0], table(5)
    with pytest.raises(ValueError, match=r"predict_fn .*NaN or inf .*\b\d+ of \d+"):
        lime.lime_tabular(nan_proba, x, table(), n_features=2, n_samples=50, rng=0)
    with pytest.raises(ValueError, match=r"predict_fn .*NaN or inf .*\b\d+ of \d+"):
        shapley.kernel_shap(nan_proba, x, background, n_samples=14, rng=0)
    with pytest.raises(ValueError, match=r"predict_fn .*NaN or inf .*\b\d+ of \d+"):
        shapley.sampling_shapley(nan_proba, x, background, n_permutations=2, rng=0)
    with pytest.raises(ValueError, match=r"predict_fn .*NaN or inf"):
        lime.lime_binary(lambda Z: np.full(len(Z), np.nan), 5, n_features=2, n_samples=50, rng=0)


def test_non_finite_inputs_are_rejected_with_an_example_count():
    model, (x, y) = cnn(), batch()
    x = x.clone()
    x[1, 0, 2, 2] = float("nan")
    x[3, 0, 0, 0] = float("inf")
    for call in (lambda: gradients.saliency(model, x, y), lambda: gradcam.gradcam(model, model[0], x, y),
                 lambda: attacks.fgsm(model, x, y, eps=0.1), lambda: attacks.pgd(model, x, y, eps=0.1, alpha=0.05,
                                                                                  steps=1, rng=0)):
        with pytest.raises(ValueError, match=r"x must contain only finite values, got NaN or inf in 2 of 4 examples"):
            call()


# 4. float64 batches
def test_a_float64_batch_is_cast_to_the_models_dtype():
    model, (x, y) = cnn(), batch()
    torch.testing.assert_close(gradients.saliency(model, x.double(), y), gradients.saliency(model, x, y))
    assert attacks.fgsm(model, x.double(), y, eps=0.1).dtype == torch.float32
    assert gradcam.gradcam(model, model[0], x.double(), y).dtype == torch.float32


# 5. the named silent calls
def test_the_calls_the_issue_found_silent_fail_at_once():
    X = table()
    with pytest.raises(ValueError, match="predict_fn must return class labels"):
        anchor_tabular(proba, X[0], X, rng=0)
    with pytest.raises(ValueError, match=r"target must be a real number >= 0 and <= 1, got 1.5"):
        counterfactuals.wachter_batch(tabular_model(), X[:3], target=1.5, mad=np.ones(4), steps=2)
    with pytest.raises(ValueError, match=r"feature_names must name every column of X_train \(4\), got 3"):
        lime.tabular_feature_names(X[0], X, ["a", "b", "c"])
    with pytest.raises(TypeError, match="feature_names must be a list of strings"):
        lime.tabular_feature_names(X[0], X, "abcd")
    with pytest.raises(ValueError, match=r"k must be a positive int, got -1"):
        nearest_neighbours(X, X[0], -1)
    with pytest.raises(ValueError, match=r"n must be a positive int, got -1"):
        mnist_tensors("test", n=-1)
    with pytest.raises(ValueError, match=r"std must be finite and positive"):
        Normalize((0.5,), (0,))
    with pytest.raises(TypeError, match=r"box_a must be four numbers \(x0, y0, x1, y1\), got a string '0022'"):
        box_iou("0022", (0, 0, 2, 2))


def test_a_class_index_the_model_does_not_have_is_named_before_lime_runs():
    predict_fn = as_predict_fn(nn.Linear(4, 3), class_index=99)  # the number of outputs is known only on a call
    with pytest.raises(ValueError, match="class_index must be < the model's number of outputs"):
        lime.lime_tabular(predict_fn, table()[0], table(), n_features=2, n_samples=20, rng=0)


# 6. empty batches
def test_empty_batches_get_a_clear_error():
    model, (x, y) = cnn(), batch()
    with pytest.raises(ValueError, match=r"x must hold at least one example"):
        gradients.saliency(model, x[:0], y[:0])
    with pytest.raises(ValueError, match=r"X must hold at least one example"):
        attacks.accuracy_under_attack(model, x[:0], y[:0])
    with pytest.raises(ValueError, match=r"background must not be empty|background must hold"):
        shapley.kernel_shap(proba, table()[0], table()[:0], n_samples=14, rng=0)
    with pytest.raises(ValueError, match=r"X_train must not be empty|X_train must hold"):
        lime.lime_tabular(proba, table()[0], table()[:0], n_features=2, n_samples=20, rng=0)


# 7. messages that name the right parameter
def test_messages_name_the_parameter_that_is_wrong():
    with pytest.raises(ValueError, match=r"the input has 3 features, x in wachter or each row of X in wachter_batch"):
        counterfactuals.wachter(tabular_model(), table()[0][:3], target=0.9, mad=np.ones(4), steps=2)
    with pytest.raises(ValueError, match=r"each row of X in wachter_batch"):
        counterfactuals.wachter_batch(tabular_model(), table()[:, :3], target=0.9, mad=np.ones(4), steps=2)
    with pytest.raises(ValueError, match=r"device must be a torch device"):
        runtime.as_torch_generator(0, device="no_such_device")
    with pytest.raises(ValueError, match=r"labels must be 0/1 labels"):
        lime.parzen_proba(table(), np.arange(len(table())), table()[:2], sigma=1.0)
    with pytest.raises(ValueError, match=r"exercise_id must be a registered exercise"):
        exercises.get_exercise("no_such_exercise")
    model, (x, y) = cnn(), batch()
    with pytest.raises(ValueError, match=r"target must be an int or a 1-D integer tensor of length 3 "
                                         r"\(one per example of x\)"):
        gradients.saliency(model, x[:3], y)
    with pytest.raises(ValueError, match=r"^y must be in \[0, 2\]"):
        attacks.fgsm(model, x, y + 99, eps=0.1)
    for call in (lambda: gradients.smoothgrad(model, x, y, n_samples=2, rng="abc"),
                 lambda: attacks.pgd(model, x, y, eps=0.1, alpha=0.05, steps=1, rng="abc"),
                 lambda: shapley.kernel_shap(proba, table()[0], table(5), n_samples=14, rng="abc"),
                 lambda: lime.lime_tabular(proba, table()[0], table(), n_features=2, n_samples=20, rng="abc")):
        with pytest.raises(TypeError, match=r"^rng must be"):
            call()
