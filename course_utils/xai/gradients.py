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

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..exercises import Exercise, register
from ..validation import check_in, check_nonnegative_int, check_positive_int, check_real

__all__ = [
    "saliency",
    "input_x_gradient",
    "integrated_gradients",
    "smoothgrad",
    "deeplift_rescale",
    "completeness_gap",
    "path_rule",
    "ig_riemann",
    "rescale_multiplier",
    "MotifSequences",
    "simulate_motif_sequences",
    "INTEGRATION_METHODS",
    "EXERCISES",
]

INTEGRATION_METHODS = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")


# ------------------------------------------------------------------ argument checks


def _check_model(model) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    return model


def _check_x(x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        kind = f"a {x.dtype} tensor" if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"x must be a floating-point torch.Tensor, got {kind}.")
    if x.ndim < 2:
        raise ValueError(f"x must be a batch of shape (n, ...) with at least 2 dimensions, got shape {tuple(x.shape)}.")
    return x.detach()


def _check_target(target, n: int, device: torch.device) -> torch.Tensor:
    """``target`` (an int or one int per sample) as a long tensor of shape (n,)."""
    if isinstance(target, (bool, np.bool_)):
        raise TypeError(f"target must be an int or a 1-D integer tensor of length {n}, got {target!r} (bool).")
    if isinstance(target, (int, np.integer)):
        return torch.full((n,), int(target), dtype=torch.long, device=device)
    tensor = torch.as_tensor(target, device=device) if not isinstance(target, torch.Tensor) else target
    if tensor.dtype.is_floating_point or tensor.dtype in (torch.bool, torch.complex64, torch.complex128):
        raise TypeError(f"target must be an int or a 1-D integer tensor of length {n}, got a {tensor.dtype} tensor.")
    if tensor.ndim == 0:
        return torch.full((n,), int(tensor), dtype=torch.long, device=device)
    if tensor.shape != (n,):
        raise ValueError(f"target must be an int or a 1-D integer tensor of length {n} (one per sample), "
                         f"got shape {tuple(tensor.shape)}.")
    return tensor.to(device=device, dtype=torch.long)


def _check_baseline(baseline, x: torch.Tensor) -> torch.Tensor:
    """``None`` (zeros), a number, or a tensor of shape ``x.shape`` or ``x.shape[1:]``; returned as x's shape."""
    if baseline is None:
        return torch.zeros_like(x)
    if isinstance(baseline, (int, float, np.integer, np.floating)) and not isinstance(baseline, bool):
        return torch.full_like(x, float(baseline))
    if not isinstance(baseline, torch.Tensor):
        raise TypeError(f"baseline must be None, a number or a torch.Tensor, got {type(baseline).__name__}.")
    if baseline.ndim == 0:
        return torch.full_like(x, float(baseline))
    if tuple(baseline.shape) == tuple(x.shape[1:]):
        baseline = baseline.unsqueeze(0)
    if baseline.shape[0] == 1 and tuple(baseline.shape[1:]) == tuple(x.shape[1:]):
        baseline = baseline.expand_as(x)
    if tuple(baseline.shape) != tuple(x.shape):
        raise ValueError(f"baseline must have the shape of x {tuple(x.shape)} or of one sample "
                         f"{tuple(x.shape[1:])}, got shape {tuple(baseline.shape)}.")
    return baseline.detach().to(dtype=x.dtype, device=x.device)


def _check_batch_size(internal_batch_size) -> int | None:
    return None if internal_batch_size is None else check_positive_int("internal_batch_size", internal_batch_size)


# ------------------------------------------------------------------ gradients


def _check_output(out: torch.Tensor, target: torch.Tensor) -> None:
    if out.ndim != 2:
        raise ValueError(f"model must return a 2-D tensor (n, n_outputs), got shape {tuple(out.shape)}.")
    if int(target.max()) >= out.shape[1] or int(target.min()) < 0:
        raise ValueError(f"target must be in [0, {out.shape[1] - 1}] (the model has {out.shape[1]} outputs), "
                         f"got values in [{int(target.min())}, {int(target.max())}].")


