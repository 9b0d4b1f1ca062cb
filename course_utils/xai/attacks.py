"""Adversarial attacks on image classifiers: FGSM, BIM/PGD and Carlini-Wagner L2 (lesson 08).

- FGSM, the fast gradient sign method (Goodfellow, Shlens and Szegedy, "Explaining and
  Harnessing Adversarial Examples", ICLR 2015): one step ``x + eps * sign(grad_x loss)``.
- BIM, the basic iterative method (Kurakin, Goodfellow and Bengio, "Adversarial examples in
  the physical world", 2017), and PGD, projected gradient descent from a random start
  (Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR
  2018): many small sign steps, each followed by a projection onto the L-inf ball of
  radius ``eps`` around ``x`` and onto the image box [0, 1]. BIM is :func:`pgd` with
  ``random_start=False``.
- Carlini and Wagner's L2 attack ("Towards Evaluating the Robustness of Neural Networks",
  IEEE S&P 2017): minimise ``||x' - x||_2^2 + c * f(x')`` over ``x' = (tanh(w) + 1) / 2``
  (the change of variables keeps ``x'`` in the box without clipping), where ``f`` is the
  margin loss ``max(Z_y - max_{i != y} Z_i, -kappa)`` on the logits ``Z``.

Every attack takes images in [0, 1] (the course's models normalise inside), returns
adversarial images in [0, 1], works batched on the model's device, attacks the model in
eval mode and leaves it as it found it (the course's torch layer,
:mod:`course_utils._torch`): its parameters, their ``requires_grad`` flags, every
module's train/eval mode, BatchNorm's statistics and the parameters' ``.grad`` are
untouched (gradients are taken with respect to the input only).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..exercises import Exercise, register
from ..runtime import as_torch_generator
from ..validation import check_array, check_callable, check_nonnegative_int, check_positive_int, check_real, check_tensor
from .._torch import check_input, check_model, check_output, check_target, evaluating

__all__ = ["fgsm", "pgd", "cw_l2", "fgsm_step", "project_linf", "pgd_step", "linear_min_linf", "cw_objective", "margin",
           "accuracy_under_attack", "accuracy_vs_eps", "accuracy_robustness_area", "EXERCISES"]


# ------------------------------------------------------------------ checks and plumbing


def _check_inputs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, name: str = "x") -> tuple[torch.Tensor, torch.Tensor]:
    """Validate (model, images in [0, 1], labels) with the torch layer; the data on the model's device."""
    check_model(model)
    x = check_input(x, model, name=name, unit_range=True)
    if not isinstance(y, torch.Tensor) or y.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"y must be an integer torch.Tensor of class labels, got {type(y).__name__}"
                        + (f" of dtype {y.dtype}" if isinstance(y, torch.Tensor) else "") + ".")
    return x, check_target(y, len(x), x.device, name="y", of=name)


def _check_same_shape(name: str, value: torch.Tensor, other_name: str, other: torch.Tensor) -> None:
    if value.shape != other.shape:
        raise ValueError(f"{name} must have the shape of {other_name} {tuple(other.shape)}, got {tuple(value.shape)}.")


def _check_logits(logits, y) -> tuple[torch.Tensor, torch.Tensor]:
    logits = check_tensor("logits", logits, ndim=2)
    y = check_target(y, len(logits), logits.device, name="y")
    if int(y.min()) < 0 or int(y.max()) >= logits.shape[1]:
        raise ValueError(f"y must hold labels in [0, {logits.shape[1] - 1}] (logits has {logits.shape[1]} columns), "
                         f"got values in [{int(y.min())}, {int(y.max())}].")
    return logits, y


