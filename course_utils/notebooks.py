"""Build the student and solution notebooks from one source, and record their checked outputs.

Sources are ``notebooks/src/NN_topic.py`` in the "percent" format (``# %%`` starts a code
cell, ``# %% [markdown]`` a markdown cell whose lines start with ``# ``). Inside them:

- ``# BEGIN SOLUTION Exercise 2.1`` ... ``# END SOLUTION`` in a code cell: the solution
  version keeps the code; the student version gets ``raise NotImplementedError("Exercise 2.1")``;
- ``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->`` in markdown: answers to "Think"
  questions, only in the solution version;
- ``#@course_setup`` in a code cell: replaced by the Colab install snippet;
- nbval's comment markers (``# NBVAL_CHECK_OUTPUT``, ``# NBVAL_IGNORE_OUTPUT``, ...) on a
  line of their own: removed from the code and stored as the cell tags nbval reads
  (``nbval-check-output``, ...), so learners see clean code;
- the first markdown cell gets the "Open in Colab" badge.

Recorded outputs keep what nbval compares (stdout and text results), without progress
bars (tqdm, download bars). The notebook's metadata is what JupyterLab writes when it
opens the notebook (the kernel's kernelspec and language_info), so opening a notebook
does not mark it modified.

This is a repository tool, not part of what a learner uses: it reads and writes the
clone's ``notebooks/`` folder (the root is :data:`course_utils.paths.REPO_ROOT`), so it
works only from a clone. Commands (from the repository root)::

    python -m course_utils.notebooks build            # write notebooks/ and notebooks/solutions/
    python -m course_utils.notebooks record [NN ...]  # run in fast mode, store checked cells' outputs
    python -m course_utils.notebooks check            # exit 1 if a notebook is out of sync
"""
from __future__ import annotations

import argparse
import copy
import os
import re
import sys
from pathlib import Path

import nbformat

from .paths import REPO_ROOT as ROOT
SOURCE_DIR = ROOT / "notebooks" / "src"
OUTPUT_DIRS = {"student": ROOT / "notebooks", "solution": ROOT / "notebooks" / "solutions"}
CHECK_TAG = "nbval-check-output"
# nbval's comment markers and the cell tags it reads instead (nbval.plugin.metadata_tags).
NBVAL_TAGS = {marker: marker.lower().replace("_", "-")
              for marker in ("NBVAL_CHECK_OUTPUT", "NBVAL_IGNORE_OUTPUT", "NBVAL_RAISES_EXCEPTION", "NBVAL_SKIP")}
# The lines progress bars draw: tqdm's " 45%|####   | 9/20 [00:01<00:01, 8.10it/s]" (or
# "9it [00:01, 8.10it/s]" without a total) and download messages. tests/nbval_sanitize.cfg
# holds the same pattern, so nbval drops them from fresh outputs too.
PROGRESS_PATTERN = r"(?m)^(?:.*\d+%\|.*\||.*\d+(?:\.\d+)?\s?[kMG]?(?:it|B)/s\]|Downloading ).*\n?"
_BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION\s*(.*)$")
_END = re.compile(r"^\s*# END SOLUTION\s*$")
_MD_BLOCK = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->\n?", re.S)


def kernel_metadata() -> dict:
    """The notebook metadata JupyterLab writes once the course's kernel (``python3``) starts.

    JupyterLab sets ``kernelspec`` to the kernel's name, display name and language and
    ``language_info`` to the kernel's reply; a notebook that already holds the same values
    is not marked modified when opened. Both come from the installed ipykernel.
    """
    from ipykernel.ipkernel import IPythonKernel
    from jupyter_client.kernelspec import get_kernel_spec

    spec = get_kernel_spec("python3")
    return {"kernelspec": {"display_name": spec.display_name, "language": spec.language, "name": "python3"},
            "language_info": dict(IPythonKernel.language_info)}