def _selected_output(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``model(x)[i, target[i]]`` for every sample ``i``, shape (n,)."""
    out = model(x)
    _check_output(out, target)
    return out.gather(1, target[:, None]).squeeze(1)


def _gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d model(x)[i, target[i]] / d x[i] for each sample: one forward and one backward pass.

    ``torch.autograd.grad`` differentiates with respect to a detached view of ``x`` only,
    so the caller's tensor and the parameters' ``.grad`` are untouched.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        outputs = _selected_output(model, x, target)
        (grad,) = torch.autograd.grad(outputs.sum(), x)
    return grad


def saliency(model: nn.Module, x: torch.Tensor, target, *, absolute: bool = False) -> torch.Tensor:
    """The gradient of the target output with respect to the input (Simonyan et al., 2014).

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch (n, ...) to outputs (n, n_outputs), usually logits.
    x : torch.Tensor
        Inputs, shape (n, ...).
    target : int or 1-D integer tensor of length n
        The output to explain, one for all samples or one per sample.
    absolute : bool, default False
        Return ``|gradient|``, Simonyan's saliency map (captum's ``Saliency`` default).

    Returns
    -------
    torch.Tensor
        Same shape as ``x``.

    Examples
    --------
    >>> model = nn.Linear(3, 2)
    >>> torch.equal(saliency(model, torch.ones(4, 3), 1), model.weight[1].detach().expand(4, 3))
    True
    """
    _check_model(model)
    x = _check_x(x)
    grad = _gradient(model, x, _check_target(target, len(x), x.device))
    return grad.abs() if absolute else grad


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
    _check_model(model)
    x = _check_x(x)
    return x * _gradient(model, x, _check_target(target, len(x), x.device))


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
    _check_model(model)
    x = _check_x(x)
    target = _check_target(target, len(x), x.device)
    baseline = _check_baseline(baseline, x)
    chunk = _check_batch_size(internal_batch_size)
    alphas, weights = (t.to(dtype=x.dtype, device=x.device) for t in path_rule(steps, method))
    n, total = len(x), len(x) * len(alphas)
    chunk = total if chunk is None else chunk
    difference = x - baseline
    weighted_gradients = torch.zeros_like(x)
    for start in range(0, total, chunk):
        index = torch.arange(start, min(start + chunk, total), device=x.device)
        step, sample = index // n, index % n  # step-major: all samples of a step, then the next step
        points = baseline[sample] + _per_sample(alphas[step], x.ndim) * difference[sample]
        grads = _gradient(model, points, target[sample])
        weighted_gradients.index_add_(0, sample, grads * _per_sample(weights[step], x.ndim))
    return difference * weighted_gradients


def smoothgrad(model: nn.Module, x: torch.Tensor, target, *, n_samples: int = 50, noise_level: float = 0.15,
               generator: torch.Generator | int | None = None) -> torch.Tensor:
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
    generator : torch.Generator or int, optional
        Source of the noise (an int seeds a new generator); default a fresh generator
        seeded by the operating system.

    Returns
    -------
    torch.Tensor
        Same shape as ``x``.

    Examples
    --------
    >>> model = nn.Linear(3, 2)
    >>> g = smoothgrad(model, torch.ones(2, 3), 0, n_samples=4, generator=0)
    >>> torch.allclose(g, model.weight[0].detach().expand(2, 3))  # a linear model's gradient is constant
    True
    """
    _check_model(model)
    x = _check_x(x)
    target = _check_target(target, len(x), x.device)
    n_samples = check_positive_int("n_samples", n_samples)
    noise_level = check_real("noise_level", noise_level, low=0)
    if generator is None:
        generator = torch.Generator(device=x.device)
        generator.seed()
    elif not isinstance(generator, torch.Generator):
        generator = torch.Generator(device=x.device).manual_seed(check_nonnegative_int("generator", generator))
    flat = x.reshape(len(x), -1)
    sigma = _per_sample(noise_level * (flat.max(dim=1).values - flat.min(dim=1).values), x.ndim)
    total = torch.zeros_like(x)
    for _ in range(n_samples):
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        total += _gradient(model, x + sigma * noise, target)
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
    x = _check_x(x)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (n, d) for an MLP, got shape {tuple(x.shape)}.")
    target = _check_target(target, len(x), x.device)
    baseline = _check_baseline(baseline, x)
    inputs, references = [x], [baseline]
    with torch.no_grad():
        for layer in layers:  # torch.relu, not the module: an in-place ReLU would overwrite the recorded input
            step = torch.relu if isinstance(layer, nn.ReLU) else layer
            inputs.append(step(inputs[-1]))
            references.append(step(references[-1]))
        _check_output(inputs[-1], target)
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
    _check_model(model)
    x = _check_x(x)
    target = _check_target(target, len(x), x.device)
    baseline = _check_baseline(baseline, x)
    if tuple(attributions.shape) != tuple(x.shape):
        raise ValueError(f"attributions must have the shape of x {tuple(x.shape)}, got {tuple(attributions.shape)}.")
    with torch.no_grad():
        delta = _selected_output(model, x, target) - _selected_output(model, baseline, target)
    return attributions.detach().reshape(len(x), -1).sum(dim=1) - delta


