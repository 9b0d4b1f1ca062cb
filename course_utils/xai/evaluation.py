"""Measurements of explanations shared by the lessons (lessons 03, 04, 07 and later).

- Erasure curves (Shrikumar et al., ICML 2017, section 4.2; Lundberg and Lee, NeurIPS 2017,
  figure 5): erase the pixels an attribution ranks highest and measure the drop of a
  model's output, e.g. the log-odds of 8 against 3 (:class:`ClassDifference`).
- Agreement between maps: Spearman rank correlation, Pearson correlation and the top-k
  intersection (Ghorbani, Abid and Zou, AAAI 2019).
- Weak localisation (Selvaraju et al., "Grad-CAM", ICCV 2017, section 4.1): threshold a map
  at 15% of its maximum, box the largest connected segment, compare with the true box
  (IoU); the pointing game (Zhang et al., "Top-down neural attention by excitation
  backprop", ECCV 2016): is the map's maximum inside the true box?; the share of the map's
  mass inside the box.
- Weakly supervised segmentation (Simonyan, Vedaldi and Zisserman, ICLR workshop 2014,
  section 3.1): seed a segmentation with a map's most and least salient pixels and score
  the segment against the object's mask (IoU).
- Sanity checks (Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018): cascading
  randomisation of the layers, from the logits down; compare the maps of the trained and
  of the randomised model with the correlations above.

Every function takes maps as NumPy arrays or torch tensors and returns NumPy values, one
per map, so that a lesson can put them straight into a table.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ..exercises import Exercise, register
from ..runtime import as_torch_generator
from ..validation import (check_array, check_box, check_callable, check_nonnegative_int, check_positive_int,
                          check_real, check_same_shape, check_tensor)
from .._torch import (apply_model, check_baseline, check_input, check_model, check_target, evaluating, output_gradient,
                     selected_output)

__all__ = [
    "ClassDifference",
    "erase_top",
    "erasure_curve",
    "rank_correlation",
    "pearson_correlation",
    "top_k_intersection",
    "max_sensitivity",
    "max_relative_change",
    "box_iou",
    "threshold_box",
    "pointing_game",
    "weak_localisation",
    "box_mass",
    "saliency_segmentation",
    "mask_iou",
    "randomise_layer",
    "cascading_randomisation",
    "feature_rank",
    "rank_shares",
    "deletion_curve",
    "insertion_curve",
    "curve_auc",
    "blurred",
    "infidelity_from_samples",
    "infidelity",
    "infidelity_optimal",
    "rise_masks",
    "rise_saliency",
    "rise",
    "noisy_gradient_maps",
    "evaluate_explanations",
    "EXERCISES",
]

Box = tuple[int, int, int, int]


# ------------------------------------------------------------------ erasure curves


class ClassDifference(nn.Module):
    """``z_a - z_b`` of a classifier as a one-output model, shape (N, 1): the log-odds of a against b.

    With a softmax classifier ``z_a - z_b = log(p_a / p_b)``, so explaining this output
    explains "a rather than b" (the DeepLIFT and SHAP papers' 8-versus-3 task).

    Examples
    --------
    >>> classifier = nn.Linear(3, 4)
    >>> x = torch.ones(2, 3)
    >>> bool(torch.allclose(ClassDifference(classifier, 1, 2)(x)[:, 0], classifier(x)[:, 1] - classifier(x)[:, 2]))
    True
    """

    def __init__(self, classifier: nn.Module, a: int, b: int):
        super().__init__()
        self.classifier = check_model(classifier, "classifier")
        self.a, self.b = check_nonnegative_int("a", a), check_nonnegative_int("b", b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(x)
        return (logits[:, self.a] - logits[:, self.b])[:, None]


def _as_scores(scores, x: torch.Tensor) -> torch.Tensor:
    check_tensor("x", x)
    scores = scores.detach() if isinstance(scores, torch.Tensor) else torch.as_tensor(check_array("scores", scores))
    if scores.numel() != x.numel() or len(scores) != len(x):
        raise ValueError(f"scores must have one value per entry of x {tuple(x.shape)}, got shape {tuple(scores.shape)}.")
    if not torch.isfinite(scores).all():
        raise ValueError("scores must contain only finite values, got NaN or inf.")
    scores = scores if scores.is_floating_point() else scores.double()
    return scores.reshape(len(x), -1).to(device=x.device)  # ranked in their own precision


def erase_top(x: torch.Tensor, scores, k: int, *, baseline: float = 0.0, positive_only: bool = False) -> torch.Tensor:
    """``x`` with the ``k`` entries of highest score set to ``baseline``, per example.

    Ties are broken by position (the lower flat index first). With ``positive_only`` only
    entries with a positive score are erased (at most k of them).

    Examples
    --------
    >>> erase_top(torch.ones(1, 4), torch.tensor([[0.1, 0.9, 0.5, 0.9]]), 2)
    tensor([[1., 0., 1., 0.]])
    """
    k = check_nonnegative_int("k", k)
    baseline = check_real("baseline", baseline)
    flat = _as_scores(scores, x)
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand_as(order))
    limit = (flat > 0).sum(dim=1, keepdim=True).clamp(max=k) if positive_only else torch.full_like(rank[:, :1], k)
    keep = (rank >= limit).view_as(x)
    return torch.where(keep, x, torch.full_like(x, baseline))


def erasure_curve(model: nn.Module, x: torch.Tensor, scores, counts: Sequence[int], *, output: int = 0,
                  baseline: float = 0.0, positive_only: bool = False) -> np.ndarray:
    """The drop of ``model(x)[:, output]`` after erasing the top ``k`` entries, for each k in ``counts``.

    Parameters
    ----------
    model : torch.nn.Module
        E.g. a :class:`ClassDifference` (the log-odds of 8 against 3).
    x : torch.Tensor
        Shape (N, ...).
    scores : array-like or torch.Tensor
        One score per entry of x (an attribution map).
    counts : sequence of int
        Numbers of entries erased.
    output : int, default 0
        The model's output column measured.
    baseline, positive_only
        As in :func:`erase_top`.

    Returns
    -------
    numpy.ndarray
        Shape (N, len(counts)): ``f(x) - f(x with the top k erased)``; positive values are drops.
    """
    check_model(model)
    x = check_input(x, model)
    counts = [check_nonnegative_int("counts", k) for k in counts]
    if not counts:
        raise ValueError("counts must hold at least one number of entries to erase, got an empty sequence.")
    if max(counts) > x[0].numel():
        raise ValueError(f"counts must be at most the number of entries of one example ({x[0].numel()}), "
                         f"got {max(counts)}.")
    output = check_nonnegative_int("output", output)
    with evaluating(model), torch.no_grad():
        before = apply_model(model, x)
        if before.ndim != 2 or output >= before.shape[1]:
            raise ValueError(f"output must index the model's outputs (shape {tuple(before.shape)}), got {output}.")
        before = before[:, output]
        drops = [before - model(erase_top(x, scores, k, baseline=baseline, positive_only=positive_only))[:, output]
                 for k in counts]
    return torch.stack(drops, dim=1).cpu().numpy()


# ------------------------------------------------------------------ agreement between maps


def _paired(maps_a, maps_b) -> tuple[np.ndarray, np.ndarray]:
    a, b = check_array("maps_a", maps_a), check_array("maps_b", maps_b)
    if a.shape != b.shape:
        raise ValueError(f"maps_b must have the shape of maps_a {a.shape}, got {b.shape}.")
    if a.ndim < 2 or len(a) == 0:
        raise ValueError(f"maps_a must be a non-empty batch of maps, shape (n, ...), got shape {a.shape}.")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("maps_a and maps_b must contain only finite values, got NaN or inf.")
    return a.reshape(len(a), -1), b.reshape(len(b), -1)


def _row_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    norms = np.sqrt((a ** 2).sum(axis=1) * (b ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, (a * b).sum(axis=1) / np.where(norms > 0, norms, 1.0), np.nan)


def rank_correlation(maps_a, maps_b) -> np.ndarray:
    """Spearman rank correlation between ``maps_a[i]`` and ``maps_b[i]``, for each i.

    Parameters
    ----------
    maps_a, maps_b : array-like or torch.Tensor
        Shape (n, ...), flattened per map. Ties get their average rank.

    Returns
    -------
    numpy.ndarray
        Shape (n,); NaN where a map is constant (its ranks carry no order).

    Examples
    --------
    >>> rank_correlation([[1, 2, 3]], [[10, 20, 40]])
    array([1.])
    """
    from scipy.stats import rankdata

    a, b = _paired(maps_a, maps_b)
    return _row_correlation(rankdata(a, axis=1), rankdata(b, axis=1))


def pearson_correlation(maps_a, maps_b) -> np.ndarray:
    """Pearson correlation between ``maps_a[i]`` and ``maps_b[i]``, for each i (NaN for a constant map).

    Examples
    --------
    >>> pearson_correlation([[1, 2, 3]], [[2, 4, 6]])
    array([1.])
    """
    return _row_correlation(*_paired(maps_a, maps_b))


def top_k_intersection(maps_a, maps_b, k: int) -> np.ndarray:
    """The fraction of the k largest entries of ``maps_a[i]`` that are among the k largest of ``maps_b[i]``.

    Maps are compared by magnitude: absolute values, summed over the channel axis for
    maps of shape (N, C, H, W). Ties are broken by position (the lower flat index first).
    Ghorbani, Abid and Zou (AAAI 2019) measure the fragility of an explanation this way.

    Parameters
    ----------
    maps_a, maps_b : array-like or torch.Tensor
        Shape (N, C, H, W) or (N, H, W) (or (N, d) for tabular attributions).
    k : int
        At most the number of entries per map.

    Returns
    -------
    numpy.ndarray
        Shape (N,), values in [0, 1].

    Examples
    --------
    >>> top_k_intersection([[3, -2, 1, 0]], [[0, 5, 4, 1]], 2)
    array([0.5])
    """
    a, b = check_array("maps_a", maps_a), check_array("maps_b", maps_b)
    if a.ndim == 4:
        a, b = np.abs(a).sum(axis=1), np.abs(b).sum(axis=1)
    a, b = _paired(np.abs(a), np.abs(b))
    k = check_positive_int("k", k)
    if k > a.shape[1]:
        raise ValueError(f"k must be at most the number of entries per map ({a.shape[1]}), got {k}.")
    top_a = np.argsort(-a, axis=1, kind="stable")[:, :k]
    top_b = np.argsort(-b, axis=1, kind="stable")[:, :k]
    return np.array([len(np.intersect1d(ra, rb)) / k for ra, rb in zip(top_a, top_b)])


# ------------------------------------------------------------------ robustness of an explanation


def max_sensitivity(explain_fn, x: torch.Tensor, *, radius: float = 0.02, n_samples: int = 10,
                    rng=None) -> torch.Tensor:
    """Max-sensitivity of an explanation (Yeh et al., NeurIPS 2019; captum's ``sensitivity_max``).

    For each example, the largest relative change of its explanation over ``n_samples``
    perturbations ``delta`` drawn uniformly from the L-infinity ball of ``radius``:
    ``max_delta ||e(x + delta) - e(x)||_F / ||e(x)||_F``. The perturbed inputs are not
    clipped (as in captum). One call of ``explain_fn`` per perturbation, each on the whole batch.

    Parameters
    ----------
    explain_fn : callable
        Maps a batch (N, ...) to attributions of the same leading size N (e.g.
        ``lambda b: saliency(model, b, target)``).
    x : torch.Tensor
        Shape (N, ...).
    radius : float, default 0.02
    n_samples : int, default 10
    rng : None, int, numpy.random.Generator or torch.Generator

    Returns
    -------
    torch.Tensor
        Shape (N,); 0 for an explanation that does not move; NaN where ``e(x)`` is all zeros.

    Examples
    --------
    >>> w = torch.tensor([[1.0, -2.0]])
    >>> float(max_sensitivity(lambda b: w.expand(len(b), 2), torch.zeros(3, 2), rng=0).max())
    0.0
    """
    if not callable(explain_fn):
        raise TypeError(f"explain_fn must be callable, got {type(explain_fn).__name__}.")
    check_tensor("x", x)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 2 or len(x) == 0:
        raise TypeError(f"x must be a non-empty floating-point torch.Tensor batch (N, ...), got "
                        f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}.")
    radius = check_real("radius", radius, low=0)
    n_samples = check_positive_int("n_samples", n_samples)
    generator = as_torch_generator(rng, device=x.device)

    def explain(batch: torch.Tensor) -> torch.Tensor:
        try:
            out = explain_fn(batch)
        except RuntimeError as err:
            raise ValueError(f"explain_fn failed on x of shape {tuple(batch.shape)}: {str(err)[:160]}") from err
        out = torch.as_tensor(out.detach() if hasattr(out, "detach") else np.asarray(out))
        if len(out) != len(batch) or tuple(out.shape[1:]) not in (tuple(batch.shape[1:]), tuple(batch.shape[2:])):
            raise ValueError(f"explain_fn must return one explanation per example, of x's shape "
                             f"({tuple(batch.shape)}), got shape {tuple(out.shape)}.")
        if not torch.isfinite(out).all():
            raise ValueError(f"explain_fn returned NaN or inf for "
                             f"{int((~torch.isfinite(out)).reshape(len(out), -1).any(1).sum())} of {len(out)} examples.")
        return out.reshape(len(batch), -1).to(torch.float64)

    x = x.detach()
    reference = explain(x)
    perturbed = []
    for _ in range(n_samples):
        delta = (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1) * radius
        perturbed.append(explain(x + delta))
    return max_relative_change(reference, torch.stack(perturbed))


# ------------------------------------------------------------------ lesson 09: robustness of explanations


def max_relative_change(reference: torch.Tensor, perturbed: torch.Tensor) -> torch.Tensor:
    """``max_s ||perturbed[s, i] - reference[i]||_F / ||reference[i]||_F`` for each example i (reference of exercise 9.1).

    The core of :func:`max_sensitivity` (Yeh et al., NeurIPS 2019): the explanations of the
    perturbed inputs against the explanation of the input.

    Parameters
    ----------
    reference : torch.Tensor
        Shape (N, ...): the explanations e(x).
    perturbed : torch.Tensor
        Shape (S, N, ...): e(x + delta_s) for S perturbations.

    Returns
    -------
    torch.Tensor
        Shape (N,), float64; NaN where ``e(x)`` is all zeros (captum divides by 1 there instead).

    Examples
    --------
    >>> max_relative_change(torch.tensor([[3.0, 4.0]]), torch.tensor([[[3.0, 4.0]], [[3.0, 5.0]]]))
    tensor([0.2000], dtype=torch.float64)
    """
    reference = check_tensor("reference", reference).to(torch.float64)
    perturbed = check_tensor("perturbed", perturbed).to(device=reference.device, dtype=torch.float64)
    if perturbed.ndim < 2 or tuple(perturbed.shape[1:]) != tuple(reference.shape):
        raise ValueError(f"perturbed must have shape (S, *reference.shape) = (S, {', '.join(map(str, reference.shape))}), "
                         f"got {tuple(perturbed.shape)}.")
    flat = reference.reshape(len(reference), -1)
    norms = flat.norm(dim=1)
    worst = (perturbed.reshape(len(perturbed), len(reference), -1) - flat).norm(dim=2).amax(dim=0)
    return torch.where(norms > 0, worst / torch.where(norms > 0, norms, 1.0), torch.full_like(worst, float("nan")))


# ------------------------------------------------------------------ weak localisation


def box_iou(box_a: Sequence[float], box_b: Sequence[float]) -> float:
    """Intersection over union of two boxes ``(x0, y0, x1, y1)`` (reference of exercise 7.3).

    Coordinates are pixel edges (end exclusive), as in :mod:`course_utils.canvases` and
    torchvision: a box's area is ``(x1 - x0) * (y1 - y0)``.

    Examples
    --------
    >>> box_iou((0, 0, 2, 2), (1, 0, 3, 2))
    0.3333333333333333
    >>> box_iou((0, 0, 1, 1), (2, 2, 3, 3))
    0.0
    """
    ax0, ay0, ax1, ay1 = _check_box(box_a, "box_a")
    bx0, by0, bx1, by1 = _check_box(box_b, "box_b")
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union > 0 else 0.0


def _check_box(box, name: str = "box") -> tuple[float, float, float, float]:
    return check_box(name, box)


def _as_map(heatmap) -> np.ndarray:
    return check_array("heatmap", heatmap, ndim=2, nonempty=True)


def _box_on(heat: np.ndarray, box) -> tuple[int, int, int, int]:
    """``box`` as ints, checked to overlap the map ``heat``."""
    x0, y0, x1, y1 = (int(v) for v in check_box("box", box))
    if x0 >= heat.shape[1] or y0 >= heat.shape[0] or x1 <= 0 or y1 <= 0:
        raise ValueError(f"box must overlap the heatmap ({heat.shape[0]}x{heat.shape[1]}), got {(x0, y0, x1, y1)}.")
    return x0, y0, x1, y1


def threshold_box(heatmap, fraction: float = 0.15) -> Box | None:
    """The box around the largest connected segment of ``heatmap >= fraction * max(heatmap)``.

    Selvaraju et al. binarise at 15% of the maximum and box the single largest segment.
    Segments are 8-connected. A map with no positive value points nowhere: ``None``.

    Returns
    -------
    tuple of int or None
        ``(x0, y0, x1, y1)``, end exclusive.

    Examples
    --------
    >>> heat = np.zeros((6, 6)); heat[1:3, 1:4] = 1.0; heat[5, 5] = 0.9
    >>> threshold_box(heat)
    (1, 1, 4, 3)
    """
    from scipy import ndimage

    heat = _as_map(heatmap)
    fraction = check_real("fraction", fraction, low=0, high=1, low_inclusive=False)
    top = heat.max()
    if not top > 0:
        return None
    segments, count = ndimage.label(heat >= fraction * top, structure=np.ones((3, 3)))
    largest = 1 + int(np.argmax(np.bincount(segments.ravel())[1:]))
    rows, cols = np.nonzero(segments == largest)
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


def pointing_game(heatmap, box: Sequence[int]) -> bool:
    """True if the map's maximum (its first occurrence) lies inside ``box``; False for a zero map."""
    heat = _as_map(heatmap)
    x0, y0, x1, y1 = _box_on(heat, box)
    if not heat.max() > 0:
        return False
    row, col = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return bool(x0 <= col < x1 and y0 <= row < y1)


def weak_localisation(heatmaps, boxes, fraction: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """IoU of each map's :func:`threshold_box` with its true box, and the pointing game.

    Parameters
    ----------
    heatmaps : array-like or torch.Tensor
        Non-negative maps, shape (n, H, W).
    boxes : array-like or torch.Tensor
        True boxes, shape (n, 4).

    Returns
    -------
    ious : numpy.ndarray
        Float, shape (n,); 0 where the map is zero everywhere.
    hits : numpy.ndarray
        Bool, shape (n,).
    """
    heatmaps = check_array("heatmaps", heatmaps, ndim=3, nonempty=True)
    boxes = np.asarray(boxes.tolist() if hasattr(boxes, "tolist") else boxes)
    if len(heatmaps) != len(boxes):
        raise ValueError(f"boxes must hold one box per heatmap ({len(heatmaps)}), got {len(boxes)}.")
    ious, hits = [], []
    for heat, box in zip(heatmaps, boxes):
        found = threshold_box(heat, fraction)
        ious.append(0.0 if found is None else box_iou(found, box))
        hits.append(pointing_game(heat, box))
    return np.array(ious), np.array(hits, dtype=bool)


def box_mass(heatmap, box: Sequence[int]) -> float:
    """The share of a non-negative map's total inside ``box`` (0 for a zero map)."""
    heat = _as_map(heatmap)
    total = heat.sum()
    x0, y0, x1, y1 = _box_on(heat, box)
    return float(heat[y0:y1, x0:x1].sum() / total) if total > 0 else 0.0


def saliency_segmentation(image, heatmap, *, foreground_quantile: float = 0.95, background_quantile: float = 0.30,
                          ink_threshold: float = 0.5, beta: float = 130.0) -> np.ndarray:
    """Segment the object a map points at, seeded by the map (Simonyan et al., 2014, section 3.1).

    Simonyan, Vedaldi and Zisserman seed a GraphCut colour segmentation with the pixels whose
    saliency is above the map's 95% quantile (foreground) and below its 30% quantile
    (background). On the course's black canvases with white digits the colour model reduces
    to "ink or not", so here the foreground seeds are the salient pixels that are ink
    (``image > ink_threshold``), the background seeds the least salient pixels, and
    scikit-image's random walker (Grady, "Random walks for image segmentation", PAMI 2006),
    a seeded graph segmentation, grows them along the image's intensity edges. Its linear
    system is solved exactly (a sparse direct solve), which on small images is also fastest.

    Parameters
    ----------
    image : array-like or torch.Tensor
        One grey image, shape (H, W) or (1, H, W), values in [0, 1].
    heatmap : array-like or torch.Tensor
        A non-negative map of the same height and width.
    foreground_quantile, background_quantile : float
        Quantiles of the map that define the seeds, ``0 < background < foreground < 1``.
    ink_threshold : float
        Pixels brighter than this are ink.
    beta : float
        The random walker's edge penalty (scikit-image's default, 130).

    Returns
    -------
    numpy.ndarray
        Bool mask, shape (H, W): the segmented object; all False where the map has no
        salient ink or no background seed (it points at nothing).

    Examples
    --------
    >>> image = np.zeros((8, 12)); image[2:6, 1:4] = 1.0; image[2:6, 8:11] = 1.0
    >>> heat = np.zeros((8, 12)); heat[1:7, 0:5] = 1.0; heat[3, 2] = 2.0
    >>> mask = saliency_segmentation(image, heat)
    >>> bool(mask[2:6, 1:4].all()), bool(mask[:, 6:].any())
    (True, False)
    """
    from skimage.segmentation import random_walker

    image = check_array("image", image, nonempty=True)
    if image.ndim == 3 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 2:
        raise ValueError(f"image must be one grey image, shape (H, W) or (1, H, W), got shape {image.shape}.")
    heat = _as_map(heatmap)
    if heat.shape != image.shape:
        raise ValueError(f"heatmap must have the image's shape {image.shape}, got {heat.shape}.")
    foreground_quantile = check_real("foreground_quantile", foreground_quantile, low=0, high=1,
                                     low_inclusive=False, high_inclusive=False)
    background_quantile = check_real("background_quantile", background_quantile, low=0, high=foreground_quantile,
                                     low_inclusive=False, high_inclusive=False)
    ink_threshold = check_real("ink_threshold", ink_threshold, low=0, high=1, high_inclusive=False)
    beta = check_real("beta", beta, low=0, low_inclusive=False)
    labels = np.zeros(image.shape, dtype=int)
    labels[heat <= np.quantile(heat, background_quantile)] = 2
    labels[(heat >= np.quantile(heat, foreground_quantile)) & (image > ink_threshold) & (labels != 2)] = 1
    if not (labels == 1).any() or not (labels == 2).any():
        return np.zeros(image.shape, dtype=bool)
    if (labels > 0).all():  # every pixel is a seed: nothing left to grow
        return labels == 1
    # A direct solve ("bf"): black background and white ink leave edge weights of about 1e-6
    # across every stroke's border, and there an iterative solver stopped early returns
    # probabilities outside [0, 1] and a few wrong pixels; on 64x64 canvases the exact solve
    # is also the fastest.
    return random_walker(image, labels, beta=beta, mode="bf") == 1


def mask_iou(mask_a, mask_b) -> float:
    """Intersection over union of two bool masks of one shape (0.0 when both are empty).

    Examples
    --------
    >>> mask_iou(np.array([True, True, False]), np.array([False, True, True]))
    0.3333333333333333
    """
    mask_a = check_array("mask_a", mask_a, nonempty=True).astype(bool)
    mask_b = check_array("mask_b", mask_b, nonempty=True).astype(bool)
    if mask_a.shape != mask_b.shape:
        raise ValueError(f"mask_b must have mask_a's shape {mask_a.shape}, got {mask_b.shape}.")
    union = np.logical_or(mask_a, mask_b).sum()
    return float(np.logical_and(mask_a, mask_b).sum() / union) if union else 0.0


# ------------------------------------------------------------------ sanity checks (Adebayo et al.)


def randomise_layer(module: nn.Module, rng=None) -> nn.Module:
    """Re-draw a layer's weight and bias in place, from PyTorch's default initialisation.

    That is Kaiming-uniform weights (``a = sqrt(5)``) and uniform biases in
    ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``, drawn from ``rng`` only (an int seed, a NumPy or
    torch generator; see :func:`course_utils.runtime.as_torch_generator`).
    """
    generator = as_torch_generator(rng)
    if generator is None:
        generator = torch.default_generator
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor):
        raise ValueError(f"module must have a weight to randomise, got {type(module).__name__}.")
    with torch.no_grad():
        fresh = torch.empty(weight.shape, dtype=weight.dtype)
        nn.init.kaiming_uniform_(fresh, a=math.sqrt(5), generator=generator)
        weight.copy_(fresh)
        bias = getattr(module, "bias", None)
        if isinstance(bias, torch.Tensor):
            bound = 1 / math.sqrt(fresh[0].numel()) if fresh.ndim > 1 else 0.0
            bias.copy_(torch.empty(bias.shape, dtype=bias.dtype).uniform_(-bound, bound, generator=generator))
    return module


def cascading_randomisation(model: nn.Module, layer_names: Sequence[str], *,
                            rng=None) -> Iterator[tuple[str, nn.Module]]:
    """Adebayo et al.'s cascading randomisation: yield copies of ``model`` randomised layer by layer.

    Parameters
    ----------
    model : torch.nn.Module
        Left unchanged.
    layer_names : sequence of str
        Names of modules with weights (``dict(model.named_modules())``), from the logits
        down: the k-th copy has the first k layers randomised.
    rng : None, int, numpy.random.Generator or torch.Generator
        The only source of randomness (one torch generator made from it serves every layer).

    Yields
    ------
    name, model : str, torch.nn.Module
        The layer randomised last, and a fresh copy with it and all the ones before it randomised.
    """
    check_model(model)
    modules = dict(model.named_modules())
    unknown = [name for name in layer_names if name not in modules]
    if unknown:
        raise ValueError(f"layer_names must be modules of the model, got unknown {unknown}.")
    generator = as_torch_generator(rng)
    randomised = copy.deepcopy(model)
    for name in layer_names:
        randomise_layer(dict(randomised.named_modules())[name], generator)
        yield name, copy.deepcopy(randomised)


# ---- lesson 10: attacks on explanations


def feature_rank(attributions, feature: int) -> np.ndarray:
    """The rank of ``feature`` in each explanation by absolute attribution (1 = largest); 0 where it is exactly 0.

    Rank = 1 + the number of features with a strictly larger magnitude (ties share the
    better rank). An attribution of exactly 0 (a feature LIME did not select) is "not
    ranked". Slack et al. (AIES 2020, figure 3) report how often the sensitive feature
    is ranked first, second and third.

    Examples
    --------
    >>> feature_rank([[0.1, -0.5, 0.2], [0.0, 0.3, 0.1]], 0)
    array([3, 0])
    """
    A = np.abs(check_array("attributions", attributions, nonempty=True))
    if A.ndim != 2:
        raise ValueError(f"attributions must have shape (n_explanations, n_features), got shape {A.shape}.")
    feature = check_nonnegative_int("feature", feature)
    if feature >= A.shape[1]:
        raise ValueError(f"feature must be a column index below {A.shape[1]}, got {feature}.")
    ranks = 1 + (A > A[:, [feature]]).sum(axis=1)
    return np.where(A[:, feature] > 0, ranks, 0)


def rank_shares(attributions, feature: int, k: int = 3) -> np.ndarray:
    """Share of explanations in which ``feature`` is ranked 1st, 2nd, ..., k-th (:func:`feature_rank`): shape (k,).

    Examples
    --------
    >>> rank_shares([[0.1, -0.5, 0.2], [0.9, 0.3, 0.1]], 0)
    array([0.5, 0. , 0.5])
    """
    k = check_positive_int("k", k)
    ranks = feature_rank(attributions, feature)
    return np.array([np.mean(ranks == r) for r in range(1, k + 1)])


# ---- lesson 11: deletion, insertion, infidelity, RISE
#
# - Deletion and insertion curves, and RISE (Petsiuk, Das and Saenko, "RISE: randomized
#   input sampling for explanation of black-box models", BMVC 2018, section 4.1 and eq. 6).
# - Infidelity (Yeh, Hsieh, Suggala, Inouye and Ravikumar, "On the (in)fidelity and
#   sensitivity of explanations", NeurIPS 2019, definition 2.1), as captum's
#   ``metrics.infidelity``; max-sensitivity is :func:`max_sensitivity` above.


def _pixel_scores(attributions, x: torch.Tensor) -> torch.Tensor:
    """Attributions summed over channels, one score per pixel: shape (N, H * W)."""
    n, c, h, w = x.shape
    a = attributions.detach() if isinstance(attributions, torch.Tensor) else \
        torch.as_tensor(check_array("attributions", attributions))
    shape = tuple(a.shape)
    if shape == (n, c, h, w):
        a = a.sum(dim=1)
    elif shape != (n, h, w):
        raise ValueError(f"attributions must have the shape of x {tuple(x.shape)} (or one map per image, "
                         f"{(n, h, w)}), got shape {shape}.")
    if not torch.isfinite(a).all():
        raise ValueError("attributions must contain only finite values, got NaN or inf.")
    return a.reshape(n, h * w).to(device=x.device, dtype=torch.float64)


def _step_counts(n_pixels: int, n_steps: int) -> list[int]:
    """``round(s * n_pixels / n_steps)`` for s = 0..n_steps (Python's round, as the definition says)."""
    return [round(s * n_pixels / n_steps) for s in range(n_steps + 1)]


def _curve(model, x, attributions, target, baseline, n_steps, batch_size, insert: bool):
    check_model(model)
    x = check_input(x, model, images=True)
    n, c, h, w = x.shape
    n_steps = check_positive_int("n_steps", n_steps)
    batch_size = check_positive_int("batch_size", batch_size)
    target = check_target(target, n, x.device)
    scores = _pixel_scores(attributions, x)
    substrate = check_baseline(baseline, x)
    ones = torch.ones(n, h * w, dtype=torch.float64, device=x.device)
    steps = []
    for k in _step_counts(h * w, n_steps):
        top = (erase_top(ones, scores, k) == 0).view(n, 1, h, w)  # the k highest-ranked pixels
        steps.append(torch.where(top, x, substrate) if insert else torch.where(top, substrate, x))
    batch = torch.stack(steps, dim=1).reshape(n * (n_steps + 1), c, h, w)
    targets = target.repeat_interleave(n_steps + 1)
    with evaluating(model), torch.no_grad():
        probabilities = torch.cat([selected_output(model, batch[i:i + batch_size], targets[i:i + batch_size],
                                                   of="probability")
                                   for i in range(0, len(batch), batch_size)])
    fractions = np.arange(n_steps + 1) / n_steps
    return fractions, probabilities.view(n, n_steps + 1).cpu().double().numpy()


def deletion_curve(model: nn.Module, x: torch.Tensor, attributions, target, *, baseline=0.0, n_steps: int = 20,
                   batch_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Petsiuk et al.'s deletion curve: the class probability as the most important pixels are removed.

    Pixels are ranked by the attributions summed over channels (ties: the lower flat pixel
    index first, as in :func:`erase_top`). At step ``s`` the ``round(s * H * W / n_steps)``
    highest-ranked pixels, all their channels, are set to ``baseline``. A faithful
    explanation makes the probability fall fast: a low area (:func:`curve_auc`) is good.
    All steps of all images go through the model in batches of ``batch_size`` inputs.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits (N, n_classes); used in eval mode and left as it was.
    x : torch.Tensor
        Images, shape (N, C, H, W).
    attributions : array-like or torch.Tensor
        Shape (N, C, H, W) like x, or one map per image (N, H, W).
    target : int or 1-D integer tensor of length N
        The class whose softmax probability is measured.
    baseline : float or torch.Tensor, default 0.0
        The substrate: a number, or a tensor of x's shape (or one image's), e.g.
        :func:`blurred` images.
    n_steps : int, default 20
    batch_size : int, default 128
        Inputs per forward pass (on a CPU, batches of 64-128 MNIST images run about 1.6x faster
        than batches of 1,024, whose activations do not fit the cache: ``benchmarks/bench_evaluation.py``).

    Returns
    -------
    fractions : numpy.ndarray
        Shape (n_steps + 1,): ``s / n_steps``.
    probabilities : numpy.ndarray
        Shape (N, n_steps + 1): the softmax probability of ``target``; the first column is
        the model on x, the last on the fully replaced input.

    Examples
    --------
    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    >>> x = torch.rand(3, 1, 2, 2)
    >>> fractions, p = deletion_curve(model, x, torch.rand(3, 1, 2, 2), 0, n_steps=4)
    >>> fractions.tolist(), p.shape
    ([0.0, 0.25, 0.5, 0.75, 1.0], (3, 5))
    """
    return _curve(model, x, attributions, target, baseline, n_steps, batch_size, insert=False)


def insertion_curve(model: nn.Module, x: torch.Tensor, attributions, target, *, baseline=0.0, n_steps: int = 20,
                    batch_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Petsiuk et al.'s insertion curve: start from ``baseline`` and insert x's pixels, most important first.

    The same ranking and steps as :func:`deletion_curve`; at step ``s`` the
    ``round(s * H * W / n_steps)`` highest-ranked pixels hold x's values and the others the
    baseline's. The first column is the model on the baseline, the last on x. A faithful
    explanation makes the probability rise fast: a high area is good. Petsiuk et al. insert
    into a blurred copy of the image (:func:`blurred`) and delete to zero.

    Parameters and return values as in :func:`deletion_curve`.

    Examples
    --------
    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    >>> x = torch.rand(3, 1, 2, 2)
    >>> _, p = insertion_curve(model, x, torch.rand(3, 1, 2, 2), 0, n_steps=2)
    >>> bool(np.allclose(p[:, -1], model(x).softmax(1)[:, 0].detach().numpy()))
    True
    """
    return _curve(model, x, attributions, target, baseline, n_steps, batch_size, insert=True)


def curve_auc(fractions, values) -> np.ndarray:
    """The trapezoidal area under each row of ``values`` over ``fractions`` (reference of exercise 11.1).

    Parameters
    ----------
    fractions : array-like, shape (S,)
        Increasing x-coordinates, e.g. the fractions of :func:`deletion_curve`.
    values : array-like, shape (N, S) or (S,)

    Returns
    -------
    numpy.ndarray
        Shape (N,) (a 0-d array for a single curve).

    Examples
    --------
    >>> curve_auc([0.0, 0.5, 1.0], [[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    array([0.25, 1.  ])
    """
    fractions = check_array("fractions", fractions)
    values = check_array("values", values, ndim=(1, 2), nonempty=True)
    if fractions.ndim != 1 or len(fractions) < 2:
        raise ValueError(f"fractions must be 1-D with at least 2 points, got shape {fractions.shape}.")
    if values.shape[-1:] != fractions.shape:
        raise ValueError(f"values must have {len(fractions)} columns (one per value of fractions), "
                         f"got shape {values.shape}.")
    if not (np.isfinite(fractions).all() and np.isfinite(values).all()):
        raise ValueError("fractions and values must contain only finite values, got NaN or inf.")
    widths = np.diff(fractions)
    return ((values[..., 1:] + values[..., :-1]) / 2 * widths).sum(axis=-1)


def blurred(x: torch.Tensor, *, sigma: float = 5.0, kernel_size: int = 11) -> torch.Tensor:
    """A Gaussian blur of each image, the insertion substrate of Petsiuk et al. (kernel 11, sigma 5).

    Examples
    --------
    >>> x = torch.zeros(1, 1, 9, 9); x[0, 0, 4, 4] = 1.0
    >>> b = blurred(x, sigma=1.0, kernel_size=5)
    >>> round(float(b.sum()), 4), bool(b[0, 0, 4, 4] < 1)
    (1.0, True)
    """
    from torchvision.transforms.functional import gaussian_blur

    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point batch of images (N, C, H, W), got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}.")
    check_tensor("x", x)
    sigma = check_real("sigma", sigma, low=0, low_inclusive=False)
    kernel_size = check_positive_int("kernel_size", kernel_size)
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}.")
    return gaussian_blur(x.detach(), [kernel_size, kernel_size], [sigma, sigma])


