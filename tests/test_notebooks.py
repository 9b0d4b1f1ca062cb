"""The notebooks: generated from their sources, complete, with solutions only where they belong.

nbval executes them (``pytest`` collects ``notebooks/``); these tests check their structure.
"""
import nbformat
import pytest

from course_utils import notebooks

SOURCES = sorted(notebooks.SOURCE_DIR.glob("[0-9][0-9]_*.py"))


def _read(version, source):
    return nbformat.read(notebooks.OUTPUT_DIRS[version] / f"{source.stem}.ipynb", as_version=4)


def test_there_are_notebooks():
    assert [s.stem[:2] for s in SOURCES][:2] == ["00", "01"]


def test_notebooks_match_their_sources():
    stale = notebooks.out_of_sync()
    assert not stale, f"run `python -m course_utils.notebooks build`: out of sync: {stale}"


def test_checked_outputs_are_recorded():
    missing = notebooks.missing_recordings()
    assert not missing, f"run `python -m course_utils.notebooks record`: {missing}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.stem)
def test_student_and_solution_versions(source):
    student, solution = _read("student", source), _read("solution", source)
    assert len(student.cells) == len(solution.cells)
    student_code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
    solution_code = "\n".join(c.source for c in solution.cells if c.cell_type == "code")
    assert "BEGIN SOLUTION" not in student_code + solution_code
    assert student_code.count("raise NotImplementedError(\"Exercise") == source.read_text().count("# BEGIN SOLUTION")
    assert "raise NotImplementedError(\"Exercise" not in solution_code
    assert student_code.count("check(\"") == solution_code.count("check(\"") >= 1


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.stem)
def test_every_notebook_has_the_course_structure(source):
    cells = _read("student", source).cells
    text = "\n".join(c.source for c in cells)
    assert "colab.research.google.com" in cells[0].source
    assert "setup_notebook(" in cells[1].source + cells[2].source and "google.colab" in text
    for heading in ("Learning objectives", "Time:", "Think", "Summary", "Further reading"):
        assert heading in text, f"{source.stem} lacks '{heading}'"
    assert "ipywidgets" in text and "NBVAL_CHECK_OUTPUT" in text


def test_student_version_hides_think_answers():
    for source in SOURCES:
        if "<!-- BEGIN SOLUTION -->" in source.read_text():
            student = "\n".join(c.source for c in _read("student", source).cells)
            solution = "\n".join(c.source for c in _read("solution", source).cells)
            assert "**Answers.**" in solution and "**Answers.**" not in student and "<!--" not in solution
