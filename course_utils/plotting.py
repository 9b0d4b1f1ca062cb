"""Figures of the course. Helpers take an ``ax`` (or make one) and return it; none calls ``plt.show()``.

Signed attributions are drawn on a diverging colour map centred at zero (red: evidence
for the class, blue: against); non-negative maps such as Grad-CAM on a sequential one.
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .validation import check_array, check_box, check_positive_int, check_real

__all__ = [
    "COURSE_STYLE",
    "use_course_style",
    "to_image_array",
    "show_image",
    "show_attribution",
    "show_heatmap",
    "image_grid",
    "bar_weights",
    "draw_box",
    "gradcam_pipeline",
]

COURSE_STYLE = {
    "figure.dpi": 90,
    "figure.figsize": (6.0, 4.0),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 11,
    "image.cmap": "gray",
}
SIGNED_CMAP = "RdBu_r"
HEAT_CMAP = "inferno"


def use_course_style() -> None:
    """Apply the course's matplotlib style (``setup_notebook`` calls this once)."""
    plt.rcParams.update(COURSE_STYLE)


def to_image_array(image, *, name: str = "image") -> np.ndarray:
    """A tensor or array image (CHW, HWC or HW) as a numpy HxW or HxWxC array."""
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    if isinstance(image, (str, bytes)):
        raise TypeError(f"{name} must be an image array or tensor (HW, HWC or CHW), got a string {image!r:.40}.")
    image = np.asarray(image)
    if image.dtype.kind in "fc" and not np.isfinite(image).all():
        raise ValueError(f"{name} must contain only finite values, got NaN or inf in "
                         f"{int((~np.isfinite(image)).sum())} of {image.size} pixels.")
    if image.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {image.shape}.")
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
        image = image.transpose(1, 2, 0)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3):
        raise ValueError(f"{name} must be HW, HWC or CHW, got shape {image.shape}.")
    return image


def _to_map(attr, name: str = "attr") -> np.ndarray:
    """Reduce an attribution to 2-D by summing over a channel axis."""
    attr = to_image_array(attr, name=name)
    return attr.sum(axis=-1) if attr.ndim == 3 else attr


def _axis(ax):
    return ax if ax is not None else plt.subplots(figsize=(3, 3))[1]


def _finish(ax, title):
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    if title:
        ax.set_title(title)
    return ax


def show_image(image, *, ax=None, title: str | None = None, cmap: str = "gray"):
    """Draw an image (tensor or array, CHW/HWC/HW, values in [0, 1] or uint8)."""
    ax = _axis(ax)
    array = to_image_array(image)
    ax.imshow(array, cmap=cmap if array.ndim == 2 else None,
              vmin=0, vmax=255 if array.dtype == np.uint8 else 1)
    return _finish(ax, title)


def show_attribution(attr, image=None, *, ax=None, title: str | None = None, alpha: float = 0.75,
                     colorbar: bool = False, limit: float | None = None):
    """Draw a signed attribution map on a diverging colour map centred at zero.

    Parameters
    ----------
    attr : array-like or torch.Tensor
        HW, CHW or HWC; channels are summed.
    image : array-like, optional
        Drawn in gray underneath, the map on top with transparency ``alpha``.
    limit : float, optional
        Colour range [-limit, limit]; default the largest absolute value (so 0 is white).
    """
    ax = _axis(ax)
    heat = _to_map(attr)
    limit = float(np.abs(heat).max()) if limit is None else float(limit)
    limit = limit if limit > 0 else 1.0
    if image is not None:
        gray = to_image_array(image)
        gray = gray.mean(axis=-1) if gray.ndim == 3 else gray
        ax.imshow(gray, cmap="gray")
    shown = ax.imshow(heat, cmap=SIGNED_CMAP, vmin=-limit, vmax=limit, alpha=alpha if image is not None else 1.0)
    if colorbar:
        ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    return _finish(ax, title)


def show_heatmap(heat, image=None, *, ax=None, title: str | None = None, alpha: float = 0.5):
    """Draw a non-negative map (Grad-CAM, a mask) over an optional image, scaled to its maximum."""
    ax = _axis(ax)
    heat = _to_map(heat, "heat")
    if image is not None:
        show_image(image, ax=ax)
    top = float(heat.max()) if heat.max() > 0 else 1.0
    ax.imshow(heat, cmap=HEAT_CMAP, vmin=0, vmax=top, alpha=alpha if image is not None else 1.0)
    return _finish(ax, title)


def image_grid(images: Sequence, *, titles: Sequence[str] | None = None, ncols: int = 5,
               size: float = 1.8, cmap: str = "gray"):
    """Draw images in a grid; return ``(fig, axes)`` with ``axes`` flat."""
    if isinstance(images, (str, bytes)):
        raise TypeError(f"images must be a sequence of images, got a string {images!r:.40}.")
    n = len(images)
    if n == 0:
        raise ValueError("images must contain at least one image, got an empty sequence.")
    for i in range(n):
        to_image_array(images[i], name=f"images[{i}] (of images)")
    ncols = min(check_positive_int("ncols", ncols), n)
    size = check_real("size", size, low=0, low_inclusive=False)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    axes = axes.ravel()
    for i, ax in enumerate(axes):
        if i < n:
            show_image(images[i], ax=ax, title=None if titles is None else titles[i], cmap=cmap)
        else:
            ax.axis("off")
    fig.tight_layout()
    return fig, axes


