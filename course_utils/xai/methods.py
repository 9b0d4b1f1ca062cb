"""Every attribution method of the course behind one interface (lesson 11's report card).

:func:`course_methods` returns ``explain(model, x, target) -> attributions of x's shape``
for each method of lessons 02-08 (and RISE), so that the metrics of
:mod:`course_utils.xai.evaluation` can rank them all on the same model and images. This
module sits above the explainers and the metrics: it imports them, they do not import it.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from captum.attr import DeepLift, Occlusion
from torch import nn

from .._torch import check_input, check_target, evaluating, selected_output
from ..models import gradcam_layer
from ..runtime import as_generator
from ..validation import check_array, check_positive_int
from . import gradcam as cam
from . import gradients, lime, shapley
from .evaluation import rise

__all__ = ["REPORT_CARD_METHODS", "cell_masks", "course_methods"]

REPORT_CARD_METHODS = ("saliency", "gradient x input", "integrated gradients", "SmoothGrad", "guided backprop",
                       "DeepLIFT", "Grad-CAM", "guided Grad-CAM", "occlusion", "LIME", "Kernel SHAP", "RISE")


def cell_masks(masks, size: Sequence[int], cell_size: int) -> torch.Tensor:
    """Square superpixels: (n, d) 0/1 masks over a grid of ``cell_size`` cells -> (n, H, W) pixel masks.

    The grid has ``ceil(H / cell_size) x ceil(W / cell_size)`` cells in row-major order (the
    last row and column of cells are cut at the border).

    Examples
    --------
    >>> cell_masks(np.array([[1, 0, 0, 1]]), (3, 4), 2)
    tensor([[[1., 1., 0., 0.],
             [1., 1., 0., 0.],
             [0., 0., 1., 1.]]])
    """
    if isinstance(size, (str, bytes)) or np.ndim(size) != 1 or len(size) != 2:
        raise ValueError(f"size must be an image's (height, width), two positive ints, got {size!r}.")
    h, w = (check_positive_int("size", v) for v in size)
    cell_size = check_positive_int("cell_size", cell_size)
    gh, gw = math.ceil(h / cell_size), math.ceil(w / cell_size)
    masks = torch.as_tensor(check_array("masks", masks, ndim=2, nonempty=True).astype(np.float32))
    if masks.ndim != 2 or masks.shape[1] != gh * gw:
        raise ValueError(f"masks must have shape (n, {gh * gw}) (one column per {cell_size}-pixel cell of a "
                         f"{h}x{w} image: check masks, size and cell_size), got shape {tuple(masks.shape)}.")
    grid = masks.view(-1, gh, gw).repeat_interleave(cell_size, 1).repeat_interleave(cell_size, 2)
    return grid[:, :h, :w]


def _cell_game(model: nn.Module, image: torch.Tensor, target: torch.Tensor, cell_size: int, batch_size: int):
    """predict_fn for LIME / Kernel SHAP on square superpixels: masks (n, d) -> P(target) of the masked image."""
    def predict_fn(masks: np.ndarray) -> np.ndarray:
        pixel = cell_masks(masks, image.shape[1:], cell_size).to(device=image.device, dtype=image.dtype)
        with evaluating(model), torch.no_grad():
            out = [selected_output(model, image[None] * pixel[i:i + batch_size, None], target.expand(
                len(pixel[i:i + batch_size])), of="probability") for i in range(0, len(pixel), batch_size)]
        return torch.cat(out).double().cpu().numpy()
    return predict_fn


def _per_pixel(values: np.ndarray, x: torch.Tensor, cell_size: int) -> torch.Tensor:
    """One value per cell -> one per input entry, each cell's value shared by its pixels and channels."""
    n, c, h, w = x.shape
    spread = cell_masks(np.eye(values.shape[1]), (h, w), cell_size)  # (d, H, W)
    area = spread.sum(dim=(1, 2)) * c
    maps = torch.einsum("nd,dhw->nhw", torch.as_tensor(values, dtype=torch.float32) / area, spread)
    return maps[:, None].expand(n, c, h, w).to(device=x.device, dtype=x.dtype)


