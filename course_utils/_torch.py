"""The one torch layer under every torch function of the course (private).

Every torch explainer, attack and measurement (``course_utils.xai``), and the package's
prediction, canvas and training helpers, go through these, so that all of them behave
the same way:

- inputs are checked with the message style of :mod:`course_utils.validation` (a
  ``TypeError`` for a wrong kind, a ``ValueError`` for a wrong shape or value, the message
  naming the parameter, what was expected and what was received);
- inputs are moved to the model's device and cast to its floating dtype (a float64 NumPy
  batch works with a float32 model; a model without parameters keeps the input's dtype);
  results are on the model's device;
- the model is used in eval mode and left as it was found (:func:`evaluating`): its mode,
  every submodule's mode, BatchNorm's running statistics, its ``requires_grad`` flags and
  its parameters' ``.grad``.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from .validation import _got

__all__ = ["check_model", "check_input", "check_input_shape", "check_target", "check_baseline", "check_layer", "model_device",
           "model_dtype", "evaluating", "check_output", "check_target_fits", "apply_model", "selected_output", "output_gradient"]


def check_model(model, name: str = "model") -> nn.Module:
    """``model`` if it is a ``torch.nn.Module``, else a TypeError naming ``name``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(model).__name__}.")
    return model


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer; the CPU for a model with neither."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype | None:
    """The dtype of the model's first floating-point parameter or buffer; None for a model without any."""
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return None


def check_input(x, model: nn.Module, *, name: str = "x", images: bool = False, unit_range: bool = False) -> torch.Tensor:
    """A detached batch on the model's device and in its dtype, or a clear error.

    Parameters
    ----------
    x : torch.Tensor
        A batch of shape (N, ...), N >= 1, finite floating-point values (float64 is cast
        to the model's dtype).
    model : torch.nn.Module
        Gives the device and dtype.
    name : str
        The parameter's name in messages.
    images : bool
        Require shape (N, C, H, W).
    unit_range : bool
        Require values in [0, 1] (images for attacks).
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        kind = f"a {x.dtype} tensor" if isinstance(x, torch.Tensor) else type(x).__name__
        hint = " (torch.as_tensor(x, dtype=torch.float32) converts a NumPy array)" if isinstance(x, np.ndarray) else ""
        raise TypeError(f"{name} must be a floating-point torch.Tensor, got {kind}{hint}.")
    shape = tuple(x.shape)
    if images and x.ndim != 4:
        raise ValueError(f"{name} must be a batch of images of shape (N, C, H, W), got shape {shape}.")
    if x.ndim < 2:
        raise ValueError(f"{name} must be a batch of shape (N, ...) with at least 2 dimensions, got shape {shape} "
                         f"(use x[None] for a single example).")
    if len(x) == 0:
        raise ValueError(f"{name} must hold at least one example, got an empty batch of shape {shape}.")
    bad = (~torch.isfinite(x.detach())).flatten(1).any(dim=1)
    if bad.any():
        raise ValueError(f"{name} must contain only finite values, got NaN or inf in {int(bad.sum())} of {len(x)} examples.")
    if unit_range and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{name} must hold images in [0, 1], got values in [{x.min().item():.3g}, {x.max().item():.3g}].")
    return x.detach().to(device=model_device(model), dtype=model_dtype(model) or x.dtype)


def check_input_shape(shape, model: nn.Module, *, name: str = "shape") -> tuple[int, ...]:
    """``shape`` (one example's shape, e.g. ``(1, 28, 28)``) as a tuple of positive ints the model accepts.

    The model is tried on one zero example of that shape (in eval mode, without gradients);
    a failure inside the model becomes a ValueError naming ``name``.
    """
    if isinstance(shape, (str, bytes)) or np.ndim(shape) != 1 or len(shape) == 0:
        raise TypeError(f"{name} must be a non-empty sequence of positive ints such as (1, 28, 28), {_got(shape)}.")
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= 1 for v in shape):
        raise ValueError(f"{name} must be a sequence of positive ints such as (1, 28, 28), {_got(shape)}.")
    shape = tuple(int(v) for v in shape)
    probe = torch.zeros(1, *shape, device=model_device(model), dtype=model_dtype(model) or torch.float32)
    try:
        with evaluating(model), torch.no_grad():
            model(probe)
    except RuntimeError as err:
        raise ValueError(f"{name} must be the shape of one input of the model, got {shape}, "
                         f"on which the model fails: {str(err)[:120]}") from err
    return shape


def check_target(target, n: int, device: torch.device | str = "cpu", *, name: str = "target",
                 of: str = "x") -> torch.Tensor:
    """``target`` (an int, or one int per example) as a long tensor of shape (n,) on ``device``.

    ``of`` names the batch whose length is ``n`` (in the message when the lengths differ).
    """
    want = f"an int or a 1-D integer tensor of length {n} (one per example of {of})"
    if isinstance(target, (bool, np.bool_, float, np.floating, str)):
        raise TypeError(f"{name} must be {want}, {_got(target)}.")
    if isinstance(target, (int, np.integer)):
        return torch.full((n,), int(target), dtype=torch.long, device=device)
    try:
        tensor = target if isinstance(target, torch.Tensor) else torch.as_tensor(np.asarray(target))
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be {want}, {_got(target)}.") from err
    if tensor.dtype.is_floating_point or tensor.dtype.is_complex or tensor.dtype == torch.bool:
        raise TypeError(f"{name} must be {want}, got a {tensor.dtype} tensor.")
    if tensor.ndim == 0:
        return torch.full((n,), int(tensor), dtype=torch.long, device=device)
    if tuple(tensor.shape) != (n,):
        raise ValueError(f"{name} must be {want}, got shape {tuple(tensor.shape)}.")
    return tensor.to(device=device, dtype=torch.long)


def check_baseline(baseline, x: torch.Tensor, *, name: str = "baseline") -> torch.Tensor:
    """``None`` (zeros), a number, or a tensor of x's shape or one example's shape; returned as x's shape."""
    if baseline is None:
        return torch.zeros_like(x)
    if isinstance(baseline, (int, float, np.integer, np.floating)) and not isinstance(baseline, (bool, np.bool_)):
        if not np.isfinite(baseline):
            raise ValueError(f"{name} must be finite, {_got(baseline)}.")
        return torch.full_like(x, float(baseline))
    if not isinstance(baseline, torch.Tensor):
        raise TypeError(f"{name} must be None, a number or a torch.Tensor, got {type(baseline).__name__}.")
    if not torch.isfinite(baseline).all():
        raise ValueError(f"{name} must contain only finite values, got NaN or inf.")
    if baseline.ndim == 0:
        return torch.full_like(x, float(baseline))
    if tuple(baseline.shape) == tuple(x.shape[1:]):
        baseline = baseline.unsqueeze(0)
    if baseline.shape[0] == 1 and tuple(baseline.shape[1:]) == tuple(x.shape[1:]):
        baseline = baseline.expand_as(x)
    if tuple(baseline.shape) != tuple(x.shape):
        raise ValueError(f"{name} must have the shape of x {tuple(x.shape)} or of one example "
                         f"{tuple(x.shape[1:])}, got shape {tuple(baseline.shape)}.")
    return baseline.detach().to(dtype=x.dtype, device=x.device)


def check_layer(module, model: nn.Module, *, name: str = "layer") -> nn.Module:
    """``module`` if it is one of the model's modules (e.g. ``gradcam_layer(model)``)."""
    if not isinstance(module, nn.Module) or not any(module is m for m in model.modules()):
        raise ValueError(f"{name} must be a module of the model (e.g. gradcam_layer(model)), "
                         f"got {type(module).__name__}.")
    return module


@contextmanager
def evaluating(model: nn.Module, *, freeze: bool = False) -> Iterator[nn.Module]:
    """Use ``model`` in eval mode inside the block and restore every submodule's mode after it.

    Dropout is off and BatchNorm uses (and does not update) its running statistics, so an
    explanation or an accuracy does not change from call to call and does not change the model.

    Parameters
    ----------
    model : torch.nn.Module
    freeze : bool, default False
        Also switch off ``requires_grad`` on the parameters inside the block (gradients
        then reach only the input: no ``.grad`` changes and the backward pass is cheaper),
        and restore every flag afterwards.

    Examples
    --------
    >>> model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).train()
    >>> with evaluating(model):
    ...     model.training
    False
    >>> model.training
    True
    """
    modes = [(module, module.training) for module in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()] if freeze else []
    try:
        model.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        yield model
    finally:
        for module, mode in modes:
            module.training = mode
        for p, flag in flags:
            p.requires_grad_(flag)


def check_output(out, target: torch.Tensor, *, name: str = "target") -> torch.Tensor:
    """``out`` (a model's output) if it is a finite (N, n_outputs) tensor that ``target`` (named ``name``) indexes."""
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        shape = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"model must return a 2-D tensor (N, n_outputs), got {shape}.")
    if int(target.max()) >= out.shape[1] or int(target.min()) < 0:
        raise ValueError(f"{name} must be in [0, {out.shape[1] - 1}] (the model has {out.shape[1]} outputs), "
                         f"got values in [{int(target.min())}, {int(target.max())}].")
    bad = (~torch.isfinite(out.detach())).any(dim=1)
    if bad.any():
        raise ValueError(f"model returned NaN or inf for {int(bad.sum())} of {len(out)} examples.")
    return out