def infidelity_from_samples(dots: torch.Tensor, drops: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """Infidelity from its samples (reference of exercise 11.3; :func:`infidelity` calls it).

    Parameters
    ----------
    dots : torch.Tensor
        Shape (N, S): ``sum(I_s * attributions)`` for each example and perturbation ``I_s``.
    drops : torch.Tensor
        Shape (N, S): ``f(x) - f(x - I_s)``.
    normalize : bool
        First scale the attributions (hence ``dots``) by the least-squares optimal
        ``beta = sum(dots * drops) / sum(dots ** 2)`` per example (captum's ``normalize``).

    Returns
    -------
    torch.Tensor
        Shape (N,): ``mean_s (beta * dots - drops) ** 2`` (``beta = 1`` without normalize).

    Examples
    --------
    >>> infidelity_from_samples(torch.tensor([[1.0, 2.0]]), torch.tensor([[2.0, 4.0]]))
    tensor([2.5000])
    >>> infidelity_from_samples(torch.tensor([[1.0, 2.0]]), torch.tensor([[2.0, 4.0]]), normalize=True)
    tensor([0.])
    """
    check_tensor("dots", dots, ndim=2)
    check_tensor("drops", drops, ndim=2)
    check_same_shape("drops", drops, "dots", dots)
    if normalize:
        squares = (dots * dots).sum(dim=1, keepdim=True)
        beta = torch.where(squares > 0, (dots * drops).sum(dim=1, keepdim=True) / torch.where(squares > 0, squares, 1.0),
                           torch.zeros_like(squares))
        dots = beta * dots
    return ((dots - drops) ** 2).mean(dim=1)


def infidelity(model: nn.Module, x: torch.Tensor, attributions, target, *, noise_std: float = 0.1,
               n_samples: int = 10, normalize: bool = False, rng=None) -> torch.Tensor:
    """Yeh et al.'s infidelity: how badly ``attributions . I`` predicts the output's drop under noise ``I``.

    ``INFD = E_I [(I . attributions - (f(x) - f(x - I)))^2]`` with ``I ~ N(0, noise_std^2)``
    on every input entry and ``f`` the logit of ``target``, estimated with ``n_samples``
    draws (the same definition as captum's ``metrics.infidelity`` with a Gaussian
    ``perturb_func``). A linear model's gradient has infidelity 0. The value scales with the
    attributions (doubling a linear model's gradient gives ``noise_std^2 ||w||^2``) unless
    ``normalize=True`` (see :func:`infidelity_from_samples`), which makes it invariant to
    rescaling them.

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits (N, n_classes); used in eval mode and left as it was.
    x : torch.Tensor
        Shape (N, ...).
    attributions : array-like or torch.Tensor
        x's shape.
    target : int or 1-D integer tensor of length N
    noise_std : float, default 0.1
    n_samples : int, default 10
        Perturbations per example; one forward pass of the batch each.
    normalize : bool, default False
    rng : None, int, numpy.random.Generator or torch.Generator
        The noise: ``n_samples`` draws of x's shape, one after the other.

    Returns
    -------
    torch.Tensor
        Shape (N,), on the model's device, float64.

    Examples
    --------
    >>> model = nn.Linear(3, 2)
    >>> x = torch.rand(4, 3)
    >>> gradient = model.weight[1].detach().expand(4, 3)
    >>> float(infidelity(model, x, gradient, 1, rng=0).abs().max()) < 1e-10
    True
    """
    check_model(model)
    x = check_input(x, model)
    target = check_target(target, len(x), x.device)
    a = attributions.detach() if isinstance(attributions, torch.Tensor) else \
        torch.as_tensor(check_array("attributions", attributions))
    if tuple(a.shape) != tuple(x.shape):
        raise ValueError(f"attributions must have the shape of x {tuple(x.shape)}, got shape {tuple(a.shape)}.")
    if not torch.isfinite(a).all():
        raise ValueError("attributions must contain only finite values, got NaN or inf.")
    a = a.to(device=x.device, dtype=torch.float64).reshape(len(x), -1)
    noise_std = check_real("noise_std", noise_std, low=0)
    n_samples = check_positive_int("n_samples", n_samples)
    generator = as_torch_generator(rng, device=x.device)
    dots, drops = [], []
    with evaluating(model), torch.no_grad():
        before = selected_output(model, x, target).double()
        for _ in range(n_samples):
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) * noise_std
            dots.append((noise.reshape(len(x), -1).double() * a).sum(dim=1))
            drops.append(before - selected_output(model, x - noise, target).double())
    return infidelity_from_samples(torch.stack(dots, dim=1), torch.stack(drops, dim=1), normalize)



