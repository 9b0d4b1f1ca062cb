"""Adversarial attacks by hand: budgets, exact small cases, captum's FGSM/PGD, the course's models."""
import itertools
import json
from functools import partial

import pytest
import torch
from torch import nn

from course_utils import data, load_pretrained, models
from course_utils.xai import attacks
from course_utils.xai.attacks import (accuracy_robustness_area, accuracy_under_attack, accuracy_vs_eps, cw_l2,
                                      cw_objective, fgsm, fgsm_step, margin, pgd, project_linf)


def _linear_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(9, 3))


def _batch(n: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 3, 3, generator=generator), torch.randint(0, 3, (n,), generator=generator)


@pytest.fixture(scope="module")
def mnist():
    return data.mnist_tensors("test", n=100)


@pytest.fixture(scope="module")
def cnn():
    return load_pretrained("mnist_cnn")


# ------------------------------------------------------------------ exact small cases


def test_fgsm_on_a_linear_model_steps_against_the_weights():
    # Two classes, logits (w.x, 0) and label 0: d CE / dx = -(1 - p_0) w, so FGSM moves by -eps * sign(w).
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, bias=False))
    w = torch.tensor([0.5, -2.0, 1.0, -0.1])
    with torch.no_grad():
        model[1].weight.copy_(torch.stack([w, torch.zeros(4)]))
    x = torch.tensor([[0.5, 0.5, 0.95, 0.02]]).view(1, 1, 2, 2)
    x_adv = fgsm(model, x, torch.tensor([0]), eps=0.1)
    expected = torch.tensor([0.4, 0.6, 0.85, 0.12]).view(1, 1, 2, 2)
    torch.testing.assert_close(x_adv, expected)
    # targeted towards class 0 moves the other way, and clips at the box: 0.95 + 0.1 -> 1.0, 0.02 - 0.1 -> 0.
    x_target = fgsm(model, x, torch.tensor([0]), eps=0.1, targeted=True)
    torch.testing.assert_close(x_target, torch.tensor([0.6, 0.4, 1.0, 0.0]).view(1, 1, 2, 2))


def test_projection_and_step_small_cases():
    x = torch.tensor([0.0, 0.5, 1.0, 0.95])
    torch.testing.assert_close(project_linf(torch.tensor([-0.3, 0.9, 0.7, 1.4]), x, 0.2),
                               torch.tensor([0.0, 0.7, 0.8, 1.0]))
    torch.testing.assert_close(fgsm_step(x, torch.tensor([-1.0, 3.0, 0.0, 2.0]), 0.1),
                               torch.tensor([0.0, 0.6, 1.0, 1.0]))


def test_linear_min_linf_is_the_exact_boundary_distance():
    generator = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(4, 6, generator=generator), torch.randn(4, generator=generator)
    x = torch.rand(30, 6, generator=generator)
    y = (x @ weight.T + bias).argmax(1)
    budget = attacks.linear_min_linf(weight, bias, x, y)
    for i in range(len(x)):
        # the budget for the closest class, spent along -sign(w_y - w_j), flips the prediction ...
        j = min((j for j in range(4) if j != y[i]), key=lambda j: float(
            ((weight[y[i]] - weight[j]) @ x[i] + bias[y[i]] - bias[j]) / (weight[y[i]] - weight[j]).abs().sum()))
        direction = -(weight[y[i]] - weight[j]).sign()
        moved = (x[i] + 1.001 * budget[i] * direction) @ weight.T + bias
        assert moved[j] > moved[y[i]]
        # ... and no sign pattern of a slightly smaller budget does (the L-inf ball's extreme points)
        corners = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=6)))
        logits = (x[i] + 0.999 * budget[i] * corners) @ weight.T + bias
        assert (logits.argmax(1) == y[i]).all()
    wrong = (y + 1) % 4
    assert torch.equal(attacks.linear_min_linf(weight, bias, x, wrong)[(x @ weight.T + bias).argmax(1) != wrong],
                       torch.zeros(30))
    with pytest.raises(ValueError, match="must agree"):
        attacks.linear_min_linf(weight, bias[:3], x, y)


