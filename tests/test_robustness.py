"""Robustness of explanations (lesson 09): max-sensitivity against captum, top-k intersection, the
input-gradient penalty by hand, Meyer et al.'s shift bound, the fragility attack, the new checkpoint."""
import copy
import json

import numpy as np
import pytest
import torch
from captum.attr import Saliency
from captum.metrics import sensitivity_max
from torch import nn

from course_utils import data, load_pretrained, models
from course_utils.exercises import get_exercise
from course_utils.xai import robustness
from course_utils.xai.attacks import accuracy_under_attack
from course_utils.xai.evaluation import (
    max_relative_change,
    max_sensitivity,
    top_k_intersection,
)
from course_utils.xai.manipulation import softplus_model
from course_utils.xai.robustness import (
    centre_of_mass,
    cross_entropy_and_penalty,
    explanation_shift,
    fine_tune,
    fragility_attack,
    input_gradient_penalty,
    lipschitz_penalty,
    topk_objective,
)


def _small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def _images(n: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 6, 6, generator=torch.Generator().manual_seed(seed))


def _saliency(model, target):
    def explain(batch):
        batch = batch.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(batch).gather(1, target[:, None]).sum(), batch)
        return grad
    return explain


@pytest.fixture(scope="module")
def mnist():
    return data.mnist_tensors("test", n=12)


@pytest.fixture(scope="module")
def cnn():
    return load_pretrained("mnist_cnn")


# ------------------------------------------------------------------ max-sensitivity


def test_a_linear_models_saliency_has_max_sensitivity_zero():
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 3))
    target = torch.tensor([0, 1, 2, 0, 1])
    values = max_sensitivity(_saliency(model, target), _images(), radius=0.1, n_samples=7, rng=0)
    assert values.shape == (5,) and torch.equal(values, torch.zeros(5, dtype=values.dtype))


def test_max_sensitivity_equals_captum_on_the_same_perturbations():
    # Replay our perturbations through captum's perturb_func: captum repeats each example
    # n_samples times (row i * S + s), so the values must agree to float precision.
    model, x, target, S, radius = _small_cnn(), _images(), torch.tensor([0, 2, 1, 1, 0]), 6, 0.05
    ours = max_sensitivity(_saliency(model, target), x, radius=radius, n_samples=S, rng=3)
    generator = torch.Generator().manual_seed(3)
    deltas = torch.stack([(torch.rand(x.shape, generator=generator) * 2 - 1) * radius for _ in range(S)], dim=1)

    def replay(inputs, perturb_radius):
        return inputs + deltas.reshape(-1, *x.shape[1:])

    theirs = sensitivity_max(Saliency(model).attribute, x, perturb_func=replay, n_perturb_samples=S,
                             target=target, abs=False)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-5)


