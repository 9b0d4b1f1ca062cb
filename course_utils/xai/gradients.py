"""Gradient-based attributions and DeepLIFT (lesson 04).

- Saliency: the gradient of a class score with respect to the input (Simonyan, Vedaldi
  and Zisserman, "Deep Inside Convolutional Networks", ICLR workshop 2014).
- Gradient x input (Shrikumar et al. 2016; Ancona et al., ICLR 2018).
- Integrated Gradients: ``(x - x') * integral_0^1 grad f(x' + a (x - x')) da`` along the
  straight path from a baseline ``x'`` (Sundararajan, Taly and Yan, "Axiomatic Attribution
  for Deep Networks", ICML 2017). Its attributions sum to ``f(x) - f(x')`` (completeness).
- SmoothGrad: the gradient averaged over noisy copies of the input (Smilkov et al.,
  "SmoothGrad: removing noise by adding noise", 2017).
- DeepLIFT with the Rescale rule (Shrikumar, Greenside and Kundaje, "Learning Important
  Features Through Propagating Activation Differences", ICML 2017): multipliers
  ``Delta y / Delta x`` propagated by the chain rule, written out for Sequential MLPs of
  Linear and ReLU layers.
- ``simulate_motif_sequences``: random DNA with GATA1-like and TAL1-like motifs inserted, a
  small version of the DeepLIFT paper's simulated genomics data.

captum (``captum.attr``: ``Saliency``, ``InputXGradient``, ``IntegratedGradients``,
``NoiseTunnel``, ``DeepLift``) is the library version; these functions are short enough
to read and are tested against it. None of them changes the model: no hooks are left
behind, no ``requires_grad`` flag is changed, the train/eval mode is kept (compute
explanations in eval mode) and parameters' ``.grad`` stay as they were.
"""
from __future__ import annotations


import numpy as np
import torch
from torch import nn

from ..exercises import Exercise, register
from ..runtime import as_generator, as_torch_generator
from ..validation import check_array, check_in, check_positive_int, check_real, check_tensor
from .._torch import (check_baseline, check_input, check_model, check_output, check_target, evaluating,
                     output_gradient, selected_output)

__all__ = [
    "saliency",
    "input_x_gradient",
    "integrated_gradients",
    "smoothgrad",
    "deeplift_rescale",
    "completeness_gap",
    "path_rule",
    "path_integral",
    "rescale_multiplier",
    "INTEGRATION_METHODS",
    "EXERCISES",
]

INTEGRATION_METHODS = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")


def _check_batch_size(internal_batch_size) -> int | None:
    return None if internal_batch_size is None else check_positive_int("internal_batch_size", internal_batch_size)


def _prepare(model, x, target) -> tuple[torch.Tensor, torch.Tensor]:
    """The torch layer's checks: a batch on the model's device and one target per example."""
    check_model(model)
    x = check_input(x, model)
    return x, check_target(target, len(x), x.device)


# ------------------------------------------------------------------ gradients


def saliency(model: nn.Module, x: torch.Tensor, target, *, absolute: bool = False,
             max_over_channels: bool = False) -> torch.Tensor:
    """The gradient of the target output with respect to the input (Simonyan et al., 2014).

    The course's one saliency: lesson 04 uses the signed gradient, lesson 07 Simonyan's
    map ``max_c |d logit_target / d x_c|`` (``absolute=True, max_over_channels=True``).

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch (n, ...) to outputs (n, n_outputs), usually logits.
    x : torch.Tensor
        Inputs, shape (n, ...).
    target : int or 1-D integer tensor of length n
        The output to explain, one for all samples or one per sample.
    absolute : bool, default False
        Return ``|gradient|`` (captum's ``Saliency`` default).
    max_over_channels : bool, default False
        For images (N, C, H, W): the maximum over the channel axis, shape (N, H, W).

    Returns
    -------
    torch.Tensor
        Same shape as ``x`` (or (N, H, W) with ``max_over_channels``), on the model's device.

    Examples
    --------
    >>> model = nn.Linear(3, 2)
    >>> torch.equal(saliency(model, torch.ones(4, 3), 1), model.weight[1].detach().expand(4, 3))
    True
    """
    x, target = _prepare(model, x, target)
    if max_over_channels and x.ndim != 4:
        raise ValueError(f"max_over_channels needs images of shape (N, C, H, W), got shape {tuple(x.shape)}.")
    with evaluating(model):
        grad = output_gradient(model, x, target)
    grad = grad.abs() if absolute else grad
    return grad.amax(dim=1) if max_over_channels else grad


