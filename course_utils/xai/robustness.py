"""Robustness of explanations (lesson 09).

- Input perturbations: max-sensitivity (Yeh et al., NeurIPS 2019) is
  :func:`course_utils.xai.evaluation.max_sensitivity`; Lin, Covert and Lee ("On the
  robustness of removal-based feature attributions", NeurIPS 2023) ask whether
  ``||phi(f, x) - phi(f, x')||`` is controlled by ``||x - x'||``.
- Fragility (Ghorbani, Abid and Zou, AAAI 2019): :func:`fragility_attack` keeps the
  prediction and moves the saliency map, through a softplus surrogate of the ReLU network
  (Dombrowski et al., NeurIPS 2019).
- Model perturbations (Meyer, Ley, Srinivas and Lakkaraju, UAI 2023, Lemma 1):
  :func:`explanation_shift` measures the input-gradient change between two models against
  their parameter distance and estimates the gradient-parameter Lipschitz constant on the
  segment between them; :func:`fine_tune` makes the shifted model.
- Training for robust explanations: the input-gradient penalty of Ross and Doshi-Velez
  ("Improving the adversarial robustness and interpretability of deep neural networks by
  regularizing their input gradients", AAAI 2018; Drucker and LeCun's "double
  backpropagation", 1992), :func:`input_gradient_penalty`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .._torch import (
    check_input,
    check_model,
    check_output,
    check_target,
    check_target_fits,
    evaluating,
    output_gradient,
    selected_output,
)
from ..exercises import Exercise, register
from ..runtime import as_torch_generator
from ..validation import check_positive_int, check_real, check_same_shape, check_tensor
from .evaluation import max_relative_change
from .manipulation import softplus_model

__all__ = [
    "EXERCISES",
    "FRAGILITY_KINDS",
    "ExplanationShift",
    "centre_of_mass",
    "cross_entropy_and_penalty",
    "explanation_shift",
    "fine_tune",
    "fragility_attack",
    "input_gradient_penalty",
    "lipschitz_penalty",
    "topk_objective",
]


# ------------------------------------------------------------------ training for robust explanations


def cross_entropy_and_penalty(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean cross-entropy, mean_i ||grad_x CE_i||_2^2) from one forward pass (reference of exercise 9.2).

    The training step of input-gradient regularisation: the per-example cross-entropies
    ``CE_i`` of ``model(x)`` against ``y``; the gradient of their *sum* with respect to ``x``
    has ``grad_x CE_i`` in row i (example i's loss depends on ``x[i]`` only); it is taken
    with ``create_graph=True`` so that the penalty can be differentiated again with respect
    to the parameters ("double backpropagation"). The model is used in the mode it is in
    (:func:`input_gradient_penalty` is the checked, eval-mode form).

    Parameters
    ----------
    model : torch.nn.Module
    x : torch.Tensor
        Shape (N, ...); differentiated through a detached copy.
    y : torch.Tensor of int
        Shape (N,).

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Two scalars, both differentiable with respect to the parameters.
    """
    check_model(model)
    x = check_input(x, model)
    y = check_target(y, len(x), x.device, name="y")
    x = x.requires_grad_(True)
    losses = nn.functional.cross_entropy(check_output(model(x), y, name="y"), y, reduction="none")
    (grad,) = torch.autograd.grad(losses.sum(), x, create_graph=True)
    return losses.mean(), grad.flatten(1).pow(2).sum(dim=1).mean()


