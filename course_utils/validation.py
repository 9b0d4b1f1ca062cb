"""Argument checks with messages that name the parameter, the expected and the received value.

Every public function of ``course_utils`` validates its inputs with these helpers, in the
style of scikit-learn's ``sklearn.utils.validation``: a wrong call fails at once with a
sentence such as ``num_samples must be a positive int, got -3 (int).``
"""
from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any

import numpy as np

__all__ = [
    "check_positive_int",
    "check_nonnegative_int",
    "check_real",
    "check_in",
    "check_array",
    "check_callable",
    "check_tensor",
    "check_same_length",
    "check_same_shape",
    "check_returned",
    "check_box",
    "check_labels",
    "UnknownNameError",
]


class UnknownNameError(KeyError, ValueError):
    """A name that is not one of the known ones: a ValueError (a bad argument) and, as before, a KeyError."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


def _got(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"got {text} ({type(value).__name__})"


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an int if it is an integer >= 1, else raise.

    Raises
    ------
    TypeError
        If ``value`` is not an integer (bools are rejected too).
    ValueError
        If ``value`` < 1.
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be a positive int, {_got(value)}.")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, {_got(value)}.")
    return int(value)


def check_nonnegative_int(name: str, value: Any) -> int:
    """Return ``value`` as an int if it is an integer >= 0, else raise TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be a non-negative int, {_got(value)}.")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative int, {_got(value)}.")
    return int(value)


def check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Return ``value`` as a float if it is a finite real number inside the given bounds.

    Examples
    --------
    >>> check_real("eps", 0.3, low=0, high=1)
    0.3
    >>> check_real("eps", -1, low=0)
    Traceback (most recent call last):
    ...
    ValueError: eps must be a real number >= 0, got -1 (int).
    """
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
        raise TypeError(f"{name} must be a finite real number, {_got(value)}.")
    parts = []
    if low is not None:
        parts.append(f"{'>=' if low_inclusive else '>'} {low:g}")
    if high is not None:
        parts.append(f"{'<=' if high_inclusive else '<'} {high:g}")
    bad_low = low is not None and (value < low or (not low_inclusive and value == low))
    bad_high = high is not None and (value > high or (not high_inclusive and value == high))
    if bad_low or bad_high:
        raise ValueError(f"{name} must be a real number {' and '.join(parts)}, {_got(value)}.")
    return float(value)


def check_in(name: str, value: Any, options: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``options``, else raise a ValueError listing them."""
    options = list(options)
    if value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be one of {listed}; {_got(value)}.")
    return value


def check_array(
    name: str,
    value: Any,
    *,
    ndim: int | tuple[int, ...] | None = None,
    dtype: Any = float,
    nonempty: bool = False,
) -> np.ndarray:
    """Convert ``value`` to a numpy array of ``dtype`` and check its number of dimensions.

    Torch tensors are accepted (detached and moved to the CPU).

    Raises
    ------
    ValueError
        If the array has the wrong number of dimensions or contains NaN/inf.
    """
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, (str, bytes)) or (np.dtype(dtype).kind in "biuf" and np.asarray(value).dtype.kind in "USO"
                                           and any(isinstance(v, (str, bytes)) for v in np.asarray(value).flat)):
        raise TypeError(f"{name} must be array-like of {np.dtype(dtype).name}, {_got(value)}.")
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be array-like of {np.dtype(dtype).name}, {_got(value)}.") from err
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if array.ndim not in allowed:
            want = " or ".join(str(n) for n in allowed)
            raise ValueError(
                f"{name} must have {want} dimension(s), got shape {array.shape} ({array.ndim} dimensions)."
            )
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must contain only finite values, got NaN or inf "
                         f"in {int((~np.isfinite(array)).sum())} of {array.size} values.")
    if nonempty and array.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}.")
    return array


def check_callable(name: str, value: Any) -> Any:
    """Return ``value`` if it is callable, else raise a TypeError naming ``name``."""
    if not callable(value):
        raise TypeError(f"{name} must be callable (a function), {_got(value)}.")
    return value