def test_pgd_step_is_one_iteration_of_pgd():
    model = nn.Sequential(nn.Flatten(), nn.Linear(9, 5), nn.Tanh(), nn.Linear(5, 3))
    x = torch.rand(6, 1, 3, 3, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    one = attacks.pgd(model, x, y, eps=0.1, alpha=0.04, steps=1, random_start=False)
    assert torch.equal(attacks.pgd_step(model, x, y, x, 0.1, 0.04), one)
    assert not torch.equal(attacks.pgd_step(model, x, y, x, 0.1, 0.04, targeted=True), one)


def test_margin_and_cw_objective_by_hand():
    logits = torch.tensor([[2.0, 5.0, 1.0], [0.0, -1.0, 3.0]])
    y = torch.tensor([1, 0])
    torch.testing.assert_close(margin(logits, y), torch.tensor([3.0, -3.0]))
    x = torch.zeros(2, 1, 1, 2)
    x_adv = torch.tensor([[0.3, 0.4], [0.0, 0.1]]).view(2, 1, 1, 2)
    # distances 0.25 and 0.01; untargeted: c * max(margin, -kappa)
    torch.testing.assert_close(cw_objective(x_adv, x, logits, y, c=2.0, kappa=1.0), torch.tensor([6.25, -1.99]))
    # targeted (y are targets): c * max(-margin, -kappa)
    torch.testing.assert_close(cw_objective(x_adv, x, logits, y, c=2.0, kappa=0.5, targeted=True),
                               torch.tensor([-0.75, 6.01]))


def test_accuracy_robustness_area():
    assert accuracy_robustness_area([0.0, 0.1, 0.3], [1.0, 0.5, 0.5]) == pytest.approx(0.175)
    with pytest.raises(ValueError, match="strictly increasing"):
        accuracy_robustness_area([0.0, 0.0, 0.1], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="same length"):
        accuracy_robustness_area([0.0, 0.1], [1.0])


# ------------------------------------------------------------------ budgets, determinism, the model left alone


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.3])
def test_budgets_and_clamping(eps):
    model = _linear_model()
    x, y = _batch(50)
    x[:, :, 0, 0], x[:, :, 1, 1] = 0.0, 1.0
    for x_adv in (fgsm(model, x, y, eps=eps), pgd(model, x, y, eps=eps, alpha=0.07, steps=7),
                  pgd(model, x, y, eps=eps, alpha=0.01, steps=3, random_start=False, targeted=True)):
        assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
        assert x_adv.min() >= 0 and x_adv.max() <= 1
        assert (x_adv - x).abs().max() <= eps + 1e-6
    # one FGSM step uses the whole budget on every pixel it is not clipped at (linear model: no zero gradients)
    moved = (fgsm(model, x, y, eps=eps) - x).abs()
    inside = (x >= eps) & (x <= 1 - eps)
    torch.testing.assert_close(moved[inside], torch.full_like(moved[inside], eps))


def test_pgd_without_steps_or_noise_is_the_identity():
    model, (x, y) = _linear_model(), _batch()
    torch.testing.assert_close(pgd(model, x, y, eps=0.3, alpha=0.1, steps=0, random_start=False), x)