def input_gradient_penalty(model: nn.Module, x: torch.Tensor, y) -> torch.Tensor:
    """Ross and Doshi-Velez's input-gradient penalty: mean_i ||grad_x CE(model(x_i), y_i)||_2^2.

    Each example's own cross-entropy is differentiated with respect to its own input (the
    per-example loss, not the batch mean, whose gradient would be 1/N as large). Adding
    ``lam * input_gradient_penalty(model, x, y)`` to the training loss makes the loss flat
    around the data ("double backpropagation", Drucker and LeCun 1992): Ross and
    Doshi-Velez (AAAI 2018, section 3) find MNIST models trained this way more robust to
    FGSM and their gradients more interpretable.

    Parameters
    ----------
    model : torch.nn.Module
        Maps x to logits (N, n_classes).
    x : torch.Tensor
        Shape (N, ...); the penalty is differentiated with respect to a detached copy.
    y : int or torch.Tensor of int
        Labels, shape (N,).

    Returns
    -------
    torch.Tensor
        A scalar, differentiable with respect to the model's parameters. The model is
        evaluated in eval mode (dropout off, BatchNorm's running statistics used and not
        updated) and its modes are restored afterwards.

    Examples
    --------
    >>> model = nn.Linear(3, 2, bias=False)  # at x = 0 both classes have p = 1/2
    >>> penalty = input_gradient_penalty(model, torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
    >>> w = model.weight.detach()
    >>> bool(torch.isclose(penalty, (0.5 * (w[1] - w[0])).pow(2).sum()))
    True
    """
    check_model(model)
    x = check_input(x, model)
    y = check_target(y, len(x), x.device, name="y")
    with evaluating(model), torch.enable_grad():
        return cross_entropy_and_penalty(model, x, y)[1]


def lipschitz_penalty(model: nn.Module, x: torch.Tensor, y, *, eps: float = 0.1, rng=None) -> torch.Tensor:
    """A Lipschitz-inspired penalty in the spirit of Woods, Chen and Teuscher (2019): local output change per input change.

    Woods et al. ("Adversarial explanations for understanding image classification decisions
    and improved neural network robustness", Nature Machine Intelligence 2019) regularise the
    ratio between how far an adversarial perturbation moves the network's output and how far
    it moves the input, a local estimate of the Lipschitz constant. Here, for each example,
    ``x'`` is one signed-gradient step of size ``eps`` on the cross-entropy from a uniform
    random start in the ``eps / 2`` ball (clipped to [0, 1]) and the penalty is

        mean_i ( ||p(x'_i) - p(x_i)||_2 / ||x'_i - x_i||_inf )^2,

    with ``p`` the softmax probabilities: the squared Lipschitz quotient of the probability
    map between L-inf (input) and L2 (output). ``x'`` is treated as a constant (no gradient
    through the attack); the result is differentiable with respect to the model's parameters.
    This is a simplified variant, not Woods et al.'s exact loss (which also adapts the target
    quotient per batch).

    Parameters
    ----------
    model : torch.nn.Module
    x : torch.Tensor
        Images (N, ...) in [0, 1].
    y : int or torch.Tensor of int
        Labels (N,).
    eps : float, default 0.1
        Size of the probing step, in (0, 1].
    rng : None, int, numpy.random.Generator or torch.Generator
        The random start.

    Returns
    -------
    torch.Tensor
        A scalar (0 for a model whose probabilities do not move).
    """
    check_model(model)
    x = check_input(x, model, unit_range=True)
    y = check_target(y, len(x), x.device, name="y")
    eps = check_real("eps", eps, low=0, high=1, low_inclusive=False)
    check_target_fits(model, x, y, name="y")
    generator = as_torch_generator(rng, device=x.device)
    with evaluating(model), torch.enable_grad():
        start = (x + (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) - 0.5) * eps).clamp(0, 1)
        start.requires_grad_(True)
        (grad,) = torch.autograd.grad(nn.functional.cross_entropy(model(start), y, reduction="sum"), start)
        probe = (start + eps * grad.sign()).clamp(0, 1).clamp(x - eps, x + eps).detach()
        step = (probe - x).flatten(1).abs().amax(dim=1)
        change = (model(probe).softmax(dim=1) - model(x).softmax(dim=1)).norm(dim=1)
        quotient = torch.where(step > 0, change / torch.where(step > 0, step, 1.0), torch.zeros_like(change))
        return quotient.pow(2).mean()


