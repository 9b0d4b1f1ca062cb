"""The course's metrics against Quantus's on the same inputs: values and times (lesson 11, section 6).

Quantus (Hedström et al., JMLR 2023) is the toolkit most papers use to evaluate
explanations. It is an optional extra (``pip install ".[quantus]"``, version 0.6.0); this
module compares three of its metrics with :mod:`course_utils.xai.evaluation`:

- ``PixelFlipping`` (Bach et al. 2015) is our deletion curve without its first point (the
  model on the intact image): same definition, so the values must agree where the images'
  minimum is 0 (Quantus's "black" is the minimum, ours is 0) and the scores have no ties;
- ``MaxSensitivity`` (Yeh et al. 2019) is our :func:`~course_utils.xai.evaluation.max_sensitivity`:
  same definition, different random perturbations, so the means agree only up to sampling
  (Quantus measures the change from the maps it is given, ours from ``explain_fn`` on x:
  pass the maps ``explain_fn`` gives);
- ``Infidelity`` (Yeh et al. 2019) in Quantus sets square patches to a baseline, ours draws
  Gaussian noise: different perturbations, so only the times are comparable.

Quantus 0.6.0 calls ``np.trapz``, which NumPy 2.4 removed; :func:`quantus_comparison` sets
``np.trapz = np.trapezoid`` where it is missing (the one side effect, and only when called).
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from .._torch import check_input, check_model, check_target
from ..validation import check_positive_int, check_real
from . import evaluation as ev

__all__ = ["quantus_comparison"]


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _import_quantus():
    try:
        import quantus
    except ImportError as err:
        raise ImportError("quantus_comparison needs the optional Quantus package: "
                          "pip install 'quantus==0.6.0' (or the course's extra: pip install -e '.[quantus]').") from err
    if not hasattr(np, "trapz"):
        np.trapz = np.trapezoid  # Quantus 0.6.0's calculate_auc; removed in NumPy 2.4
    return quantus


def quantus_comparison(model: nn.Module, x: torch.Tensor, target, attributions: torch.Tensor, explain_fn, *,
                       n_steps: int = 16, radius: float = 0.02, n_samples: int = 10,
                       rng=None) -> dict[str, dict[str, float]]:
    """Three of Quantus's metrics and the course's equivalents on the same images and maps.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier of single-channel images (N, 1, H, W) on the CPU.
    x : torch.Tensor
        Images (N, 1, H, W).
    target : int or 1-D integer tensor of length N
        The explained classes.
    attributions : torch.Tensor
        x's shape: the maps being evaluated (as ``explain_fn`` gives them on x).
    explain_fn : callable
        ``explain_fn(model, x, target) -> attributions`` (torch tensors in and out), re-run by
        both max-sensitivities on the perturbed images.
    n_steps : int, default 16
        Steps of the deletion curve; H * W must be a multiple of it (Quantus's
        ``features_in_step``).
    radius : float, default 0.02
        Max-sensitivity's L-infinity radius.
    n_samples : int, default 10
        Perturbations per example, for max-sensitivity and infidelity.
    rng : None, int, numpy.random.Generator or torch.Generator
        Our metrics' random draws (Quantus uses NumPy's global state).

    Returns
    -------
    dict
        For each of ``"pixel flipping"``, ``"max-sensitivity"``, ``"infidelity"``: the mean
        value by each (``"quantus"``, ``"course_utils"``), their wall times in seconds
        (``"quantus s"``, ``"course_utils s"``), and ``"largest difference"``, the largest
        per-point difference of the two pixel-flipping curves (NaN for the other metrics).

    Raises
    ------
    ValueError, TypeError
        For bad arguments (checked before Quantus is imported).
    ImportError
        Where Quantus is not installed.
    """
    check_model(model)
    x = check_input(x, model, images=True)
    if x.device.type != "cpu" or x.shape[1] != 1:
        raise ValueError(f"x must be single-channel images (N, 1, H, W) on the CPU, got shape {tuple(x.shape)} "
                         f"on {x.device}.")
    target = check_target(target, len(x), x.device)
    if not callable(explain_fn):
        raise TypeError(f"explain_fn must be callable, got {type(explain_fn).__name__}.")
    if not isinstance(attributions, torch.Tensor) or attributions.shape != x.shape:
        raise ValueError(f"attributions must be a torch.Tensor of x's shape {tuple(x.shape)}, got "
                         f"{tuple(attributions.shape) if isinstance(attributions, torch.Tensor) else type(attributions).__name__}.")
    n_steps = check_positive_int("n_steps", n_steps)
    n_pixels = x.shape[2] * x.shape[3]
    if n_pixels % n_steps:
        raise ValueError(f"n_steps must divide the {n_pixels} pixels of an image, got {n_steps}.")
    radius = check_real("radius", radius, low=0)
    n_samples = check_positive_int("n_samples", n_samples)
    quantus = _import_quantus()

    x_np, y_np, a_np = x.numpy(), target.numpy(), attributions.detach().numpy()
    common = {"normalise": False, "abs": False, "disable_warnings": True, "display_progressbar": False}
    call = {"model": model, "x_batch": x_np, "y_batch": y_np, "a_batch": a_np, "device": "cpu", "batch_size": len(x)}

    def explain_np(model, inputs, targets, **kwargs):
        inputs = torch.as_tensor(inputs, dtype=x.dtype)
        return explain_fn(model, inputs, torch.as_tensor(targets)).detach().numpy()

    flipping = quantus.PixelFlipping(features_in_step=n_pixels // n_steps, perturb_baseline="black", **common)
    theirs, t_theirs = _timed(lambda: np.array(flipping(softmax=True, **call)))
    (_, ours), t_ours = _timed(lambda: ev.deletion_curve(model, x, attributions, target, n_steps=n_steps))
    rows = {"pixel flipping": {"quantus": float(theirs.mean()), "course_utils": float(ours[:, 1:].mean()),
                               "quantus s": t_theirs, "course_utils s": t_ours,
                               "largest difference": float(np.abs(ours[:, 1:] - theirs).max())}}

    sensitivity = quantus.MaxSensitivity(nr_samples=n_samples, lower_bound=radius,
                                         return_nan_when_prediction_changes=False, **common)
    theirs, t_theirs = _timed(lambda: np.array(sensitivity(explain_func=explain_np, **call)))
    ours, t_ours = _timed(lambda: ev.max_sensitivity(lambda batch: explain_fn(model, batch, target), x, radius=radius,
                                                     n_samples=n_samples, rng=rng))
    rows["max-sensitivity"] = {"quantus": float(np.nanmean(theirs)), "course_utils": float(ours.nanmean()),
                               "quantus s": t_theirs, "course_utils s": t_ours, "largest difference": float("nan")}

    patch = max(1, x.shape[2] // 7)
    infidelity = quantus.Infidelity(perturb_patch_sizes=[patch], n_perturb_samples=n_samples, **common)
    theirs, t_theirs = _timed(lambda: np.array(infidelity(**call)))
    ours, t_ours = _timed(lambda: ev.infidelity(model, x, attributions, target, n_samples=n_samples, rng=rng))
    rows["infidelity"] = {"quantus": float(np.nanmean(theirs)), "course_utils": float(ours.mean()),
                          "quantus s": t_theirs, "course_utils s": t_ours, "largest difference": float("nan")}
    return rows