def infidelity_optimal(model: nn.Module, x: torch.Tensor, target, *, noise_std: float = 0.1, n_samples: int = 1000,
                       batch_size: int = 1000, rng=None) -> torch.Tensor:
    """The explanation with the lowest infidelity under Gaussian noise (Yeh et al. 2019, proposition 2.1).

    Minimising ``E[(I . a - (f(x) - f(x - I)))^2]`` over ``a`` gives
    ``a* = E[I I^T]^-1 E[I (f(x) - f(x - I))] = E[I (f(x) - f(x - I))] / noise_std^2`` for
    ``I ~ N(0, noise_std^2 Id)``, estimated here with ``n_samples`` draws per example. For a
    linear model it is the gradient; for a network it is a gradient smoothed at the scale of
    the noise (Yeh et al. relate it to SmoothGrad), and it "wins" the metric by construction.
    The gradient ``g`` serves as a control variate: since ``E[I I^T] g = noise_std^2 g``,
    ``a* = g + E[I (drop - I . g)] / noise_std^2``, whose Monte Carlo error is that of the
    small residual ``drop - I . g`` rather than of the drop itself.

    Returns
    -------
    torch.Tensor
        x's shape.

    Examples
    --------
    >>> model = nn.Linear(3, 2)
    >>> a = infidelity_optimal(model, torch.zeros(1, 3), 0, n_samples=20000, rng=0)
    >>> bool(torch.allclose(a[0], model.weight[0].detach(), atol=0.05))
    True
    """
    check_model(model)
    x = check_input(x, model)
    target = check_target(target, len(x), x.device)
    noise_std = check_real("noise_std", noise_std, low=0, low_inclusive=False)
    n_samples = check_positive_int("n_samples", n_samples)
    batch_size = check_positive_int("batch_size", batch_size)
    generator = as_torch_generator(rng, device=x.device)

    result = torch.zeros_like(x, dtype=torch.float64)
    with evaluating(model, freeze=True):
        gradient = output_gradient(model, x, target).double()
        with torch.no_grad():
            before = selected_output(model, x, target).double()
            for i, (image, cls) in enumerate(zip(x, target)):
                for start in range(0, n_samples, batch_size):
                    m = min(batch_size, n_samples - start)
                    noise = torch.randn((m, *image.shape), generator=generator, device=x.device,
                                        dtype=x.dtype) * noise_std
                    drops = before[i] - selected_output(model, image[None] - noise, cls.expand(m)).double()
                    residual = drops - (noise.double().flatten(1) * gradient[i].flatten()).sum(dim=1)
                    result[i] += (noise.double() * residual.view(-1, *([1] * image.ndim))).sum(dim=0)
    return (gradient + result / (n_samples * noise_std ** 2)).to(x.dtype)