def repository_url() -> str:
    """The course's repository (``[project.urls] Repository`` in pyproject.toml): the one setting."""
    match = re.search(r'^Repository\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    if not match:
        raise RuntimeError("pyproject.toml must set [project.urls] Repository.")
    return match.group(1)


def _colab_setup() -> str:
    return (
        "# On Colab, install the course first (elsewhere this does nothing).\n"
        "import sys\n"
        "if \"google.colab\" in sys.modules:\n"
        "    import subprocess\n"
        f"    COURSE_REPO = \"{repository_url()}\"  # set to your fork to use another copy\n"
        "    subprocess.run([\"git\", \"clone\", \"-q\", \"--depth\", \"1\", COURSE_REPO, \"/content/course\"], check=False)\n"
        "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", \"-e\", \"/content/course\"], check=True)\n"
        "    sys.path.insert(0, \"/content/course\")"
    )


def _badge(path: Path) -> str:
    slug = repository_url().removeprefix("https://github.com/")
    relative = path.relative_to(ROOT).as_posix()
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{slug}/blob/main/{relative})")


def parse_percent(text: str) -> list[tuple[str, str]]:
    """Split a percent-format script into ``(cell_type, source)`` pairs."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# %%"):
            cells.append(("markdown" if "[markdown]" in line else "code", []))
        elif cells:
            kind, lines = cells[-1]
            if kind == "markdown":
                line = line[2:] if line.startswith("# ") else line.lstrip("#")
            lines.append(line)
    return [(kind, "\n".join(lines).strip("\n")) for kind, lines in cells]


def split_markers(source: str) -> tuple[str, list[str]]:
    """Remove nbval's comment markers from a code cell; return the code and the matching cell tags."""
    kept, tags = [], []
    for line in source.splitlines():
        marker = line.strip().lstrip("#").strip() if line.strip().startswith("#") else None
        if marker in NBVAL_TAGS:
            tags.append(NBVAL_TAGS[marker])
        else:
            kept.append(line)
    return "\n".join(kept), tags


def _student_code(source: str) -> str:
    out, inside = [], False
    for line in source.splitlines():
        begin = _BEGIN.match(line)
        if begin:
            indent, label = begin.groups()
            label = label.strip() or "Exercise"
            out += [f"{indent}# YOUR CODE HERE", f'{indent}raise NotImplementedError("{label}")']
            inside = True
        elif _END.match(line):
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("a '# BEGIN SOLUTION' block has no '# END SOLUTION'.")
    return "\n".join(out)


def _solution_code(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not (_BEGIN.match(line) or _END.match(line)))


def cell_sources(source_path: Path, version: str, target: Path) -> list[tuple[str, str, list[str]]]:
    """The cells of one version (``"student"`` or ``"solution"``) of a source notebook: ``(kind, text, tags)``."""
    cells = []
    for index, (kind, text) in enumerate(parse_percent(source_path.read_text(encoding="utf-8"))):
        if kind == "markdown":
            if version == "student":
                text = _MD_BLOCK.sub("", text)
            else:
                text = text.replace("<!-- BEGIN SOLUTION -->\n", "").replace("<!-- END SOLUTION -->", "")
            if index == 0:
                text = _badge(target) + "\n\n" + text
        tags: list[str] = []
        if kind == "code":
            text, tags = split_markers(text.replace("#@course_setup", _colab_setup()))
            text = _student_code(text) if version == "student" else _solution_code(text)
        cells.append((kind, text.strip("\n"), tags))
    return cells


def build_notebook(source_path: Path, version: str) -> tuple[Path, nbformat.NotebookNode]:
    """Make one version of a notebook, keeping outputs already recorded for unchanged cells."""
    target = OUTPUT_DIRS[version] / (source_path.stem + ".ipynb")
    previous = nbformat.read(target, as_version=4).cells if target.is_file() else []
    notebook = nbformat.v4.new_notebook(metadata=kernel_metadata())
    for index, (kind, text, tags) in enumerate(cell_sources(source_path, version, target)):
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(text)
        else:
            cell = nbformat.v4.new_code_cell(text)
            if tags:
                cell.metadata["tags"] = tags
            old = previous[index] if index < len(previous) else None
            if CHECK_TAG in tags and old is not None and _as_built(old) == (text, tags):
                cell.outputs = old.get("outputs", [])
                cell.execution_count = old.get("execution_count")
        cell.id = f"cell-{index}"
        notebook.cells.append(cell)
    return target, notebook


def _sources(names: list[str] | None = None) -> list[Path]:
    paths = sorted(SOURCE_DIR.glob("[0-9][0-9]_*.py"))
    if names:
        paths = [p for p in paths if any(p.stem.startswith(n) for n in names)]
    return paths


