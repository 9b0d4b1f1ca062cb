"""Two MNIST digits on one canvas, with their bounding boxes: the course's cat-and-dog photo.

The Grad-CAM paper (Selvaraju et al., ICCV 2017) explains a photo with a cat *and* a dog,
and measures localisation against ground-truth boxes. ImageNet models cannot be fetched
offline, so lesson 07 uses a stand-in it can check exactly: a 64x64 canvas holding two
different MNIST digits at random positions, whose ink does not overlap, and whose boxes
are known. :func:`mnist_canvases` makes them reproducibly from a seed (training canvases
from training digits, test canvases from test digits); ``mnist_pairs_cnn`` (see
:mod:`course_utils.models`) is trained on them with ``python -m course_utils.train mnist_pairs_cnn``.

Boxes are ``(x0, y0, x1, y1)`` in pixels, ``x`` the column and ``y`` the row, end
exclusive: pixel ``(row, col)`` is inside when ``y0 <= row < y1`` and ``x0 <= col < x1``.
This is torchvision's box format with pixel ``i`` covering ``[i, i + 1)``, so
``torchvision.ops.box_iou`` gives the same IoU.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import data
from ._torch import check_model, evaluating, model_device
from .runtime import as_generator
from .validation import check_array, check_in, check_nonnegative_int, check_positive_int, check_real

__all__ = ["Canvases", "ink_boxes", "make_canvases", "mnist_canvases", "exact_match_accuracy"]

DIGIT_SIZE = 28
N_CLASSES = 10


@dataclass(frozen=True)
class Canvases:
    """A batch of two-digit canvases.

    Attributes
    ----------
    images : torch.Tensor
        Float, shape (n, 1, size, size), values in [0, 1].
    digits : torch.Tensor
        Long, shape (n, 2): the two (different) digit classes on each canvas.
    boxes : torch.Tensor
        Long, shape (n, 2, 4): the tight box ``(x0, y0, x1, y1)`` around each digit's ink,
        in the order of ``digits``.
    """

    images: torch.Tensor
    digits: torch.Tensor
    boxes: torch.Tensor

    def __len__(self) -> int:
        return len(self.images)

    @property
    def targets(self) -> torch.Tensor:
        """Multi-hot labels, float, shape (n, 10): 1 for the two digits present, else 0."""
        targets = torch.zeros(len(self), N_CLASSES)
        return targets.scatter_(1, self.digits, 1.0)

    def ink_masks(self, threshold: float = 0.5) -> torch.Tensor:
        """Each digit's ink, bool, shape (n, 2, size, size): pixels brighter than ``threshold`` in its box.

        The two digits' ink never overlaps, so the masks of one canvas are disjoint.
        """
        threshold = check_real("threshold", threshold, low=0, high=1, high_inclusive=False)
        size = self.images.shape[-1]
        rows, cols = torch.arange(size)[:, None], torch.arange(size)[None, :]
        x0, y0, x1, y1 = (self.boxes[..., i, None, None] for i in range(4))
        inside = (cols >= x0) & (cols < x1) & (rows >= y0) & (rows < y1)
        return inside & (self.images > threshold)

    def __getitem__(self, index) -> Canvases:
        """Canvases ``index`` (an int, a slice or an index array), still a :class:`Canvases`."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return Canvases(self.images[index], self.digits[index], self.boxes[index])


def ink_boxes(digits: np.ndarray) -> np.ndarray:
    """The tight box ``(x0, y0, x1, y1)`` (end exclusive) around the non-zero pixels of each image.

    Parameters
    ----------
    digits : numpy.ndarray
        Shape (n, H, W); every image must have at least one non-zero pixel.

    Returns
    -------
    numpy.ndarray
        Int, shape (n, 4).

    Examples
    --------
    >>> image = np.zeros((1, 5, 5)); image[0, 1:3, 2] = 1.0
    >>> ink_boxes(image).tolist()
    [[2, 1, 3, 3]]
    """
    ink = check_array("digits", digits, ndim=3, nonempty=True) > 0
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    if not rows.any(axis=1).all():
        raise ValueError("digits must each have at least one non-zero pixel, got a blank image.")
    height, width = ink.shape[1:]
    y0, y1 = rows.argmax(axis=1), height - rows[:, ::-1].argmax(axis=1)
    x0, x1 = cols.argmax(axis=1), width - cols[:, ::-1].argmax(axis=1)
    return np.stack([x0, y0, x1, y1], axis=1)