def rise_masks(n_masks: int, size: Sequence[int], *, cell_size: int | None = None, p_keep: float = 0.5,
               rng=None, device=None) -> torch.Tensor:
    """RISE's random smooth masks (Petsiuk et al. 2018, section 3.2), shape (n_masks, H, W), values in [0, 1].

    Each mask is a ``ceil(H / cell_size) x ceil(W / cell_size)`` grid of cells kept with
    probability ``p_keep``, upsampled bilinearly to ``(grid + 1) * cell_size`` and cropped
    to ``H x W`` at a random shift in ``[0, cell_size)`` in each direction (as the authors'
    code does). ``cell_size=None`` gives the paper's 7 x 7 grid (``ceil(max(H, W) / 7)``).

    Examples
    --------
    >>> masks = rise_masks(100, (28, 28), rng=0)
    >>> masks.shape, bool(masks.min() >= 0 and masks.max() <= 1)
    (torch.Size([100, 28, 28]), True)
    """
    n_masks = check_positive_int("n_masks", n_masks)
    if len(size) != 2:
        raise ValueError(f"size must be (H, W), got {tuple(size)!r}.")
    h, w = (check_positive_int("size", int(s)) for s in size)
    cell = math.ceil(max(h, w) / 7) if cell_size is None else check_positive_int("cell_size", cell_size)
    p_keep = check_real("p_keep", p_keep, low=0, high=1, low_inclusive=False)
    generator = as_torch_generator(rng, device=device)
    gh, gw = math.ceil(h / cell), math.ceil(w / cell)
    grid = (torch.rand(n_masks, 1, gh, gw, generator=generator, device=device) < p_keep).float()
    up = torch.nn.functional.interpolate(grid, size=((gh + 1) * cell, (gw + 1) * cell), mode="bilinear",
                                         align_corners=False)[:, 0]
    shifts = torch.randint(0, cell, (n_masks, 2), generator=generator, device=device)
    rows = shifts[:, :1] + torch.arange(h, device=device)
    cols = shifts[:, 1:] + torch.arange(w, device=device)
    return up[torch.arange(n_masks, device=device)[:, None, None], rows[:, :, None], cols[:, None, :]]


