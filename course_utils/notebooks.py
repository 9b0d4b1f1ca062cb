"""Build the student and solution notebooks from one source, and record their checked outputs.

Sources are ``notebooks/src/NN_topic.py`` in the "percent" format (``# %%`` starts a code
cell, ``# %% [markdown]`` a markdown cell whose lines start with ``# ``). Inside them:

- ``# BEGIN SOLUTION Exercise 2.1`` ... ``# END SOLUTION`` in a code cell: the solution
  version keeps the code; the student version gets ``raise NotImplementedError("Exercise 2.1")``;
- ``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->`` in markdown: answers to "Think"
  questions, only in the solution version;
- ``#@course_setup`` in a code cell: replaced by the Colab install snippet;
- the first markdown cell gets the "Open in Colab" badge.

This is a repository tool, not part of what a learner uses: it reads and writes the
clone's ``notebooks/`` folder (the root is :data:`course_utils.paths.REPO_ROOT`), so it
works only from a clone. Commands (from the repository root)::

    python -m course_utils.notebooks build            # write notebooks/ and notebooks/solutions/
    python -m course_utils.notebooks record [NN ...]  # run in fast mode, store NBVAL_CHECK_OUTPUT outputs
    python -m course_utils.notebooks check            # exit 1 if a notebook is out of sync
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import nbformat

from .paths import REPO_ROOT as ROOT
SOURCE_DIR = ROOT / "notebooks" / "src"
OUTPUT_DIRS = {"student": ROOT / "notebooks", "solution": ROOT / "notebooks" / "solutions"}
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
_BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION\s*(.*)$")
_END = re.compile(r"^\s*# END SOLUTION\s*$")
_MD_BLOCK = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->\n?", re.S)
_KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


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


def cell_sources(source_path: Path, version: str, target: Path) -> list[tuple[str, str]]:
    """The cells of one version (``"student"`` or ``"solution"``) of a source notebook."""
    cells = []
    for index, (kind, text) in enumerate(parse_percent(source_path.read_text(encoding="utf-8"))):
        if kind == "markdown":
            if version == "student":
                text = _MD_BLOCK.sub("", text)
            else:
                text = text.replace("<!-- BEGIN SOLUTION -->\n", "").replace("<!-- END SOLUTION -->", "")
            if index == 0:
                text = _badge(target) + "\n\n" + text
        else:
            text = text.replace("#@course_setup", _colab_setup())
            text = _student_code(text) if version == "student" else _solution_code(text)
        cells.append((kind, text.strip("\n")))
    return cells


def build_notebook(source_path: Path, version: str) -> tuple[Path, nbformat.NotebookNode]:
    """Make one version of a notebook, keeping outputs already recorded for unchanged cells."""
    target = OUTPUT_DIRS[version] / (source_path.stem + ".ipynb")
    previous = nbformat.read(target, as_version=4).cells if target.is_file() else []
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": _KERNELSPEC,
                                                  "language_info": {"name": "python"}})
    for index, (kind, text) in enumerate(cell_sources(source_path, version, target)):
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(text)
        else:
            cell = nbformat.v4.new_code_cell(text)
            old = previous[index] if index < len(previous) else None
            if CHECK_MARK in text and old is not None and old.source == text:
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


def _comparable(notebook: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in notebook.cells]


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
                if cell.cell_type == "code" and CHECK_MARK in cell.source and not cell.get("outputs"):
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


def _kept_outputs(outputs: list) -> list:
    """Text outputs only (stdout and text/plain results): what nbval compares."""
    kept = []
    for output in outputs:
        if output.output_type == "stream" and output.name == "stdout":
            kept.append(output)
        elif output.output_type == "execute_result" and "text/plain" in output.data:
            output.data = {"text/plain": output.data["text/plain"]}
            output.metadata = {}
            kept.append(output)
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
                if cell.cell_type == "code" and CHECK_MARK in cell.source:
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
