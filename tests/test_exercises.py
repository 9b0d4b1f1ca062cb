"""The exercise checker and every registered exercise's reference."""
import inspect
import re

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


def test_blank_answer_falls_back_to_reference_and_says_where_the_solution_is(capsys):
    def softmax(z):
        raise NotImplementedError("Exercise 0.1")
    assert check("0.1", softmax) is exercises.softmax
    assert capsys.readouterr().out == (
        "Exercise 0.1 (softmax) is not done yet: using the reference solution.\n"
        "The worked solution is in notebooks/solutions/00_setup_and_tour.ipynb, in the cell that calls "
        "check('0.1', ...).\n")


@pytest.mark.parametrize("exercise_id", sorted(all_exercises()))
def test_the_solution_notebook_named_holds_the_exercise(exercise_id):
    path = exercises.REPO_ROOT / exercises.solution_notebook(exercise_id)
    assert path.is_file(), path
    text = path.read_text(encoding="utf-8")
    assert f'check(\\"{exercise_id}\\"' in text, f"{path.name} does not check exercise {exercise_id}"


def test_a_copy_without_notebooks_names_the_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(exercises, "REPO_ROOT", tmp_path)
    assert exercises.solution_notebook("2.1") == "notebooks/solutions/02_*.ipynb"


def test_wrong_answer_shows_small_inputs_in_full_and_the_hint(capsys):
    result = check("2.1", lambda distances, kernel_width: np.exp(-distances / kernel_width))
    out = capsys.readouterr().out
    assert result is lime.kernel
    assert out.startswith("Exercise 2.1 (the proximity kernel) is not right yet: on case 1 of 3 your function "
                          "was called with\n  distances = [0.  0.5 1.  2. ]\n  kernel_width = 1.0\nand returned\n")
    assert "where the reference returns\n    [1.     0.7788 0.3679 0.0183]\n" in out
    assert f"Hint: {get_exercise('2.1').hint}\nUsing the reference solution" in out
    assert "get_exercise" not in out  # nothing was abbreviated


def test_wrong_answer_shows_large_inputs_by_shape_and_how_to_rebuild_them(capsys):
    check("1.2", lambda predict_fn, X, y, column, rng: 0.5)
    out = capsys.readouterr().out
    X, y = get_exercise("1.2").cases(np.random.default_rng(0))[0][1:3]
    assert "  predict_fn = a function (_threshold_model)\n" in out
    assert (f"  X = array of shape (300, 4) (float64): {X[0, 0]:.4g}, {X[0, 1]:.4g}, {X[0, 2]:.4g}, {X[0, 3]:.4g}, "
            f"... (min {X.min():.4g}, max {X.max():.4g})\n") in out
    assert "  rng = a numpy random Generator (the case's own)\n" in out
    rebuild = "get_exercise('1.2').cases(np.random.default_rng(0))[0]"
    assert rebuild in out
    rebuilt = eval(rebuild, {"get_exercise": get_exercise, "np": np})  # the line the learner is told to run
    assert np.array_equal(rebuilt[1], X) and np.array_equal(rebuilt[2], y)


def test_wrong_shape_is_named(capsys):
    check("7.1", lambda gradients: gradients.mean(dim=(2, 3)).T)
    out = capsys.readouterr().out
    assert "(your result has shape (3, 1), the reference's has shape (1, 3))\n" in out
    assert "  gradients = [[[[" in out  # 12 numbers: in full


def test_crashing_answer_is_reported_with_its_inputs(capsys):
    assert check("0.1", lambda z: z.nope) is exercises.softmax
    out = capsys.readouterr().out
    assert out.startswith("Exercise 0.1 (softmax): on case 1 of 3 your function raised AttributeError:")
    assert "It was called with\n  z = [1. 2. 3.]\nHint:" in out


# What a hint must not contain: library calls, method calls, indexing, updates, Python's power operator.
CODE = re.compile(r"\b(np|torch|F|scipy|math)\.\w|\.\w+\(|\w\[|\*\*|[-+*/]=")


@pytest.mark.parametrize("exercise_id", sorted(all_exercises()))
def test_hints_give_the_idea_not_the_code(exercise_id):
    exercise = get_exercise(exercise_id)
    assert not CODE.search(exercise.hint), f"hint {exercise_id} reads like code: {CODE.search(exercise.hint)[0]!r}"
    body = inspect.getsource(exercise.reference).split('"""')[-1]  # the code after the docstring
    for line in body.splitlines():
        line = line.strip()
        if len(line) > 12 and not line.startswith(("#", "return")):
            assert line not in exercise.hint, f"hint {exercise_id} holds a line of the solution: {line}"


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
