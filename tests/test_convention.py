"""The course's calling convention, checked on every public function of course_utils.xai.

- names: no ``f``, ``num_*``, ``seed``, ``generator``, ``n_repeats`` or ``predict`` as a parameter;
- black-box explainers take ``(predict_fn, x, data, ...)``; torch explainers ``(model, x, target)``
  (``(model, layer, x, target)`` with a layer); attacks ``(model, x, y)``;
- every torch method leaves a model in train mode as it found it (mode of every module,
  BatchNorm's running statistics, parameters, ``requires_grad`` and ``.grad``), computes in
  eval mode (dropout off: two calls agree), and works with a model without parameters;
- Kernel SHAP's memory is bounded;
- every exercise's reference is what the library itself runs.
"""
import importlib
import inspect
import pkgutil
import tracemalloc
from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

import course_utils.xai
from course_utils import exercises, predict
from course_utils.xai import (attacks, counterfactuals, diffusion, evaluation, gradcam, gradients, lime, manipulation,
                              permutation, robustness, shapley)

XAI_MODULES = [importlib.import_module(f"course_utils.xai.{m.name}")
               for m in pkgutil.iter_modules(course_utils.xai.__path__) if not m.name.startswith("_")]
FORBIDDEN = {"f", "num_samples", "num_features", "seed", "generator", "n_repeats", "predict"}
BLACK_BOX_DATA = {"X_train", "background"}


def _public_functions():
    for module in XAI_MODULES:
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj) and obj.__module__ == module.__name__:
                yield f"{module.__name__.rsplit('.', 1)[1]}.{name}", obj


PUBLIC = dict(_public_functions())


def test_every_xai_module_is_covered():
    names = {m.__name__.rsplit(".", 1)[1] for m in XAI_MODULES}
    assert {"anchors", "attacks", "counterfactuals", "evaluation", "gradcam", "gradients", "lime",
            "permutation", "shapley"} <= names
    assert len(PUBLIC) > 60


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_parameter_names_follow_the_convention(name):
    parameters = list(inspect.signature(PUBLIC[name]).parameters)
    assert not FORBIDDEN & set(parameters), f"{name} has {sorted(FORBIDDEN & set(parameters))}"
    if "rng" in parameters:
        default = inspect.signature(PUBLIC[name]).parameters["rng"].default
        assert default is inspect.Parameter.empty or default is None or isinstance(default, int), name


@pytest.mark.parametrize("name", sorted(n for n, fn in PUBLIC.items()
                                        if BLACK_BOX_DATA & set(inspect.signature(fn).parameters)
                                        and "predict_fn" in inspect.signature(fn).parameters))
def test_black_box_explainers_take_predict_fn_x_data(name):
    first = list(inspect.signature(PUBLIC[name]).parameters)[:3]
    assert first[:2] == ["predict_fn", "x"] and first[2] in BLACK_BOX_DATA, f"{name}{tuple(first)}"


@pytest.mark.parametrize("name", sorted(n for n, fn in PUBLIC.items()
                                        if list(inspect.signature(fn).parameters)[:1] == ["model"]
                                        and {"target", "y"} & set(inspect.signature(fn).parameters)))
def test_torch_methods_take_model_x_target(name):
    signature = inspect.signature(PUBLIC[name])
    parameters = list(signature.parameters)
    if "target" in parameters and signature.parameters["target"].kind is inspect.Parameter.KEYWORD_ONLY:
        assert parameters[:2] in (["model", "x"], ["model", "X"]), f"{name}{tuple(parameters)}"  # counterfactuals
        return
    expected = [["model", "x", "target"], ["model", "layer", "x", "target"], ["model", "x", "y"], ["model", "X", "y"],
                ["model", "x", "attributions", "target"], ["model", "x", "target_map", "target"]]
    assert any(parameters[:len(e)] == e for e in expected), f"{name}{tuple(parameters)}"