def input_x_gradient(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """Gradient times input: ``x * d f_target / d x`` (exact contributions for a linear model without bias).

    Parameters and return value as in :func:`saliency`.

    Examples
    --------
    >>> model = nn.Linear(2, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.tensor([[2.0, -1.0]]))
    >>> input_x_gradient(model, torch.tensor([[3.0, 4.0]]), 0)
    tensor([[ 6., -4.]])
    """
    x, target = _prepare(model, x, target)
    with evaluating(model):
        return x * output_gradient(model, x, target)


def path_rule(steps: int, method: str = "gausslegendre") -> tuple[torch.Tensor, torch.Tensor]:
    """Points ``alphas`` in [0, 1] and weights of a quadrature rule for ``integral_0^1 g(a) da``.

    Parameters
    ----------
    steps : int
        Number of points (>= 2 for the trapezoid rule).
    method : {"gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"}
        The paper's sum is ``riemann_right`` (points k/steps, k = 1..steps). The weights
        always sum to 1. (captum's trapezoid weights sum to (steps - 1) / steps.)

    Returns
    -------
    alphas, weights : torch.Tensor
        float64, shape (steps,) each.

    Examples
    --------
    >>> path_rule(4, "riemann_middle")[0]
    tensor([0.1250, 0.3750, 0.6250, 0.8750], dtype=torch.float64)
    """
    steps = check_positive_int("steps", steps)
    check_in("method", method, INTEGRATION_METHODS)
    k = torch.arange(steps, dtype=torch.float64)
    weights = torch.full((steps,), 1.0 / steps, dtype=torch.float64)
    if method == "gausslegendre":
        nodes, gl_weights = np.polynomial.legendre.leggauss(steps)
        return torch.from_numpy(0.5 * (nodes + 1)), torch.from_numpy(0.5 * gl_weights)
    if method == "riemann_trapezoid":
        if steps < 2:
            raise ValueError(f"steps must be at least 2 for the trapezoid rule, got {steps}.")
        weights = torch.full((steps,), 1.0 / (steps - 1), dtype=torch.float64)
        weights[[0, -1]] /= 2
        return k / (steps - 1), weights
    offset = {"riemann_left": 0.0, "riemann_middle": 0.5, "riemann_right": 1.0}[method]
    return (k + offset) / steps, weights


def _per_sample(values: torch.Tensor, ndim: int) -> torch.Tensor:
    """Reshape a (m,) tensor to broadcast against (m, ...) with ``ndim`` dimensions."""
    return values.view(-1, *([1] * (ndim - 1)))


def integrated_gradients(model: nn.Module, x: torch.Tensor, target, *, baseline=None, steps: int = 50,
                         internal_batch_size: int | None = None, method: str = "gausslegendre") -> torch.Tensor:
    """Integrated Gradients along the straight path from ``baseline`` to ``x`` (Sundararajan et al., 2017).

    ``IG_i(x) = (x_i - x'_i) * integral_0^1 d f(x' + a (x - x')) / d x_i da``, the integral
    approximated by the quadrature rule ``method`` with ``steps`` points. The
    ``n * steps`` path points go through the model in batches of at most
    ``internal_batch_size`` inputs; each batch is built when it is needed, so memory grows
    with ``internal_batch_size``, not with ``steps``.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (n, ...) to (n, n_outputs).
    x : torch.Tensor
        Inputs, shape (n, ...).
    target : int or 1-D integer tensor of length n
    baseline : None, float or torch.Tensor, optional
        The reference input ``x'``: zeros (default), a constant, or a tensor shaped like
        ``x`` or like one sample.
    steps : int, default 50
        Number of points on the path. At 50 points the attributions of a ReLU network
        usually sum to ``f(x) - f(x')`` within 1-2%.
    internal_batch_size : int, optional
        Largest number of inputs per forward/backward pass (default: all ``n * steps``).
    method : str, default "gausslegendre"
        See :func:`path_rule`; captum's default too.

    Returns
    -------
    torch.Tensor
        Same shape as ``x``; ``attributions.sum()`` per sample is about ``f(x) - f(x')``.

    Examples
    --------
    >>> model = nn.Sequential(nn.Linear(2, 1), nn.Tanh())
    >>> x = torch.tensor([[1.0, -2.0]])
    >>> ig = integrated_gradients(model, x, 0, steps=64)
    >>> bool(torch.allclose(ig.sum(), (model(x) - model(torch.zeros(1, 2))).sum(), atol=1e-4))
    True
    """
    x, target = _prepare(model, x, target)
    baseline = check_baseline(baseline, x)
    chunk = _check_batch_size(internal_batch_size)
    alphas, weights = path_rule(steps, method)
    with evaluating(model):
        return path_integral(model, x, target, baseline, alphas, weights, internal_batch_size=chunk)


def path_integral(model: nn.Module, x: torch.Tensor, target, baseline: torch.Tensor, alphas, weights, *,
                  internal_batch_size: int | None = None) -> torch.Tensor:
    """``(x - x') * sum_k weights_k * grad f_target(x' + alphas_k (x - x'))``: IG's sum over the path (exercise 4.1).

    The building block of :func:`integrated_gradients`, which checks the arguments,
    picks the quadrature rule (:func:`path_rule`) and puts the model in eval mode. The
    ``n * len(alphas)`` path points go through the model in batches of at most
    ``internal_batch_size`` (default: all at once); each batch is built when it is
    needed, so memory grows with the batch, not with the number of steps.

    Parameters
    ----------
    model : torch.nn.Module
    x, baseline : torch.Tensor
        Shape (n, ...) each.
    target : int or 1-D integer tensor of length n
    alphas, weights : array-like or torch.Tensor
        The points in [0, 1] and their weights, shape (steps,) each.
    """
    check_model(model)
    with evaluating(model):
        return _path_integral(model, x, target, baseline, alphas, weights, internal_batch_size)


def _path_integral(model, x, target, baseline, alphas, weights, internal_batch_size):
    x = check_input(x, model)
    baseline = check_baseline(baseline, x)
    target = check_target(target, len(x), x.device)
    alphas, weights = (check_array(name, t.detach().cpu() if isinstance(t, torch.Tensor) else t, ndim=1, nonempty=True)
                       for name, t in (("alphas", alphas), ("weights", weights)))
    if len(alphas) != len(weights):
        raise ValueError(f"weights must have one weight per alpha ({len(alphas)}), got {len(weights)}.")
    if internal_batch_size is not None:
        check_positive_int("internal_batch_size", internal_batch_size)
    alphas, weights = (torch.as_tensor(t).to(dtype=x.dtype, device=x.device) for t in (alphas, weights))
    n, total = len(x), len(x) * len(alphas)
    chunk = total if internal_batch_size is None else internal_batch_size
    difference = x - baseline
    weighted_gradients = torch.zeros_like(x)
    for start in range(0, total, chunk):
        index = torch.arange(start, min(start + chunk, total), device=x.device)
        step, sample = index // n, index % n  # step-major: all samples of a step, then the next step
        points = baseline[sample] + _per_sample(alphas[step], x.ndim) * difference[sample]
        grads = output_gradient(model, points, target[sample])
        weighted_gradients.index_add_(0, sample, grads * _per_sample(weights[step], x.ndim))
    return difference * weighted_gradients


def smoothgrad(model: nn.Module, x: torch.Tensor, target, *, n_samples: int = 50, noise_level: float = 0.15,
               rng=None) -> torch.Tensor:
    """SmoothGrad: the gradient averaged over ``n_samples`` noisy copies of each input (Smilkov et al., 2017).

    The noise is Gaussian with standard deviation ``noise_level * (x_i.max() - x_i.min())``
    for sample ``i`` (the paper's "noise level"; 10-20% works well for images).

    Parameters
    ----------
    model, x, target
        As in :func:`saliency`.
    n_samples : int, default 50
    noise_level : float, default 0.15
        Non-negative; 0 gives the plain gradient.
    rng : None, int, numpy.random.Generator or torch.Generator
        Source of the noise (:func:`course_utils.runtime.as_torch_generator`); None: fresh
        entropy from the operating system.

    Returns
    -------
    torch.Tensor
        Same shape as ``x``.

    Examples
    --------
    >>> model = nn.Linear(3, 2)
    >>> g = smoothgrad(model, torch.ones(2, 3), 0, n_samples=4, rng=0)
    >>> torch.allclose(g, model.weight[0].detach().expand(2, 3))  # a linear model's gradient is constant
    True
    """
    x, target = _prepare(model, x, target)
    n_samples = check_positive_int("n_samples", n_samples)
    noise_level = check_real("noise_level", noise_level, low=0)
    generator = as_torch_generator(as_generator(rng) if rng is None else rng, device=x.device)
    flat = x.reshape(len(x), -1)
    sigma = _per_sample(noise_level * (flat.max(dim=1).values - flat.min(dim=1).values), x.ndim)
    total = torch.zeros_like(x)
    with evaluating(model):
        for _ in range(n_samples):
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            total += output_gradient(model, x + sigma * noise, target)
    return total / n_samples


# ------------------------------------------------------------------ DeepLIFT


def rescale_multiplier(z: torch.Tensor, z_ref: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """DeepLIFT's Rescale multiplier of a ReLU: ``(relu(z) - relu(z_ref)) / (z - z_ref)``.

    Where ``|z - z_ref| <= eps`` the difference is too small to divide by, and the
    multiplier is the gradient of the ReLU at ``z`` (1 if ``z > 0``, else 0), as in
    captum's ``DeepLift``. This is the reference of exercise 4.3.

    Examples
    --------
    >>> rescale_multiplier(torch.tensor([2.0, -1.0, 3.0, 0.5]), torch.tensor([-2.0, -3.0, 1.0, 0.5]))
    tensor([0.5000, 0.0000, 1.0000, 1.0000])
    """
    z, z_ref = check_tensor("z", z), check_tensor("z_ref", z_ref)
    if z.shape != z_ref.shape:
        raise ValueError(f"z_ref must have the shape of z {tuple(z.shape)}, got {tuple(z_ref.shape)}.")
    eps = check_real("eps", eps, low=0)
    delta_in = z - z_ref
    delta_out = torch.relu(z) - torch.relu(z_ref)
    usable = delta_in.abs() > eps
    ratio = delta_out / torch.where(usable, delta_in, torch.ones_like(delta_in))
    return torch.where(usable, ratio, (z > 0).to(z.dtype))


def _mlp_layers(model: nn.Module) -> list[nn.Module]:
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be a torch.nn.Sequential of Linear and ReLU layers, got {type(model).__name__}.")
    for name, layer in model.named_children():
        if not isinstance(layer, (nn.Linear, nn.ReLU)):
            raise TypeError(f"model must be a Sequential of Linear and ReLU layers only; layer {name!r} is "
                            f"{type(layer).__name__}. Use captum.attr.DeepLift for other architectures.")
    return list(model)


def deeplift_rescale(model: nn.Sequential, x: torch.Tensor, target, baseline=None) -> torch.Tensor:
    """DeepLIFT with the Rescale rule for an MLP (Shrikumar et al., 2017), by the chain rule for multipliers.

    One forward pass of ``x`` and one of ``baseline`` record every layer's input. Going
    backwards from the target output, the multiplier ``m = Delta t / Delta h`` of each
    layer's input is the next layer's multiplier times

    - the weight matrix for a Linear layer (``m_in = m_out @ W``: a linear layer's
      multipliers are its gradient);
    - the Rescale multiplier ``Delta relu(z) / Delta z`` for a ReLU (:func:`rescale_multiplier`).

    The attributions are ``m_input * (x - baseline)`` and sum exactly to
    ``f_t(x) - f_t(baseline)`` (summation-to-delta). Layers are followed in the order of
    the Sequential, not through hooks, and ReLUs are applied out of place, so a ReLU module
    used twice or an in-place ReLU is handled correctly.

    Parameters
    ----------
    model : torch.nn.Sequential
        Only ``nn.Linear`` and ``nn.ReLU`` layers.
    x : torch.Tensor
        Inputs, shape (n, d).
    target : int or 1-D integer tensor of length n
    baseline : None, float or torch.Tensor
        The reference input (default zeros), shaped like ``x`` or one sample.

    Returns
    -------
    torch.Tensor
        Shape (n, d).

    Examples
    --------
    >>> model = nn.Sequential(nn.Linear(2, 1), nn.ReLU())   # a saturating unit: relu(x1 + x2 - 1)
    >>> with torch.no_grad():
    ...     _ = model[0].weight.fill_(1.0), model[0].bias.fill_(-1.0)
    >>> deeplift_rescale(model, torch.tensor([[1.0, 2.0]]), 0, torch.zeros(1, 2))
    tensor([[0.6667, 1.3333]])
    """
    layers = _mlp_layers(model)
    x, target = _prepare(model, x, target)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n, d) for an MLP, got shape {tuple(x.shape)}.")
    baseline = check_baseline(baseline, x)
    inputs, references = [x], [baseline]
    with torch.no_grad():
        for layer in layers:  # torch.relu, not the module: an in-place ReLU would overwrite the recorded input
            step = torch.relu if isinstance(layer, nn.ReLU) else layer
            inputs.append(step(inputs[-1]))
            references.append(step(references[-1]))
        check_output(inputs[-1], target)
        multiplier = torch.nn.functional.one_hot(target, inputs[-1].shape[1]).to(x.dtype)
        for index in reversed(range(len(layers))):
            if isinstance(layers[index], nn.Linear):
                multiplier = multiplier @ layers[index].weight
            else:
                multiplier = multiplier * rescale_multiplier(inputs[index], references[index])
    return multiplier * (x - baseline)


def completeness_gap(model: nn.Module, x: torch.Tensor, target, attributions: torch.Tensor,
                     baseline=None) -> torch.Tensor:
    """Per sample, ``sum(attributions) - (f_target(x) - f_target(baseline))``; zero for a complete method.

    This is the reference of exercise 4.2. IG's gap shrinks with more steps; DeepLIFT's is
    zero up to rounding.

    Returns
    -------
    torch.Tensor
        Shape (n,).

    Examples
    --------
    >>> model = nn.Linear(3, 1)
    >>> x = torch.randn(2, 3)
    >>> bool(completeness_gap(model, x, 0, input_x_gradient(model, x, 0)).abs().max() < 1e-6)
    True
    """
    x, target = _prepare(model, x, target)
    baseline = check_baseline(baseline, x)
    if not isinstance(attributions, torch.Tensor) or tuple(attributions.shape) != tuple(x.shape):
        shape = tuple(attributions.shape) if hasattr(attributions, "shape") else type(attributions).__name__
        raise ValueError(f"attributions must have the shape of x {tuple(x.shape)}, got {shape}.")
    check_tensor("attributions", attributions)
    with evaluating(model), torch.no_grad():
        delta = selected_output(model, x, target) - selected_output(model, baseline, target)
    return attributions.detach().to(delta.device).reshape(len(x), -1).sum(dim=1) - delta


# ------------------------------------------------------------------ exercises


def _tiny_mlp(rng: np.random.Generator, sizes: tuple[int, ...], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """An MLP with weights drawn from ``rng`` (no global torch seeding)."""
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        linear = nn.Linear(fan_in, fan_out)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(rng.normal(0, 1 / np.sqrt(fan_in), (fan_out, fan_in))))
            linear.bias.copy_(torch.from_numpy(rng.normal(0, 0.1, fan_out)))
        layers += [linear, activation()]
    return nn.Sequential(*layers[:-1])


def _ig_cases(rng: np.random.Generator) -> list[tuple]:
    model = _tiny_mlp(rng, (4, 6, 3), nn.Tanh)
    x = torch.from_numpy(rng.normal(size=(3, 4))).float()
    return [(model, x, 1, torch.zeros_like(x), *path_rule(20, "riemann_right")),
            (model, x, 2, torch.from_numpy(rng.normal(size=(3, 4))).float(), *path_rule(7, "riemann_right")),
            (_tiny_mlp(rng, (5, 8, 8, 2)), torch.from_numpy(rng.normal(size=(2, 5))).float(), 0,
             torch.zeros(2, 5), *path_rule(16, "gausslegendre"))]


def _rescale_cases(rng: np.random.Generator) -> list[tuple]:
    z = torch.from_numpy(rng.normal(size=(4, 6)))
    z_ref = torch.from_numpy(rng.normal(size=(4, 6)))
    z_ref[0, :3] = z[0, :3]  # equal entries: the multiplier falls back to the gradient
    return [(torch.tensor([2.0, -1.0, 3.0, -0.5, 1.0]), torch.tensor([-2.0, -3.0, 1.0, 0.5, 1.0])), (z, z_ref)]


def _completeness_cases(rng: np.random.Generator) -> list[tuple]:
    model = _tiny_mlp(rng, (4, 8, 3))
    x = torch.from_numpy(rng.normal(size=(5, 4))).float()
    baseline = torch.from_numpy(rng.normal(size=(5, 4))).float()
    return [(model, x, 1, deeplift_rescale(model, x, 1, baseline), baseline),
            (model, x, torch.tensor([0, 1, 2, 0, 1]), input_x_gradient(model, x, 2), torch.zeros_like(x))]


EXERCISES = register(
    Exercise("4.1", "Integrated Gradients: the weighted sum of gradients along the path", path_integral, _ig_cases,
             "a weighted sum along the straight path from the baseline to x: at the k-th path point (the k-th "
             "alpha of the way) take the gradient of the target logit with respect to the input, weight it by "
             "the k-th weight, add the weighted gradients up, and scale the sum by how far x is from the "
             "baseline, feature by feature.", atol=1e-5, rtol=1e-4),
    Exercise("4.2", "completeness check", completeness_gap, _completeness_cases,
             "completeness says that a sample's attributions add up to the change of its target logit from "
             "the baseline to x; return, per sample, the sum of its attributions minus that change (the "
             "target may be one class or one per sample).", atol=1e-5, rtol=1e-4),
    Exercise("4.3", "the Rescale multiplier of a ReLU", rescale_multiplier, _rescale_cases,
             "the Rescale rule's multiplier is the ReLU's change of output divided by its change of input, "
             "both against the reference; where the input barely changes (by at most eps) that ratio is "
             "unstable, so use the ReLU's slope at z instead (1 where z is positive, 0 elsewhere)."),
)
