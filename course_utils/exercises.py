"""Self-checking exercises with a reference fallback.

A learner writes a function and passes it to :func:`check`. The checker runs it and the
reference solution on fixed cases and prints a clear verdict:

- correct: "Exercise 2.1 passed" and the learner's function is returned and used;
- left blank (it raises ``NotImplementedError``): "Exercise 2.1 ... is not done yet: using
  the reference solution", with where the worked solution is
  (``notebooks/solutions/NN_....ipynb``), and the reference is returned, so the rest of the
  notebook runs;
- wrong or crashing: the first failing case's inputs (small ones in full, large ones by
  shape and a few values, with the line that rebuilds them), what the function returned
  and what the reference returns, a hint (the idea, not the code), and the reference is
  returned.

Each lesson's exercises live next to its reference code (``course_utils/xai/<topic>.py``),
which registers them when it is imported (``EXERCISES = register(Exercise(...), ...)``).
An exercise's reference is the building block the library itself calls, so a learner who
solves it has written a piece of the method the rest of the lesson uses. This module
imports none of the lessons' modules: they import it.
"""
from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .paths import REPO_ROOT
from .validation import UnknownNameError

__all__ = ["Exercise", "check", "get_exercise", "all_exercises", "register", "solution_notebook"]

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
        Shown when the learner's answer is wrong: the idea (which formula, which shape),
        not the code.
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
        raise UnknownNameError(f"exercise_id must be a registered exercise ({', '.join(all_exercises())}), got "
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


_FULL_SIZE = 24  # arrays up to this many entries are shown in full


def _array_text(array: np.ndarray) -> str:
    return np.array2string(array, precision=4, threshold=_FULL_SIZE + 1, suppress_small=True)


def _describe_array(value) -> tuple[str, bool]:
    """An array or tensor: in full if small, else by shape, dtype, a few values and the range."""
    array = np.asarray(_as_numpy(value))
    kind = "tensor" if hasattr(value, "detach") else "array"
    if array.size <= _FULL_SIZE or array.dtype == object:
        text = _array_text(array)
        return (text if len(text) < 400 else text[:397] + "..."), False
    flat = array.ravel()
    first = ", ".join(f"{v:.4g}" if np.issubdtype(array.dtype, np.number) else str(v) for v in flat[:4])
    dtype = str(value.dtype).removeprefix("torch.") if kind == "tensor" else str(array.dtype)
    text = f"{kind} of shape {tuple(array.shape)} ({dtype}): {first}, ..."
    if np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.bool_):
        text += f" (min {flat.min():.4g}, max {flat.max():.4g})"
    return text, True


def _describe(value) -> tuple[str, bool]:
    """How a checker message shows a value; the flag says whether it was abbreviated."""
    if value is None or isinstance(value, (bool, int, str, np.integer)):
        return repr(value), False
    if isinstance(value, (float, np.floating)):
        text = repr(float(value))
        return (text if len(text) <= 10 else f"{value:.6g}"), False
    if isinstance(value, np.random.Generator) or type(value).__name__ == "Generator":
        return f"a {type(value).__module__.split('.')[0]} random Generator (the case's own)", True
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return _describe_array(value)
    if hasattr(value, "parameters") and callable(value):
        return f"a {type(value).__name__} model (torch.nn.Module)", True
    if callable(value):
        function = value.func if isinstance(value, functools.partial) else value
        if inspect.isroutine(function):
            return f"a function ({function.__name__})", True
        return f"a callable {type(value).__name__} object", True
    if isinstance(value, (tuple, list)):
        try:
            numeric = np.asarray(_as_numpy(value), dtype=float)
        except (TypeError, ValueError):  # e.g. (intercept, coefficients): show each part
            parts = [_describe(part) for part in value]
            text = ", ".join(part for part, _ in parts)
            brackets = "()" if isinstance(value, tuple) else "[]"
            if len(text) > 300:
                return f"a {type(value).__name__} of {len(value)} items: {text[:200]}...", True
            return brackets[0] + text + brackets[1], any(short for _, short in parts)
        if numeric.size <= _FULL_SIZE:
            return _array_text(np.asarray(_as_numpy(value))), False
        return _describe_array(numeric)
    text = repr(value)
    if " object at 0x" in text:
        return f"a {type(value).__name__} object", True
    return (text, False) if len(text) <= 300 else (text[:297] + "...", True)


def _short(value) -> str:
    return _describe(value)[0]


def _indented(text: str, indent: str = "    ") -> str:
    return "\n".join(indent + line for line in text.splitlines())