def test_identity_explanation_matches_captums_distribution():
    # e(x) = x: the sensitivity is max_s ||delta_s|| / ||x||; captum draws its own deltas, so
    # compare the means over 400 examples (each a max of 10 draws): they agree within 1%.
    x = 0.5 + torch.rand(400, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    ours = max_sensitivity(lambda b: b, x, radius=0.1, n_samples=10, rng=1)
    torch.manual_seed(1)
    theirs = sensitivity_max(lambda inputs: inputs, x, perturb_radius=0.1, n_perturb_samples=10)
    assert abs(ours.mean().item() / theirs.mean().item() - 1) < 0.01
    # and the expected value: ||delta|| ~ radius * sqrt(64 / 3), the max of 10 a little above it
    assert 0.9 < (ours * x.flatten(1).norm(dim=1)).mean().item() / (0.1 * np.sqrt(64 / 3)) < 1.1


def test_max_sensitivity_radius_zero_measures_the_noise_floor_and_rng_reproduces():
    x = _images()
    noisy = lambda b: b + 0.01 * torch.randn(b.shape)
    assert (max_sensitivity(noisy, x, radius=0.0, n_samples=5, rng=0) > 0).all()
    assert torch.equal(max_sensitivity(lambda b: b ** 2, x, radius=0.0, rng=0), torch.zeros(5, dtype=torch.float64))
    a = max_sensitivity(lambda b: b ** 2, x, rng=np.random.default_rng(4))
    b = max_sensitivity(lambda b: b ** 2, x, rng=np.random.default_rng(4))
    assert torch.equal(a, b)


def test_max_relative_change_exact_and_errors():
    reference = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    perturbed = torch.stack([reference, reference + torch.tensor([[0.0, 1.0], [1.0, 0.0]])])
    got = max_relative_change(reference, perturbed)
    assert got[0].item() == pytest.approx(0.2) and torch.isnan(got[1])
    with pytest.raises(ValueError, match="perturbed must have shape"):
        max_relative_change(reference, reference)
    with pytest.raises(ValueError, match="n_samples"):
        max_sensitivity(lambda b: b, _images(), n_samples=0)
    with pytest.raises(ValueError, match="radius"):
        max_sensitivity(lambda b: b, _images(), radius=-0.1)
    with pytest.raises(ValueError, match="one explanation per example"):
        max_sensitivity(lambda b: b[:1], _images())


# ------------------------------------------------------------------ top-k intersection


def test_top_k_intersection_exact_cases():
    assert top_k_intersection([[3, -2, 1, 0]], [[0, 5, 4, 1]], 2).tolist() == [0.5]
    maps = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(top_k_intersection(maps, -maps, 5), np.ones(3))  # magnitudes
    # channels are summed after absolute values: (0, 0) has |1| + |-1| = 2 > 1.5 (signed, it would cancel to 0
    # and (1, 1) would come first)
    a = torch.zeros(1, 2, 2, 2)
    a[0, 0, 0, 0], a[0, 1, 0, 0], a[0, 0, 1, 1] = 1.0, -1.0, 1.5
    b = torch.zeros(1, 2, 2)
    b[0, 0, 0], b[0, 1, 1] = 2.0, 1.0
    assert top_k_intersection(a, b[:, None], 1).tolist() == [1.0] and top_k_intersection(a, b[:, None], 2).tolist() == [1.0]
    with pytest.raises(ValueError, match="k must be at most"):
        top_k_intersection(maps, maps, 17)


# ------------------------------------------------------------------ the input-gradient penalty


def test_penalty_equals_a_hand_autograd_computation_and_is_differentiable():
    model, x = _small_cnn(1), _images(4)
    y = torch.tensor([0, 1, 2, 1])
    penalty = input_gradient_penalty(model, x, y)
    by_hand = []
    for i in range(4):
        xi = x[i:i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(nn.functional.cross_entropy(model(xi), y[i:i + 1]), xi)
        by_hand.append(g.pow(2).sum())
    torch.testing.assert_close(penalty, torch.stack(by_hand).mean())
    # differentiable in the parameters: compare with a central finite difference along a random direction
    (grad_w,) = torch.autograd.grad(penalty, model[3].weight)
    direction = torch.randn_like(model[3].weight, generator=torch.Generator().manual_seed(2))
    h, w = 1e-3, model[3].weight.detach().clone()
    values = []
    for sign in (1, -1):
        with torch.no_grad():
            model[3].weight.copy_(w + sign * h * direction)
        values.append(input_gradient_penalty(model, x, y).item())
    with torch.no_grad():
        model[3].weight.copy_(w)
    assert (grad_w * direction).sum().item() == pytest.approx((values[0] - values[1]) / (2 * h), rel=2e-2)


def test_penalty_of_a_linear_model_in_closed_form_and_mode_restored():
    # logits W x + b, CE gradient (p - onehot(y)) W: at x = 0 with W rows w0, w1 and b = 0, p = 1/2
    model = nn.Sequential(nn.Linear(3, 2, bias=False))
    w = model[0].weight.detach()
    expected = (0.5 * (w[1] - w[0])).pow(2).sum()
    torch.testing.assert_close(input_gradient_penalty(model, torch.zeros(4, 3), 0), expected)
    bn = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 2)).train()
    stats = bn[1].running_mean.clone()
    values = [input_gradient_penalty(bn, torch.randn(8, 3, generator=torch.Generator().manual_seed(0)), 1)
              for _ in range(2)]
    assert bn.training and bn[2].training and torch.equal(bn[1].running_mean, stats)
    assert torch.equal(values[0], values[1])  # eval mode: no dropout noise