def rise_saliency(scores: torch.Tensor, masks: torch.Tensor, p_keep: float) -> torch.Tensor:
    """RISE's weighted sum (Petsiuk et al., eq. 6; reference of exercise 11.2; :func:`rise` calls it).

    ``S(pixel) = sum_i scores[i] * masks[i, pixel] / (n_masks * p_keep)``: the expected
    score of the masked image given that the pixel is kept.

    Parameters
    ----------
    scores : torch.Tensor
        Shape (n_masks,): the model's probability of the class on each masked image.
    masks : torch.Tensor
        Shape (n_masks, H, W).
    p_keep : float

    Examples
    --------
    >>> rise_saliency(torch.tensor([1.0, 0.0]), torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]), 0.5)
    tensor([[1., 0.]])
    """
    check_tensor("scores", scores, ndim=(1, 2))
    check_tensor("masks", masks, ndim=3)
    if scores.shape[-1] != len(masks):
        raise ValueError(f"scores must have one column per mask ({len(masks)} masks), got shape {tuple(scores.shape)}.")
    p_keep = check_real("p_keep", p_keep, low=0, high=1, low_inclusive=False)
    return torch.tensordot(scores.to(masks.dtype), masks, dims=1) / (len(masks) * p_keep)


def rise(model: nn.Module, x: torch.Tensor, target, *, n_masks: int = 2000, cell_size: int | None = None,
         p_keep: float = 0.5, rng=None, batch_size: int = 500) -> torch.Tensor:
    """RISE (Petsiuk, Das and Saenko, BMVC 2018): a black-box saliency map from randomly masked images.

    The same ``n_masks`` masks (:func:`rise_masks`) multiply every image (masked pixels
    become 0, the paper's choice); the map is the softmax probability of ``target`` on
    each masked image, weighted by the mask and averaged (:func:`rise_saliency`).

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits; used in eval mode and left as it was.
    x : torch.Tensor
        Images (N, C, H, W).
    target : int or 1-D integer tensor of length N
    n_masks : int, default 2000
        The paper uses 4000 on ImageNet; costs ``N * n_masks`` forward passes.
    cell_size : int, optional
        Pixels per grid cell; default the paper's 7 x 7 grid (4 pixels on MNIST, 32 on 224 x 224).
    p_keep : float, default 0.5
    rng : None, int, numpy.random.Generator or torch.Generator
    batch_size : int, default 500
        Masked images per forward pass.

    Returns
    -------
    torch.Tensor
        Shape (N, H, W), non-negative (one map per image, for all channels).

    Examples
    --------
    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    >>> rise(model, torch.rand(2, 1, 4, 4), 1, n_masks=50, rng=0).shape
    torch.Size([2, 4, 4])
    """
    check_model(model)
    x = check_input(x, model, images=True)
    target = check_target(target, len(x), x.device)
    batch_size = check_positive_int("batch_size", batch_size)
    masks = rise_masks(n_masks, x.shape[2:], cell_size=cell_size, p_keep=p_keep, rng=rng, device=x.device)
    masks = masks.to(x.dtype)
    maps = []
    with evaluating(model), torch.no_grad():
        for image, cls in zip(x, target):
            scores = torch.cat([
                selected_output(model, image[None] * masks[i:i + batch_size, None],
                                cls.expand(len(masks[i:i + batch_size])), of="probability")
                for i in range(0, n_masks, batch_size)])
            maps.append(rise_saliency(scores, masks, p_keep))
    return torch.stack(maps)




