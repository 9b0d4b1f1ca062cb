"""Grad-CAM, guided backpropagation, guided Grad-CAM and saliency maps (lesson 07).

- Saliency map (Simonyan, Vedaldi and Zisserman, "Deep inside convolutional networks:
  visualising image classification models and saliency maps", ICLR workshop 2014): the
  absolute gradient of a class score with respect to the input pixels, maximum over colour
  channels. Class model visualisation (same paper): gradient ascent on the input,
  ``argmax_I S_c(I) - lambda * ||I||^2``.
- Guided backpropagation (Springenberg et al., "Striving for simplicity: the all
  convolutional net", ICLR workshop 2015): the input gradient with every ReLU letting back
  only positive gradients.
- Grad-CAM (Selvaraju et al., "Grad-CAM: visual explanations from deep networks via
  gradient-based localization", ICCV 2017): weights ``alpha_k = mean_ij dy_c / dA_k[i, j]``
  of a convolutional layer's feature maps ``A_k``, map ``ReLU(sum_k alpha_k A_k)``, upsampled
  bilinearly to the input; guided Grad-CAM is its product with guided backpropagation.
- The lesson's measurements (weak localisation, the pointing game, the sanity check's
  cascading randomisation and rank correlation) live in :mod:`course_utils.xai.evaluation`;
  the saliency map is :func:`course_utils.xai.gradients.saliency` with
  ``absolute=True, max_over_channels=True``.

The library versions are captum's ``LayerGradCam`` (with ``LayerAttribution.interpolate``),
``GuidedBackprop``, ``GuidedGradCam`` and ``Saliency``; tests check that these agree.
Every function goes through the course's torch layer (:mod:`course_utils._torch`):
the maps are computed in eval mode and the model is left as it was found (hooks removed,
mode, running statistics and ``requires_grad`` flags restored, no ``.grad`` written).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..exercises import Exercise, register
from ..validation import check_positive_int, check_real, check_tensor
from .._torch import (check_input, check_input_shape, check_layer, check_model, check_target, evaluating,
                     model_device, model_dtype, output_gradient, selected_output)
from .evaluation import box_iou
from .gradients import saliency

__all__ = [
    "class_model_visualisation",
    "layer_activations_and_gradients",
    "gradcam_weights",
    "gradcam_map",
    "gradcam",
    "guided_backprop",
    "guided_gradcam",
    "METHODS",
    "heatmaps",
    "EXERCISES",
]


# ------------------------------------------------------------------ arguments


def _prepare(model, x, target, *, images: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    check_model(model)
    x = check_input(x, model, images=images)
    return x, check_target(target, len(x), x.device)


def _scores(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, name: str = "target") -> torch.Tensor:
    """The logits ``model(x)[i, targets[i]]`` summed over the batch (images do not interact)."""
    return selected_output(model, x, targets, name=name).sum()


# ------------------------------------------------------------------ class models (Simonyan et al.)


def class_model_visualisation(model: nn.Module, targets, shape: Sequence[int], *, steps: int = 200,
                              lr: float = 0.1, l2: float = 0.05) -> torch.Tensor:
    """Simonyan et al.'s class model: gradient ascent on ``S_c(I) - l2 * ||I||^2`` from a black image.

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits ``S``; the images are optimised in its input space.
    targets : sequence of int
        One image per class ``c`` in ``targets``.
    shape : sequence of int
        The shape of one input, e.g. ``(1, 28, 28)``.
    steps : int, default 200
        Plain gradient-ascent steps ``I <- I + lr * grad``.
    lr : float, default 0.1
    l2 : float, default 0.05
        Weight ``lambda`` of the L2 penalty (larger: fainter, simpler images).

    Returns
    -------
    torch.Tensor
        Shape (len(targets), *shape); values are not clipped to the input range.
    """
    check_model(model)
    steps = check_positive_int("steps", steps)
    lr, l2 = check_real("lr", lr, low=0, low_inclusive=False), check_real("l2", l2, low=0)
    targets = list(targets) if not isinstance(targets, torch.Tensor) else targets
    if len(targets) == 0:
        raise ValueError("targets must hold at least one class, got an empty sequence.")
    targets = check_target(targets, len(targets), model_device(model), name="targets")
    shape = check_input_shape(shape, model)
    images = torch.zeros(len(targets), *shape, device=model_device(model), dtype=model_dtype(model) or torch.float32)
    with evaluating(model, freeze=True):
        for _ in range(steps):
            with torch.enable_grad():
                images.requires_grad_(True)
                objective = _scores(model, images, targets, "targets") - l2 * images.pow(2).sum()
                (gradient,) = torch.autograd.grad(objective, images)
            images = (images + lr * gradient).detach()
    return images


# ------------------------------------------------------------------ Grad-CAM


@contextmanager
def _recording(layer: nn.Module) -> Iterator[dict]:
    """Record ``layer``'s output in ``record["output"]`` while the block runs; always unhook.

    The hook hands a copy of the output downstream, so a later in-place operation (an
    ``nn.ReLU(inplace=True)`` after the layer, as in torchvision's ResNets) changes the
    copy and not the recorded tensor: activations and gradients are the layer's own.
    """
    record: dict = {}

    def hook(module, inputs, output):
        if not isinstance(output, torch.Tensor):
            raise ValueError(f"layer must return one tensor, got {type(output).__name__}.")
        record["output"] = output
        return output.clone()

    handle = layer.register_forward_hook(hook)
    try:
        yield record
    finally:
        handle.remove()


def layer_activations_and_gradients(model: nn.Module, layer: nn.Module, x: torch.Tensor,
                                    target) -> tuple[torch.Tensor, torch.Tensor]:
    """The output ``A`` of ``layer`` on ``x`` and the gradient of the target logits with respect to it.

    Returns
    -------
    activations, gradients : torch.Tensor
        Both of the layer's output shape, e.g. (N, K, h, w); detached.
    """
    x, targets = _prepare(model, x, target)
    layer = check_layer(layer, model)
    x = x.clone().requires_grad_(True)  # so A has a graph even if the weights are frozen
    with evaluating(model), _recording(layer) as record, torch.enable_grad():
        score = _scores(model, x, targets)
        if "output" not in record:
            raise ValueError("layer was not called in the model's forward pass.")
        (gradients,) = torch.autograd.grad(score, record["output"])
    return record["output"].detach(), gradients.detach()


def gradcam_weights(gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM's ``alpha_k``: the spatial mean of each feature map's gradient (reference of exercise 7.1).

    Parameters
    ----------
    gradients : torch.Tensor
        ``dy_c / dA``, shape (N, K, h, w).

    Returns
    -------
    torch.Tensor
        Shape (N, K).
    """
    gradients = check_tensor("gradients", gradients, ndim=4)
    return gradients.mean(dim=(2, 3))


def gradcam_map(activations: torch.Tensor, weights: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``ReLU(sum_k alpha_k A_k)``, upsampled bilinearly to ``size`` (reference of exercise 7.2).

    Parameters
    ----------
    activations : torch.Tensor
        ``A``, shape (N, K, h, w).
    weights : torch.Tensor
        ``alpha``, shape (N, K).
    size : (int, int)
        The input's (H, W).

    Returns
    -------
    torch.Tensor
        Shape (N, H, W), non-negative.
    """
    activations = check_tensor("activations", activations, ndim=4)
    weights = check_tensor("weights", weights, ndim=2)
    if tuple(weights.shape) != tuple(activations.shape[:2]):
        raise ValueError(f"weights must have one weight per example and channel of activations "
                         f"{tuple(activations.shape[:2])}, got shape {tuple(weights.shape)}.")
    if isinstance(size, (str, bytes)) or not hasattr(size, "__len__") or len(size) != 2:
        raise TypeError(f"size must be (height, width), got {size!r:.40}.")
    size = tuple(check_positive_int("size", s.item() if hasattr(s, "item") else s) for s in size)
    cam = F.relu((weights[:, :, None, None] * activations).sum(dim=1, keepdim=True))
    return F.interpolate(cam, size=tuple(int(s) for s in size), mode="bilinear", align_corners=False)[:, 0]


def gradcam(model: nn.Module, layer: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """Grad-CAM of ``target`` at ``layer``, upsampled bilinearly to the input's resolution.

    Equal to captum's ``LayerGradCam(model, layer).attribute(x, target, relu_attributions=True)``
    followed by ``LayerAttribution.interpolate(..., x.shape[2:], interpolate_mode="bilinear")``.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits, shape (N, n_classes), in eval mode.
    layer : torch.nn.Module
        A module of ``model`` returning feature maps (N, K, h, w), usually the last
        convolutional block (:func:`course_utils.models.gradcam_layer`).
    x : torch.Tensor
        Images, shape (N, C, H, W).
    target : int or sequence of int or torch.Tensor
        The class to explain, one for all images or one per image.

    Returns
    -------
    torch.Tensor
        Shape (N, H, W), non-negative.

    Examples
    --------
    >>> from course_utils.models import mnist_cnn
    >>> model = mnist_cnn().eval()
    >>> gradcam(model, model.conv2, torch.rand(3, 1, 28, 28), [0, 1, 2]).shape
    torch.Size([3, 28, 28])
    """
    activations, gradients = layer_activations_and_gradients(model, layer, x, target)
    return gradcam_map(activations, gradcam_weights(gradients), x.shape[2:])


# ------------------------------------------------------------------ guided backpropagation


class _PositiveGradient(torch.autograd.Function):
    """Identity forward; backward lets only positive gradients through."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, gradient):
        return gradient.clamp(min=0)


@contextmanager
def _guided_relus(model: nn.Module) -> Iterator[None]:
    """While active, every ``nn.ReLU`` of ``model`` back-propagates only positive gradients.

    The ReLU's own backward then zeroes the positions where its input was negative, so the
    gradient leaving it is ``(input > 0) * max(gradient, 0)``: guided backpropagation.
    """
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ValueError("model must use nn.ReLU modules (guided backpropagation changes their backward "
                         "pass); got a model without any.")
    handles = [m.register_forward_hook(lambda module, inputs, output: _PositiveGradient.apply(output))
               for m in relus]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def guided_backprop(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """Springenberg et al.'s guided backpropagation of the ``target`` logits to the input.

    Only ``nn.ReLU`` modules are guided (a ``torch.relu`` call inside ``forward`` is not):
    the course's models use one module per ReLU.

    Lessons 04 and 07 both use this one.

    Returns
    -------
    torch.Tensor
        The shape of ``x``, signed; equal to captum's ``GuidedBackprop``.
    """
    x, targets = _prepare(model, x, target, images=False)
    with evaluating(model), _guided_relus(model):
        return output_gradient(model, x, targets)


def guided_gradcam(model: nn.Module, layer: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """Guided Grad-CAM: guided backpropagation times the (bilinearly upsampled) Grad-CAM map.

    Returns
    -------
    torch.Tensor
        Shape (N, C, H, W); equal to captum's ``GuidedGradCam(model, layer).attribute(x,
        target, interpolate_mode="bilinear")``.
    """
    return guided_backprop(model, x, target) * gradcam(model, layer, x, target)[:, None]


METHODS = ("saliency", "guided backprop", "Grad-CAM", "guided Grad-CAM")


def heatmaps(model: nn.Module, layer: nn.Module, x: torch.Tensor, target, *,
             batch_size: int = 250) -> dict[str, torch.Tensor]:
    """The lesson's four maps of the same images and targets, each non-negative, shape (N, H, W).

    Signed, per-channel maps are reduced as Simonyan et al. reduce the gradient: the
    maximum over channels of the absolute value. So the keys of :data:`METHODS` map to
    ``saliency``, ``max_c |guided_backprop|``, ``gradcam`` and ``max_c |guided_gradcam|``,
    computed in batches of ``batch_size`` images.
    """
    x, targets = _prepare(model, x, target)
    batch_size = check_positive_int("batch_size", batch_size)
    parts: dict[str, list[torch.Tensor]] = {method: [] for method in METHODS}
    for start in range(0, len(x), batch_size):
        batch, batch_targets = x[start:start + batch_size], targets[start:start + batch_size]
        guided = guided_backprop(model, batch, batch_targets)
        cam = gradcam(model, layer, batch, batch_targets)
        parts["saliency"].append(saliency(model, batch, batch_targets, absolute=True, max_over_channels=True))
        parts["guided backprop"].append(guided.abs().amax(dim=1))
        parts["Grad-CAM"].append(cam)
        parts["guided Grad-CAM"].append((guided * cam[:, None]).abs().amax(dim=1))
    return {method: torch.cat(maps) for method, maps in parts.items()}


# ------------------------------------------------------------------ exercises


def _weight_cases(rng: np.random.Generator) -> list[tuple]:
    return [(torch.as_tensor(rng.normal(size=shape), dtype=torch.float32),)
            for shape in [(1, 3, 2, 2), (2, 4, 5, 3), (3, 8, 7, 7)]]


def _hook_cases(rng: np.random.Generator) -> list[tuple]:
    """Small CNNs with weights drawn from ``rng``, a layer of each, images and targets."""
    cases = []
    for channels, target in [(3, 2), (4, [0, 4]), (2, torch.tensor([1, 3, 3]))]:
        model = nn.Sequential(nn.Conv2d(1, channels, 3), nn.ReLU(), nn.Conv2d(channels, 4, 3), nn.ReLU(),
                              nn.Flatten(), nn.Linear(4 * 4 * 4, 5))
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.copy_(torch.as_tensor(rng.normal(scale=0.5, size=tuple(parameter.shape))))
        n = 1 if isinstance(target, int) else len(target)
        x = torch.as_tensor(rng.random((n, 1, 8, 8)), dtype=torch.float32)
        cases.append((model, model[2] if channels != 4 else model[3], x, target))
    return cases


def _map_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for n, k, h, w, size in [(1, 2, 2, 2, (4, 4)), (2, 5, 4, 3, (8, 6)), (3, 8, 7, 7, (28, 28))]:
        cases.append((torch.as_tensor(rng.random((n, k, h, w)), dtype=torch.float32),
                      torch.as_tensor(rng.normal(size=(n, k)), dtype=torch.float32), size))
    return cases


def _iou_cases(rng: np.random.Generator) -> list[tuple]:
    fixed = [((0, 0, 2, 2), (1, 0, 3, 2)), ((0, 0, 4, 4), (1, 1, 3, 3)), ((0, 0, 1, 1), (2, 2, 3, 3)),
             ((5, 5, 9, 9), (5, 5, 9, 9)), ((0, 0, 2, 2), (2, 0, 4, 2))]
    drawn = []
    for _ in range(5):
        corners = rng.integers(0, 64, size=(2, 2, 2))
        drawn.append(tuple(tuple(int(v) for v in (*c.min(axis=0), *(c.max(axis=0) + 1))) for c in corners))
    return fixed + drawn


EXERCISES = register(
    Exercise("7.1", "Grad-CAM weights alpha", gradcam_weights, _weight_cases,
             "alpha_k is the global average of the class score's gradient over the spatial positions of "
             "feature map k: one weight per example and channel, so the result has shape (N, K)."),
    Exercise("7.2", "Grad-CAM map: weighted sum, ReLU, upsampling", gradcam_map, _map_cases,
             "weight each feature map by its alpha, add the weighted maps up, keep only the positive part "
             "(the ReLU), and resize the map bilinearly to the input's size; one (H, W) map per example.", atol=1e-5),
    Exercise("7.3", "intersection over union", box_iou, _iou_cases,
             "the intersection of two boxes is a box too: from the larger of the two left (top) edges to the "
             "smaller of the two right (bottom) edges, empty if they cross. IoU is its area over the union's, "
             "area a + area b - intersection (0 when the union is empty)."),
    Exercise("7.4", "recording A and dy/dA with a forward hook", layer_activations_and_gradients, _hook_cases,
             "register a forward hook on the layer that keeps its output, run the model, and remove the hook "
             "whatever happens (try/finally); then take the gradient of the summed target logits (one target "
             "for all images, or one per image) with respect to the kept output. Return both, detached."),
)
