"""The notebooks: generated from their sources, complete, with solutions only where they belong.

nbval executes them (``pytest`` collects ``notebooks/``); these tests check their structure.
"""
import re

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
    assert "ipywidgets" in text and any(notebooks.CHECK_TAG in c.metadata.get("tags", []) for c in cells)


@pytest.mark.parametrize("version", notebooks.OUTPUT_DIRS)
@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.stem)
def test_nbval_markers_are_cell_tags_not_code(source, version):
    cells = [c for c in _read(version, source).cells if c.cell_type == "code"]
    assert not [c.source for c in cells if "NBVAL_" in c.source]
    tagged = sum(notebooks.CHECK_TAG in c.metadata.get("tags", []) for c in cells)
    assert tagged == source.read_text().count("# NBVAL_CHECK_OUTPUT") >= 1


def test_each_marker_becomes_the_tag_nbval_reads():
    from nbval.plugin import find_comment_markers, find_metadata_tags

    code, tags = notebooks.split_markers("# NBVAL_CHECK_OUTPUT\nx = 1\n  # NBVAL_SKIP\nprint(x)  # NBVAL_IGNORE_OUTPUT")
    assert code == "x = 1\nprint(x)  # NBVAL_IGNORE_OUTPUT" and tags == ["nbval-check-output", "nbval-skip"]
    for marker, tag in notebooks.NBVAL_TAGS.items():
        assert dict(find_metadata_tags({"tags": [tag]})) == dict(find_comment_markers(f"# {marker}")), marker


BAR_OUTPUT = ("first line\n 10%|#         | 1/10 [00:00<00:01,  9.03it/s]\r100%|##########| 10/10 "
              "[00:01<00:00,  9.10it/s]\nDownloading https://example.org/t10k.gz to data/t10k.gz\n"
              "7it [00:00, 12.31it/s]\nresult: 3 of 10 | 30% kept\n")


def test_progress_bars_are_dropped_and_nbval_drops_them_too():
    from nbval.plugin import coalesce_streams, get_sanitize_patterns

    assert notebooks.without_progress_bars(BAR_OUTPUT) == "first line\nresult: 3 of 10 | 30% kept\n"
    patterns = get_sanitize_patterns((notebooks.ROOT / "tests" / "nbval_sanitize.cfg").read_text())
    assert (notebooks.PROGRESS_PATTERN, "") in patterns  # the pytest run compares outputs without them as well
    fresh = coalesce_streams([nbformat.v4.new_output("stream", name="stdout", text=BAR_OUTPUT)])[0].text
    assert re.sub(notebooks.PROGRESS_PATTERN, "", fresh) == notebooks.without_progress_bars(BAR_OUTPUT)


def test_no_stored_output_holds_a_progress_bar():
    for source in SOURCES:
        for version in notebooks.OUTPUT_DIRS:
            for cell in _read(version, source).cells:
                for output in cell.get("outputs", []):
                    text = output.get("text", "") + output.get("data", {}).get("text/plain", "")
                    assert output.get("name") != "stderr" and "\r" not in text, (source.stem, version, text)
                    assert not re.search(notebooks.PROGRESS_PATTERN, text), (source.stem, version, text)


@pytest.fixture
def tiny_course(tmp_path, monkeypatch):
    """A clone with one source notebook, for the builder and the recorder."""
    (tmp_path / "pyproject.toml").write_text('[project.urls]\nRepository = "https://github.com/x/y"\n')
    (tmp_path / "notebooks" / "src").mkdir(parents=True)
    source = tmp_path / "notebooks" / "src" / "00_tiny.py"
    source.write_text(
        "# %% [markdown]\n# # Tiny\n\n"
        "# %%\n# NBVAL_CHECK_OUTPUT\nfrom tqdm import tqdm\n"
        "for _ in tqdm(range(3), file=__import__('sys').stdout, mininterval=0): pass\n"
        "for _ in tqdm(range(3)): pass  # stderr\nprint('sum', 1 + 2)\n\n"
        "# %%\nprint('not checked')\n")
    monkeypatch.setattr(notebooks, "ROOT", tmp_path)
    monkeypatch.setattr(notebooks, "SOURCE_DIR", source.parent)
    monkeypatch.setattr(notebooks, "OUTPUT_DIRS", {"student": tmp_path / "notebooks",
                                                   "solution": tmp_path / "notebooks" / "solutions"})
    monkeypatch.setenv("COURSE_FAST", "1")  # record() sets it
    return tmp_path


def test_record_stores_tagged_clean_outputs_and_jupyterlab_metadata(tiny_course):
    notebooks.record(["00"])
    for folder in ("notebooks", "notebooks/solutions"):
        notebook = nbformat.read(tiny_course / folder / "00_tiny.ipynb", as_version=4)
        checked, unchecked = notebook.cells[1], notebook.cells[2]
        assert checked.source.startswith("from tqdm import tqdm") and checked.metadata.tags == ["nbval-check-output"]
        assert [(o.output_type, o.name, o.text) for o in checked.outputs] == [("stream", "stdout", "sum 3\n")]
        assert unchecked.outputs == [] and "tags" not in unchecked.metadata
        assert notebook.metadata == notebooks.kernel_metadata()
    assert notebooks.out_of_sync(["00"]) == [] and notebooks.missing_recordings(["00"]) == []


def test_stored_metadata_is_what_jupyterlab_writes_for_the_running_kernel():
    """JupyterLab sets kernelspec and language_info from the kernel it starts, and marks the
    notebook modified unless the stored values are equal (JSONExt.deepEqual in @jupyter/ydoc)."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        reply = client.kernel_info(reply=True, timeout=60)
        spec = manager.kernel_spec
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    # what the notebook panel writes (JupyterLab 4, @jupyterlab/notebook panel.ts _updateSpec/_updateLanguage)
    written = {"kernelspec": {"name": manager.kernel_name, "display_name": spec.display_name, "language": spec.language},
               "language_info": reply["content"]["language_info"]}
    assert notebooks.kernel_metadata() == written
    for source in SOURCES:
        for version in notebooks.OUTPUT_DIRS:
            assert _read(version, source).metadata == written, (source.stem, version)


def test_student_version_hides_think_answers():
    for source in SOURCES:
        if "<!-- BEGIN SOLUTION -->" in source.read_text():
            student = "\n".join(c.source for c in _read("student", source).cells)
            solution = "\n".join(c.source for c in _read("solution", source).cells)
            assert "**Answers.**" in solution and "**Answers.**" not in student and "<!--" not in solution


def test_a_notebook_built_with_markers_in_the_code_keeps_its_recorded_outputs(tiny_course):
    """Rebuilding a notebook recorded before markers became tags moves them and keeps the outputs."""
    notebooks.record(["00"])
    path = tiny_course / "notebooks" / "00_tiny.ipynb"
    notebook = nbformat.read(path, as_version=4)
    checked = notebook.cells[1]
    checked.source, checked.metadata = "# NBVAL_CHECK_OUTPUT\n" + checked.source, {}  # as the old builder wrote it
    nbformat.write(notebook, path)
    notebooks.build(["00"])
    rebuilt = nbformat.read(path, as_version=4).cells[1]
    assert rebuilt.metadata.tags == ["nbval-check-output"] and "NBVAL" not in rebuilt.source
    assert [o.text for o in rebuilt.outputs] == ["sum 3\n"]