def course_methods(*, layer: str | None = None, cell_size: int = 4, n_samples: int = 300, ig_steps: int = 50,
                   smoothgrad_samples: int = 50, n_masks: int = 2000, occlusion_window: int = 4,
                   occlusion_stride: int = 2, batch_size: int = 500, rng=None) -> dict:
    """Every attribution method of the course behind one interface: ``explain(model, x, target) -> (N, C, H, W)``.

    The keys are :data:`REPORT_CARD_METHODS`. Gradient methods come from
    :mod:`course_utils.xai.gradients` (saliency is ``|gradient|``, Simonyan's map; IG from a
    black image; SmoothGrad with noise level 0.15), guided backprop and (guided) Grad-CAM
    from :mod:`course_utils.xai.gradcam`, DeepLIFT (rescale rule, black reference) and
    occlusion (a black ``occlusion_window`` square every ``occlusion_stride`` pixels) from
    captum, LIME and Kernel SHAP from the course's :mod:`~course_utils.xai.lime` and
    :mod:`~course_utils.xai.shapley` on square superpixels of ``cell_size`` pixels (a
    superpixel off is black; the explained output is the class probability; each cell's
    value is spread evenly over its pixels and channels), RISE from :func:`rise`.
    Single-map methods (Grad-CAM, RISE) are spread evenly over the channels.

    Parameters
    ----------
    layer : str, optional
        The Grad-CAM layer's name in ``model.named_modules()``; default
        :func:`course_utils.models.gradcam_layer` (works on copies of the course's models).
    cell_size, n_samples
        LIME's and Kernel SHAP's superpixels and budget (``n_samples`` model evaluations).
    ig_steps, smoothgrad_samples, n_masks, occlusion_window, occlusion_stride
        The other methods' budgets.
    batch_size : int
        Images per forward pass of the black-box methods.
    rng : None, int, numpy.random.Generator or torch.Generator
        One generator shared by the random methods (SmoothGrad, LIME, Kernel SHAP, RISE),
        advanced by every call.

    Returns
    -------
    dict
        Method name -> ``explain(model, x, target)``; each returns a tensor of x's shape.
    """
    generator = as_generator(rng)
    cell_size = check_positive_int("cell_size", cell_size)
    n_samples = check_positive_int("n_samples", n_samples)

    def the_layer(model):
        return gradcam_layer(model) if layer is None else dict(model.named_modules())[layer]

    def spread(maps, x):
        return (maps[:, None] / x.shape[1]).expand_as(x)

    def captum(method, model, x, target, **kwargs):
        x = check_input(x, model, images=True)
        with evaluating(model), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # captum's notes on hooks and requires_grad
            return method(model).attribute(x, target=check_target(target, len(x), x.device), **kwargs).detach()

    def superpixels(model, x, target, explainer):
        x = check_input(x, model, images=True)
        target = check_target(target, len(x), x.device)
        d = math.ceil(x.shape[2] / cell_size) * math.ceil(x.shape[3] / cell_size)
        values = np.stack([explainer(_cell_game(model, image, cls, cell_size, batch_size), d).values
                           for image, cls in zip(x, target)])
        return _per_pixel(values, x, cell_size)

    return {
        "saliency": lambda model, x, t: gradients.saliency(model, x, t, absolute=True),
        "gradient x input": lambda model, x, t: gradients.input_x_gradient(model, x, t),
        "integrated gradients": lambda model, x, t: gradients.integrated_gradients(
            model, x, t, steps=ig_steps, internal_batch_size=batch_size),
        "SmoothGrad": lambda model, x, t: gradients.smoothgrad(model, x, t, n_samples=smoothgrad_samples,
                                                              rng=generator),
        "guided backprop": lambda model, x, t: cam.guided_backprop(model, x, t),
        "DeepLIFT": lambda model, x, t: captum(DeepLift, model, x, t, baselines=0.0),
        "Grad-CAM": lambda model, x, t: spread(cam.gradcam(model, the_layer(model), x, t), x),
        "guided Grad-CAM": lambda model, x, t: cam.guided_gradcam(model, the_layer(model), x, t),
        "occlusion": lambda model, x, t: captum(
            Occlusion, model, x, t, sliding_window_shapes=(x.shape[1], occlusion_window, occlusion_window),
            strides=(x.shape[1], occlusion_stride, occlusion_stride), baselines=0.0,
            perturbations_per_eval=batch_size),
        "LIME": lambda model, x, t: superpixels(model, x, t, lambda game, d: lime.lime_binary(
            game, d, n_features=d, n_samples=n_samples, rng=generator)),
        "Kernel SHAP": lambda model, x, t: superpixels(model, x, t, lambda game, d: shapley.kernel_shap(
            game, np.ones(d), np.zeros((1, d)), n_samples=n_samples, rng=generator)),
        "RISE": lambda model, x, t: spread(rise(model, x, t, n_masks=n_masks, rng=generator,
                                                batch_size=batch_size), x),
    }
