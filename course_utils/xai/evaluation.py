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

from ..runtime import as_torch_generator
from ..validation import check_nonnegative_int, check_positive_int, check_real
from .._torch import check_input, check_model, evaluating, model_device

__all__ = [
    "ClassDifference",
    "erase_top",
    "erasure_curve",
    "rank_correlation",
    "pearson_correlation",
    "top_k_intersection",
    "max_sensitivity",
    "box_iou",
    "threshold_box",
    "pointing_game",
    "weak_localisation",
    "box_mass",
    "randomise_layer",
    "cascading_randomisation",
    "feature_rank",
    "rank_shares",
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
    scores = torch.as_tensor(scores.detach() if hasattr(scores, "detach") else np.asarray(scores, dtype=float))
    if scores.numel() != x.numel():
        raise ValueError(f"scores must have one value per entry of x {tuple(x.shape)}, got shape {tuple(scores.shape)}.")
    if not torch.isfinite(scores).all():
        raise ValueError("scores must contain only finite values, got NaN or inf.")
    return scores.reshape(len(x), -1).to(device=x.device, dtype=x.dtype)


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
    with evaluating(model), torch.no_grad():
        before = model(x)[:, output]
        drops = [before - model(erase_top(x, scores, k, baseline=baseline, positive_only=positive_only))[:, output]
                 for k in counts]
    return torch.stack(drops, dim=1).cpu().numpy()


# ------------------------------------------------------------------ agreement between maps


def _paired(maps_a, maps_b) -> tuple[np.ndarray, np.ndarray]:
    a, b = (np.asarray(m.detach().cpu() if hasattr(m, "detach") else m, dtype=float) for m in (maps_a, maps_b))
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
    a, b = (np.asarray(m.detach().cpu() if hasattr(m, "detach") else m, dtype=float) for m in (maps_a, maps_b))
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
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 2 or len(x) == 0:
        raise TypeError(f"x must be a non-empty floating-point torch.Tensor batch (N, ...), got "
                        f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}.")
    radius = check_real("radius", radius, low=0)
    n_samples = check_positive_int("n_samples", n_samples)
    generator = as_torch_generator(rng, device=x.device)

    def explain(batch: torch.Tensor) -> torch.Tensor:
        out = explain_fn(batch)
        out = torch.as_tensor(out.detach() if hasattr(out, "detach") else np.asarray(out))
        if len(out) != len(batch):
            raise ValueError(f"explain_fn must return one explanation per example ({len(batch)}), got shape "
                             f"{tuple(out.shape)}.")
        return out.reshape(len(batch), -1).to(torch.float64)

    x = x.detach()
    reference = explain(x)
    norms = reference.norm(dim=1)
    worst = torch.zeros(len(x), dtype=torch.float64, device=reference.device)
    for _ in range(n_samples):
        delta = (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1) * radius
        worst = torch.maximum(worst, (explain(x + delta) - reference).norm(dim=1))
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
    """``(x0, y0, x1, y1)`` as four finite floats with x0 <= x1 and y0 <= y1."""
    if isinstance(box, (str, bytes)):
        raise TypeError(f"{name} must be four numbers (x0, y0, x1, y1), got a string {box!r}.")
    values = np.asarray(box.tolist() if hasattr(box, "tolist") else box, dtype=float) if box is not None else None
    if values is None or values.shape != (4,) or not np.isfinite(values).all():
        raise ValueError(f"{name} must be four finite numbers (x0, y0, x1, y1), got {box!r}.")
    if values[2] < values[0] or values[3] < values[1]:
        raise ValueError(f"{name} must have x0 <= x1 and y0 <= y1, got {tuple(values.tolist())}.")
    return tuple(float(v) for v in values)


def _as_map(heatmap) -> np.ndarray:
    heat = heatmap.detach().cpu().numpy() if hasattr(heatmap, "detach") else np.asarray(heatmap)
    if heat.ndim != 2:
        raise ValueError(f"heatmap must be 2-D (H, W), got shape {heat.shape}.")
    return heat.astype(float)


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
    if not heat.max() > 0:
        return False
    row, col = np.unravel_index(int(np.argmax(heat)), heat.shape)
    x0, y0, x1, y1 = (int(v) for v in _check_box(box))
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
    x0, y0, x1, y1 = (int(v) for v in _check_box(box))
    return float(heat[y0:y1, x0:x1].sum() / total) if total > 0 else 0.0


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
    A = np.abs(np.asarray(attributions.detach().cpu() if hasattr(attributions, "detach") else attributions, dtype=float))
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