def _loss_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Gradient w.r.t. ``x`` of the loss to *increase*: CE(y) untargeted, -CE(target) targeted."""
    x = x.detach().requires_grad_(True)
    loss = nn.functional.cross_entropy(check_output(model(x), y, name="y"), y, reduction="sum")
    (grad,) = torch.autograd.grad(-loss if targeted else loss, x)
    return grad


# ------------------------------------------------------------------ the exercises' building blocks


def fgsm_step(x: torch.Tensor, grad: torch.Tensor, step: float) -> torch.Tensor:
    """One signed-gradient step ``x + step * sign(grad)``, clipped to the image box [0, 1].

    The reference solution of exercise 8.1 (Goodfellow et al. 2015, eq. 3).
    """
    x, grad = check_tensor("x", x), check_tensor("grad", grad)
    _check_same_shape("grad", grad, "x", x)
    step = check_real("step", step, low=0)
    return (x + step * grad.sign()).clamp(0.0, 1.0)


def project_linf(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Project ``x_adv`` onto {x' : ||x' - x||_inf <= eps} intersected with [0, 1].

    The reference solution of exercise 8.3 (the projection step of Madry et al. 2018). For
    a box, the Euclidean projection is coordinate-wise clipping, and since ``x`` itself lies
    in [0, 1] the two clippings never contradict each other.
    """
    x_adv, x = check_tensor("x_adv", x_adv), check_tensor("x", x)
    _check_same_shape("x_adv", x_adv, "x", x)
    eps = check_real("eps", eps, low=0)
    return torch.minimum(torch.maximum(x_adv, x - eps), x + eps).clamp(0.0, 1.0)


def pgd_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor, eps: float, alpha: float,
             targeted: bool = False) -> torch.Tensor:
    """One iteration of PGD (Madry et al. 2018): a signed step of ``alpha`` up the loss, projected back.

    The loss is the cross-entropy of ``y`` summed over the batch, differentiated at
    ``x_adv`` (``targeted``: minus the cross-entropy of the targets ``y``); the step is
    :func:`fgsm_step` and the projection :func:`project_linf` onto the ``eps``-ball around
    ``x`` and the box [0, 1]. The reference solution of exercise 8.4; :func:`pgd` repeats it.

    Examples
    --------
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> x = torch.full((1, 1, 2, 2), 0.5)
    >>> bool((pgd_step(model, x, torch.tensor([0]), x, eps=0.1, alpha=0.3) - x).abs().max() <= 0.1 + 1e-6)
    True
    """
    x, y = _check_inputs(model, x, y)
    x_adv = check_input(x_adv, model, name="x_adv", unit_range=True)
    _check_same_shape("x_adv", x_adv, "x", x)
    eps = check_real("eps", eps, low=0, high=1)
    alpha = check_real("alpha", alpha, low=0, low_inclusive=False)
    with evaluating(model, freeze=True), torch.enable_grad():
        grad = _loss_gradient(model, x_adv, y, bool(targeted))
    return project_linf(fgsm_step(x_adv, grad, alpha), x, eps)


