"""Removal metrics that correct the distribution shift of plain deletion: ROAR and ROAD (lesson 11).

A deletion curve (:func:`course_utils.xai.evaluation.deletion_curve`) asks the model about
images with holes it never saw in training: part of the drop in accuracy is the holes, not
the information removed. Two fixes:

- **ROAR**, remove and retrain (Hooker, Erhan, Kindermans and Kim, "A benchmark for
  interpretability methods in deep neural networks", NeurIPS 2019): remove the top fraction
  of pixels, by a method's ranking, from every training *and* test image, retrain the model
  on the modified training set, and measure its test accuracy. A ranking that finds the
  informative pixels makes accuracy fall fastest; a random ranking is the yardstick.
- **ROAD**, remove and debias (Rong, Leemann, Borisov, Kasneci and Kasneci, "A consistent
  and efficient evaluation strategy for attribution methods", ICML 2022): no retraining;
  the removed pixels are filled by *noisy linear imputation* (each removed pixel the
  weighted mean of its eight neighbours, plus a little noise), so that the shape of the
  hole no longer tells the model which pixels were removed (their "class information
  leakage"). MoRF removes the most relevant pixels first (lower accuracy is better), LeRF
  the least relevant first (higher is better).

Pixels are ranked by the attributions summed over channels; ties go to the lower flat
pixel index first, as in the deletion curves.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from torch import nn
from tqdm.auto import tqdm

from ..runtime import as_generator
from ..validation import check_callable, check_real, check_tensor
from .._torch import check_input, check_model, check_output, check_target, evaluating
from .evaluation import _pixel_scores

__all__ = ["top_fraction_mask", "mean_fill", "noisy_linear_imputation", "road_accuracy", "roar_accuracy"]

# Rong et al.'s neighbour weights: 1/6 for the four direct neighbours, 1/12 for the diagonal ones.
_NEIGHBOURS = [(-1, 0, 1 / 6), (1, 0, 1 / 6), (0, -1, 1 / 6), (0, 1, 1 / 6),
               (-1, -1, 1 / 12), (-1, 1, 1 / 12), (1, -1, 1 / 12), (1, 1, 1 / 12)]


def _check_fractions(fractions) -> np.ndarray:
    values = np.asarray(fractions, dtype=float) if not isinstance(fractions, str) else np.array([np.nan])
    if values.ndim != 1 or len(values) == 0 or not np.all(np.isfinite(values)) \
            or values.min() < 0 or values.max() > 1:
        raise ValueError(f"fractions must be a non-empty sequence of numbers in [0, 1], got {fractions!r}.")
    return values


def _scores(attributions, x: torch.Tensor, name: str) -> torch.Tensor:
    try:
        return _pixel_scores(attributions, x)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name}: {err}") from None


def top_fraction_mask(attributions, x: torch.Tensor, fraction: float, *, most_relevant: bool = True,
                      name: str = "attributions") -> torch.Tensor:
    """The pixels a ranking removes first: a boolean mask of shape (N, H, W).

    Parameters
    ----------
    attributions : torch.Tensor or numpy.ndarray
        x's shape (N, C, H, W), or one map per image (N, H, W); summed over channels.
    x : torch.Tensor
        The images (N, C, H, W), for the shape.
    fraction : float
        Share of the H * W pixels to mark, in [0, 1]; ``round(fraction * H * W)`` of them.
    most_relevant : bool
        True: the highest-scored pixels (MoRF); False: the lowest-scored (LeRF).
    name : str
        The attributions' name in messages.

    Returns
    -------
    torch.Tensor
        Boolean, (N, H, W), True where a pixel is removed.

    Examples
    --------
    >>> x = torch.zeros(1, 1, 2, 2)
    >>> top_fraction_mask(torch.tensor([[[4.0, 1.0], [3.0, 2.0]]]), x, 0.5)
    tensor([[[ True, False],
             [ True, False]]])
    """
    x = check_tensor("x", x, ndim=4)
    fraction = check_real("fraction", fraction, low=0.0, high=1.0)
    n, _, h, w = x.shape
    scores = _scores(attributions, x, name)
    k = round(fraction * h * w)
    order = torch.argsort(-scores if most_relevant else scores, dim=1, stable=True)
    mask = torch.zeros(n, h * w, dtype=torch.bool, device=x.device)
    mask.scatter_(1, order[:, :k], True)
    return mask.view(n, h, w)


def _labels(target, x: torch.Tensor, name: str, x_name: str) -> torch.Tensor:
    """Labels for x: an int for all, or one per image; the mismatch message names both."""
    if isinstance(target, (torch.Tensor, np.ndarray)) and target.ndim == 1 and len(target) != len(x):
        raise ValueError(f"{name} must hold one label per image of {x_name} ({len(x)}), got {len(target)}.")
    return check_target(target, len(x), x.device, name=name)


def _check_classes(model: nn.Module, x: torch.Tensor, target: torch.Tensor, name: str) -> None:
    """``target`` must index the model's outputs (checked on one example, by the torch layer's check_output)."""
    with evaluating(model), torch.no_grad():
        check_output(model(x[:1]), target, name=name)


def _check_mask(mask, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(mask, (torch.Tensor, np.ndarray)):
        raise TypeError(f"mask must be a boolean tensor, got {type(mask).__name__}.")
    mask = torch.as_tensor(mask, device=x.device)
    n, _, h, w = x.shape
    if mask.dtype != torch.bool or tuple(mask.shape) != (n, h, w):
        raise ValueError(f"mask must be a boolean tensor of shape {(n, h, w)} (one per image of x), "
                         f"got dtype {mask.dtype} and shape {tuple(mask.shape)}.")
    return mask


def mean_fill(x: torch.Tensor, mask, value) -> torch.Tensor:
    """Replace the masked pixels (all channels) by ``value``: ROAR's uninformative fill.

    Hooker et al. fill removed pixels with the per-channel mean of the training images.

    Parameters
    ----------
    x : torch.Tensor
        Images (N, C, H, W).
    mask : torch.Tensor
        Boolean (N, H, W), True where a pixel is removed.
    value : float or torch.Tensor
        A number, or one value per channel (C,).

    Returns
    -------
    torch.Tensor
        A new tensor of x's shape.
    """
    x = check_tensor("x", x, ndim=4)
    mask = _check_mask(mask, x)
    try:
        value = torch.as_tensor(value, dtype=x.dtype, device=x.device).reshape(-1)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"value must be a number or one number per channel, got {type(value).__name__}.") from None
    if len(value) not in (1, x.shape[1]) or not torch.isfinite(value).all():
        raise ValueError(f"value must be one finite number or one per channel ({x.shape[1]}), "
                         f"got {value.tolist()}.")
    return torch.where(mask[:, None], value.view(1, -1, 1, 1).expand_as(x), x)


def _impute_one(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """Solve for the removed pixels of one (C, H, W) image: each is the weighted mean of its neighbours."""
    c, h, w = image.shape
    unknown = np.flatnonzero(removed.ravel())
    if len(unknown) == 0:
        return image
    index = -np.ones(h * w, dtype=np.int64)
    index[unknown] = np.arange(len(unknown))
    rows, cols = np.divmod(unknown, w)
    flat = image.reshape(c, h * w)
    diagonal = np.zeros(len(unknown))
    rhs = np.zeros((len(unknown), c))
    entries_i, entries_j, entries_v = [], [], []
    for dr, dc, weight in _NEIGHBOURS:
        r, q = rows + dr, cols + dc
        inside = (r >= 0) & (r < h) & (q >= 0) & (q < w)
        neighbour = r[inside] * w + q[inside]
        me = np.flatnonzero(inside)
        diagonal[me] += weight
        is_unknown = index[neighbour] >= 0
        entries_i.append(me[is_unknown])
        entries_j.append(index[neighbour[is_unknown]])
        entries_v.append(np.full(is_unknown.sum(), -weight))
        np.add.at(rhs, me[~is_unknown], weight * flat[:, neighbour[~is_unknown]].T)
    # A hole with no known pixel around it (e.g. fraction 1) has no unique solution: a tiny pull
    # towards the known pixels' mean (or 0) makes the system regular without moving the others.
    known = np.setdiff1d(np.arange(h * w), unknown)
    anchor = flat[:, known].mean(axis=1) if len(known) else np.zeros(c)
    ridge = 1e-6
    matrix = sp.csr_matrix((np.concatenate([diagonal + ridge, *entries_v]),
                            (np.concatenate([np.arange(len(unknown)), *entries_i]),
                             np.concatenate([np.arange(len(unknown)), *entries_j]))),
                           shape=(len(unknown), len(unknown)))
    solution = spla.spsolve(matrix.tocsc(), rhs + ridge * anchor[None, :])
    out = flat.copy()
    out[:, unknown] = np.asarray(solution).reshape(len(unknown), c).T
    return out.reshape(c, h, w)


def noisy_linear_imputation(x: torch.Tensor, mask, *, noise_std: float = 0.01, rng=None) -> torch.Tensor:
    """Fill the masked pixels by noisy linear imputation (Rong et al., ICML 2022, ROAD).

    Each removed pixel is set to the weighted mean of its eight neighbours (weights 1/6 for
    the direct and 1/12 for the diagonal ones), removed neighbours included: one sparse linear
    system per image, solved for all channels at once. Gaussian noise with standard deviation
    ``noise_std`` is then added to the imputed pixels, as Rong et al. do, so that the fill
    carries no trace of the mask's shape.

    Parameters
    ----------
    x : torch.Tensor
        Images (N, C, H, W).
    mask : torch.Tensor
        Boolean (N, H, W), True where a pixel is removed (:func:`top_fraction_mask`).
    noise_std : float
        Standard deviation of the noise on the imputed pixels (>= 0).
    rng : None, int or numpy.random.Generator
        Draws the noise.

    Returns
    -------
    torch.Tensor
        A new tensor of x's shape and dtype; unmasked pixels are unchanged.

    Examples
    --------
    >>> x = torch.tensor([[[[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]]])
    >>> mask = torch.zeros(1, 3, 3, dtype=torch.bool); mask[0, 1, 1] = True
    >>> round(float(noisy_linear_imputation(x, mask, noise_std=0.0)[0, 0, 1, 1]), 4)  # 4 x 1/6 x 1 + 4 x 1/12 x 0
    0.6667
    """
    x = check_tensor("x", x, ndim=4)
    mask = _check_mask(mask, x)
    noise_std = check_real("noise_std", noise_std, low=0.0)
    rng = as_generator(rng)
    images = x.detach().cpu().double().numpy()
    removed = mask.cpu().numpy()
    filled = np.stack([_impute_one(image, hole) for image, hole in zip(images, removed)])
    if noise_std > 0:
        noise = rng.normal(scale=noise_std, size=filled.shape)
        filled = np.where(removed[:, None], filled + noise, filled)
    return torch.as_tensor(filled, dtype=x.dtype, device=x.device)


def _accuracy(model: nn.Module, x: torch.Tensor, target: torch.Tensor, batch_size: int = 500) -> float:
    with evaluating(model), torch.no_grad():
        predictions = torch.cat([model(x[i:i + batch_size]).argmax(dim=1) for i in range(0, len(x), batch_size)])
    return float((predictions == target).double().mean())


def road_accuracy(model: nn.Module, x: torch.Tensor, attributions, target, *,
                  fractions: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9), most_relevant: bool = True,
                  noise_std: float = 0.01, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """ROAD: the model's accuracy as a ranking's pixels are removed and imputed (Rong et al., ICML 2022).

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (not retrained).
    x : torch.Tensor
        Images (N, C, H, W).
    attributions : torch.Tensor or numpy.ndarray
        x's shape, or (N, H, W): the ranking to evaluate.
    target : int or torch.Tensor
        The true labels (N,) (or one class for all).
    fractions : sequence of float
        Shares of pixels removed, each in [0, 1].
    most_relevant : bool
        True for MoRF (remove the most relevant first: a good ranking's accuracy falls fast),
        False for LeRF (the least relevant first: a good ranking's accuracy stays high).
    noise_std : float
        Noise on the imputed pixels (:func:`noisy_linear_imputation`).
    rng : None, int or numpy.random.Generator
        Draws the noise.

    Returns
    -------
    fractions : numpy.ndarray
        The fractions, as given.
    accuracy : numpy.ndarray
        Accuracy on ``target`` at each fraction.
    """
    check_model(model)
    x = check_input(x, model, images=True)
    target = _labels(target, x, "target", "x")
    _check_classes(model, x, target, "target")
    fractions = _check_fractions(fractions)
    rng = as_generator(rng)
    accuracy = [_accuracy(model, noisy_linear_imputation(
        x, top_fraction_mask(attributions, x, f, most_relevant=most_relevant), noise_std=noise_std, rng=rng), target)
        for f in fractions]
    return fractions, np.array(accuracy)


def roar_accuracy(train_fn: Callable, X_train: torch.Tensor, y_train: torch.Tensor, X_test: torch.Tensor,
                  y_test: torch.Tensor, train_attributions, test_attributions, *,
                  fractions: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9), progress: bool = True,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """ROAR: remove a ranking's top pixels from training and test images, retrain, test (Hooker et al. 2019).

    For each fraction the top ``fraction`` of pixels of every image (by its own attribution
    map) is replaced by the per-channel mean of the training images (:func:`mean_fill`); a
    fresh model is trained on the modified training images by ``train_fn`` and its accuracy
    measured on the modified test images. Accuracy that falls faster than under a random
    ranking means the ranking found information the model needs.

    Parameters
    ----------
    train_fn : callable
        ``train_fn(X, y) -> model``: trains a new model from scratch (same recipe every call).
    X_train, y_train, X_test, y_test : torch.Tensor
        Images (N, C, H, W) in [0, 1] and their labels.
    train_attributions, test_attributions : torch.Tensor or numpy.ndarray
        One map per training and test image (the images' shape, or (N, H, W)).
    fractions : sequence of float
        Shares of pixels removed, each in [0, 1] (0: the unmodified data, the retrained baseline).
    progress : bool
        Show a progress bar over the retrainings.

    Returns
    -------
    fractions : numpy.ndarray
    accuracy : numpy.ndarray
        Test accuracy of the retrained model at each fraction.
    """
    train_fn = check_callable("train_fn", train_fn)
    X_train, X_test = check_tensor("X_train", X_train, ndim=4), check_tensor("X_test", X_test, ndim=4)
    if X_train.shape[1:] != X_test.shape[1:]:
        raise ValueError(f"X_test must have X_train's image shape {tuple(X_train.shape[1:])}, "
                         f"got {tuple(X_test.shape[1:])}.")
    y_train, y_test = _labels(y_train, X_train, "y_train", "X_train"), _labels(y_test, X_test, "y_test", "X_test")
    fractions = _check_fractions(fractions)
    fill = X_train.mean(dim=(0, 2, 3))
    accuracy = []
    for f in tqdm(fractions, desc="ROAR retraining", disable=not progress, leave=False):
        train = mean_fill(X_train, top_fraction_mask(train_attributions, X_train, f, name="train_attributions"), fill)
        test = mean_fill(X_test, top_fraction_mask(test_attributions, X_test, f, name="test_attributions"), fill)
        model = train_fn(train, y_train)
        if not isinstance(model, nn.Module):
            raise TypeError(f"train_fn must return a torch.nn.Module, got {type(model).__name__}.")
        _check_classes(model, test, torch.cat([y_train, y_test]), "y_train and y_test")
        accuracy.append(_accuracy(model, test, y_test.to(test.device)))
    return fractions, np.array(accuracy)