def _as_built(cell) -> tuple[str, list[str]]:
    """A stored cell's code and tags, also for a notebook built when markers stayed in the code."""
    text, marker_tags = split_markers(cell.source)
    return text, _tags(cell) + marker_tags


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _comparable(notebook: nbformat.NotebookNode) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source, _tags(c)) for c in notebook.cells]


def out_of_sync(names: list[str] | None = None) -> list[str]:
    """Notebooks whose cells differ from what their source generates (outputs ignored)."""
    stale = []
    for source in _sources(names):
        for version in OUTPUT_DIRS:
            target, built = build_notebook(source, version)
            if not target.is_file() or _comparable(nbformat.read(target, as_version=4)) != _comparable(built):
                stale.append(str(target.relative_to(ROOT)))
    return stale


def missing_recordings(names: list[str] | None = None) -> list[str]:
    """``path: cell N`` for checked cells that have no recorded output."""
    missing = []
    for source in _sources(names):
        for version, folder in OUTPUT_DIRS.items():
            target = folder / (source.stem + ".ipynb")
            if not target.is_file():
                continue
            for index, cell in enumerate(nbformat.read(target, as_version=4).cells):
                if cell.cell_type == "code" and CHECK_TAG in _tags(cell) and not cell.get("outputs"):
                    missing.append(f"{target.relative_to(ROOT)}: cell {index}")
    return missing


def build(names: list[str] | None = None) -> list[Path]:
    """Write both versions of every (or the named) notebook; return the paths written."""
    written = []
    for source in _sources(names):
        for version in OUTPUT_DIRS:
            target, notebook = build_notebook(source, version)
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, target)
            written.append(target)
    return written


def without_progress_bars(text: str) -> str:
    """``text`` without the lines progress bars draw (tqdm, downloads), redrawn ones included."""
    redrawn = "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n"))  # last state
    return re.sub(PROGRESS_PATTERN, "", redrawn)


def _kept_outputs(outputs: list) -> list:
    """Text outputs only (stdout and text/plain results): what nbval compares, without progress bars.

    The stdout pieces are merged into one stream at the first one's place, as nbval merges them.
    """
    kept, stdout = [], None
    for output in copy.deepcopy(outputs):
        if output.output_type == "stream" and output.name == "stdout":
            if stdout is None:
                stdout = output
                kept.append(output)
            else:
                stdout.text += output.text
        elif output.output_type == "execute_result" and "text/plain" in output.data:
            output.data = {"text/plain": output.data["text/plain"]}
            output.metadata = {}
            kept.append(output)
    if stdout is not None:
        stdout.text = without_progress_bars(stdout.text)
    return kept


def record(names: list[str] | None = None, timeout: int = 600) -> None:
    """Execute each solution notebook in fast mode and store its checked cells' outputs in both versions."""
    from nbclient import NotebookClient

    os.environ["COURSE_FAST"] = "1"
    build(names)
    for source in _sources(names):
        solution_path = OUTPUT_DIRS["solution"] / (source.stem + ".ipynb")
        executed = nbformat.read(solution_path, as_version=4)
        NotebookClient(executed, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(solution_path.parent)}}).execute()
        for folder in OUTPUT_DIRS.values():
            path = folder / (source.stem + ".ipynb")
            notebook = nbformat.read(path, as_version=4)
            for cell, done in zip(notebook.cells, executed.cells):
                if cell.cell_type == "code" and CHECK_TAG in _tags(cell):
                    cell.outputs = _kept_outputs(done.outputs)
                    cell.execution_count = done.execution_count  # nbval ignores outputs of unrun cells
            nbformat.write(notebook, path)
        print(f"recorded {source.stem}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build, record and check the course's notebooks.")
    parser.add_argument("command", choices=["build", "record", "check"])
    parser.add_argument("names", nargs="*", help="notebook prefixes such as 02 (default: all)")
    args = parser.parse_args(argv)
    if args.command == "build":
        for path in build(args.names):
            print(f"wrote {path.relative_to(ROOT)}")
    elif args.command == "record":
        record(args.names)
    problems = out_of_sync(args.names) + [f"no recorded output: {m}" for m in missing_recordings(args.names)]
    for problem in problems:
        print(f"out of sync: {problem}")
    return 1 if problems and args.command == "check" else 0


if __name__ == "__main__":
    sys.exit(main())
