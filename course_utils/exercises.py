"""Self-checking exercises with a reference fallback.

A learner writes a function and passes it to :func:`check`. The checker runs it and the
reference solution on fixed cases and prints a clear verdict:

- correct: "Exercise 2.1 passed" and the learner's function is returned and used;
- left blank (it raises ``NotImplementedError``): "Exercise 2.1 is not done yet: using the
  reference solution", and the reference is returned, so the rest of the notebook runs;
- wrong or crashing: the first failing case, a hint, and the reference is returned.

Each lesson's exercises live next to its reference code (``course_utils/xai/<topic>.py``),
which registers them when it is imported (``EXERCISES = register(Exercise(...), ...)``).
An exercise's reference is the building block the library itself calls, so a learner who
solves it has written a piece of the method the rest of the lesson uses. This module
imports none of the lessons' modules: they import it.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Exercise", "check", "get_exercise", "all_exercises", "register"]

_BANK: dict[str, "Exercise"] = {}


@dataclass(frozen=True)
class Exercise:
    """An exercise: the reference solution and the cases it is checked on.

    Attributes
    ----------
    id : str
        ``"<lesson>.<number>"``, e.g. ``"2.1"``.
    title : str
    reference : callable
        The reference solution.
    cases : callable
        ``cases(rng)`` returns a list of argument tuples to call both functions with.
    hint : str
        Shown when the learner's answer is wrong.
    atol, rtol : float
        Tolerances of the comparison (``numpy.allclose``).
    """

    id: str
    title: str
    reference: Callable
    cases: Callable[[np.random.Generator], list[tuple]]
    hint: str
    atol: float = 1e-6
    rtol: float = 1e-5


def register(*exercises: Exercise) -> dict[str, Exercise]:
    """Add exercises to the bank (a lesson's module calls this once, on import); return them by id."""
    for exercise in exercises:
        if not isinstance(exercise, Exercise):
            raise TypeError(f"exercises must be Exercise objects, got {type(exercise).__name__}.")
        known = _BANK.get(exercise.id)
        if known is not None and known.reference is not exercise.reference:
            raise ValueError(f"exercise {exercise.id} is registered twice, with {known.title!r} and {exercise.title!r}.")
        _BANK[exercise.id] = exercise
    return {exercise.id: exercise for exercise in exercises}


def all_exercises() -> dict[str, Exercise]:
    """Every exercise registered so far: those of the lessons' modules that have been imported."""
    return dict(sorted(_BANK.items(), key=lambda item: tuple(int(p) for p in item[0].split("."))))


def get_exercise(exercise_id: str) -> Exercise:
    """Look an exercise up by its id, e.g. ``"0.1"``."""
    if exercise_id not in _BANK:
        raise KeyError(f"exercise_id must be a registered exercise ({', '.join(all_exercises())}), got "
                       f"{exercise_id!r}; import the lesson's module first (e.g. from course_utils.xai import lime).")
    return _BANK[exercise_id]


def _as_numpy(value):
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    if isinstance(value, (tuple, list)):  # e.g. (loss, penalty) tensors that require grad
        return type(value)(_as_numpy(part) for part in value)
    return value


def _same(got, expected, atol: float, rtol: float) -> bool:
    got, expected = _as_numpy(got), _as_numpy(expected)
    if isinstance(expected, (tuple, list)):
        return (isinstance(got, (tuple, list)) and len(got) == len(expected)
                and all(_same(g, e, atol, rtol) for g, e in zip(got, expected)))
    try:
        got_array, expected_array = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    except (TypeError, ValueError):
        return got == expected
    return got_array.shape == expected_array.shape and np.allclose(got_array, expected_array, atol=atol, rtol=rtol)


def _short(value) -> str:
    if isinstance(value, (tuple, list)):
        try:
            np.asarray(_as_numpy(value), dtype=float)
        except (TypeError, ValueError):  # e.g. (intercept, coefficients): show each part
            return "(" + ", ".join(_short(part) for part in value) + ")"
    text = np.array2string(np.asarray(_as_numpy(value)), precision=4, threshold=8) if value is not None else "None"
    return text if len(text) < 200 else text[:197] + "..."


def check(exercise_id: str, answer: Callable) -> Callable:
    """Check a learner's function against the reference; return the function to use next.

    Parameters
    ----------
    exercise_id : str
        E.g. ``"2.1"``.
    answer : callable
        The learner's function.

    Returns
    -------
    callable
        ``answer`` if it passed every case, else the reference solution.

    Examples
    --------
    >>> def softmax(z):
    ...     raise NotImplementedError("Exercise 0.1")
    >>> softmax = check("0.1", softmax)
    Exercise 0.1 is not done yet: using the reference solution.
    """
    exercise = get_exercise(exercise_id)
    if not callable(answer):
        raise TypeError(f"answer must be a function, got {type(answer).__name__}.")
    cases = exercise.cases(np.random.default_rng(0))
    for number, args in enumerate(cases, start=1):
        expected = exercise.reference(*copy.deepcopy(args))
        try:
            got = answer(*copy.deepcopy(args))
        except NotImplementedError:
            print(f"Exercise {exercise_id} is not done yet: using the reference solution.")
            return exercise.reference
        except Exception as err:  # a learner's bug: report it, keep the notebook running
            print(f"Exercise {exercise_id} ({exercise.title}): your function raised "
                  f"{type(err).__name__}: {err}\nHint: {exercise.hint}\n"
                  "Using the reference solution for the rest of the notebook.")
            return exercise.reference
        if not _same(got, expected, exercise.atol, exercise.rtol):
            print(f"Exercise {exercise_id} ({exercise.title}) is not right yet: on case {number} of "
                  f"{len(cases)} the expected result is\n  {_short(expected)}\nbut your function returned\n"
                  f"  {_short(got)}\nHint: {exercise.hint}\nUsing the reference solution for the rest of the notebook.")
            return exercise.reference
    print(f"Exercise {exercise_id} passed ({len(cases)} cases): your function is used from here on.")
    return answer


# ------------------------------------------------------------------ lesson 00: the tour


def softmax(z: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis (the reference of exercise 0.1)."""
    z = np.asarray(z, dtype=float)
    shifted = np.exp(z - z.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _softmax_cases(rng: np.random.Generator) -> list[tuple]:
    return [(np.array([1.0, 2.0, 3.0]),), (rng.normal(size=(4, 10)),), (np.array([1000.0, 1001.0]),)]


EXERCISES = register(
    Exercise("0.1", "softmax", softmax, _softmax_cases,
             "exponentiate, divide by the sum over the last axis; subtract the maximum first "
             "so that exp(1000) does not overflow."),
)