def _second_digits(labels: np.ndarray, first: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each index in ``first``, a random index whose label differs (rejection sampling)."""
    second = rng.integers(len(labels), size=len(first))
    clash = labels[second] == labels[first]
    while clash.any():
        second[clash] = rng.integers(len(labels), size=int(clash.sum()))
        clash = labels[second] == labels[first]
    return second


def _apart(box_a: np.ndarray, box_b: np.ndarray, margin: int) -> np.ndarray:
    """True where two boxes are separated by at least ``margin`` pixels along x or y."""
    return ((box_a[..., 2] + margin <= box_b[..., 0]) | (box_b[..., 2] + margin <= box_a[..., 0])
            | (box_a[..., 3] + margin <= box_b[..., 1]) | (box_b[..., 3] + margin <= box_a[..., 1]))


def _positions(ink: np.ndarray, size: int, margin: int, rng: np.random.Generator) -> np.ndarray:
    """Top-left corners (n, 2, 2) as (x, y) of both 28x28 patches, so that the ink boxes are apart."""
    n = len(ink)
    corners = np.zeros((n, 2, 2), dtype=int)
    todo = np.arange(n)
    for _ in range(1000):
        corners[todo] = rng.integers(size - DIGIT_SIZE + 1, size=(len(todo), 2, 2))
        shifted = ink[todo] + np.concatenate([corners[todo], corners[todo]], axis=2)
        todo = todo[~_apart(shifted[:, 0], shifted[:, 1], margin)]
        if len(todo) == 0:
            return corners
    raise RuntimeError(f"could not place {len(todo)} digit pairs apart on a {size}x{size} canvas.")


def make_canvases(X, y, n: int, *, rng: np.random.Generator, size: int = 64, margin: int = 2) -> Canvases:
    """Draw ``n`` canvases, each with two different digits of ``(X, y)`` placed apart.

    Each canvas takes a random digit, a random digit of another class, and random
    positions for both (the whole 28x28 digit inside the canvas) such that the two ink
    boxes are at least ``margin`` pixels apart; the canvas is the pixel-wise maximum of the
    two placed digits on a black background.

    Parameters
    ----------
    X : torch.Tensor or numpy.ndarray
        Digits, shape (N, 1, 28, 28) or (N, 28, 28), values in [0, 1].
    y : torch.Tensor or numpy.ndarray
        Their labels 0-9, shape (N,).
    n : int
        Number of canvases.
    rng : numpy.random.Generator
        The only source of randomness: the same generator state gives the same canvases.
    size : int, default 64
        Canvas side in pixels (at least 2 * 28 + margin, so that any two digits fit).
    margin : int, default 2
        Minimum gap in pixels between the two ink boxes.

    Returns
    -------
    Canvases

    Examples
    --------
    >>> X = np.zeros((2, 28, 28)); X[:, 10:18, 12:16] = 1.0
    >>> canvases = make_canvases(X, np.array([3, 7]), 4, rng=np.random.default_rng(0))
    >>> tuple(canvases.images.shape), sorted(canvases.digits[0].tolist())
    ((4, 1, 64, 64), [3, 7])
    """
    n = check_positive_int("n", n)
    size, margin = check_positive_int("size", size), check_nonnegative_int("margin", margin)
    if size < 2 * DIGIT_SIZE + margin:
        raise ValueError(f"size must be at least 2 * {DIGIT_SIZE} + margin = {2 * DIGIT_SIZE + margin}, got {size}.")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}.")
    X = check_array("X", X, ndim=(2, 3, 4), nonempty=True)
    if X[0].size != DIGIT_SIZE ** 2 or (X.ndim == 4 and X.shape[1] != 1):
        raise ValueError(f"X must hold {DIGIT_SIZE}x{DIGIT_SIZE} digits, shape (N, {DIGIT_SIZE}, {DIGIT_SIZE}) "
                         f"(or (N, 1, {DIGIT_SIZE}, {DIGIT_SIZE}) or (N, {DIGIT_SIZE ** 2})), got shape {X.shape}.")
    X = X.reshape(-1, DIGIT_SIZE, DIGIT_SIZE)
    y = check_array("y", y, ndim=1, dtype=int)
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise ValueError(f"y must hold digit labels in [0, 9], got values in [{y.min()}, {y.max()}].")
    if len(y) != len(X) or len(np.unique(y)) < 2:
        raise ValueError(f"y must have one label per digit ({len(X)}) and at least two classes, got {len(y)} labels.")
    first = rng.integers(len(X), size=n)
    chosen = np.stack([first, _second_digits(y, first, rng)], axis=1)
    ink = ink_boxes(X[chosen.ravel()]).reshape(n, 2, 4)
    corners = _positions(ink, size, margin, rng)
    images = np.zeros((n, size, size), dtype=np.float32)
    for i in range(n):
        for j in range(2):
            x, y0 = corners[i, j]
            patch = images[i, y0:y0 + DIGIT_SIZE, x:x + DIGIT_SIZE]
            np.maximum(patch, X[chosen[i, j]], out=patch)
    boxes = ink + np.concatenate([corners, corners], axis=2)
    return Canvases(torch.from_numpy(images[:, None]), torch.as_tensor(y[chosen], dtype=torch.long),
                    torch.as_tensor(boxes, dtype=torch.long))


def mnist_canvases(split: str = "test", n: int = 1000, *, rng=0, size: int = 64) -> Canvases:
    """``n`` canvases from the MNIST ``split``, the same for the same seed ``rng`` (and ``size``).

    Training canvases (``"train"``) use only training digits and test canvases (``"test"``)
    only test digits, so a model trained on the former is tested on unseen digits.

    Examples
    --------
    >>> canvases = mnist_canvases("test", 8, rng=0)  # doctest: +SKIP
    >>> canvases.images.shape, canvases.boxes[0]      # doctest: +SKIP
    """
    check_in("split", split, ("train", "test"))
    n, size = check_positive_int("n", n), check_positive_int("size", size)
    rng = as_generator(rng)
    X, y = data.mnist_tensors(split)
    return make_canvases(X, y, n, rng=rng, size=size)


def exact_match_accuracy(model: nn.Module, canvases: Canvases, *, batch_size: int = 500) -> float:
    """Fraction of canvases whose predicted set of digits (sigmoid > 0.5) is exactly the true pair."""
    check_model(model)
    batch_size = check_positive_int("batch_size", batch_size)
    device = model_device(model)
    correct = 0
    with evaluating(model), torch.inference_mode():
        for start in range(0, len(canvases), batch_size):
            logits = model(canvases.images[start:start + batch_size].to(device)).cpu()
            predicted = logits > 0  # sigmoid(logit) > 0.5
            truth = canvases.targets[start:start + batch_size].bool()
            correct += (predicted == truth).all(dim=1).sum().item()
    return correct / len(canvases)