def test_cross_entropy_and_penalty_is_the_penalty_and_the_mean_loss():
    model, x, y = _small_cnn(2), _images(3), torch.tensor([2, 0, 1])
    ce, penalty = cross_entropy_and_penalty(model, x, y)
    torch.testing.assert_close(ce, nn.functional.cross_entropy(model(x), y))
    torch.testing.assert_close(penalty, input_gradient_penalty(model, x, y))
    assert ce.requires_grad and penalty.requires_grad


def test_penalty_errors():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        input_gradient_penalty("model", _images(), 0)
    with pytest.raises(ValueError, match="y must be"):
        input_gradient_penalty(_small_cnn(), _images(), torch.zeros(3, dtype=torch.long))


def test_lipschitz_penalty_zero_for_a_constant_model_positive_otherwise():
    constant = nn.Sequential(nn.Flatten(), nn.Linear(36, 3))
    with torch.no_grad():
        constant[1].weight.zero_()
    x, y = _images(), torch.tensor([0, 1, 2, 0, 1])
    assert lipschitz_penalty(constant, x, y, rng=0).item() == 0.0
    value = lipschitz_penalty(_small_cnn(), x, y, eps=0.1, rng=0)
    assert value.item() > 0 and value.requires_grad
    with pytest.raises(ValueError, match="eps"):
        lipschitz_penalty(_small_cnn(), x, y, eps=0.0)


def test_fine_tune_leaves_the_model_and_lowers_the_loss():
    model, x = _small_cnn(3), _images(64, seed=1)
    y = (x.flatten(1).mean(dim=1) > 0.5).long()
    before = copy.deepcopy(model.state_dict())
    tuned = fine_tune(model, x, y, epochs=20, lr=1e-2, batch_size=16, rng=0,
                      penalty=input_gradient_penalty, lam=0.1)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not tuned.training
    loss = lambda m: nn.functional.cross_entropy(m(x), y).item()
    assert loss(tuned) < loss(model)


# ------------------------------------------------------------------ model shift (Meyer et al., Lemma 1)


def test_explanation_shift_of_identical_models_is_zero():
    model = _small_cnn()
    shift = explanation_shift(model, copy.deepcopy(model), _images(), 1, n_points=4)
    assert shift.gradient_change == 0 and shift.parameter_distance == 0 and shift.lipschitz == 0


def test_explanation_shift_of_linear_models_is_exact():
    # f(x; W) = W x: grad_x f_t = W[t] for every x, and it moves linearly along the segment
    a, b = nn.Linear(5, 3), nn.Linear(5, 3)
    shift = explanation_shift(a, b, torch.randn(7, 5), 2, n_points=5)
    change = (a.weight[2] - b.weight[2]).norm().item()
    distance = torch.cat([(pa - pb).flatten() for pa, pb in zip(a.parameters(), b.parameters())]).norm().item()
    assert shift.gradient_change == pytest.approx(change, rel=1e-5)
    assert shift.parameter_distance == pytest.approx(distance, rel=1e-5)
    np.testing.assert_allclose(shift.segment_lipschitz, change / distance, rtol=1e-4)
    assert shift.bound == pytest.approx(change, rel=1e-4)


def test_shift_bound_holds_on_mnist_and_two_points_give_equality(cnn, mnist):
    X, y = mnist
    robust = load_pretrained("mnist_cnn_robust")
    for n_points in (2, 3, 6):
        shift = explanation_shift(cnn, robust, X, y, n_points=n_points)
        assert shift.gradient_change <= shift.bound * (1 + 1e-6)
        assert len(shift.segment_lipschitz) == n_points - 1
    assert explanation_shift(cnn, robust, X, y, n_points=2).bound == pytest.approx(shift.gradient_change, rel=1e-5)


def test_explanation_shift_errors():
    with pytest.raises(ValueError, match="architecture"):
        explanation_shift(nn.Linear(3, 2), nn.Linear(4, 2), torch.randn(2, 3), 0)
    with pytest.raises(ValueError, match="n_points must be at least 2"):
        explanation_shift(nn.Linear(3, 2), nn.Linear(3, 2), torch.randn(2, 3), 0, n_points=1)