def noisy_gradient_maps(model: nn.Module, x: torch.Tensor, target, *, n_samples: int = 16, noise_level: float = 0.15,
                        rng=None) -> dict[str, torch.Tensor]:
    """SmoothGrad, SmoothGrad-squared and VarGrad from the same noisy gradients (Hooker et al., NeurIPS 2019).

    With ``g_s`` the logit gradient at ``x + sigma * eps_s`` (``sigma = noise_level *
    (max x_i - min x_i)``, the draws of :func:`course_utils.xai.gradients.smoothgrad`, so
    the mean equals it for the same ``rng``): SmoothGrad ``mean_s g_s``, SmoothGrad-squared
    ``mean_s g_s^2`` and VarGrad ``var_s g_s`` (population variance). Hooker et al. find the
    last two the only ones clearly better than a random ranking under ROAR.

    Returns
    -------
    dict
        ``"SmoothGrad"``, ``"SmoothGrad-squared"``, ``"VarGrad"``: tensors of x's shape.

    Examples
    --------
    >>> model = nn.Linear(3, 2)
    >>> maps = noisy_gradient_maps(model, torch.ones(2, 3), 0, n_samples=4, rng=0)
    >>> float(maps["VarGrad"].abs().max()) < 1e-12  # a linear model's gradient does not move
    True
    """

    check_model(model)
    x = check_input(x, model)
    target = check_target(target, len(x), x.device)
    n_samples = check_positive_int("n_samples", n_samples)
    noise_level = check_real("noise_level", noise_level, low=0)
    generator = as_torch_generator(rng, device=x.device)
    flat = x.reshape(len(x), -1)
    sigma = (noise_level * (flat.max(dim=1).values - flat.min(dim=1).values)).view(-1, *([1] * (x.ndim - 1)))
    total, squares = torch.zeros_like(x), torch.zeros_like(x)
    with evaluating(model, freeze=True):
        for _ in range(n_samples):
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            g = output_gradient(model, x + sigma * noise, target)
            total += g
            squares += g * g
    mean, mean_sq = total / n_samples, squares / n_samples
    return {"SmoothGrad": mean, "SmoothGrad-squared": mean_sq, "VarGrad": (mean_sq - mean * mean).clamp(min=0)}