def test_pgd_is_deterministic_with_a_generator():
    model, (x, y) = _linear_model(), _batch(20)
    runs = [pgd(model, x, y, eps=0.2, alpha=0.05, steps=3, rng=torch.Generator().manual_seed(seed))
            for seed in (7, 7, 8)]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_the_model_is_left_as_it_was(mode):
    model = nn.Sequential(nn.Flatten(), nn.Linear(9, 8), nn.ReLU(), nn.Dropout(0.0), nn.Linear(8, 3))
    model.train(mode == "train")
    model[1].weight.requires_grad_(False)  # a partly frozen model: flags must come back exactly
    flags = [p.requires_grad for p in model.parameters()]
    before = [p.detach().clone() for p in model.parameters()]
    x, y = _batch(10)
    with torch.no_grad():  # the attacks need gradients even when called under no_grad
        fgsm(model, x, y, eps=0.1)
        pgd(model, x, y, eps=0.1, alpha=0.02, steps=3)
        cw_l2(model, x, y, steps=3)
    assert [p.requires_grad for p in model.parameters()] == flags
    assert model.training == (mode == "train")
    assert all(p.grad is None for p in model.parameters()), "gradient leaked into the model"
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_no_gradient_leaks_into_existing_grads():
    model, (x, y) = _linear_model(), _batch()
    nn.functional.cross_entropy(model(x), y).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    pgd(model, x, y, eps=0.1, alpha=0.05, steps=2)
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters()))


def test_flags_are_restored_when_the_model_fails():
    model = _linear_model()
    with pytest.raises(RuntimeError):
        fgsm(model, torch.rand(2, 1, 2, 2), torch.tensor([0, 1]), eps=0.1)  # 4 features into Linear(9, 3)
    assert all(p.requires_grad for p in model.parameters())


def test_argument_errors():
    model, (x, y) = _linear_model(), _batch()
    with pytest.raises(ValueError, match=r"eps must be a real number >= 0 and <= 1, got 1.5"):
        fgsm(model, x, y, eps=1.5)
    with pytest.raises(ValueError, match="alpha must be a real number > 0, got 0"):
        pgd(model, x, y, eps=0.1, alpha=0, steps=3)
    with pytest.raises(TypeError, match="steps must be a non-negative int, got 2.5"):
        pgd(model, x, y, eps=0.1, alpha=0.1, steps=2.5)
    with pytest.raises(ValueError, match="x must hold images in \\[0, 1\\]"):
        fgsm(model, x * 255, y, eps=0.1)
    with pytest.raises(TypeError, match="x must be a floating-point torch.Tensor"):
        fgsm(model, x.numpy(), y, eps=0.1)
    with pytest.raises(ValueError, match=r"y must be an int or a 1-D integer tensor of length 6 \(one per example of x\), got shape \(3,\)"):
        fgsm(model, x, y[:3], eps=0.1)
    with pytest.raises(TypeError, match="y must be an integer torch.Tensor"):
        fgsm(model, x, y.float(), eps=0.1)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        fgsm(lambda z: z, x, y, eps=0.1)
    with pytest.raises(TypeError, match="rng must be None, an int seed, a numpy.random.Generator or a torch.Generator"):
        pgd(model, x, y, eps=0.1, alpha=0.1, steps=1, rng="abc")
    with pytest.raises(ValueError, match="c must be a real number > 0"):
        cw_l2(model, x, y, c=0.0)
    with pytest.raises(ValueError, match="kappa must be a real number >= 0"):
        cw_l2(model, x, y, kappa=-1.0)


# ------------------------------------------------------------------ against captum, on the course's CNN


def test_fgsm_and_bim_match_captum(mnist, cnn):
    from captum.robust import FGSM, PGD

    X, y = mnist[0][:40], mnist[1][:40]
    loss = nn.CrossEntropyLoss(reduction="none")
    captum_fgsm = FGSM(cnn, loss_func=loss, lower_bound=0.0, upper_bound=1.0)
    captum_fgsm.zero_thresh = 0.0  # captum leaves pixels with |grad| < 1e-6 alone; FGSM proper does not
    torch.testing.assert_close(fgsm(cnn, X, y, eps=0.1), captum_fgsm.perturb(X, 0.1, y))
    captum_pgd = PGD(cnn, loss_func=loss, lower_bound=0.0, upper_bound=1.0)
    captum_pgd.fgsm.zero_thresh = 0.0
    target = (y + 1) % 10
    ours = pgd(cnn, X, target, eps=0.2, alpha=0.02, steps=5, random_start=False, targeted=True)
    theirs = captum_pgd.perturb(X, 0.2, 0.02, 5, target, targeted=True)
    assert ((ours - theirs).abs() > 1e-5).float().mean() < 1e-3  # identical up to float rounding