def linear_min_linf(weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The smallest L-inf change of each row of ``x`` that makes the linear classifier ``W x + b`` leave class ``y``.

    Goodfellow, Shlens and Szegedy's (2015) linear argument, made exact: a change ``eta``
    with ``||eta||_inf <= eps`` lowers the margin ``m_j = (w_y - w_j) . x + b_y - b_j`` of
    class ``y`` over class ``j`` by at most ``eps * ||w_y - w_j||_1`` (Hoelder's inequality;
    ``eps * sign(w_j - w_y)`` attains it). So the smallest budget that lets class ``j`` win is
    ``max(m_j, 0) / ||w_y - w_j||_1``, and the answer is its minimum over ``j != y``: 0 for a
    row already misclassified, infinite where no class can win. The box [0, 1] is ignored,
    so this is a lower bound on the budget an attack on images needs. The reference solution
    of exercise 8.2.

    Parameters
    ----------
    weight : torch.Tensor, shape (K, d)
    bias : torch.Tensor, shape (K,)
    x : torch.Tensor, shape (N, d)
    y : torch.Tensor of int, shape (N,)

    Returns
    -------
    torch.Tensor
        Shape (N,), non-negative.

    Examples
    --------
    >>> W, b = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.zeros(2)
    >>> linear_min_linf(W, b, torch.tensor([[0.8, 0.2], [0.1, 0.4]]), torch.tensor([0, 0]))
    tensor([0.3000, 0.0000])
    """
    weight, bias = check_tensor("weight", weight, ndim=2), check_tensor("bias", bias, ndim=1)
    x = check_tensor("x", x, ndim=2)
    if len(bias) != len(weight) or x.shape[1] != weight.shape[1]:
        raise ValueError(f"weight (K, d), bias (K,) and x (N, d) must agree, got shapes {tuple(weight.shape)}, "
                         f"{tuple(bias.shape)} and {tuple(x.shape)}.")
    logits, y = _check_logits(x @ weight.T + bias, y)
    margins = logits.gather(1, y[:, None]) - logits                   # (N, K): m_j
    norms = (weight[y][:, None, :] - weight[None, :, :]).abs().sum(2)  # (N, K): ||w_y - w_j||_1
    budgets = margins.clamp(min=0) / norms                            # inf where norm 0 and m_j > 0
    budgets = torch.where((norms == 0) & (margins <= 0), torch.zeros_like(budgets), budgets)
    return budgets.scatter(1, y[:, None], float("inf")).amin(1)


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``Z_y - max_{i != y} Z_i`` per row: positive when class ``y`` wins, negative otherwise."""
    logits, y = _check_logits(logits, y)
    own = logits.gather(1, y[:, None])[:, 0]
    others = logits.scatter(1, y[:, None], float("-inf")).amax(1)
    return own - others


def cw_objective(x_adv: torch.Tensor, x: torch.Tensor, logits: torch.Tensor, y: torch.Tensor,
                 c: float, kappa: float, targeted: bool = False) -> torch.Tensor:
    """Carlini and Wagner's L2 objective per example, shape (N,).

    ``||x_adv - x||_2^2 + c * max(margin, -kappa)``, where the margin is ``Z_y - max_{i != y} Z_i``
    (untargeted: push the true class ``y`` below the best other class) or, targeted,
    ``max_{i != t} Z_i - Z_t`` with ``t = y`` the target (push the target above all others).
    The reference solution of exercise 8.5 (Carlini and Wagner 2017, objective f_6).
    """
    x_adv, x = check_tensor("x_adv", x_adv, ndim=tuple(range(2, 9))), check_tensor("x", x)
    _check_same_shape("x_adv", x_adv, "x", x)
    logits, y = _check_logits(logits, y)
    if len(logits) != len(x):
        raise ValueError(f"logits must have one row per example of x ({len(x)}), got shape {tuple(logits.shape)}.")
    c, kappa = check_real("c", c, low=0), check_real("kappa", kappa, low=0)
    distance = (x_adv - x).flatten(1).pow(2).sum(1)
    m = -margin(logits, y) if targeted else margin(logits, y)
    return distance + c * m.clamp(min=-kappa)


# ------------------------------------------------------------------ the attacks


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, targeted: bool = False) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow, Shlens and Szegedy, ICLR 2015).

    Parameters
    ----------
    model : torch.nn.Module
        Maps images in [0, 1] to logits.
    x : torch.Tensor, shape (N, ...)
        Images in [0, 1].
    y : torch.Tensor of int, shape (N,)
        True labels (untargeted) or target labels (``targeted=True``).
    eps : float
        L-inf budget in [0, 1] (pixel units).
    targeted : bool, default False
        Step down the cross-entropy of ``y`` instead of up.

    Returns
    -------
    torch.Tensor
        ``clip(x + eps * sign(grad_x CE(model(x), y)), 0, 1)`` (minus for targeted), on the
        model's device; ``|x_adv - x| <= eps`` holds element-wise.

    Examples
    --------
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> x_adv = fgsm(model, torch.full((3, 1, 2, 2), 0.5), torch.tensor([0, 1, 0]), eps=0.1)
    >>> bool(((x_adv - 0.5).abs().max() - 0.1).abs() < 1e-6)
    True
    """
    x, y = _check_inputs(model, x, y)
    eps = check_real("eps", eps, low=0, high=1)
    with evaluating(model, freeze=True), torch.enable_grad():
        grad = _loss_gradient(model, x, y, targeted)
    return fgsm_step(x, grad, eps)


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, alpha: float, steps: int,
        random_start: bool = True, targeted: bool = False, rng=None) -> torch.Tensor:
    """Projected gradient descent in the L-inf ball (Madry et al. 2018); BIM without random start.

    Each of ``steps`` iterations takes a signed-gradient step of size ``alpha`` on the
    cross-entropy and projects back onto the ``eps``-ball around ``x`` and the box [0, 1].

    Parameters
    ----------
    model : torch.nn.Module
    x : torch.Tensor, shape (N, ...)
        Images in [0, 1].
    y : torch.Tensor of int, shape (N,)
        True labels, or target labels when ``targeted=True``.
    eps : float
        L-inf budget in [0, 1].
    alpha : float
        Step size (> 0). Madry et al. on MNIST: eps 0.3, alpha 0.01, 40 steps (100 to evaluate).
    steps : int
        Number of iterations (>= 0; 0 returns the start point).
    random_start : bool, default True
        Start from ``x`` plus uniform noise in [-eps, eps] (PGD); False starts at ``x`` (BIM,
        Kurakin et al. 2017).
    targeted : bool, default False
    rng : None, int, numpy.random.Generator or torch.Generator
        Source of the random start (drawn on the CPU, so a seed gives the same attack on
        every device); None uses torch's global generator.

    Returns
    -------
    torch.Tensor
        Adversarial images in [0, 1] with ``|x_adv - x| <= eps`` element-wise.

    Examples
    --------
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> x = torch.rand(5, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    >>> x_adv = pgd(model, x, torch.zeros(5, dtype=torch.long), eps=0.05, alpha=0.02, steps=5,
    ...             rng=0)
    >>> bool((x_adv - x).abs().max() <= 0.05 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1)
    True
    """
    x, y = _check_inputs(model, x, y)
    eps = check_real("eps", eps, low=0, high=1)
    alpha = check_real("alpha", alpha, low=0, low_inclusive=False)
    steps = check_nonnegative_int("steps", steps)
    generator = as_torch_generator(rng)
    x_adv = x.clone()
    if random_start:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        x_adv = project_linf(x + eps * (2 * noise - 1), x, eps)
    with evaluating(model, freeze=True), torch.enable_grad():
        for _ in range(steps):
            x_adv = pgd_step(model, x, y, x_adv, eps, alpha, targeted)
    return x_adv.detach()


def cw_l2(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, c: float = 1.0, kappa: float = 0.0,
          steps: int = 100, lr: float = 0.01, targeted: bool = False) -> torch.Tensor:
    """Carlini-Wagner L2 attack with a fixed trade-off constant ``c`` (no binary search).

    Optimises ``w`` with Adam, where ``x' = (tanh(w) + 1) / 2`` always lies in (0, 1), to
    minimise :func:`cw_objective` summed over the batch. Per image it keeps the successful
    adversarial with the smallest L2 distance seen; an image never fooled comes back
    unchanged (as in Carlini and Wagner's code), so ``model(x_adv)`` tells which succeeded.

    Parameters
    ----------
    model : torch.nn.Module
    x : torch.Tensor, shape (N, ...)
        Images in [0, 1].
    y : torch.Tensor of int, shape (N,)
        True labels, or target labels when ``targeted=True``.
    c : float, default 1.0
        Weight of the margin term (> 0): larger finds more adversarials, with larger distance.
    kappa : float, default 0.0
        Confidence (>= 0): success needs the wrong class to win by more than ``kappa`` logits.
    steps : int, default 100
    lr : float, default 0.01
        Adam's learning rate on ``w``.
    targeted : bool, default False

    Returns
    -------
    torch.Tensor
        Images in [0, 1]: the closest successful adversarial found, or ``x`` where none was.

    Examples
    --------
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> x = torch.full((2, 1, 2, 2), 0.5)
    >>> x_adv = cw_l2(model, x, torch.tensor([0, 1]), c=10.0, steps=50, lr=0.05)
    >>> bool(x_adv.min() >= 0 and x_adv.max() <= 1)
    True
    """
    x, y = _check_inputs(model, x, y)
    c = check_real("c", c, low=0, low_inclusive=False)
    kappa = check_real("kappa", kappa, low=0)
    steps = check_positive_int("steps", steps)
    lr = check_real("lr", lr, low=0, low_inclusive=False)
    w = torch.atanh((2 * x - 1) * (1 - 1e-6)).requires_grad_(True)
    optimiser = torch.optim.Adam([w], lr=lr)
    best, best_distance = x.clone(), torch.full((len(x),), float("inf"), device=x.device)
    with evaluating(model, freeze=True), torch.enable_grad():
        for _ in range(steps):
            x_adv = (torch.tanh(w) + 1) / 2
            logits = model(x_adv)
            loss = cw_objective(x_adv, x, logits, y, c, kappa, targeted)
            optimiser.zero_grad()
            loss.sum().backward()
            optimiser.step()
            with torch.no_grad():
                m = -margin(logits, y) if targeted else margin(logits, y)
                distance = (x_adv - x).flatten(1).pow(2).sum(1)
                better = (m < -kappa) & (distance < best_distance)
                best[better], best_distance[better] = x_adv[better].detach(), distance[better]
    return best.clamp(0.0, 1.0)


# ------------------------------------------------------------------ evaluation


Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def accuracy_under_attack(model: nn.Module, X: torch.Tensor, y: torch.Tensor, attack: Attack | None = None,
                          *, batch_size: int = 500, progress: bool = False) -> float:
    """Fraction of ``X`` classified as ``y`` after ``attack(model, x_batch, y_batch)`` (None: clean).

    Examples
    --------
    >>> from functools import partial
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> X, y = torch.rand(8, 1, 2, 2), torch.zeros(8, dtype=torch.long)
    >>> accuracy_under_attack(model, X, y, partial(fgsm, eps=0.0)) == accuracy_under_attack(model, X, y)
    True
    """
    X, y = _check_inputs(model, X, y, name="X")
    batch_size = check_positive_int("batch_size", batch_size)
    if attack is not None and not callable(attack):
        raise TypeError(f"attack must be None or a function attack(model, x, y), got {type(attack).__name__}.")
    with evaluating(model), torch.no_grad():
        check_output(model(X[:1]), y, name="y")  # labels the model's outputs cannot index
    correct = 0
    with evaluating(model):  # BatchNorm's statistics and dropout stay as they are
        for start in tqdm(range(0, len(X), batch_size), desc="attack", disable=not progress, leave=False):
            xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            if attack is not None:
                xb = attack(model, xb, yb)
            with torch.no_grad():
                correct += (model(xb.to(X.device)).argmax(1) == yb).sum().item()
    return correct / len(X)


def accuracy_vs_eps(model: nn.Module, X: torch.Tensor, y: torch.Tensor, epsilons, attack: Callable[..., torch.Tensor],
                    *, batch_size: int = 500, progress: bool = False) -> np.ndarray:
    """Accuracy under ``attack(model, x, y, eps=e)`` for each ``e`` in ``epsilons`` (an array).

    ``e = 0`` gives the clean accuracy without calling the attack.

    Examples
    --------
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> X, y = torch.rand(8, 1, 2, 2), torch.zeros(8, dtype=torch.long)
    >>> accuracy_vs_eps(model, X, y, [0.0, 0.1], fgsm).shape
    (2,)
    """
    epsilons = check_array("epsilons", epsilons, ndim=1, nonempty=True)
    if np.any(epsilons < 0):
        raise ValueError(f"epsilons must be >= 0, got {epsilons.min():g} among them.")
    check_callable("attack", attack)
    return np.array([accuracy_under_attack(model, X, y, (lambda m, xb, yb, e=float(e): attack(m, xb, yb, eps=e))
                                           if e > 0 else None, batch_size=batch_size, progress=progress)
                     for e in epsilons])


def accuracy_robustness_area(epsilons, accuracies) -> float:
    """Area under the accuracy vs attack-size curve (trapezoid rule), the ARA of Woods et al. 2019.

    Woods, Chen and Teuscher ("Adversarial Explanations for Understanding Image
    Classification Decisions and Improved Neural Network Robustness", Nature Machine
    Intelligence 2019) summarise robustness by this area; a larger area means accuracy that
    survives larger attacks. Comparable only between curves over the same ``epsilons``.

    Examples
    --------
    >>> round(accuracy_robustness_area([0.0, 0.1, 0.2], [1.0, 1.0, 0.0]), 6)
    0.15
    """
    epsilons, accuracies = check_array("epsilons", epsilons), check_array("accuracies", accuracies)
    if epsilons.ndim != 1 or epsilons.shape != accuracies.shape or len(epsilons) < 2:
        raise ValueError(f"epsilons and accuracies must be 1-d of the same length >= 2, got shapes "
                         f"{epsilons.shape} and {accuracies.shape}.")
    if np.any(np.diff(epsilons) <= 0):
        raise ValueError("epsilons must be strictly increasing.")
    return float(np.sum(np.diff(epsilons) * (accuracies[1:] + accuracies[:-1]) / 2))


# ------------------------------------------------------------------ exercises


def _tiny_batch(rng: np.random.Generator, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(rng.random((n, 1, 3, 3)), dtype=torch.float32)
    x[0, 0, 0, 0], x[1, 0, 1, 1] = 0.0, 1.0  # pixels on the box's edges, where clipping matters
    return x, torch.as_tensor(rng.normal(size=(n, 1, 3, 3)), dtype=torch.float32)


def _fgsm_step_cases(rng: np.random.Generator) -> list[tuple]:
    x, grad = _tiny_batch(rng)
    grad[2, 0, 2, 2] = 0.0  # sign(0) = 0: this pixel must not move
    return [(x, grad, 0.1), (x, grad, 0.3), (x, -grad, 0.0)]


def _project_cases(rng: np.random.Generator) -> list[tuple]:
    x, noise = _tiny_batch(rng)
    return [(x + 0.5 * noise, x, 0.1), (x + 0.05 * noise, x, 0.3), (x + noise, x, 0.0)]


def _linear_min_linf_cases(rng: np.random.Generator) -> list[tuple]:
    weight = torch.as_tensor(rng.normal(size=(4, 6)), dtype=torch.float32)
    bias = torch.as_tensor(rng.normal(size=4), dtype=torch.float32)
    x = torch.as_tensor(rng.random((5, 6)), dtype=torch.float32)
    own = (x @ weight.T + bias).argmax(1)
    return [(weight, bias, x, own), (weight, bias, x, (own + 1) % 4),  # correctly classified, then misclassified
            (weight, torch.zeros(4), x, own)]


def _pgd_step_cases(rng: np.random.Generator) -> list[tuple]:
    generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
    model = nn.Sequential(nn.Flatten(), nn.Linear(9, 4), nn.Tanh(), nn.Linear(4, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator))
    x, noise = _tiny_batch(rng)
    y = torch.as_tensor(rng.integers(0, 3, size=4))
    x_adv = project_linf(x + 0.05 * noise, x, 0.1)
    return [(model, x, y, x_adv, 0.1, 0.03), (model, x, y, x, 0.2, 0.5), (model, x, y, x_adv, 0.1, 0.03, True)]


def _cw_cases(rng: np.random.Generator) -> list[tuple]:
    x, noise = _tiny_batch(rng)
    x_adv = (x + 0.1 * noise).clamp(0, 1)
    logits = torch.as_tensor(rng.normal(size=(4, 5)) * 3, dtype=torch.float32)
    y = torch.as_tensor(rng.integers(0, 5, size=4))
    return [(x_adv, x, logits, y, 1.0, 0.0, False), (x_adv, x, logits, y, 2.5, 1.0, False),
            (x_adv, x, logits, y, 0.5, 2.0, True)]


EXERCISES = register(
    Exercise("8.1", "FGSM step", fgsm_step, _fgsm_step_cases,
             "FGSM moves every pixel by step in the direction that increases the loss, the sign of its "
             "gradient (a zero gradient leaves the pixel where it is), then keeps the image valid: pixel "
             "values in [0, 1]."),
    Exercise("8.2", "smallest L-inf budget against a linear classifier", linear_min_linf, _linear_min_linf_cases,
             "for each other class j, the margin m_j = logit_y - logit_j falls by at most eps times the L1 norm of "
             "the difference of the two classes' weight rows (that is the dual norm of L-inf); so class j can win "
             "from eps = max(m_j, 0) / that norm on. Take the smallest over j != y: work with (N, K) arrays of "
             "margins and norms, and set the true class's own entry to infinity before the minimum."),
    Exercise("8.3", "PGD projection onto the L-inf ball", project_linf, _project_cases,
             "the projection onto the L-inf ball lets every pixel of x_adv differ from the same pixel of x by "
             "at most eps: clip it to that interval, pixel by pixel, then to the image box [0, 1]."),
    Exercise("8.4", "one PGD iteration", pgd_step, _pgd_step_cases,
             "differentiate the batch's summed cross-entropy of y at x_adv with respect to x_adv (autograd, with "
             "x_adv requiring grad); for a targeted attack use minus that loss; then take your FGSM step of size "
             "alpha and project the result onto the eps-ball around the original x."),
    Exercise("8.5", "Carlini-Wagner objective", cw_objective, _cw_cases,
             "the objective is each example's squared L2 distance plus c times its margin, clamped from below "
             "at -kappa; the margin is the logit of y minus the largest other logit (untargeted) or minus "
             "that (targeted)."),
)