def bar_weights(weights, names: Sequence[str], *, ax=None, top_k: int | None = None, title: str | None = None):
    """Horizontal bars of signed feature weights, largest magnitude on top.

    Positive weights (evidence for the class) are red, negative ones blue.
    """
    weights = check_array("weights", weights)
    if weights.ndim != 1 or len(weights) != len(names):
        raise ValueError(f"weights must be 1-D with one value per name ({len(names)}), got shape {weights.shape}.")
    order = np.argsort(-np.abs(weights))[: top_k or len(weights)][::-1]
    if ax is None:
        ax = plt.subplots(figsize=(5, 0.35 * len(order) + 1))[1]
    colors = [plt.get_cmap(SIGNED_CMAP)(0.85 if w > 0 else 0.15) for w in weights[order]]
    ax.barh([str(names[i]) for i in order], weights[order], color=colors)
    ax.axvline(0, color="black", linewidth=0.8)
    if not ax.get_xlabel():
        ax.set_xlabel("weight (red: evidence for, blue: against)")
    if title:
        ax.set_title(title)
    return ax


def draw_box(ax, box, *, color: str = "lime", label: str | None = None, linewidth: float = 1.5, **style):
    """Draw the box ``(x0, y0, x1, y1)`` (pixel edges) on an image axis; return the axis."""
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = check_box("box", box)
    if ax.images:  # an image is shown: the box must lie on it (imshow's extent is (-0.5, W - 0.5, H - 0.5, -0.5))
        left, right, bottom, top = ax.images[-1].get_extent()
        width, height = abs(right - left), abs(bottom - top)
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            raise ValueError(f"box must lie on the {width:g} x {height:g} image shown on ax (0 <= x0 < x1 <= "
                             f"{width:g}, 0 <= y0 < y1 <= {height:g}), got {(x0, y0, x1, y1)}.")
    linewidth = check_real("linewidth", linewidth, low=0)
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=color,
                           linewidth=linewidth, label=label, **style))
    return ax


def _finite_array(name: str, value, ndim: int) -> np.ndarray:
    try:
        array = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array or tensor of numbers, got {type(value).__name__} ({err}).") from None
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}.")
    if array.size == 0 or not np.isfinite(array).all():
        raise ValueError(f"{name} must be non-empty and finite, got shape {array.shape} with "
                         f"{int((~np.isfinite(array)).sum())} non-finite values.")
    return array


def gradcam_pipeline(image, activations, gradients, *, n_maps: int = 3):
    """The Grad-CAM pipeline of one example, left to right (lesson 07's intuition figure).

    The input; the ``n_maps`` feature maps :math:`A^k` with the largest weights
    :math:`\\alpha_k` (the spatial mean of the class score's gradient); all the weights,
    sorted; the weighted sum :math:`\\sum_k \\alpha_k A^k` (signed: red for, blue against);
    its ReLU upsampled bilinearly to the input's size, over the input: the Grad-CAM map.

    Parameters
    ----------
    image : array-like or torch.Tensor
        The input, (H, W) or (1, H, W).
    activations : array-like or torch.Tensor
        The layer's feature maps for this input, (K, h, w).
    gradients : array-like or torch.Tensor
        The class score's gradient with respect to them, (K, h, w); the weights are their
        spatial means (:func:`course_utils.xai.gradcam.gradcam_weights`).
    n_maps : int, default 3
        Feature maps shown (at most K).

    Returns
    -------
    (matplotlib.figure.Figure, numpy.ndarray of Axes)

    Examples
    --------
    >>> fig, axes = gradcam_pipeline(np.ones((8, 8)), np.random.rand(4, 2, 2), np.random.randn(4, 2, 2), n_maps=2)
    >>> len(axes)
    6
    """
    picture = _finite_array("image", image, 2 if np.ndim(image) == 2 else 3)
    picture = picture[0] if picture.ndim == 3 else picture
    maps = _finite_array("activations", activations, 3)
    slopes = _finite_array("gradients", gradients, 3)
    if slopes.shape != maps.shape:
        raise ValueError(f"gradients must have the shape of activations {maps.shape}, got {slopes.shape}.")
    import torch

    from .xai.gradcam import gradcam_weights

    alpha = gradcam_weights(torch.as_tensor(slopes)[None])[0].numpy()
    if isinstance(n_maps, bool) or not isinstance(n_maps, (int, np.integer)) or not 1 <= n_maps <= len(maps):
        raise ValueError(f"n_maps must be an int in [1, {len(maps)}], got {n_maps!r}.")
    top = np.argsort(-alpha, kind="stable")[:n_maps]
    signed = np.tensordot(alpha, maps, axes=1)
    import torch.nn.functional as F

    cam = F.interpolate(torch.as_tensor(np.maximum(signed, 0))[None, None], size=picture.shape,
                        mode="bilinear", align_corners=False)[0, 0].numpy()
    fig, axes = plt.subplots(1, n_maps + 4, figsize=(2.2 * (n_maps + 4), 2.6))
    show_image(picture, ax=axes[0], title="input")
    for ax, k in zip(axes[1:], top):
        show_heatmap(maps[k], ax=ax, title=f"$A^{{{k}}}$, $\\alpha_{{{k}}}$ = {alpha[k]:.2g}")
    weights_ax = axes[n_maps + 1]
    order = np.sort(alpha)[::-1]
    colors = [plt.get_cmap(SIGNED_CMAP)(0.85 if w > 0 else 0.15) for w in order]
    weights_ax.bar(np.arange(len(order)), order, color=colors, width=1.0)
    weights_ax.axhline(0, color="black", linewidth=0.8)
    weights_ax.set_xticks([])
    weights_ax.set_title("all $\\alpha_k$, sorted")
    show_attribution(signed, ax=axes[n_maps + 2], title="$\\sum_k \\alpha_k A^k$")
    show_heatmap(cam, picture, ax=axes[n_maps + 3], title="ReLU, upsampled")
    fig.tight_layout()
    return fig, axes