def test_attacks_drop_the_accuracy_of_the_course_cnn(mnist, cnn):
    X, y = mnist
    clean = accuracy_under_attack(cnn, X, y)
    attacked = accuracy_under_attack(cnn, X, y, partial(fgsm, eps=0.2))
    strong = accuracy_under_attack(cnn, X, y, partial(pgd, eps=0.2, alpha=0.02, steps=20,
                                                      rng=torch.Generator().manual_seed(0)))
    assert clean >= 0.97 and attacked < clean - 0.3 and strong <= 0.05 and strong <= attacked
    curve = accuracy_vs_eps(cnn, X[:50], y[:50], [0.0, 0.1, 0.2], partial(fgsm))
    assert curve[0] == accuracy_under_attack(cnn, X[:50], y[:50]) and curve[0] >= curve[1] >= curve[2]


def test_targeted_attacks_reach_their_targets(mnist, cnn):
    X, y = mnist[0][:30], mnist[1][:30]
    target = (y + 3) % 10
    x_pgd = pgd(cnn, X, target, eps=0.3, alpha=0.02, steps=30, targeted=True, rng=torch.Generator().manual_seed(0))
    assert (cnn(x_pgd).argmax(1) == target).float().mean() >= 0.95
    x_cw = cw_l2(cnn, X[:10], target[:10], c=5.0, kappa=1.0, steps=100, lr=0.1, targeted=True)
    logits = cnn(x_cw)
    assert (logits.argmax(1) == target[:10]).float().mean() >= 0.9
    won = logits.argmax(1) == target[:10]
    assert (margin(logits, target[:10])[won] >= 1.0 - 1e-4).all(), "kappa: the target must win by >= kappa"


def test_cw_finds_smaller_perturbations_than_pgd(mnist, cnn):
    X, y = mnist[0][:10], mnist[1][:10]
    x_cw = cw_l2(cnn, X, y, c=1.0, steps=100, lr=0.1)
    fooled = cnn(x_cw).argmax(1) != y
    assert fooled.float().mean() >= 0.9
    assert x_cw[~fooled].equal(X[~fooled]), "an image never fooled comes back unchanged"
    x_pgd = pgd(cnn, X, y, eps=0.3, alpha=0.02, steps=20, rng=torch.Generator().manual_seed(0))
    l2_cw = (x_cw - X).flatten(1).norm(dim=1)[fooled]
    l2_pgd = (x_pgd - X).flatten(1).norm(dim=1)[fooled]
    assert l2_cw.median() < 0.5 * l2_pgd.median()


# ------------------------------------------------------------------ the adversarially trained model


def test_robust_checkpoint_card():
    card = json.loads(models.checkpoint_path("mnist_cnn_robust").with_suffix(".json").read_text())
    assert card["test_accuracy"] >= 0.97 and card["pgd40_eps0.3_accuracy"] >= 0.85
    assert "10000" in card["pgd_evaluation"] and "course_utils.train mnist_cnn_robust" in card["command"]
    model = models.mnist_cnn_robust()
    assert models.gradcam_layer(model) is model.relu2


def test_robust_model_resists_pgd_where_the_standard_one_collapses(cnn):
    X, y = data.mnist_tensors("test", n=200)
    robust = load_pretrained("mnist_cnn_robust")
    attack = partial(pgd, eps=0.3, alpha=0.01, steps=40, rng=torch.Generator().manual_seed(1))
    assert accuracy_under_attack(robust, X, y) >= 0.97
    assert accuracy_under_attack(robust, X, y, attack) >= 0.85
    assert accuracy_under_attack(cnn, X[:50], y[:50], attack) <= 0.02