def _inputs(exercise: Exercise, args: tuple, number: int) -> str:
    """The failing case's arguments, one per line, and how to rebuild them if any is abbreviated."""
    try:
        names = list(inspect.signature(exercise.reference).bind(*args).arguments)
    except (TypeError, ValueError):
        names = [f"argument {i}" for i in range(1, len(args) + 1)]
    lines, abbreviated = [], False
    for name, value in zip(names, args, strict=True):
        text, short = _describe(value)
        abbreviated |= short
        first, *rest = text.splitlines() or [""]
        lines.append(f"  {name} = {first}" + "".join("\n  " + " " * (len(name) + 3) + line for line in rest))
    if abbreviated:
        lines.append(f"  (all of them: get_exercise({exercise.id!r}).cases(np.random.default_rng(0))[{number - 1}],"
                     " with from course_utils.exercises import get_exercise)")
    return "\n".join(lines)


def solution_notebook(exercise_id: str) -> str:
    """Where an exercise's worked solution is: ``notebooks/solutions/NN_topic.ipynb``.

    Parameters
    ----------
    exercise_id : str
        E.g. ``"2.1"``.

    Returns
    -------
    str
        The solution notebook's path relative to the course's folder (a pattern with ``*``
        when this copy of the course has no notebooks).

    Raises
    ------
    TypeError
        If ``exercise_id`` is not a string.
    ValueError
        If no exercise of that id is registered.
    """
    if not isinstance(exercise_id, str):
        raise TypeError(f"exercise_id must be a str such as '2.1', got {type(exercise_id).__name__}.")
    if exercise_id not in _BANK:
        raise ValueError(f"exercise_id must be a registered exercise ({', '.join(all_exercises())}), got {exercise_id!r}.")
    lesson = int(exercise_id.split(".")[0])
    found = sorted((REPO_ROOT / "notebooks" / "solutions").glob(f"{lesson:02d}_*.ipynb"))
    return found[0].relative_to(REPO_ROOT).as_posix() if found else f"notebooks/solutions/{lesson:02d}_*.ipynb"


def _blank_message(exercise: Exercise) -> str:
    return (f"Exercise {exercise.id} ({exercise.title}) is not done yet: using the reference solution.\n"
            f"The worked solution is in {solution_notebook(exercise.id)}, in the cell that calls "
            f"check({exercise.id!r}, ...).")


def _crash_message(exercise: Exercise, args: tuple, number: int, total: int, err: Exception) -> str:
    return (f"Exercise {exercise.id} ({exercise.title}): on case {number} of {total} your function raised "
            f"{type(err).__name__}: {err}\nIt was called with\n{_inputs(exercise, args, number)}\n"
            f"Hint: {exercise.hint}\nUsing the reference solution for the rest of the notebook.")


def _shape_note(got, expected) -> str:
    try:
        got_shape, expected_shape = np.shape(_as_numpy(got)), np.shape(_as_numpy(expected))
    except ValueError:  # parts of different shapes
        return ""
    if got_shape == expected_shape:
        return ""
    return f"(your result has shape {got_shape}, the reference's has shape {expected_shape})\n"


def _wrong_message(exercise: Exercise, args: tuple, number: int, total: int, got, expected) -> str:
    return (f"Exercise {exercise.id} ({exercise.title}) is not right yet: on case {number} of {total} "
            f"your function was called with\n{_inputs(exercise, args, number)}\n"
            f"and returned\n{_indented(_short(got))}\nwhere the reference returns\n{_indented(_short(expected))}\n"
            f"{_shape_note(got, expected)}"
            f"Hint: {exercise.hint}\nUsing the reference solution for the rest of the notebook.")


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
    >>> softmax = check("0.1", softmax)  # doctest: +ELLIPSIS
    Exercise 0.1 (softmax) is not done yet: using the reference solution.
    The worked solution is in notebooks/solutions/00_setup_and_tour.ipynb, in the cell that calls check('0.1', ...).
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
            print(_blank_message(exercise))
            return exercise.reference
        except Exception as err:  # a learner's bug: report it, keep the notebook running
            print(_crash_message(exercise, args, number, len(cases), err))
            return exercise.reference
        if not _same(got, expected, exercise.atol, exercise.rtol):
            print(_wrong_message(exercise, args, number, len(cases), got, expected))
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
             "exponentiate and divide by the sum over the last axis, so that each row adds up to 1; subtract "
             "each row's maximum first (softmax does not change), so that exp(1000) does not overflow."),
)