def evaluate_explanations(explain_fn, model: nn.Module, x: torch.Tensor, target, *, randomised: nn.Module | None = None,
                          insertion_baseline=None, n_steps: int = 20, noise_std: float = 0.1, n_infidelity: int = 10,
                          radius: float = 0.02, n_sensitivity: int = 10, rng=None) -> dict[str, np.ndarray]:
    """One method's row of the report card: each metric of lesson 11, per example.

    Parameters
    ----------
    model : torch.nn.Module
    explain_fn : callable
        ``explain_fn(model, x, target) -> attributions of x's shape`` (a value of :func:`course_utils.xai.methods.course_methods`).
    x : torch.Tensor
        Images (N, C, H, W).
    target : int or 1-D integer tensor of length N
    randomised : torch.nn.Module, optional
        A randomised copy of the model (e.g. the last of :func:`cascading_randomisation`) for
        the sanity check; skipped (NaN) without one.
    insertion_baseline : float or torch.Tensor, optional
        Default :func:`blurred` images (Petsiuk et al.); deletion goes to 0.
    n_steps, noise_std, n_infidelity, radius, n_sensitivity, rng
        The metrics' settings (:func:`deletion_curve`, :func:`infidelity` with
        ``normalize=True``, :func:`max_sensitivity`).

    Returns
    -------
    dict of str to numpy.ndarray
        ``"deletion"``, ``"insertion"`` (areas), ``"infidelity"``, ``"max-sensitivity"``,
        ``"sanity"`` (Spearman correlation of the absolute maps of the trained and the
        randomised model: low is good), each of shape (N,), and ``"seconds"``, the wall time
        per explanation, shape (1,).
    """
    import time

    check_callable("explain_fn", explain_fn)
    check_model(model)
    x = check_input(x, model, images=True)
    target = check_target(target, len(x), x.device)
    check_positive_int("n_infidelity", n_infidelity), check_positive_int("n_sensitivity", n_sensitivity)
    generator = as_torch_generator(rng, device=x.device)
    start = time.perf_counter()
    attributions = explain_fn(model, x, target)
    try:
        _pixel_scores(attributions, x)
    except (TypeError, ValueError) as err:
        raise ValueError(f"explain_fn returned unusable attributions: {err}") from err
    seconds = (time.perf_counter() - start) / len(x)
    substrate = blurred(x) if insertion_baseline is None else insertion_baseline
    fractions, deleted = deletion_curve(model, x, attributions, target, n_steps=n_steps)
    _, inserted = insertion_curve(model, x, attributions, target, baseline=substrate, n_steps=n_steps)
    row = {
        "deletion": curve_auc(fractions, deleted),
        "insertion": curve_auc(fractions, inserted),
        "infidelity": infidelity(model, x, attributions, target, noise_std=noise_std, n_samples=n_infidelity,
                                 normalize=True, rng=generator).cpu().numpy(),
        "max-sensitivity": max_sensitivity(lambda batch: explain_fn(model, batch, target), x, radius=radius,
                                           n_samples=n_sensitivity, rng=generator).cpu().numpy(),
        "sanity": np.full(len(x), np.nan),
        "seconds": np.array([seconds]),
    }
    if randomised is not None:
        random_maps = explain_fn(randomised, x, target)
        row["sanity"] = rank_correlation(attributions.abs().sum(1), random_maps.abs().sum(1))
    return row