def fine_tune(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, epochs: float = 1.0, lr: float = 1e-3,
              batch_size: int = 128, penalty=None, lam: float = 0.0, rng=None, progress: bool = False) -> nn.Module:
    """A trained copy of ``model``: Adam on ``(X, y)`` with cross-entropy (plus ``lam * penalty``).

    Meyer et al. (UAI 2023) fine-tune a model ``f1`` trained on ``D1`` on a shifted data set
    ``D2`` to get ``f2``; lesson 09 does that with this function, and also trains with a
    robustness penalty.

    Parameters
    ----------
    model : torch.nn.Module
        Left unchanged (a deep copy is trained).
    X, y : torch.Tensor
        Training inputs (N, ...) and labels (N,).
    epochs : float, default 1.0
        Passes over the data (fractions allowed: ``round(epochs * N / batch_size)`` steps, at least one).
    lr : float, default 1e-3
    batch_size : int, default 128
    penalty : callable, optional
        ``penalty(model, x_batch, y_batch) -> scalar tensor`` (e.g. :func:`input_gradient_penalty`).
    lam : float, default 0.0
        Its weight.
    rng : None, int, numpy.random.Generator or torch.Generator
        The order of the batches (and nothing else).
    progress : bool, default False
        Show a progress bar.

    Returns
    -------
    torch.nn.Module
        The trained copy, in eval mode.
    """
    import copy

    from tqdm.auto import tqdm

    check_model(model)
    X = check_input(X, model, name="X")
    y = check_target(y, len(X), X.device, name="y", of="X")
    check_target_fits(model, X, y, name="y")
    epochs = check_real("epochs", epochs, low=0, low_inclusive=False)
    lr = check_real("lr", lr, low=0, low_inclusive=False)
    batch_size = check_positive_int("batch_size", batch_size)
    lam = check_real("lam", lam, low=0)
    if penalty is not None and not callable(penalty):
        raise TypeError(f"penalty must be None or a callable penalty(model, x, y), got {type(penalty).__name__}.")
    generator = as_torch_generator(rng)
    tuned = copy.deepcopy(model).train()
    for p in tuned.parameters():
        p.requires_grad_(True)
    optimiser = torch.optim.Adam(tuned.parameters(), lr=lr)
    n_steps = max(1, round(epochs * len(X) / batch_size))
    order = torch.cat([torch.randperm(len(X), generator=generator) for _ in range(-(-n_steps * batch_size // len(X)))])
    for step in tqdm(range(n_steps), desc="fine-tune", disable=not progress, leave=False):
        index = order[step * batch_size:(step + 1) * batch_size].to(X.device)
        loss = nn.functional.cross_entropy(tuned(X[index]), y[index])
        if penalty is not None and lam > 0:
            loss = loss + lam * penalty(tuned, X[index], y[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return tuned.eval()


# ------------------------------------------------------------------ model shift (Meyer et al., Lin et al.)


@dataclass(frozen=True)
class ExplanationShift:
    """How far the input gradients move when the parameters move (Meyer et al., UAI 2023, Lemma 1).

    Attributes
    ----------
    gradient_change : float
        ``mean_x ||grad_x f(x; theta_a) - grad_x f(x; theta_b)||_2`` over the rows of X.
    parameter_distance : float
        ``||theta_b - theta_a||_2`` over all parameters.
    lipschitz : float
        The largest secant ratio along the segment (see :func:`explanation_shift`); with it
        ``gradient_change <= lipschitz * parameter_distance`` holds on X.
    segment_lipschitz : numpy.ndarray
        The ratio on each of the ``n_points - 1`` pieces of the segment, theta_a to theta_b.
    """

    gradient_change: float
    parameter_distance: float
    lipschitz: float
    segment_lipschitz: np.ndarray

    @property
    def bound(self) -> float:
        """``lipschitz * parameter_distance``, Lemma 1's right-hand side."""
        return self.lipschitz * self.parameter_distance


def _check_same_architecture(model_a: nn.Module, model_b: nn.Module) -> None:
    shapes_a = {k: tuple(v.shape) for k, v in model_a.state_dict().items()}
    shapes_b = {k: tuple(v.shape) for k, v in model_b.state_dict().items()}
    if shapes_a != shapes_b:
        differ = sorted(set(shapes_a.items()) ^ set(shapes_b.items()))[:3]
        raise ValueError(f"model_b must have model_a's architecture (the same state_dict keys and shapes), "
                         f"got differences such as {differ}.")


def _mean_gradient_distance(grad_a: torch.Tensor, grad_b: torch.Tensor) -> float:
    return float((grad_a - grad_b).flatten(1).norm(dim=1).mean())


def explanation_shift(model_a: nn.Module, model_b: nn.Module, X, target, *, n_points: int = 10) -> ExplanationShift:
    """Meyer et al.'s Lemma 1 on data: input-gradient change vs parameter distance, and the constant that links them.

    Meyer, Ley, Srinivas and Lakkaraju ("On minimizing the impact of dataset shifts on
    actionable explanations", UAI 2023, Lemma 1) bound the expected change of the input
    gradient between two models by a gradient-parameter Lipschitz constant ``L`` on the
    segment ``Theta = {lambda theta_1 + (1 - lambda) theta_2}`` times ``||theta_2 - theta_1||``.
    Here the segment is cut into ``n_points - 1`` equal pieces (models ``theta_a + t (theta_b
    - theta_a)``, ``t = 0, 1/(n_points-1), ..., 1``) and ``L`` is estimated by the largest secant
    ratio ``mean_x ||g(t_{k+1}) - g(t_k)|| / ||theta(t_{k+1}) - theta(t_k)||``. By the
    triangle inequality the bound then holds exactly on X, for every ``n_points >= 2``
    (with 2 it is an equality); more points make ``L`` a finer estimate of the local
    constant Meyer et al. define (a lower estimate of their supremum).

    Parameters
    ----------
    model_a, model_b : torch.nn.Module
        The same architecture. Parameters and floating-point buffers are interpolated;
        the distance is over parameters only.
    X : torch.Tensor
        Inputs (N, ...) at which the gradients are compared.
    target : int or torch.Tensor of int
        The logit explained (one per row or one for all).
    n_points : int, default 10
        Models on the segment, including both ends (>= 2).

    Returns
    -------
    ExplanationShift

    Examples
    --------
    >>> a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    >>> shift = explanation_shift(a, b, torch.randn(5, 3), 0)
    >>> bool(shift.gradient_change <= shift.bound + 1e-9)
    True
    """
    import copy

    check_model(model_a, "model_a")
    check_model(model_b, "model_b")
    _check_same_architecture(model_a, model_b)
    n_points = check_positive_int("n_points", n_points)
    if n_points < 2:
        raise ValueError(f"n_points must be at least 2 (both ends of the segment), got {n_points}.")
    X = check_input(X, model_a, name="X")
    target = check_target(target, len(X), X.device, of="X")
    state_a, state_b = model_a.state_dict(), model_b.state_dict()
    names = {name for name, _ in model_a.named_parameters()}
    distance = float(torch.sqrt(sum(((state_b[n].to(state_a[n]) - state_a[n]) ** 2).sum() for n in names)))
    between = copy.deepcopy(model_a)

    def gradient_at(t: float) -> torch.Tensor:
        mixed = {k: (v + t * (state_b[k].to(v) - v)) if v.is_floating_point() else v for k, v in state_a.items()}
        between.load_state_dict(mixed)
        with evaluating(between, freeze=True):
            return output_gradient(between, X, target)

    ts = np.linspace(0.0, 1.0, n_points)
    grads = [gradient_at(float(t)) for t in ts]
    change = _mean_gradient_distance(grads[0], grads[-1])
    if distance == 0:
        return ExplanationShift(change, 0.0, 0.0, np.zeros(n_points - 1))
    pieces = np.array([_mean_gradient_distance(g0, g1) / (distance * (t1 - t0))
                       for g0, g1, t0, t1 in zip(grads[:-1], grads[1:], ts[:-1], ts[1:])])
    return ExplanationShift(change, distance, float(pieces.max()), pieces)


# ------------------------------------------------------------------ fragility (Ghorbani et al.)


def topk_objective(saliency_map: torch.Tensor, top_mask: torch.Tensor) -> torch.Tensor:
    """The share of a saliency map's mass on the original top-k pixels, per example (reference of exercise 9.3).

    Ghorbani, Abid and Zou's top-k attack (AAAI 2019, section 3) lowers it: with less mass
    there, other pixels take over the top of the ranking.

    Parameters
    ----------
    saliency_map : torch.Tensor
        Shape (N, ...), non-negative (absolute gradients).
    top_mask : torch.Tensor
        Shape (N, ...), 1 on each example's original top-k entries, 0 elsewhere.

    Returns
    -------
    torch.Tensor
        Shape (N,): ``sum(saliency_map * top_mask) / sum(saliency_map)`` per example
        (0 for an all-zero map).
    """
    check_tensor("saliency_map", saliency_map, ndim=(3, 4))
    if not isinstance(top_mask, torch.Tensor):
        raise TypeError(f"top_mask must be a torch.Tensor of the saliency map's shape, got {top_mask!r:.40}.")
    check_same_shape("top_mask", top_mask, "saliency_map", saliency_map)
    mass = saliency_map.flatten(1)
    total = mass.sum(dim=1)
    return (mass * top_mask.flatten(1)).sum(dim=1) / torch.where(total > 0, total, torch.ones_like(total))


def centre_of_mass(saliency_map: torch.Tensor) -> torch.Tensor:
    """The centre of mass (row, column) of each non-negative map (N, [C,] H, W), in pixels: shape (N, 2)."""
    check_tensor("saliency_map", saliency_map, ndim=(3, 4))
    mass = saliency_map.sum(dim=1) if saliency_map.ndim == 4 else saliency_map
    rows = torch.arange(mass.shape[1], dtype=mass.dtype, device=mass.device)
    cols = torch.arange(mass.shape[2], dtype=mass.dtype, device=mass.device)
    total = mass.sum(dim=(1, 2)).clamp_min(torch.finfo(mass.dtype).tiny)
    return torch.stack([(mass.sum(dim=2) * rows).sum(dim=1) / total, (mass.sum(dim=1) * cols).sum(dim=1) / total], dim=1)


def _saliency_map(model: nn.Module, x: torch.Tensor, target: torch.Tensor, *, create_graph: bool = False) -> torch.Tensor:
    """|d logit_target / d x| summed over channels: (N, H, W) (or (N, d) for flat inputs)."""
    x = x if x.requires_grad else x.detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(selected_output(model, x, target).sum(), x, create_graph=create_graph)
    return grad.abs().sum(dim=1) if grad.ndim == 4 else grad.abs()


def _top_mask(saliency: torch.Tensor, k: int) -> torch.Tensor:
    flat = saliency.flatten(1)
    mask = torch.zeros_like(flat)
    mask.scatter_(1, torch.argsort(-flat, dim=1, stable=True)[:, :k], 1.0)
    return mask.view_as(saliency)


FRAGILITY_KINDS = ("topk", "mass", "random")


def fragility_attack(model: nn.Module, x: torch.Tensor, target, *, eps: float, steps: int, k: int,
                     alpha: float | None = None, kind: str = "topk", rng=None, beta: float = 10.0) -> torch.Tensor:
    """Ghorbani, Abid and Zou's attack on an explanation: move the saliency map, keep the prediction.

    Ghorbani, Abid and Zou ("Interpretation of neural networks is fragile", AAAI 2019,
    algorithm 1) take ``steps`` signed-gradient steps of size ``alpha`` that increase the
    dissimilarity between the perturbed and the original saliency map, project onto the
    L-inf ball of ``eps`` and [0, 1], and keep, per example, the iterate with the lowest
    top-k intersection among those whose predicted class is still the original one.

    - ``kind="topk"``: lower the share of saliency mass on the original top-k pixels
      (:func:`topk_objective`);
    - ``kind="mass"``: move the map's centre of mass away from the original one
      (:func:`centre_of_mass`);
    - ``kind="random"``: the baseline of the same budget: a random-sign perturbation
      ``x + eps * s`` (s uniform in {-1, +1}), redrawn (up to ``steps`` times) for examples
      whose class changes; no search.

    The saliency map is the absolute gradient of the ``target`` logit (summed over channels).
    The attack's direction is computed on :func:`course_utils.xai.manipulation.softplus_model` (a ReLU network has zero
    second derivatives; Dombrowski et al., NeurIPS 2019); the prediction and the top-k
    intersection that select the iterate are those of the real model.

    Parameters
    ----------
    model : torch.nn.Module
        Maps images in [0, 1] to logits.
    x : torch.Tensor
        Images (N, C, H, W) in [0, 1].
    target : int or torch.Tensor of int
        The explained logit (usually the predicted class).
    eps : float
        L-inf budget in [0, 1].
    steps : int
        Iterations (>= 1; random draws for ``kind="random"``).
    k : int
        The size of the top-k set (Ghorbani et al.: 1,000 of ImageNet's 50,176 pixels).
    alpha : float, optional
        Step size; default ``2.5 * eps / steps`` (Madry et al.'s rule).
    kind : {"topk", "mass", "random"}
    rng : None, int, numpy.random.Generator or torch.Generator
        The random signs of ``kind="random"`` (the other kinds draw nothing).
    beta : float, default 10.0
        The softplus's sharpness in the surrogate.

    Returns
    -------
    torch.Tensor
        Images in [0, 1] with ``|x_adv - x| <= eps`` and the original predicted class, on the
        model's device. An example for which no iterate keeps the class is returned unchanged.
    """
    check_model(model)
    x = check_input(x, model, images=True, unit_range=True)
    target = check_target(target, len(x), x.device)
    eps = check_real("eps", eps, low=0, high=1)
    steps = check_positive_int("steps", steps)
    k = check_positive_int("k", k)
    as_torch_generator(rng, device=x.device)  # a bad seed fails here, whatever the kind
    if k > x[0, 0].numel():
        raise ValueError(f"k must be at most the number of pixels per image ({x[0, 0].numel()}), got {k}.")
    alpha = 2.5 * eps / steps if alpha is None else check_real("alpha", alpha, low=0, low_inclusive=False)
    if kind not in FRAGILITY_KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, FRAGILITY_KINDS))}; got {kind!r}.")
    with evaluating(model, freeze=True):
        with torch.no_grad():
            label = model(x).argmax(dim=1)
        original = _saliency_map(model, x, target).detach()
        top = _top_mask(original, k)
        best, best_score = x.clone(), torch.ones(len(x), dtype=x.dtype, device=x.device)

        def consider(candidate: torch.Tensor) -> None:
            nonlocal best, best_score
            with torch.no_grad():
                keeps = model(candidate).argmax(dim=1) == label
            score = _overlap(_saliency_map(model, candidate, target).detach(), top, k)
            better = keeps & (score < best_score)
            best = torch.where(better.view(-1, *[1] * (x.ndim - 1)), candidate, best)
            best_score = torch.where(better, score, best_score)

        if kind == "random":
            generator = as_torch_generator(rng, device=x.device)
            found = torch.zeros(len(x), dtype=torch.bool, device=x.device)
            for _ in range(steps):
                signs = torch.randint(0, 2, x.shape, generator=generator, device=x.device).to(x.dtype) * 2 - 1
                candidate = (x + eps * signs).clamp(0, 1)
                with torch.no_grad():
                    keeps = (model(candidate).argmax(dim=1) == label) & ~found
                best = torch.where(keeps.view(-1, *[1] * (x.ndim - 1)), candidate, best)
                found |= keeps
                if found.all():
                    break
            return best.detach()
        surrogate = softplus_model(model, beta)
        reference = centre_of_mass(original)
        x_adv = x.clone()
        for _ in range(steps):
            x_adv.requires_grad_(True)
            with torch.enable_grad():
                saliency = _saliency_map(surrogate, x_adv, target, create_graph=True)
                if kind == "topk":
                    objective = -topk_objective(saliency, top).sum()
                else:
                    objective = (centre_of_mass(saliency) - reference).norm(dim=1).sum()
                (direction,) = torch.autograd.grad(objective, x_adv)
            x_adv = (x_adv.detach() + alpha * direction.sign()).clamp(x - eps, x + eps).clamp(0, 1)
            consider(x_adv)
    return best.detach()


def _overlap(saliency: torch.Tensor, top: torch.Tensor, k: int) -> torch.Tensor:
    """Top-k intersection of ``saliency`` with the set marked in ``top`` (same ties rule as top_k_intersection)."""
    return (_top_mask(saliency, k) * top).flatten(1).sum(dim=1) / k


# ------------------------------------------------------------------ exercises


def _sensitivity_cases(rng: np.random.Generator) -> list[tuple]:
    reference = torch.as_tensor(rng.normal(size=(4, 1, 3, 3)))
    perturbed = reference + 0.1 * torch.as_tensor(rng.normal(size=(5, 4, 1, 3, 3)))
    return [(reference, perturbed), (reference, reference[None].repeat(3, 1, 1, 1, 1)),
            (reference[:, 0, 0], 2 * reference[None, :, 0, 0])]


def _tiny_classifier(rng: np.random.Generator) -> nn.Module:
    model = nn.Sequential(nn.Flatten(), nn.Linear(9, 5), nn.Tanh(), nn.Linear(5, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.as_tensor(rng.normal(size=p.shape), dtype=p.dtype))
    return model


def _penalty_cases(rng: np.random.Generator) -> list[tuple]:
    x = torch.as_tensor(rng.random((6, 1, 3, 3)), dtype=torch.float32)
    y = torch.as_tensor(rng.integers(0, 3, size=6))
    return [(_tiny_classifier(rng), x, y), (_tiny_classifier(rng), x[:1], y[:1]), (_tiny_classifier(rng), 2 * x, y)]


def _topk_cases(rng: np.random.Generator) -> list[tuple]:
    maps = torch.as_tensor(rng.random((3, 4, 4)))
    masks = torch.zeros(3, 16)
    for i in range(3):
        masks[i, rng.choice(16, size=4, replace=False)] = 1.0
    return [(maps, masks.view(3, 4, 4)), (maps, torch.ones(3, 4, 4)), (maps ** 3, masks.view(3, 4, 4))]


EXERCISES = register(
    Exercise("9.1", "max-sensitivity from explanations", max_relative_change, _sensitivity_cases,
             "for each example, the largest relative change of its explanation over the perturbations: the "
             "norm of the difference (over all the explanation's entries) divided by the norm of the "
             "reference explanation; shape (N,)."),
    Exercise("9.2", "cross-entropy and input-gradient penalty", cross_entropy_and_penalty, _penalty_cases,
             "the penalty is the batch mean of the squared norm of each example's loss gradient with respect "
             "to its input. The gradient must itself be differentiable (training descends on it), so build "
             "its graph. Return (mean cross-entropy, penalty)."),
    Exercise("9.3", "top-k fragility objective", topk_objective, _topk_cases,
             "per example, the share of the map's mass that lies on the mask: the map's total over the masked "
             "pixels divided by its total over all pixels."),
)
