"""Counterfactual explanations (lesson 06): Wachter, Mittelstadt and Russell's method.

Wachter, Mittelstadt and Russell, "Counterfactual explanations without opening the black
box: automated decisions and the GDPR", Harvard Journal of Law & Technology 31 (2018).
A counterfactual of ``x`` for the desired output ``y'`` is the ``x'`` that minimises

    lambda * (f(x') - y')**2 + d(x, x'),    d(x, x') = sum_j |x_j - x'_j| / MAD_j,

with ``MAD_j`` the median absolute deviation of feature ``j`` over the data; lambda is
increased until ``|f(x') - y'| <= tol``. The L1 distance scaled by the MAD makes
counterfactuals *sparse* (few features change) and robust to outliers.

How :func:`wachter` minimises it: in MAD units ``z = (x' - x) / MAD`` the distance is
``||z||_1``. For a fixed lambda, greedy coordinate descent (the Gauss-Southwell rule of
Nutini et al., ICML 2015): each step moves the one feature that most violates the
optimality conditions to the minimiser of the loss with ``f`` linearised (a closed form:
soft-thresholding), by at most a trust radius that starts at ``lr``, doubles after a step
that lowers the loss and halves (undoing the step) after one that does not; bounds are
respected exactly. Features the search never picks stay exactly unchanged, so "how many
features change" is an exact count, and on a model that is linear in the features the
result is the exact optimum: the single feature with the largest effect per MAD (then the next, at a bound)
(plain gradient descent on ``|z|`` would instead leave every feature it touched
jittering around zero, and Adam moves all features whose gradient beats the L1 slope at
the same pace, giving dense answers near ties).
lambda starts at ``lam_init`` and doubles after each round (warm-started) until the
prediction is within ``tol`` of the target; a row that is still not valid after
:data:`MAX_ROUNDS` values of lambda has no counterfactual, and :func:`wachter` says so
(:class:`NoCounterfactualError`) rather than return an invalid one.

The model is never changed: gradients are taken with respect to the input only
(``torch.autograd.grad``), it is evaluated in eval mode and its mode is restored.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch
from torch import nn

from ..exercises import Exercise, register
from ..validation import check_array, check_callable, check_positive_int, check_real, check_tensor
from .._torch import check_input, check_model, check_output, check_target, evaluating, model_device, model_dtype

__all__ = [
    "mad",
    "mad_distance",
    "wachter_loss",
    "lambda_schedule",
    "wachter",
    "wachter_batch",
    "wachter_images",
    "CounterfactualBatch",
    "NoCounterfactualError",
    "MAX_ROUNDS",
    "EXERCISES",
]

MAX_ROUNDS = 20
"""Most values of lambda tried: ``lam_init * 2**k`` for ``k < MAX_ROUNDS``."""
_CONVERGED = 1e-4  # a row is done when no coordinate violates optimality by more (float32 noise is ~1e-6)
_SMALLEST_RADIUS = 1e-6  # ... or when its trust radius has shrunk below this many times lr
_MIN_GAIN = 1e-5  # a move must lower the loss by more than this (in MAD units) to be taken
_MAX_RADIUS = 2.0 ** 10  # the trust radius grows to at most this many times lr


class NoCounterfactualError(RuntimeError):
    """No counterfactual within ``tol`` of the target was found; ``closest`` is the nearest attempt.

    Attributes
    ----------
    closest : numpy.ndarray
        The point the search ended at (not a valid counterfactual).
    prediction : float
        The model's output there.
    gap : float
        ``|prediction - target|``, larger than ``tol``.
    """

    def __init__(self, message: str, closest: np.ndarray, prediction: float, gap: float):
        super().__init__(message)
        self.closest, self.prediction, self.gap = closest, prediction, gap


# --------------------------------------------------------------------------- the pieces


def mad(X) -> np.ndarray:
    """Median absolute deviation of each column: ``median_i |X_ij - median_k X_kj|``.

    Wachter et al. scale each feature's change by it: a robust spread, unlike the standard
    deviation not inflated by outliers. A binary feature held by most rows has a MAD of 0;
    :func:`wachter` needs positive values, so replace those zeros (DiCE uses 1).

    Parameters
    ----------
    X : array-like, shape (n, d)

    Returns
    -------
    numpy.ndarray
        Shape (d,); equals ``scipy.stats.median_abs_deviation(X, axis=0)``.

    Examples
    --------
    >>> mad([[1.0], [2.0], [3.0], [4.0], [100.0]])
    array([1.])
    """
    X = check_array("X", X, ndim=2)
    if len(X) == 0:
        raise ValueError("X must have at least one row, got shape (0, d).")
    return np.median(np.abs(X - np.median(X, axis=0)), axis=0)


def mad_distance(x: torch.Tensor, x_cf: torch.Tensor, mad: torch.Tensor) -> torch.Tensor:
    """Wachter et al.'s distance ``sum_j |x_j - x'_j| / MAD_j`` over the last axis (torch, differentiable).

    The reference of exercise 6.1.

    Examples
    --------
    >>> mad_distance(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 2.0]), torch.tensor([0.5, 1.0]))
    tensor(4.)
    """
    x, x_cf, mad = check_tensor("x", x), check_tensor("x_cf", x_cf), check_tensor("mad", mad, ndim=1)
    try:
        torch.broadcast_shapes(x.shape, x_cf.shape)
    except RuntimeError:
        raise ValueError(f"x_cf must have the shape of x {tuple(x.shape)} (or broadcast with it), "
                         f"got {tuple(x_cf.shape)}.") from None
    if mad.shape != x.shape[-1:]:
        raise ValueError(f"mad must have one value per feature of x ({x.shape[-1]}), got shape {tuple(mad.shape)}.")
    if (mad <= 0).any():
        raise ValueError(f"mad must be positive (a feature's spread), got {float(mad.min()):g}.")
    return (torch.abs(x_cf - x) / mad).sum(dim=-1)


def wachter_loss(prediction: torch.Tensor, target: float, x: torch.Tensor, x_cf: torch.Tensor,
                 mad: torch.Tensor, lam: float) -> torch.Tensor:
    """``lam * (prediction - target)**2 + mad_distance(x, x_cf, mad)``: the reference of exercise 6.2."""
    prediction = check_tensor("prediction", prediction, ndim=(0, 1))
    target = check_real("target", target)
    if isinstance(lam, torch.Tensor):
        if not torch.isfinite(lam).all() or (lam < 0).any():
            raise ValueError(f"lam must be finite and >= 0, got {lam}.")
    else:
        lam = check_real("lam", lam, low=0)
    return lam * (prediction - target) ** 2 + mad_distance(x, x_cf, mad)


def lambda_schedule(solve: Callable[[float], tuple], lam_init: float, tol: float, max_rounds: int):
    """Double lambda until ``solve(lam)`` returns a valid counterfactual: the reference of exercise 6.3.

    Parameters
    ----------
    solve : callable
        ``solve(lam) -> (x_cf, gap)``: the minimiser of the loss for this lambda and its
        ``|f(x_cf) - target|``.
    lam_init : float
    tol : float
    max_rounds : int
        Values of lambda tried: ``lam_init * 2**k`` for ``k = 0 .. max_rounds - 1``.

    Returns
    -------
    x_cf
        The first solution with ``gap <= tol``.

    Raises
    ------
    RuntimeError
        If no lambda tried gives a valid counterfactual.
    """
    check_callable("solve", solve)
    lam_init = check_real("lam_init", lam_init, low=0, low_inclusive=False)
    tol = check_real("tol", tol, low=0)
    max_rounds = check_positive_int("max_rounds", max_rounds)
    lam, gap = lam_init, float("inf")
    for _ in range(max_rounds):
        x_cf, gap = solve(lam)
        if gap <= tol:
            return x_cf
        lam *= 2
    raise RuntimeError(f"no valid counterfactual after {max_rounds} values of lambda; the last gap was {gap:.3g}.")


# --------------------------------------------------------------------------- arguments


def _check_bounds(name: str, value, shape: tuple[int, ...], default: float) -> np.ndarray:
    if value is None:
        return np.full(shape, default)
    array = np.asarray(value, dtype=float)
    if np.isnan(array).any():
        raise ValueError(f"{name} must not contain NaN (use -inf/inf for no bound).")
    try:
        return np.broadcast_to(array, shape).copy()
    except ValueError:
        raise ValueError(f"{name} must have shape {shape[-1:]} or {shape}, got shape {array.shape}.") from None


def _check_immutable(immutable: Iterable, d: int) -> np.ndarray:
    if isinstance(immutable, (str, bytes)) or not isinstance(immutable, Iterable):
        raise TypeError(f"immutable must be a sequence of feature indices, got {immutable!r} ({type(immutable).__name__}).")
    indices = list(immutable)
    for j in indices:
        if isinstance(j, bool) or not isinstance(j, Integral) or not 0 <= j < d:
            raise ValueError(f"immutable must hold feature indices in [0, {d}), got {j!r}.")
    mask = np.zeros(d, dtype=bool)
    mask[indices] = True
    return mask


@dataclass(frozen=True)
class _Problem:
    """Checked arguments of a counterfactual search, as numpy arrays of shape (n, d) or (d,)."""

    X: np.ndarray
    target: float
    mad: np.ndarray
    immutable: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    tol: float
    lam_init: float
    steps: int
    lr: float


def _check_problem(X, target, mad_, immutable, lower, upper, tol, lam_init, steps, lr) -> _Problem:
    n, d = X.shape
    mad_ = check_array("mad", mad_, ndim=1)
    if mad_.shape != (d,):
        raise ValueError(f"mad must have one value per feature ({d}), got shape {mad_.shape} "
                         f"(the input has {d} features, x in wachter or each row of X in wachter_batch: check it "
                         "and mad).")
    if not np.all(mad_ > 0):
        bad = np.flatnonzero(~(mad_ > 0)).tolist()
        raise ValueError(f"mad must be positive for every feature, got {mad_[bad].tolist()} at {bad}; "
                         "replace zeros (a binary feature most rows share), e.g. by 1 as DiCE does.")
    lower_, upper_ = _check_bounds("lower", lower, (n, d), -np.inf), _check_bounds("upper", upper, (n, d), np.inf)
    if np.any(lower_ > upper_):
        raise ValueError("lower must not exceed upper for any feature.")
    outside = (X < lower_) | (X > upper_)
    if outside.any():
        row, j = np.argwhere(outside)[0]
        raise ValueError(f"x must lie within [lower, upper]; feature {j} of row {row} is {X[row, j]:g}, "
                         f"outside [{lower_[row, j]:g}, {upper_[row, j]:g}].")
    return _Problem(X, check_real("target", target, low=0, high=1), mad_, _check_immutable(immutable, d), lower_, upper_,
                    check_real("tol", tol, low=0, low_inclusive=False),
                    check_real("lam_init", lam_init, low=0, low_inclusive=False),
                    check_positive_int("steps", steps), check_real("lr", lr, low=0, low_inclusive=False))


# --------------------------------------------------------------------------- the search


def _output(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    out = model(X)
    if out.shape != (len(X),):
        raise ValueError(f"model must map an (n, d) batch to n outputs of shape (n,), got shape "
                         f"{tuple(out.shape)} for n = {len(X)} (squeeze a last dimension of size 1).")
    return out


def _soft_threshold(v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    return torch.sign(v) * torch.clamp(torch.abs(v) - threshold, min=0.0)


def _objective(model, x, scale, z, lam, target) -> torch.Tensor:
    """Wachter et al.'s loss (exercises 6.1 and 6.2) at ``x' = x + scale * z``: the search runs in MAD units ``z``."""
    x_cf = x + scale * z
    return wachter_loss(_output(model, x_cf), target, x, x_cf, scale, lam)


def _coordinate_proposals(model, x, scale, z, lam, target, low, high, free):
    """For every coordinate: the exact minimiser of the loss with f linearised, and how far z is from optimal.

    With ``r = f - target`` and ``a = df/dz_j``, ``lam (r + a (u - z_j))^2 + |u|`` is minimised
    at ``u = soft(z_j - r / a, 1 / (2 lam a^2))`` (then clipped to the bounds). The violation
    (Gauss-Southwell rule) is the size of the smallest subgradient of the loss in z_j.
    """
    z = z.detach().requires_grad_(True)
    prediction = _output(model, x + scale * z)
    (slope,) = torch.autograd.grad(prediction.sum(), z)
    with torch.no_grad():
        residual, lam = (prediction - target)[:, None], lam[:, None]
        flat = torch.abs(slope) < 1e-12
        safe = torch.where(flat, torch.ones_like(slope), slope)
        best = _soft_threshold(z - residual / safe, 1.0 / (2 * lam * safe ** 2))
        best = torch.where(flat, torch.zeros_like(best), best)
        best = torch.where(free, torch.clamp(best, low, high), torch.zeros_like(best))
        gradient = 2 * lam * residual * slope
        violation = torch.where(z != 0, torch.abs(gradient + torch.sign(z)),
                                torch.clamp(torch.abs(gradient) - 1, min=0.0))
        violation = torch.where(torch.abs(best - z) > 0, violation, torch.zeros_like(violation))
    return best - z.detach(), violation


def _round(model, x, scale, z, lam, target, low, high, free, steps, lr) -> torch.Tensor:
    """Minimise ``lam (f(x + scale z) - target)^2 + ||z||_1`` within [low, high] for each row.

    Greedy coordinate descent: each step proposes, for every coordinate, a move to the
    minimiser of the loss with ``f`` linearised, capped by that coordinate's trust radius;
    all ``d`` candidate points are evaluated in one batch and the one that lowers the loss
    most is taken. A coordinate's radius starts at ``lr``, doubles when its move is taken
    and halves when its move would not lower the loss. Choosing by the actual decrease
    (not by the gradient alone) keeps the search moving at the kinks of ReLU networks.
    One more candidate, a pattern move (Hooke and Jeeves, 1961), repeats the last two
    steps' displacement with a length that doubles while it keeps winning: it slides
    along the narrow valleys where plain coordinate descent would zig-zag.
    """
    n = len(z)
    radius = torch.full_like(z, lr)
    previous, before, stretch = z.clone(), z.clone(), torch.ones(n, dtype=z.dtype, device=z.device)
    running = torch.ones(n, dtype=torch.bool, device=z.device)
    for _ in range(steps):
        i = torch.nonzero(running).flatten()  # rows still moving: converged ones cost nothing
        new_z, radius[i], stretch[i], running[i] = _step(model, x[i], scale, z[i], lam[i], target, low[i], high[i],
                                                         free[i], radius[i], before[i], stretch[i], lr)
        before, previous = previous.clone(), z.clone()
        z[i] = new_z
        if not running.any():
            break
    return z


def _step(model, x, scale, z, lam, target, low, high, free, radius, before, stretch, lr):
    """One step of :func:`_round` for each row; returns the new z, radius, stretch and which rows can still move."""
    n, d = z.shape
    rows, eye = torch.arange(n, device=z.device), torch.eye(d, dtype=z.dtype, device=z.device)
    delta, violation = _coordinate_proposals(model, x, scale, z, lam, target, low, high, free)
    movable = (violation > _CONVERGED) & (radius > _SMALLEST_RADIUS * lr)
    with torch.no_grad():
        step = torch.clamp(delta, -radius, radius)
        pattern = torch.where(free, torch.clamp(z + stretch[:, None] * (z - before), low, high), z)
        trials = torch.cat([z[:, None, :] + step[:, :, None] * eye, pattern[:, None, :]], dim=1)
        losses = _objective(model, x.repeat_interleave(d + 1, dim=0), scale, trials.reshape(-1, d),
                            lam.repeat_interleave(d + 1), target).reshape(n, d + 1)
        allowed = torch.cat([movable, (pattern != z).any(dim=1, keepdim=True)], dim=1)
        gain = torch.where(allowed, _objective(model, x, scale, z, lam, target)[:, None] - losses,
                           torch.full_like(losses, -torch.inf))
        j = torch.argmax(gain, dim=1)
        taken = (gain[rows, j] > _MIN_GAIN) & movable.any(dim=1)
        new_z = torch.where(taken[:, None], trials[rows, j], z)
        stretch = torch.where(taken & (j == d), 2 * stretch, torch.ones_like(stretch))
        radius = torch.where(movable & (gain[:, :d] <= _MIN_GAIN), radius / 2, radius)
        coordinate = taken & (j < d)
        radius[rows[coordinate], j[coordinate]] = torch.clamp(2 * radius[rows[coordinate], j[coordinate]],
                                                              max=_MAX_RADIUS * lr)
    return new_z, radius, stretch, movable.any(dim=1)


@dataclass(frozen=True)
class CounterfactualBatch:
    """What :func:`wachter_batch` found for each row.

    Attributes
    ----------
    counterfactuals : numpy.ndarray
        Shape (n, d); rows with no valid counterfactual are NaN.
    valid : numpy.ndarray
        Shape (n,), bool: ``|f(x') - target| <= tol``.
    closest : numpy.ndarray
        Shape (n, d): where the search ended for every row (equal to ``counterfactuals`` where valid).
    predictions : numpy.ndarray
        Shape (n,): the model's output at ``closest``.
    lam : numpy.ndarray
        Shape (n,): the last lambda used for each row.
    """

    counterfactuals: np.ndarray
    valid: np.ndarray
    closest: np.ndarray
    predictions: np.ndarray
    lam: np.ndarray


def _search(model: nn.Module, p: _Problem) -> CounterfactualBatch:
    device, dtype = model_device(model), model_dtype(model) or torch.float32
    as_tensor = functools.partial(torch.as_tensor, device=device, dtype=dtype)
    n, d = p.X.shape
    x, scale = as_tensor(p.X), as_tensor(p.mad)
    free = torch.as_tensor(~p.immutable, device=device).expand(n, d)
    low, high = as_tensor((p.lower - p.X) / p.mad), as_tensor((p.upper - p.X) / p.mad)
    z, lam = torch.zeros(n, d, device=device, dtype=dtype), torch.full((n,), p.lam_init, device=device, dtype=dtype)
    active = torch.ones(n, dtype=torch.bool, device=device)
    for _ in range(MAX_ROUNDS):
        rows = torch.nonzero(active).flatten()
        z[rows] = _round(model, x[rows], scale, z[rows], lam[rows], p.target, low[rows], high[rows],
                         free[rows], p.steps, p.lr)
        with torch.no_grad():
            gap = torch.abs(_output(model, x[rows] + scale * z[rows]) - p.target)
        still = rows[gap > p.tol]
        active[:] = False
        active[still] = True
        if not active.any():
            break
        lam[still] *= 2
    lam[active] /= 2  # the last lambda actually used
    return _finish(model, p, z.cpu().double().numpy(), lam.cpu().double().numpy(), device, dtype)


def _finish(model, p: _Problem, z: np.ndarray, lam: np.ndarray, device, dtype) -> CounterfactualBatch:
    """Map back to feature units in float64 (immutable features exactly equal), re-check validity."""
    closest = np.clip(p.X + p.mad * z, p.lower, p.upper)
    closest[:, p.immutable] = p.X[:, p.immutable]
    with torch.no_grad():
        predictions = _output(model, torch.as_tensor(closest, device=device, dtype=dtype)).double().cpu().numpy()
    valid = np.abs(predictions - p.target) <= p.tol
    counterfactuals = np.where(valid[:, None], closest, np.nan)
    return CounterfactualBatch(counterfactuals, valid, closest, predictions, lam)


def _run(model: nn.Module, p: _Problem) -> CounterfactualBatch:
    check_model(model)
    with evaluating(model):
        return _search(model, p)


def wachter_batch(model: nn.Module, X, *, target: float, mad, immutable: Iterable[int] = (),
                  lower=None, upper=None, tol: float = 0.05, lam_init: float = 0.1, steps: int = 1000,
                  lr: float = 0.01) -> CounterfactualBatch:
    """Counterfactuals of every row of ``X`` at once (same arguments as :func:`wachter`).

    Rows are optimised together, each with its own lambda, so a few hundred counterfactuals
    cost about as much as one. Rows without a valid counterfactual are NaN in
    ``counterfactuals`` and False in ``valid`` (never an invalid point presented as valid).

    Parameters
    ----------
    X : array-like, shape (n, d)
    lower, upper : array-like, shape (d,) or (n, d), optional
        Bounds per feature (or per row and feature).
    Other parameters : see :func:`wachter`.

    Returns
    -------
    CounterfactualBatch
    """
    X = check_array("X", X, ndim=2, nonempty=True)
    return _run(model, _check_problem(X, target, mad, immutable, lower, upper, tol, lam_init, steps, lr))


def wachter(model: nn.Module, x, *, target: float, mad, immutable: Iterable[int] = (), lower=None, upper=None,
            tol: float = 0.05, lam_init: float = 0.1, steps: int = 1000, lr: float = 0.01) -> np.ndarray:
    """Wachter et al.'s counterfactual: the closest ``x'`` (L1 distance scaled by the MAD) with ``f(x') ~ target``.

    Minimises ``lam (f(x') - target)^2 + sum_j |x_j - x'_j| / mad_j``, doubling ``lam`` from
    ``lam_init`` until ``|f(x') - target| <= tol`` (Wachter, Mittelstadt and Russell, Harvard
    JOLT 31, 2018). The model is not changed (parameters, ``requires_grad`` flags, train/eval
    mode); it is evaluated in eval mode.

    Parameters
    ----------
    model : torch.nn.Module
        Maps an (n, d) float batch to (n,) outputs: probabilities of the positive class, or
        any real score (Wachter et al.'s law school model regresses a grade average).
    x : array-like, shape (d,)
        The instance to explain, in the model's feature units.
    target : float
        The desired output ``y'``.
    mad : array-like, shape (d,)
        Positive scale of each feature (see :func:`mad`).
    immutable : sequence of int, default ()
        Indices of features that must not change (returned exactly equal to ``x``).
    lower, upper : array-like, shape (d,), optional
        Bounds on the counterfactual's features (``-inf``/``inf`` for none); ``x`` must lie
        within them. One-sided actionability ("age cannot decrease"): ``lower[j] = x[j]``.
    tol : float, default 0.05
        Validity: ``|f(x') - target| <= tol``.
    lam_init : float, default 0.1
        First lambda; it doubles after each round, at most :data:`MAX_ROUNDS` values.
    steps : int, default 1000
        Most optimisation steps per value of lambda (a round stops once converged).
    lr : float, default 0.01
        First step size (trust radius), in MAD units; it adapts, doubling after each
        successful step up to ``1024 * lr``.

    Returns
    -------
    numpy.ndarray
        The counterfactual, shape (d,), float64.

    Raises
    ------
    NoCounterfactualError
        If no valid counterfactual is found; the message says how close the search got.
    ValueError, TypeError
        For invalid arguments (the message names the parameter).

    Examples
    --------
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Flatten(0), torch.nn.Sigmoid())
    >>> with torch.no_grad():
    ...     _ = model[0].weight.copy_(torch.tensor([[2.0, 0.5]])), model[0].bias.zero_()
    >>> x_cf = wachter(model, [-1.0, 0.0], target=0.5, mad=[1.0, 1.0])
    >>> bool(abs(model(torch.tensor(x_cf[None], dtype=torch.float32)).item() - 0.5) <= 0.05), float(x_cf[1])
    (True, 0.0)
    """
    x = check_array("x", x, ndim=1, nonempty=True)
    result = wachter_batch(model, x[None], target=target, mad=mad, immutable=immutable, lower=lower,
                           upper=upper, tol=tol, lam_init=lam_init, steps=steps, lr=lr)
    if result.valid[0]:
        return result.counterfactuals[0]
    prediction = float(result.predictions[0])
    gap = abs(prediction - target)
    raise NoCounterfactualError(
        f"no valid counterfactual: the closest output reached was {prediction:.4g} (target {target:g} +- {tol:g}, "
        f"gap {gap:.3g} > tol) with lambda up to {result.lam[0]:.3g} after {MAX_ROUNDS} rounds of at most "
        f"{steps} steps. The target may be out of reach under these bounds and immutable features; "
        "relax them, raise tol, or raise steps or lr.",
        result.closest[0], prediction, gap)


# --------------------------------------------------------------------------- exercises


def wachter_images(model: nn.Module, x: torch.Tensor, target, *, lam_init: float = 0.1, steps: int = 100,
                   lr: float = 0.01, max_rounds: int = 6) -> torch.Tensor:
    """Wachter-style counterfactuals of images in pixel space: the closest ``x'`` in L1 that ``model`` labels ``target``.

    Lesson 06's loss on images, batched: minimise ``lam * CE(model(x'), target) + ||x' - x||_1``
    over ``x'`` in [0, 1] (Adam on the pixels, clipped to the box after every step), ``steps``
    steps per round; after each round an image whose argmax is ``target`` is kept, and the
    others go on with ``lam`` doubled (:func:`lambda_schedule`'s idea), for at most
    ``max_rounds`` rounds. The cross-entropy replaces lesson 06's squared gap to the target
    probability, which has no gradient where a confident softmax is saturated. Cost: at most
    ``steps * max_rounds`` forward-and-backward passes per image. The model is used in eval
    mode and left as it was.

    Parameters
    ----------
    model : torch.nn.Module
        Takes images in [0, 1], returns logits (N, n_classes).
    x : torch.Tensor
        Images (N, C, H, W) in [0, 1].
    target : int or torch.Tensor
        The target class, one or one per image.
    lam_init : float, default 0.1
    steps : int, default 100
    lr : float, default 0.01
    max_rounds : int, default 6

    Returns
    -------
    torch.Tensor
        The counterfactuals (N, C, H, W) in [0, 1]; an image that reached no valid
        counterfactual holds its last attempt (check the model's label on it).
    """
    check_model(model)
    x = check_input(x, model, name="x", images=True, unit_range=True)
    target = check_target(target, len(x), x.device, name="target")
    lam_init = check_real("lam_init", lam_init, low=0, low_inclusive=False)
    steps, lr = check_positive_int("steps", steps), check_real("lr", lr, low=0, low_inclusive=False)
    max_rounds = check_positive_int("max_rounds", max_rounds)
    with evaluating(model, freeze=True):
        with torch.no_grad():
            check_output(model(x[:1]), target[:1], name="target")
        x_cf = x.clone()
        lam = torch.full((len(x),), lam_init, dtype=x.dtype, device=x.device)
        active = torch.ones(len(x), dtype=torch.bool, device=x.device)
        for _ in range(max_rounds):
            index = active.nonzero().flatten()
            z = x_cf[index].clone().requires_grad_(True)
            optimiser = torch.optim.Adam([z], lr=lr)
            for _ in range(steps):
                with torch.enable_grad():
                    ce = nn.functional.cross_entropy(model(z), target[index], reduction="none")
                    loss = (lam[index] * ce + (z - x[index]).abs().flatten(1).sum(1)).sum()
                    optimiser.zero_grad()
                    loss.backward()
                optimiser.step()
                with torch.no_grad():
                    z.clamp_(0, 1)
            with torch.no_grad():
                x_cf[index] = z.detach()
                done = model(x_cf[index]).argmax(1) == target[index]
            active[index[done]] = False
            lam[index[~done]] *= 2
            if not active.any():
                break
    return x_cf.detach()


def _distance_cases(rng: np.random.Generator) -> list[tuple]:
    x, x_cf = torch.tensor(rng.normal(size=5)), torch.tensor(rng.normal(size=5))
    scale = torch.tensor(rng.uniform(0.2, 3.0, size=5))
    batch = torch.tensor(rng.normal(size=(4, 5)))
    return [(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 2.0]), torch.tensor([0.5, 1.0])),
            (x, x_cf, scale), (x, batch, scale)]


def _loss_cases(rng: np.random.Generator) -> list[tuple]:
    x, x_cf = torch.tensor(rng.normal(size=4)), torch.tensor(rng.normal(size=4))
    scale = torch.tensor(rng.uniform(0.5, 2.0, size=4))
    return [(torch.tensor(0.8), 0.5, x, x, scale, 10.0), (torch.tensor(0.3), 0.5, x, x_cf, scale, 2.0),
            (torch.tensor([0.9, 0.2]), 0.5, x, torch.stack([x_cf, x]), scale, 0.1)]


def _toy_solve(lam: float, gap_at_one: float) -> tuple[np.ndarray, float]:
    """A stand-in for "minimise the loss at this lambda": the gap shrinks like 1/lambda (x_cf shows lambda)."""
    return np.array([1.0 - 1.0 / (1.0 + lam), lam]), gap_at_one / lam


def _schedule_cases(rng: np.random.Generator) -> list[tuple]:
    return [(functools.partial(_toy_solve, gap_at_one=gap), lam_init, tol, 20)
            for gap, lam_init, tol in [(0.5, 0.1, 0.05), (2.0, 1.0, 0.01), (0.01, 0.5, 0.05), (0.3, 0.1, 0.05)]]


EXERCISES = register(
    Exercise("6.1", "MAD-scaled L1 distance", mad_distance, _distance_cases,
             "Wachter et al.'s distance: each feature's absolute change, divided by that feature's median "
             "absolute deviation, summed over the features; a batch of counterfactuals gives one distance per "
             "row."),
    Exercise("6.2", "Wachter's loss", wachter_loss, _loss_cases,
             "the loss has two terms: the squared gap between the prediction and the target, weighted by lam, "
             "plus the MAD-scaled distance of the counterfactual from x (exercise 6.1)."),
    Exercise("6.3", "the lambda schedule", lambda_schedule, _schedule_cases,
             "try an increasing lambda: start at lam_init, solve, and if the gap is still above tol double "
             "lambda and solve again; return the first counterfactual whose gap is within tol, trying at most "
             "max_rounds values (and say so if none is)."),
)