def _auc_cases(rng: np.random.Generator) -> list[tuple]:
    fractions = np.linspace(0, 1, 11)
    return [(fractions, rng.random((3, 11))), (np.array([0.0, 0.2, 0.7, 1.0]), rng.random((2, 4)))]


def _rise_cases(rng: np.random.Generator) -> list[tuple]:
    masks = torch.from_numpy(rng.random((20, 4, 5)))
    return [(torch.from_numpy(rng.random(20)), masks, 0.5), (torch.from_numpy(rng.random(20)), masks, 0.3)]


def _infidelity_cases(rng: np.random.Generator) -> list[tuple]:
    dots, drops = torch.from_numpy(rng.normal(size=(3, 8))), torch.from_numpy(rng.normal(size=(3, 8)))
    return [(dots, drops, False), (dots, drops, True), (dots, 2 * dots + 0.1 * drops, True)]


EXERCISES = register(
    Exercise("11.1", "area under a deletion or insertion curve", curve_auc, _auc_cases,
             "the trapezoid rule on each row: each segment between neighbouring fractions adds its width "
             "times the average of the curve's values at its two ends; one area per row."),
    Exercise("11.2", "RISE's weighted sum of masks", rise_saliency, _rise_cases,
             "RISE's saliency is the score-weighted sum of the masks, divided by the number of masks times "
             "p_keep (a mask's expected value); the result is one (H, W) map."),
    Exercise("11.3", "infidelity from its samples", infidelity_from_samples, _infidelity_cases,
             "infidelity is the mean, over the samples of a row, of the squared difference between the drop "
             "the attribution predicts (dots) and the actual drop; with normalize, first rescale the row's "
             "dots by the factor that fits them to the drops best in least squares."),
)