# ------------------------------------------------------------------ exercise 4.1


def ig_riemann(model: nn.Module, x: torch.Tensor, target: int, baseline: torch.Tensor, steps: int) -> torch.Tensor:
    """Integrated Gradients by the paper's right Riemann sum, one step at a time (exercise 4.1).

    ``(x - x') * (1/m) * sum_{k=1}^{m} grad f_target(x' + (k/m) (x - x'))``. Equal to
    ``integrated_gradients(..., method="riemann_right")``, which batches the steps.
    """
    total = torch.zeros_like(x)
    for k in range(1, steps + 1):
        point = (baseline + k / steps * (x - baseline)).detach().requires_grad_(True)
        output = model(point)[:, target].sum()
        total += torch.autograd.grad(output, point)[0]
    return (x - baseline) * total / steps


# ------------------------------------------------------------------ simulated genomics

DNA_ALPHABET = "ACGT"
BACKGROUND = (0.3, 0.2, 0.2, 0.3)  # A, C, G, T frequencies of the DeepLIFT paper's simulation
MOTIFS = {"GATA1": "GCAGATAAGG", "TAL1": "ACCAGCTGGT"}  # simplified consensus sites (GATA: WGATAR, TAL1: E-box CANNTG)
TASKS = ("both", "GATA1", "TAL1")


@dataclass(frozen=True)
class MotifSequences:
    """Simulated DNA: one-hot sequences, the three task labels, and where the motifs were inserted.

    Attributes
    ----------
    X : torch.Tensor
        One-hot, shape (n, 4, length), channels A, C, G, T.
    y : torch.Tensor
        float 0/1, shape (n, 3): task 0 "both motifs", task 1 "GATA1", task 2 "TAL1".
    masks : dict of str to torch.Tensor
        ``masks["GATA1"]``, ``masks["TAL1"]``: bool (n, length), True on inserted motif bases.
    """

    X: torch.Tensor
    y: torch.Tensor
    masks: dict

    def task_mask(self, task: int) -> torch.Tensor:
        """Positions of the motifs that make task ``task`` positive (both motifs for task 0)."""
        check_in("task", task, range(len(TASKS)))
        return {0: self.masks["GATA1"] | self.masks["TAL1"], 1: self.masks["GATA1"], 2: self.masks["TAL1"]}[task]

    def strings(self, index: int) -> str:
        """Sequence ``index`` as letters."""
        return "".join(DNA_ALPHABET[i] for i in self.X[index].argmax(dim=0).tolist())


def _motif_pwm(consensus: str, purity: float) -> np.ndarray:
    """A position weight matrix (length, 4): the consensus base with probability ``purity``."""
    pwm = np.full((len(consensus), 4), (1 - purity) / 3)
    pwm[np.arange(len(consensus)), [DNA_ALPHABET.index(c) for c in consensus]] = purity
    return pwm


def _free_positions(taken: np.ndarray, width: int, count: int, rng: np.random.Generator) -> list[int]:
    starts = []
    while len(starts) < count:
        start = int(rng.integers(0, len(taken) - width + 1))
        if not taken[start:start + width].any():
            taken[start:start + width] = True
            starts.append(start)
    return starts