def test_black_box_explainers_return_an_explanation():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    predict_fn = lambda Z: 1 / (1 + np.exp(-Z @ np.array([1.0, -1.0, 0.5, 0.0])))  # noqa: E731
    results = [lime.lime_tabular(predict_fn, X[0], X, n_features=2, n_samples=200, rng=0),
               lime.lime_binary(lambda M: M[:, 0] * 0.5, 4, n_features=2, n_samples=50, rng=0),
               shapley.kernel_shap(predict_fn, X[0], X[:5], n_samples=14, rng=0),
               shapley.sampling_shapley(predict_fn, X[0], X[:5], n_permutations=4, rng=0),
               shapley.lime_coalitions(predict_fn, X[0], X[:5], n_samples=30, rng=0)]
    for result in results:
        assert type(result).__name__ == "Explanation" and result.values.shape == (4,) and result.n_evaluations > 0
    for result in results[2:4]:  # Shapley values add up to f(x) - base
        assert result.base_value + result.values.sum() == pytest.approx(float(predict_fn(X[:1])[0]), abs=1e-10)


# ------------------------------------------------------------------ mode, statistics, device


class TrainModeCNN(nn.Module):
    """A CNN with BatchNorm and dropout: in train mode its outputs change from call to call."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.drop = nn.Dropout(0.5)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4 * 6 * 6, 3)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
            self.bn.running_mean.copy_(torch.randn(4, generator=generator) * 0.1)
            self.bn.running_var.copy_(torch.rand(4, generator=generator) + 0.5)

    def forward(self, x):
        return self.fc(self.drop(self.flatten(self.relu(self.bn(self.conv(x))))))


def _state(model):
    return ({name: module.training for name, module in model.named_modules()},
            {k: v.clone() for k, v in model.state_dict().items()},
            [(p.requires_grad, None if p.grad is None else p.grad.clone()) for p in model.parameters()])


X6 = torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(1))
Y6 = torch.tensor([0, 1, 2, 1])
MAPS = torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(2))
TORCH_METHODS = {
    "saliency": lambda m: gradients.saliency(m, X6, Y6),
    "saliency (max over channels)": lambda m: gradients.saliency(m, X6, Y6, absolute=True, max_over_channels=True),
    "input_x_gradient": lambda m: gradients.input_x_gradient(m, X6, Y6),
    "integrated_gradients": lambda m: gradients.integrated_gradients(m, X6, Y6, steps=4),
    "smoothgrad": lambda m: gradients.smoothgrad(m, X6, Y6, n_samples=2, rng=0),
    "completeness_gap": lambda m: gradients.completeness_gap(m, X6, Y6, X6),
    "gradcam": lambda m: gradcam.gradcam(m, m.relu, X6, Y6),
    "layer_activations_and_gradients": lambda m: gradcam.layer_activations_and_gradients(m, m.relu, X6, Y6)[1],
    "guided_backprop": lambda m: gradcam.guided_backprop(m, X6, Y6),
    "guided_gradcam": lambda m: gradcam.guided_gradcam(m, m.relu, X6, Y6),
    "heatmaps": lambda m: gradcam.heatmaps(m, m.relu, X6, Y6)["Grad-CAM"],
    "class_model_visualisation": lambda m: gradcam.class_model_visualisation(m, [0, 2], (1, 6, 6), steps=3),
    "fgsm": lambda m: attacks.fgsm(m, X6, Y6, eps=0.1),
    "pgd": lambda m: attacks.pgd(m, X6, Y6, eps=0.1, alpha=0.05, steps=2, rng=0),
    "cw_l2": lambda m: attacks.cw_l2(m, X6, Y6, steps=3),
    "accuracy_under_attack": lambda m: torch.tensor(attacks.accuracy_under_attack(m, X6, Y6, partial(attacks.fgsm, eps=0.1))),
    "erasure_curve": lambda m: torch.as_tensor(evaluation.erasure_curve(m, X6, MAPS, [0, 5, 20])),
    "max_sensitivity": lambda m: evaluation.max_sensitivity(lambda b: gradients.saliency(m, b, Y6), X6,
                                                            n_samples=2, rng=0),
    "batched_predict": lambda m: torch.as_tensor(predict.batched_predict(m, X6)),
}


@pytest.mark.parametrize("method", sorted(TORCH_METHODS))
def test_torch_methods_leave_a_train_mode_model_unchanged_and_compute_in_eval_mode(method):
    model = TrainModeCNN().train()
    before = _state(model)
    first = TORCH_METHODS[method](model)
    modes, state, grads = _state(model)
    assert modes == before[0], "the mode of some module changed"
    for key, value in before[1].items():
        assert torch.equal(state[key], value), f"{key} changed"
    assert [g[0] for g in grads] == [g[0] for g in before[2]] and all(g[1] is None for g in grads)
    if method not in ("smoothgrad", "pgd", "max_sensitivity"):  # the others draw nothing: dropout must be off
        torch.testing.assert_close(TORCH_METHODS[method](model), first)


class NoParameters(nn.Module):
    """Three 'logits' from fixed pooling: a model without parameters or buffers."""

    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d((1, 3))
        self.flatten = nn.Flatten()

    def forward(self, x):
        return self.flatten(self.pool(self.relu(x - 0.3)))


@pytest.mark.parametrize("method", sorted(set(TORCH_METHODS) - {"cw_l2"}))
def test_torch_methods_work_with_a_model_without_parameters(method):
    out = TORCH_METHODS[method](NoParameters())
    assert torch.isfinite(torch.as_tensor(out)).all()


def test_float64_inputs_are_cast_to_the_model_dtype():
    model = TrainModeCNN().eval()
    torch.testing.assert_close(gradients.saliency(model, X6.double(), Y6), gradients.saliency(model, X6, Y6))
    assert attacks.fgsm(model, X6.double(), Y6, eps=0.1).dtype == torch.float32


def test_bad_inputs_to_the_torch_layer_are_named():
    model = TrainModeCNN().eval()
    nan = X6.clone()
    nan[1, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="x must contain only finite values, got NaN or inf in 1 of 4 examples"):
        gradients.saliency(model, nan, Y6)
    with pytest.raises(ValueError, match="x must hold at least one example"):
        gradcam.gradcam(model, model.relu, X6[:0], 0)
    with pytest.raises(TypeError, match="x must be a floating-point torch.Tensor, got ndarray"):
        attacks.fgsm(model, X6.numpy(), Y6, eps=0.1)
    with pytest.raises(ValueError, match="model returned NaN or inf for 4 of 4 examples"):
        gradients.saliency(nn.Sequential(nn.Flatten(), nn.Linear(36, 3), nn.Threshold(10.0, float("nan"))), X6, 0)
    with pytest.raises(TypeError, match="rng must be None, an int seed, a numpy.random.Generator or a torch.Generator, "
                                        "got 'abc'"):
        gradients.smoothgrad(model, X6, Y6, rng="abc")


# ------------------------------------------------------------------ memory


def test_kernel_shap_memory_is_bounded():
    """5,000 coalitions x 500 background rows x 60 features: 1.2 GB if stacked at once."""
    rng = np.random.default_rng(0)
    d = 60
    w = rng.normal(size=d)
    x, background = rng.normal(size=d), rng.normal(size=(500, d))
    tracemalloc.start()
    try:
        result = shapley.kernel_shap(lambda X: X @ w, x, background, n_samples=5000, rng=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 300 * 2**20, f"peak {peak / 2**20:.0f} MB"
    np.testing.assert_allclose(result.values, w * (x - background.mean(axis=0)), atol=1e-8)  # linear: exact


# ------------------------------------------------------------------ exercises are the library's own code

def _spied(module, name, run):
    """Run ``run()`` with ``module.name`` wrapped in a call counter; return the count."""
    original, calls = getattr(module, name), []

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    setattr(module, name, spy)
    try:
        run()
    finally:
        setattr(module, name, original)
    return len(calls)


_X = np.random.default_rng(0).normal(size=(60, 5))
_LOGISTIC = lambda Z: 1 / (1 + np.exp(-Z[:, 0] + Z[:, 1]))  # noqa: E731
_MLP = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 2))
_CNN = TrainModeCNN()
_PROBABILITY = nn.Sequential(nn.Linear(5, 1), nn.Sigmoid(), nn.Flatten(0))


def _tiny_counterfactual():
    from course_utils.models import DDPMUNet

    denoiser, classifier = DDPMUNet((8, 8, 8), emb_dim=8), nn.Sequential(nn.Flatten(), nn.Linear(784, 3))
    return diffusion.diffusion_counterfactual(denoiser, classifier, torch.rand(2, 1, 28, 28), 1, t_start=20,
                                              guidance_scale=0.2, steps=2, schedule=diffusion.linear_schedule(50), rng=0)


LIBRARY_PATHS = {
    "1.2": (permutation, "permutation_drop",
            lambda: permutation.permutation_importance(lambda Z: (Z[:, 0] > 0).astype(int), _X, _X[:, 0] > 0, rng=0)),
    "2.1": (lime, "kernel", lambda: lime.lime_tabular(_LOGISTIC, _X[0], _X, n_features=2, n_samples=100, rng=0)),
    "2.5": (lime, "sample_distances", lambda: lime.lime_binary(lambda M: M[:, 0], 4, n_features=2, n_samples=50, rng=0)),
    "2.2": (lime, "weighted_ridge", lambda: lime.lime_tabular(_LOGISTIC, _X[0], _X, n_features=2, n_samples=100, rng=0)),
    "2.3": (lime, "forward_selection",
            lambda: lime.lime_tabular(_LOGISTIC, _X[0], _X, n_features=2, n_samples=100, rng=0)),
    "3.2": (shapley, "shapley_kernel_weight", lambda: shapley.kernel_shap(_LOGISTIC, _X[0], _X[:3], n_samples=30)),
    "3.3": (shapley, "constrained_wls", lambda: shapley.kernel_shap(_LOGISTIC, _X[0], _X[:3], n_samples=10, rng=0)),
    "4.1": (gradients, "path_integral", lambda: gradients.integrated_gradients(_MLP, torch.rand(2, 5), 1, steps=3)),
    "4.3": (gradients, "rescale_multiplier", lambda: gradients.deeplift_rescale(_MLP, torch.rand(2, 5), 1)),
    "6.1": (counterfactuals, "mad_distance",
            lambda: counterfactuals.wachter_batch(_PROBABILITY, _X[:2], target=0.5, mad=np.ones(5), steps=5)),
    "6.2": (counterfactuals, "wachter_loss",
            lambda: counterfactuals.wachter_batch(_PROBABILITY, _X[:2], target=0.5, mad=np.ones(5), steps=5)),
    "7.1": (gradcam, "gradcam_weights", lambda: gradcam.gradcam(_CNN, _CNN.relu, X6, 0)),
    "7.2": (gradcam, "gradcam_map", lambda: gradcam.gradcam(_CNN, _CNN.relu, X6, 0)),
    "7.4": (gradcam, "layer_activations_and_gradients", lambda: gradcam.gradcam(_CNN, _CNN.relu, X6, 0)),
    "7.3": (evaluation, "box_iou", lambda: evaluation.weak_localisation(MAPS[:, 0], [(0, 0, 3, 3)] * 4)),
    "8.1": (attacks, "fgsm_step", lambda: attacks.pgd(TrainModeCNN(), X6, Y6, eps=0.1, alpha=0.05, steps=2, rng=0)),
    "8.3": (attacks, "project_linf", lambda: attacks.pgd(TrainModeCNN(), X6, Y6, eps=0.1, alpha=0.05, steps=2, rng=0)),
    "8.4": (attacks, "pgd_step", lambda: attacks.pgd(TrainModeCNN(), X6, Y6, eps=0.1, alpha=0.05, steps=2, rng=0)),
    "8.5": (attacks, "cw_objective", lambda: attacks.cw_l2(TrainModeCNN(), X6, Y6, steps=2)),
    "9.1": (evaluation, "max_relative_change",
            lambda: evaluation.max_sensitivity(lambda b: gradients.saliency(_CNN, b, 0), X6, n_samples=2, rng=0)),
    "9.2": (robustness, "cross_entropy_and_penalty", lambda: robustness.input_gradient_penalty(_CNN, X6, Y6)),
    "9.3": (robustness, "topk_objective",
            lambda: robustness.fragility_attack(_CNN, X6, Y6, eps=0.05, steps=1, k=4, rng=0)),
    "10.1": (manipulation, "detector_training_set", lambda: manipulation.fooling_scaffold(
        lambda Z: np.column_stack([Z[:, 0] > 0, Z[:, 0] <= 0]).astype(float),
        lambda Z: np.column_stack([Z[:, 1] > 0, Z[:, 1] <= 0]).astype(float), _X, n_perturbations=2, rng=0)),
    "10.2": (manipulation, "route", lambda: manipulation.fooling_scaffold(
        lambda Z: np.column_stack([Z[:, 0] > 0, Z[:, 0] <= 0]).astype(float),
        lambda Z: np.column_stack([Z[:, 1] > 0, Z[:, 1] <= 0]).astype(float), _X, n_perturbations=2, rng=0)(_X[:3])),
    "10.3": (manipulation, "manipulation_loss", lambda: manipulation.manipulate_input(
        _CNN, X6[:1], MAPS[:1], 0, steps=1, rng=0)),
    "11.1": (evaluation, "curve_auc", lambda: evaluation.evaluate_explanations(
        lambda m, b, t: gradients.saliency(m, b, t), _CNN, X6, Y6, n_steps=2, n_infidelity=2, n_sensitivity=1, rng=0)),
    "11.2": (evaluation, "rise_saliency", lambda: evaluation.rise(_CNN, X6, Y6, n_masks=8, rng=0)),
    "11.3": (evaluation, "infidelity_from_samples",
             lambda: evaluation.infidelity(_CNN, X6, MAPS, Y6, n_samples=2, rng=0)),
    "12.1": (diffusion, "add_noise", _tiny_counterfactual),
    "12.2": (diffusion, "ddim_step", _tiny_counterfactual),
    "12.3": (diffusion, "guided_x0", _tiny_counterfactual),
}
# References that are public methods in their own right (the lesson's learner writes the method itself)
# and the few that are not on a library path, each with the reason.
OWN_RIGHT = {"1.1": "nearest_neighbours: explanation by example", "2.4": "submodular_pick: SP-LIME",
             "4.2": "completeness_gap: the completeness measurement",
             "8.2": "linear_min_linf: the exact smallest L-inf budget against a linear classifier, a measurement "
                    "lesson 08 makes on its softmax model",
             "0.1": "softmax: the tour's warm-up, it shows how the checker works",
             "3.1": "marginal_contributions: the definition the lesson starts from; exact_shapley and "
                    "sampling_shapley compute the same sums vectorised and are tested against it",
             "6.3": "lambda_schedule: the one-row rule (double lambda until the counterfactual is valid) "
                    "that wachter_batch applies to all rows at once, vectorised"}


def test_every_exercise_is_accounted_for():
    from course_utils.xai import anchors  # noqa: F401 (registers lesson 05's exercises)

    bank = exercises.all_exercises()
    lesson_05 = {i for i in bank if i.startswith("5.")}
    unaccounted = set(bank) - set(LIBRARY_PATHS) - set(OWN_RIGHT) - lesson_05
    assert not unaccounted, f"exercises without a library path or a stated reason: {sorted(unaccounted)}"


@pytest.mark.parametrize("exercise_id", sorted(LIBRARY_PATHS))
def test_exercise_references_are_what_the_library_runs(exercise_id):
    module, name, run = LIBRARY_PATHS[exercise_id]
    assert exercises.get_exercise(exercise_id).reference is getattr(module, name)
    assert _spied(module, name, run) > 0, f"{module.__name__}.{name} is not on the library's path"
