"""The exercise checker and every registered exercise's reference."""
import numpy as np
import pytest

from course_utils import exercises
from course_utils.exercises import all_exercises, check, get_exercise
from course_utils.xai import anchors, attacks, counterfactuals, gradcam, gradients, lime, permutation, shapley  # noqa: F401 (they register their exercises)


def test_correct_answer_is_kept(capsys):
    def softmax(z):
        e = np.exp(np.asarray(z) - np.max(z, axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    assert check("0.1", softmax) is softmax
    assert "Exercise 0.1 passed" in capsys.readouterr().out


def test_blank_answer_falls_back_to_reference(capsys):
    def softmax(z):
        raise NotImplementedError("Exercise 0.1")
    assert check("0.1", softmax) is exercises.softmax
    assert "Exercise 0.1 is not done yet: using the reference solution." in capsys.readouterr().out


def test_wrong_answer_shows_case_and_hint(capsys):
    result = check("0.1", lambda z: np.exp(z) / np.exp(z).sum())  # overflows, wrong axis
    out = capsys.readouterr().out
    assert result is exercises.softmax and "is not right yet" in out and "Hint:" in out


def test_crashing_answer_is_reported(capsys):
    assert check("0.1", lambda z: z.nope) is exercises.softmax
    assert "AttributeError" in capsys.readouterr().out


def test_unknown_exercise_and_non_callable():
    with pytest.raises(KeyError, match="0.1"):
        get_exercise("9.99")
    with pytest.raises(TypeError, match="answer must be a function"):
        check("0.1", 42)


@pytest.mark.parametrize("exercise_id", sorted(all_exercises()))
def test_each_reference_passes_and_a_wrong_answer_fails(exercise_id, capsys):
    exercise = get_exercise(exercise_id)
    assert check(exercise_id, exercise.reference) is exercise.reference
    assert "passed" in capsys.readouterr().out

    def wrong(*args):
        result = exercise.reference(*args)
        return [r + 1 for r in result] if isinstance(result, tuple) else np.asarray(result, dtype=float) + 1.0
    assert check(exercise_id, wrong) is exercise.reference


def test_results_with_parts_of_different_shapes_are_shown():
    text = exercises._short((0.5, np.array([1.0, 2.0])))
    assert text.startswith("(") and "0.5" in text and "[1. 2.]" in text
    assert exercises._short([1, 2]) == "[1 2]"
