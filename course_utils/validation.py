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
]


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
        raise ValueError(f"{name} must contain only finite values, got NaN or inf.")
    return array