# ------------------------------------------------------------------ fragility (Ghorbani et al.)


@pytest.mark.parametrize("kind", ["topk", "mass", "random"])
def test_fragility_attack_budget_box_and_unchanged_predictions(cnn, mnist, kind):
    X, _ = mnist
    label = cnn(X).argmax(dim=1)
    cnn.train()
    x_adv = fragility_attack(cnn, X, label, eps=0.08, steps=6, k=40, kind=kind, rng=0)
    assert cnn.training  # mode restored
    cnn.eval()
    assert (x_adv - X).abs().max() <= 0.08 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert torch.equal(cnn(x_adv).argmax(dim=1), label)


def test_targeted_topk_attack_moves_the_map_more_than_random_signs(cnn, mnist):
    X, _ = mnist
    label = cnn(X).argmax(dim=1)
    explain = _saliency(cnn, label)

    def overlap(x_adv):
        return top_k_intersection(explain(X), explain(x_adv), 40).mean()

    targeted = overlap(fragility_attack(cnn, X, label, eps=0.1, steps=8, k=40, kind="topk"))
    random = overlap(fragility_attack(cnn, X, label, eps=0.1, steps=8, k=40, kind="random", rng=0))
    assert targeted < random - 0.15


def test_topk_objective_centre_of_mass_and_surrogate():
    maps = torch.tensor([[[1.0, 3.0], [0.0, 0.0]]])
    assert topk_objective(maps, torch.tensor([[[0.0, 1.0], [0.0, 0.0]]])).item() == pytest.approx(0.75)
    torch.testing.assert_close(centre_of_mass(maps), torch.tensor([[0.0, 0.75]]))
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    surrogate = softplus_model(model, beta=1000.0)
    assert isinstance(surrogate[1], nn.Softplus) and isinstance(model[1], nn.ReLU)
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(surrogate(x), model(x), atol=1e-2, rtol=0)


def test_fragility_attack_errors(cnn, mnist):
    X, y = mnist
    with pytest.raises(ValueError, match="kind must be one of"):
        fragility_attack(cnn, X, y, eps=0.1, steps=2, k=10, kind="centre")
    with pytest.raises(ValueError, match="k must be at most"):
        fragility_attack(cnn, X, y, eps=0.1, steps=2, k=10_000)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fragility_attack(cnn, X + 2, y, eps=0.1, steps=2, k=10)


def test_exercise_references_pass_their_own_cases():
    for exercise_id in ("9.1", "9.2", "9.3"):
        exercise = get_exercise(exercise_id)
        assert exercise.reference in (max_relative_change, cross_entropy_and_penalty, topk_objective)
        for args in exercise.cases(np.random.default_rng(0)):
            exercise.reference(*args)
    assert robustness.EXERCISES.keys() == {"9.1", "9.2", "9.3"}


# ------------------------------------------------------------------ the gradient-regularised checkpoint


def test_gradreg_checkpoint_card():
    card = json.loads(models.checkpoint_path("mnist_cnn_gradreg").with_suffix(".json").read_text())
    assert card["test_accuracy"] >= 0.985
    assert card["fgsm_eps0.1_accuracy"] > card["mnist_cnn_fgsm_eps0.1_accuracy"]
    assert "10000" in card["fgsm_evaluation"] and "course_utils.train mnist_cnn_gradreg" in card["command"]
    model = models.mnist_cnn_gradreg()
    assert models.gradcam_layer(model) is model.relu2


def test_gradreg_checkpoint_meets_the_issues_fgsm_target():
    card = json.loads(models.checkpoint_path("mnist_cnn_gradreg").with_suffix(".json").read_text())
    assert card["fgsm_eps0.1_accuracy"] >= card["mnist_cnn_fgsm_eps0.1_accuracy"] + 0.05


def test_gradreg_model_loads_and_is_accurate():
    X, y = data.mnist_tensors("test", n=300)
    gradreg = load_pretrained("mnist_cnn_gradreg")
    assert accuracy_under_attack(gradreg, X, y) >= 0.97


def test_docstring_examples_run():
    import doctest

    result = doctest.testmod(robustness, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 2 and result.failed == 0