def check_target_fits(model: nn.Module, x: torch.Tensor, target: torch.Tensor, *, name: str = "target") -> None:
    """Raise a ValueError naming ``name`` unless ``target`` indexes the model's outputs (tried on one example)."""
    with evaluating(model), torch.no_grad():
        check_output(apply_model(model, x[:1]), target, name=name)


def apply_model(model: nn.Module, x: torch.Tensor, *, name: str = "x"):
    """``model(x)``; a shape the model cannot take becomes a ValueError naming ``name`` and its shape."""
    try:
        return model(x)
    except RuntimeError as err:
        if "out of memory" in str(err):
            raise
        raise ValueError(f"{name} of shape {tuple(x.shape)} does not fit the model: {str(err)[:160]}") from err


def selected_output(model: nn.Module, x: torch.Tensor, target: torch.Tensor, *, of: str = "logit",
                    name: str = "target") -> torch.Tensor:
    """``model(x)[i, target[i]]`` (``of="logit"``) or its softmax probability, for every example: shape (N,).

    ``name`` is the target's parameter name in messages.
    """
    out = check_output(model(x), target, name=name)
    if of == "probability":
        out = out.softmax(dim=1)
    elif of != "logit":
        raise ValueError(f"of must be one of 'logit', 'probability'; got {of!r}.")
    return out.gather(1, target[:, None]).squeeze(1)


def output_gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor, *, of: str = "logit",
                    name: str = "target") -> torch.Tensor:
    """d model(x)[i, target[i]] / d x[i] for each example: one forward and one backward pass.

    The one logit (or probability) gradient of the course: saliency, gradient x input,
    SmoothGrad, IG's path gradients and lesson 08's logit-vs-softmax comparison use it.
    ``torch.autograd.grad`` differentiates with respect to a detached copy of ``x`` only,
    so the caller's tensor and the parameters' ``.grad`` are untouched. Call it inside
    :func:`evaluating`.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        outputs = selected_output(model, x, target, of=of, name=name)
        (grad,) = torch.autograd.grad(outputs.sum(), x)
    return grad
