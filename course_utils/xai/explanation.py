"""The result of the course's black-box explainers that have a base value.

Kernel SHAP, Shapley sampling and LIME explain ``f(x)`` as a base value plus one
attribution per feature: SHAP's ``phi_0 = E[f(X)]`` over the background and its
``phi_1..phi_d``; LIME's intercept and weights. They all return an :class:`Explanation`,
so that ``result.values`` and ``result.base_value`` mean the same thing everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Explanation"]


@dataclass(frozen=True)
class Explanation:
    """Attributions and the base value they start from.

    Attributes
    ----------
    values : numpy.ndarray
        One attribution per feature, shape (d,).
    base_value : float
        Shapley methods: the expected output over the background, so that
        ``base_value + values.sum() == f(x)`` (efficiency). LIME: the intercept of the
        local surrogate.
    n_evaluations : int
        Rows the explained function was evaluated on (the cost floor of the explanation).
    score : float or None
        LIME: the weighted R^2 of the surrogate on its samples; None for the others.

    Examples
    --------
    >>> e = Explanation(np.array([1.0, -0.5]), base_value=0.25, n_evaluations=4)
    >>> float(e.base_value + e.values.sum())
    0.75
    """

    values: np.ndarray
    base_value: float
    n_evaluations: int = 0
    score: float | None = field(default=None)
