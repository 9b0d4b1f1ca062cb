"""Denoising diffusion by hand, and counterfactuals by guided diffusion (lesson 12).

- The forward process (Ho, Jain and Abbeel, "Denoising Diffusion Probabilistic Models",
  NeurIPS 2020): ``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)`` with
  ``abar_t = prod_{s <= t} (1 - beta_s)``, so that ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``
  in one draw (:func:`add_noise`). No network, fully random.
- The reverse process: a network ``eps_theta(x_t, t)`` predicts the noise (trained on
  ``||eps - eps_theta(x_t, t)||^2``); a DDPM step (:func:`ddpm_step`, random) or the
  deterministic DDIM step (Song, Meng and Ermon, "Denoising Diffusion Implicit Models",
  ICLR 2021, eta = 0; :func:`ddim_step`) goes from ``x_t`` to an earlier ``x_s``.
- Counterfactuals (:func:`diffusion_counterfactual`), in the spirit of DiME (Jeanneret,
  Simon and Jurie, "Diffusion Models for Counterfactual Explanations", ACCV 2022) and of
  Augustin et al. ("Diffusion Visual Counterfactual Explanations", NeurIPS 2022): noise a
  digit to an intermediate step ``t_start``, then DDIM-denoise it while classifier guidance
  pushes the predicted clean image towards the target class.

Indices: steps are 0-based, ``t = 0, ..., T - 1``; ``alpha_bar[t]`` is the signal share after
``t + 1`` noising steps. The diffusion runs on images scaled to [-1, 1]
(:func:`to_diffusion_space`); the public functions that take digits take them in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..exercises import Exercise, register
from ..runtime import as_torch_generator
from ..validation import check_nonnegative_int, check_positive_int, check_real, check_tensor
from .._torch import check_input, check_model, check_output, check_target, evaluating

__all__ = ["Schedule", "linear_schedule", "add_noise", "predict_x0", "ddim_step", "ddpm_step", "ddim_timesteps",
           "sample", "to_diffusion_space", "from_diffusion_space", "guided_x0", "diffusion_counterfactual",
           "reconstruction_error", "EvaluationCounter", "LESSON_T_START", "LESSON_GUIDANCE_SCALE",
           "LESSON_STEPS", "EXERCISES"]

# lesson 12's settings of diffusion_counterfactual (its defaults; tests/test_diffusion.py checks them)
LESSON_T_START, LESSON_GUIDANCE_SCALE, LESSON_STEPS = 500, 0.2, 20


@dataclass(frozen=True)
class Schedule:
    """A noise schedule: ``betas`` (T,), ``alphas = 1 - betas`` and ``alpha_bar`` (their running product), float64 on the CPU."""

    betas: torch.Tensor

    @property
    def T(self) -> int:
        """The number of noising steps."""
        return len(self.betas)

    @property
    def alphas(self) -> torch.Tensor:
        return 1 - self.betas

    @property
    def alpha_bar(self) -> torch.Tensor:
        return torch.cumprod(1 - self.betas, dim=0)


def linear_schedule(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> Schedule:
    """Ho et al.'s linear schedule: ``beta_t`` from ``beta_start`` to ``beta_end`` over ``T`` steps (their T = 1000).

    Parameters
    ----------
    T : int, default 1000
    beta_start, beta_end : float
        In (0, 1), ``beta_start <= beta_end``.

    Returns
    -------
    Schedule
    """
    T = check_positive_int("T", T)
    beta_start = check_real("beta_start", beta_start, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    beta_end = check_real("beta_end", beta_end, low=beta_start, high=1.0, high_inclusive=False)
    return Schedule(torch.linspace(beta_start, beta_end, T, dtype=torch.float64))


def _check_schedule(schedule) -> Schedule:
    if not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a course_utils.xai.diffusion.Schedule (e.g. linear_schedule()), "
                        f"got {type(schedule).__name__}.")
    return schedule


def _check_steps_t(name: str, t, n: int, T: int, device) -> torch.Tensor:
    """``t`` (an int or one int per example) as a long tensor (n,), each in [0, T - 1]."""
    t = check_target(t, n, device, name=name)
    if int(t.min()) < 0 or int(t.max()) >= T:
        raise ValueError(f"{name} must be in [0, {T - 1}] (the schedule's steps), got values in "
                         f"[{int(t.min())}, {int(t.max())}].")
    return t


def _abar(schedule: Schedule, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``alpha_bar[t]`` shaped to broadcast over ``like`` (N, ...); ``t = -1`` gives 1 (no noise)."""
    abar = torch.cat([torch.ones(1, dtype=torch.float64), schedule.alpha_bar])[t.cpu() + 1]
    return abar.to(like.device, like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


def to_diffusion_space(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] to the diffusion's space [-1, 1] (``2 x - 1``)."""
    return 2 * check_tensor("x", x, ndim=None) - 1


def from_diffusion_space(z: torch.Tensor) -> torch.Tensor:
    """The diffusion's space back to images in [0, 1] (``(z + 1) / 2``, clipped)."""
    return ((check_tensor("z", z, ndim=None) + 1) / 2).clamp(0, 1)


def add_noise(x0: torch.Tensor, t, noise: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """The forward process in closed form: ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise``.

    Parameters
    ----------
    x0 : torch.Tensor
        Clean images (N, ...) in the diffusion's space.
    t : int or torch.Tensor
        The step (0-based) of each image, one int or one per image.
    noise : torch.Tensor
        Standard normal noise of ``x0``'s shape.
    schedule : Schedule

    Returns
    -------
    torch.Tensor
        ``x_t``, of ``x0``'s shape.
    """
    schedule = _check_schedule(schedule)
    x0 = check_tensor("x0", x0, ndim=None)
    noise = check_tensor("noise", noise, ndim=None)
    if x0.ndim < 2 or noise.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0, a batch (N, ...) {tuple(x0.shape)}, got {tuple(noise.shape)}.")
    t = _check_steps_t("t", t, len(x0), schedule.T, x0.device)
    abar = _abar(schedule, t, x0)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def predict_x0(x_t: torch.Tensor, t, eps: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """The clean image implied by a noise estimate: ``(x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)``."""
    schedule = _check_schedule(schedule)
    x_t = check_tensor("x_t", x_t, ndim=None)
    eps = check_tensor("eps", eps, ndim=None)
    if x_t.ndim < 2 or eps.shape != x_t.shape:
        raise ValueError(f"eps must have the shape of x_t, a batch (N, ...) {tuple(x_t.shape)}, got {tuple(eps.shape)}.")
    t = _check_steps_t("t", t, len(x_t), schedule.T, x_t.device)
    abar = _abar(schedule, t, x_t)
    return (x_t - (1 - abar).sqrt() * eps) / abar.sqrt()


def ddim_step(x_t: torch.Tensor, t, t_prev, eps: torch.Tensor, schedule: Schedule) -> torch.Tensor:
    """One deterministic DDIM step (eta = 0) from step ``t`` to the earlier step ``t_prev``.

    ``x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev) eps`` with ``x0_hat`` from
    :func:`predict_x0`: the same noise direction, less of it. ``t_prev = -1`` is the clean
    image (``x0_hat`` itself). With the true noise of ``x_t = add_noise(x0, t, eps)`` one
    step to ``-1`` returns ``x0``.

    Parameters
    ----------
    x_t : torch.Tensor
        Images (N, ...) at step ``t``.
    t, t_prev : int or torch.Tensor
        ``-1 <= t_prev < t <= T - 1``.
    eps : torch.Tensor
        The (predicted) noise, of ``x_t``'s shape.
    schedule : Schedule

    Returns
    -------
    torch.Tensor
    """
    schedule = _check_schedule(schedule)
    x_t = check_tensor("x_t", x_t, ndim=None)
    eps = check_tensor("eps", eps, ndim=None)
    if x_t.ndim < 2 or eps.shape != x_t.shape:
        raise ValueError(f"eps must have the shape of x_t, a batch (N, ...) {tuple(x_t.shape)}, got {tuple(eps.shape)}.")
    t = _check_steps_t("t", t, len(x_t), schedule.T, x_t.device)
    t_prev = check_target(t_prev, len(x_t), x_t.device, name="t_prev")
    if bool((t_prev < -1).any() or (t_prev >= t).any()):
        raise ValueError(f"t_prev must be in [-1, t - 1] (an earlier step than t), got values in "
                         f"[{int(t_prev.min())}, {int(t_prev.max())}] for t in [{int(t.min())}, {int(t.max())}].")
    x0_hat = predict_x0(x_t, t, eps, schedule)
    abar_prev = _abar(schedule, t_prev, x_t)
    return abar_prev.sqrt() * x0_hat + (1 - abar_prev).sqrt() * eps


def ddpm_step(x_t: torch.Tensor, t, eps: torch.Tensor, schedule: Schedule, *, rng=None) -> torch.Tensor:
    """One ancestral DDPM step from ``t`` to ``t - 1`` (Ho et al. 2020, algorithm 2, sigma_t^2 = beta_t).

    ``x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sqrt(beta_t) z``, ``z``
    standard normal (none at ``t = 0``).
    """
    schedule = _check_schedule(schedule)
    x_t = check_tensor("x_t", x_t, ndim=None)
    eps = check_tensor("eps", eps, ndim=None)
    if x_t.ndim < 2 or eps.shape != x_t.shape:
        raise ValueError(f"eps must have the shape of x_t, a batch (N, ...) {tuple(x_t.shape)}, got {tuple(eps.shape)}.")
    t = _check_steps_t("t", t, len(x_t), schedule.T, x_t.device)
    shape = (-1, *([1] * (x_t.ndim - 1)))
    beta = schedule.betas[t.cpu()].to(x_t.device, x_t.dtype).reshape(shape)
    abar = _abar(schedule, t, x_t)
    mean = (x_t - beta / (1 - abar).sqrt() * eps) / (1 - beta).sqrt()
    generator = as_torch_generator(rng)
    z = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype).to(x_t.device)
    return mean + (t > 0).to(x_t.dtype).reshape(shape) * beta.sqrt() * z


def ddim_timesteps(t_start: int, steps: int) -> list[int]:
    """``steps + 1`` decreasing steps from ``t_start`` to ``-1`` (the clean image), evenly spaced."""
    t_start = check_nonnegative_int("t_start", t_start)
    steps = check_positive_int("steps", steps)
    if steps > t_start + 1:
        raise ValueError(f"steps must be at most t_start + 1 = {t_start + 1} (one DDIM step per noising step at most), got {steps}.")
    return [int(round(v)) for v in np.linspace(t_start, -1, steps + 1)]


def _check_denoiser(denoiser) -> nn.Module:
    check_model(denoiser, "denoiser")
    return denoiser


@torch.no_grad()
def sample(denoiser: nn.Module, n: int, schedule: Schedule, *, steps: int = 50, rng=None) -> torch.Tensor:
    """``n`` new digits in [0, 1] by DDIM (eta = 0) from pure noise at step ``T - 1`` in ``steps`` steps."""
    _check_denoiser(denoiser)
    n = check_positive_int("n", n)
    schedule = _check_schedule(schedule)
    device = next(denoiser.parameters()).device
    generator = as_torch_generator(rng)
    x = torch.randn((n, 1, 28, 28), generator=generator).to(device)
    times = ddim_timesteps(schedule.T - 1, steps)
    with evaluating(denoiser):
        for t, t_prev in zip(times[:-1], times[1:]):
            x = ddim_step(x, t, t_prev, denoiser(x, t), schedule)
    return from_diffusion_space(x)


def reconstruction_error(denoiser: nn.Module, x: torch.Tensor, schedule: Schedule, *, t: int = 300,
                         steps: int = 10, rng=0) -> torch.Tensor:
    """How far the denoiser moves an image it is asked to restore: a realism score (lower: more digit-like).

    ``x`` (in [0, 1]) is noised to step ``t`` and DDIM-denoised in ``steps`` steps; the score
    is the mean squared difference, per image, in [0, 1] pixel units. Real digits come back
    close to themselves; images off the data's manifold (adversarial noise) are pulled back
    towards it and score higher.
    """
    _check_denoiser(denoiser)
    schedule = _check_schedule(schedule)
    x = check_input(x, denoiser, name="x", images=True, unit_range=True)
    t = _check_steps_t("t", t, 1, schedule.T, "cpu")[0].item()
    steps = check_positive_int("steps", steps)
    if steps > t + 1:
        raise ValueError(f"t must be at least steps - 1 = {steps - 1} (one DDIM step per noising step at most), got {t}.")
    times = ddim_timesteps(t, steps)
    generator = as_torch_generator(rng)
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    with evaluating(denoiser), torch.no_grad():
        z = add_noise(to_diffusion_space(x), t, noise, schedule)
        for a, b in zip(times[:-1], times[1:]):
            z = ddim_step(z, a, b, denoiser(z, a), schedule)
    return (from_diffusion_space(z) - x).pow(2).flatten(1).mean(1).cpu()


class EvaluationCounter:
    """Count the examples a model is evaluated on inside a ``with`` block (a forward hook): the cost of a method.

    >>> counter = EvaluationCounter(nn.Linear(2, 1))
    >>> with counter:
    ...     _ = counter.model(torch.zeros(5, 2))
    >>> counter.count
    5
    """

    def __init__(self, model: nn.Module):
        self.model = check_model(model)
        self.count = 0
        self._handle = None

    def _hook(self, module, inputs, output) -> None:
        self.count += len(inputs[0])

    def __enter__(self) -> "EvaluationCounter":
        self._handle = self.model.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()


def guided_x0(x0_hat: torch.Tensor, grad: torch.Tensor, x_orig: torch.Tensor, guidance_scale: float,
              distance_weight: float, abar_t) -> torch.Tensor:
    """The guided update of the predicted clean image (the reference of exercise 12.3).

    ``x0_hat + sqrt(1 - abar_t) * (s * grad / rms(grad) - w * sign(x0_hat - x_orig))``: a step
    along the classifier's gradient ``grad`` (of ``log p(target | x0_hat)``), rescaled per
    image to a root-mean-square of 1 per pixel so that ``guidance_scale`` ``s`` is a step size
    in pixel units whatever the classifier's gradient norm, plus the L1 pull (weight ``w``)
    back towards the original ``x_orig``. Both shrink with the noise left,
    ``sqrt(1 - abar_t)``, so the last steps polish rather than redraw.

    Parameters
    ----------
    x0_hat, grad, x_orig : torch.Tensor
        Of one shape (N, ...), in the diffusion's space.
    guidance_scale, distance_weight : float
        Non-negative.
    abar_t : float or torch.Tensor
        ``alpha_bar`` at the current step, in (0, 1].

    Returns
    -------
    torch.Tensor
    """
    x0_hat = check_tensor("x0_hat", x0_hat, ndim=None)
    grad = check_tensor("grad", grad, ndim=None)
    x_orig = check_tensor("x_orig", x_orig, ndim=None)
    for name, value in (("grad", grad), ("x_orig", x_orig)):
        if value.shape != x0_hat.shape:
            raise ValueError(f"{name} must have the shape of x0_hat {tuple(x0_hat.shape)}, got {tuple(value.shape)}.")
    if x0_hat.ndim < 2:
        raise ValueError(f"x0_hat must be a batch (N, ...) with at least 2 dimensions, got shape {tuple(x0_hat.shape)}.")
    guidance_scale = check_real("guidance_scale", guidance_scale, low=0.0)
    distance_weight = check_real("distance_weight", distance_weight, low=0.0)
    if isinstance(abar_t, torch.Tensor):
        if abar_t.numel() != 1 or not bool(((abar_t > 0) & (abar_t <= 1)).all()):
            raise ValueError(f"abar_t must be one number in (0, 1], got a tensor of shape {tuple(abar_t.shape)}.")
        abar_t = float(abar_t)
    abar_t = check_real("abar_t", abar_t, low=0.0, high=1.0, low_inclusive=False)
    rms = grad.pow(2).flatten(1).mean(1).sqrt().clamp_min(1e-12).reshape(-1, *([1] * (grad.ndim - 1)))
    step = guidance_scale * grad / rms - distance_weight * torch.sign(x0_hat - x_orig)
    return x0_hat + float(np.sqrt(1 - abar_t)) * step


def _target_gradient(classifier: nn.Module, x0_hat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The gradient of ``log p(target | x0_hat)`` w.r.t. ``x0_hat`` (diffusion space), per image."""
    z = x0_hat.detach().requires_grad_(True)
    log_p = torch.log_softmax(classifier(from_diffusion_space(z)), dim=1).gather(1, target[:, None]).sum()
    (grad,) = torch.autograd.grad(log_p, z)
    return grad


def diffusion_counterfactual(denoiser: nn.Module, classifier: nn.Module, x: torch.Tensor, target, *,
                             t_start: int = LESSON_T_START, guidance_scale: float = LESSON_GUIDANCE_SCALE,
                             steps: int = LESSON_STEPS,
                             distance_weight: float = 0.05, schedule: Schedule | None = None,
                             rng=None) -> torch.Tensor:
    """Counterfactual images by classifier-guided diffusion: ``x`` changed until ``classifier`` sees ``target``.

    Each image is noised to step ``t_start`` (:func:`add_noise`; how much of it may be
    redrawn) and DDIM-denoised in ``steps`` steps. At every step the predicted clean image
    ``x0_hat`` is moved by :func:`guided_x0`: along the gradient of ``log p(target | x0_hat)``
    (rescaled to unit RMS per image, times ``guidance_scale``) and back towards ``x`` (the
    sign of the difference, times ``distance_weight``), both scaled by the noise left, and
    clipped to the image box [-1, 1]; then
    ``x_t`` is shifted so that, with the same noise estimate, it implies the moved ``x0_hat``,
    and the DDIM step is taken. The denoiser keeps every intermediate image near its
    manifold of digits; the guidance picks the digit; the L1 pull keeps what need not change.
    Per image: ``steps`` denoiser evaluations and ``steps`` classifier forward-and-backward
    passes (gradients are taken through the classifier only, not the denoiser).

    Parameters
    ----------
    denoiser : torch.nn.Module
        A noise-prediction network ``denoiser(x_t, t)`` (e.g. ``load_pretrained("mnist_ddpm")``).
    classifier : torch.nn.Module
        Takes images in [0, 1], returns logits (N, n_classes).
    x : torch.Tensor
        Images (N, 1, 28, 28) in [0, 1].
    target : int or torch.Tensor
        The target class, one or one per image.
    t_start : int, default 500
        The step noised to, in [0, T - 1]; larger: more freedom, less resemblance.
    guidance_scale : float, default 0.2
        Non-negative; the step along the classifier's gradient, in RMS pixel units of the
        diffusion's space ([-1, 1]) per step at full noise; 0 (with ``distance_weight`` 0)
        gives the denoiser's plain reconstruction.
    steps : int, default 20
        DDIM steps from ``t_start`` to the clean image.
    distance_weight : float, default 0.05
        Non-negative size of the L1 pull towards ``x`` (per pixel, per step at full noise).
    schedule : Schedule, optional
        Default :func:`linear_schedule` (the one the course's model was trained with).
    rng : None, int, numpy.random.Generator or torch.Generator
        Draws the noise added to ``x``.

    Returns
    -------
    torch.Tensor
        Counterfactual images in [0, 1], of ``x``'s shape, on ``x``'s device. Both models are
        used in eval mode and left as they were (modes, ``requires_grad`` flags, ``.grad``).
    """
    _check_denoiser(denoiser)
    check_model(classifier, "classifier")
    schedule = linear_schedule() if schedule is None else _check_schedule(schedule)
    device_in = x.device if isinstance(x, torch.Tensor) else None
    x = check_input(x, denoiser, name="x", images=True, unit_range=True)
    target = check_target(target, len(x), x.device, name="target")
    t_start = _check_steps_t("t_start", t_start, 1, schedule.T, "cpu")[0].item()
    times = ddim_timesteps(t_start, steps)
    guidance_scale = check_real("guidance_scale", guidance_scale, low=0.0)
    distance_weight = check_real("distance_weight", distance_weight, low=0.0)
    generator = as_torch_generator(rng)
    with evaluating(denoiser, freeze=True), evaluating(classifier, freeze=True):
        with torch.no_grad():
            check_output(classifier(x[:1]), target[:1], name="target")
        x_orig = to_diffusion_space(x)
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        z = add_noise(x_orig, t_start, noise, schedule)
        for t, t_prev in zip(times[:-1], times[1:]):
            with torch.no_grad():
                eps = denoiser(z, t)
                x0_hat = predict_x0(z, t, eps, schedule)
            abar_t = _abar(schedule, torch.tensor([t]), z)
            with torch.enable_grad():
                grad = _target_gradient(classifier, x0_hat, target)
            moved = guided_x0(x0_hat, grad, x_orig, guidance_scale, distance_weight, abar_t.flatten()[0].item()).clamp(-1, 1)
            # shift x_t so that, with the same noise estimate, it implies the moved x0_hat; then step
            z = ddim_step(z + abar_t.sqrt() * (moved - x0_hat), t, t_prev, eps, schedule)
    out = from_diffusion_space(z)
    return out.to(device_in) if device_in is not None else out


# ------------------------------------------------------------------ exercises


def _noise_cases(rng: np.random.Generator) -> list[tuple]:
    schedule = linear_schedule()
    cases = []
    for t in (0, 250, 999):
        x0 = torch.as_tensor(rng.uniform(-1, 1, (3, 1, 4, 4)), dtype=torch.float32)
        noise = torch.as_tensor(rng.normal(size=(3, 1, 4, 4)), dtype=torch.float32)
        cases.append((x0, t, noise, schedule))
    return cases


def _ddim_cases(rng: np.random.Generator) -> list[tuple]:
    schedule = linear_schedule()
    cases = []
    for t, t_prev in ((999, 949), (400, 380), (50, -1)):
        x_t = torch.as_tensor(rng.normal(size=(3, 1, 4, 4)), dtype=torch.float32)
        eps = torch.as_tensor(rng.normal(size=(3, 1, 4, 4)), dtype=torch.float32)
        cases.append((x_t, t, t_prev, eps, schedule))
    return cases


def _guided_cases(rng: np.random.Generator) -> list[tuple]:
    def tensor(values):
        return torch.as_tensor(values, dtype=torch.float32)

    return [(tensor(rng.uniform(-1, 1, (2, 1, 4, 4))), tensor(rng.normal(size=(2, 1, 4, 4)) * size),
             tensor(rng.uniform(-1, 1, (2, 1, 4, 4))), scale, weight, abar)
            for scale, weight, abar, size in ((0.5, 0.1, 0.5, 1.0), (1.0, 0.0, 0.9, 1e-3), (0.0, 0.2, 0.2, 10.0))]


EXERCISES = register(
    Exercise("12.1", "the forward process in closed form", add_noise, _noise_cases,
             "x_t is a mix of the clean image and the noise: the clean image scaled by the square root of "
             "the schedule's alpha-bar at step t, the noise by the square root of one minus it."),
    Exercise("12.2", "one DDIM step", ddim_step, _ddim_cases,
             "first recover the clean image that x_t and eps imply (undo the closed form at step t), then "
             "noise it again to step t_prev with the same eps; at t_prev = -1 alpha-bar is 1 (no noise left)."),
    Exercise("12.3", "the guided update", guided_x0, _guided_cases,
             "two pushes, both scaled by the noise still in x_t (the square root of one minus alpha-bar): "
             "guidance_scale times grad divided by its root-mean-square over each image's pixels, and "
             "distance_weight times the sign of x0_hat - x_orig, subtracted (back towards the original)."),
)