def simulate_motif_sequences(n: int, *, length: int = 200, purity: float = 0.9, max_instances: int = 3,
                             rng: np.random.Generator | int | None = None) -> MotifSequences:
    """Random DNA with GATA1-like and TAL1-like motifs inserted (after the DeepLIFT paper, section 4.3).

    Background bases are drawn with frequencies A 0.3, C 0.2, G 0.2, T 0.3. A quarter of
    the sequences get both motifs, a quarter only GATA1, a quarter only TAL1, a quarter
    neither; each inserted motif appears 1 to ``max_instances`` times, at random
    non-overlapping places, each instance sampled from a position weight matrix whose
    consensus base has probability ``purity``. The paper sampled ENCODE's GATA_disc1 and
    TAL1_known1 matrices; here the matrices are built from short consensus sites
    (:data:`MOTIFS`).

    Parameters
    ----------
    n : int
    length : int, default 200
    purity : float, default 0.85
        In (0.25, 1].
    max_instances : int, default 3
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    MotifSequences

    Examples
    --------
    >>> data = simulate_motif_sequences(8, rng=0)
    >>> tuple(data.X.shape), tuple(data.y.shape)
    ((8, 4, 200), (8, 3))
    """
    n = check_positive_int("n", n)
    length = check_positive_int("length", length)
    purity = check_real("purity", purity, low=0.25, high=1, low_inclusive=False)
    max_instances = check_positive_int("max_instances", max_instances)
    width = max(len(m) for m in MOTIFS.values())
    if 2 * max_instances * width > length:
        raise ValueError(f"length must be at least 2 * max_instances * motif width = {2 * max_instances * width}, "
                         f"got {length}.")
    rng = np.random.default_rng(rng)
    codes = rng.choice(4, size=(n, length), p=BACKGROUND)
    masks = {name: np.zeros((n, length), dtype=bool) for name in MOTIFS}
    kind = rng.permutation(np.arange(n) % 4)  # 0 both, 1 GATA1 only, 2 TAL1 only, 3 neither
    present = {"GATA1": (kind == 0) | (kind == 1), "TAL1": (kind == 0) | (kind == 2)}
    for name, consensus in MOTIFS.items():
        cumulative = _motif_pwm(consensus, purity).cumsum(axis=1)
        for i in np.flatnonzero(present[name]):
            taken = masks["GATA1"][i] | masks["TAL1"][i]
            for start in _free_positions(taken, len(consensus), int(rng.integers(1, max_instances + 1)), rng):
                draws = rng.random(len(consensus))[:, None]
                codes[i, start:start + len(consensus)] = (draws > cumulative).sum(axis=1).clip(max=3)
                masks[name][i, start:start + len(consensus)] = True
    X = torch.nn.functional.one_hot(torch.from_numpy(codes), 4).permute(0, 2, 1).float()
    y = torch.from_numpy(np.stack([present["GATA1"] & present["TAL1"], present["GATA1"], present["TAL1"]], 1)).float()
    return MotifSequences(X=X, y=y, masks={name: torch.from_numpy(mask) for name, mask in masks.items()})


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
    return [(model, x, 1, torch.zeros_like(x), 20),
            (model, x, 2, torch.from_numpy(rng.normal(size=(3, 4))).float(), 7),
            (_tiny_mlp(rng, (5, 8, 8, 2)), torch.from_numpy(rng.normal(size=(2, 5))).float(), 0,
             torch.zeros(2, 5), 16)]


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
    Exercise("4.1", "Integrated Gradients by a Riemann sum", ig_riemann, _ig_cases,
             "for k = 1..steps: point = baseline + k/steps * (x - baseline) with requires_grad; "
             "add the gradient of model(point)[:, target].sum() with respect to point; finally "
             "multiply the sum by (x - baseline) / steps.", atol=1e-5, rtol=1e-4),
    Exercise("4.2", "completeness check", completeness_gap, _completeness_cases,
             "sum the attributions of each sample over all its features (reshape to (n, -1)), then "
             "subtract model(x)[i, target_i] - model(baseline)[i, target_i]; target may be an int "
             "or one per sample.", atol=1e-5, rtol=1e-4),
    Exercise("4.3", "the Rescale multiplier of a ReLU", rescale_multiplier, _rescale_cases,
             "divide relu(z) - relu(z_ref) by z - z_ref; where |z - z_ref| <= eps use the ReLU's "
             "gradient at z, (z > 0) as a float. torch.where(cond, a, b) picks elementwise."),
)