def check_tensor(name: str, value: Any, *, ndim: int | tuple[int, ...] | None = None, nonempty: bool = True,
                 finite: bool = True):
    """Return ``value`` if it is a floating-point torch tensor of the given dimensions, finite and non-empty.

    For the tensor building blocks that take no model (the torch layer's ``check_input``
    checks a model's inputs). Nothing is converted: the caller's tensor is returned.

    Raises
    ------
    TypeError
        If ``value`` is not a floating-point ``torch.Tensor``.
    ValueError
        On the wrong number of dimensions, an empty tensor or NaN/inf.
    """
    import torch

    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        kind = f"a {value.dtype} tensor" if isinstance(value, torch.Tensor) else _got(value)
        raise TypeError(f"{name} must be a floating-point torch.Tensor, got {kind.removeprefix('got ')}.")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed:
            want = " or ".join(str(n) for n in allowed)
            raise ValueError(f"{name} must have {want} dimension(s), got shape {tuple(value.shape)}.")
    if nonempty and value.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(value.shape)}.")
    if finite:
        bad = ~torch.isfinite(value.detach())
        if bad.any():
            raise ValueError(f"{name} must contain only finite values, got NaN or inf in {int(bad.sum())} "
                             f"of {value.numel()} values.")
    return value


def check_same_length(name: str, value: Any, other_name: str, other: Any, *, axis: int = 0) -> None:
    """Raise a ValueError naming both if ``value`` and ``other`` differ in size along ``axis``."""
    a, b = np.shape(value), np.shape(other)
    if len(a) <= axis or len(b) <= axis or a[axis] != b[axis]:
        what = "one entry per row" if axis == 0 else f"the size of axis {axis}"
        raise ValueError(f"{name} must have {what} of {other_name} ({b[axis] if len(b) > axis else b}), "
                         f"got shape {tuple(a)}.")


def check_same_shape(name: str, value: Any, other_name: str, other: Any) -> None:
    """Raise a ValueError naming both if ``value`` and ``other`` (arrays or tensors) differ in shape."""
    a, b = tuple(np.shape(value)), tuple(np.shape(other))
    if a != b:
        raise ValueError(f"{name} must have the shape of {other_name} {b}, got shape {a}.")


def check_returned(name: str, value: Any, n_rows: int, *, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """The output of the caller's function ``name`` on ``n_rows`` rows, as a finite float array, or an error naming it.

    ``shape`` (default: one value per row, ``(n_rows,)``) is the shape the function must return.
    """
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        out = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must return numbers, {_got(value)}.") from err
    want = (n_rows,) if shape is None else tuple(shape)
    if out.shape != want:
        raise ValueError(f"{name} must return an array of shape {want} for {n_rows} rows, got shape {out.shape}.")
    bad = ~np.isfinite(out.reshape(n_rows, -1)).all(axis=1) if n_rows else np.zeros(0, dtype=bool)
    if bad.any():
        raise ValueError(f"{name} returned NaN or inf for {int(bad.sum())} of {n_rows} rows.")
    return out


def check_box(name: str, box: Any) -> tuple[float, float, float, float]:
    """``box = (x0, y0, x1, y1)`` as four finite floats with x0 <= x1 and y0 <= y1 (the course's box convention)."""
    if isinstance(box, (str, bytes)):
        raise TypeError(f"{name} must be four numbers (x0, y0, x1, y1), got a string {box!r}.")
    try:
        values = np.asarray(box.tolist() if hasattr(box, "tolist") else box, dtype=float) if box is not None else None
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be four numbers (x0, y0, x1, y1), {_got(box)}.") from err
    if values is None or values.shape != (4,) or not np.isfinite(values).all():
        raise ValueError(f"{name} must be four finite numbers (x0, y0, x1, y1), got {box!r}.")
    if values[2] < values[0] or values[3] < values[1]:
        raise ValueError(f"{name} must have x0 <= x1 and y0 <= y1, got {tuple(values.tolist())}.")
    return tuple(float(v) for v in values)


def check_labels(name: str, value: Any, n: int | None = None) -> np.ndarray:
    """``value`` as a non-empty 1-D array of class labels (any dtype; finite if numbers), of length ``n`` if given."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, (str, bytes)) or np.ndim(value) != 1:
        raise TypeError(f"{name} must be a 1-D array of class labels, {_got(value)}.")
    labels = np.asarray(value)
    if len(labels) == 0:
        raise ValueError(f"{name} must not be empty, got shape {labels.shape}.")
    if n is not None and len(labels) != n:
        raise ValueError(f"{name} must have one label per row ({n}), got {len(labels)}.")
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        raise ValueError(f"{name} must contain only finite values, got NaN or inf "
                         f"in {int((~np.isfinite(labels)).sum())} of {labels.size} values.")
    return labels
