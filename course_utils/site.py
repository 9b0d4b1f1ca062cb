"""Build the course's web site: every lesson rendered from its executed solution notebook.

A repository tool (it needs a clone: the notebooks, the README and ``site/``)::

    python -m course_utils.site build            # fast mode (COURSE_FAST=1 unless the environment says otherwise)
    python -m course_utils.site build --full     # full mode (the learner's numbers; slow)
    python -m course_utils.site build --force    # re-execute every lesson

What it does, in order:

1. **Execute** every ``notebooks/solutions/NN_*.ipynb`` with its working directory in
   ``notebooks/`` (as the learner's JupyterLab), ``COURSE_DATA_MIRROR`` and ``COURSE_FAST``
   taken from the environment. Executions are cached in ``_build/executed/{fast,full}/``: a lesson
   is executed again only when its code cells, the mode or the ``course_utils`` package
   (and the checkpoints' cards) changed.
2. **Write the book's sources** into ``_build/book/`` from ``site/_config.yml``: the
   README's introduction, the syllabus (the README's lesson table, each row linked to its
   page), one page per lesson, a references page gathered from the lessons' "Further
   reading". On a lesson page solution code and "Think" answers are folded behind a
   toggle, the Colab badge (an image from another host) becomes text links, and every
   widget is replaced by what it showed at its default values (the page has no kernel).
3. **Build** the static HTML with Jupyter Book 1 (Sphinx, myst-nb, sphinx-book-theme)
   into ``_build/html/``, with MathJax served from the site itself: no page loads anything
   from another host.

``tests/test_site.py`` opens every page in headless Chromium and checks it.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import html
import os
import re
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .paths import repo_root

__all__ = [
    "Lesson",
    "lessons",
    "execution_key",
    "library_fingerprint",
    "execute_lessons",
    "static_widget_outputs",
    "fold_answers",
    "solution_blocks",
    "page_notebook",
    "further_reading",
    "reference_key",
    "references_markdown",
    "readme_pages",
    "write_book",
    "build",
    "main",
]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
SOLUTION_TAG = "solution"
_BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\s*")
_MD_SOLUTION = re.compile(r"<!-- BEGIN SOLUTION -->\n?(.*?)<!-- END SOLUTION -->", re.S)
_TAG = re.compile(r"<[^>]+>")
_FURTHER = re.compile(r"^#{2,3}\s+Further reading\s*$", re.M | re.I)


@dataclass(frozen=True)
class Lesson:
    """One lesson of the site: its solution notebook (the page) and its source."""

    stem: str          # "02_lime"
    solution: Path     # notebooks/solutions/02_lime.ipynb
    source: Path       # notebooks/src/02_lime.py (may be absent)
    student: Path      # notebooks/02_lime.ipynb (may be absent)

    @property
    def number(self) -> str:
        return self.stem[:2]

    @property
    def docname(self) -> str:
        """The page's name in the book: the notebook's path in the repository, so launch links point at it."""
        return f"notebooks/solutions/{self.stem}"


def lessons(root: Path) -> list[Lesson]:
    """Every solution notebook ``notebooks/solutions/NN_*.ipynb`` of the clone, in lesson order."""
    notebooks = root / "notebooks"
    return [Lesson(path.stem, path, notebooks / "src" / f"{path.stem}.py", notebooks / f"{path.stem}.ipynb")
            for path in sorted((notebooks / "solutions").glob("[0-9][0-9]_*.ipynb"))]


# --------------------------------------------------------------------------- execution

def library_fingerprint(root: Path) -> str:
    """A hash of what an execution depends on besides the notebook: ``course_utils`` and the checkpoints' cards."""
    digest = hashlib.sha256()
    files = sorted((root / "course_utils").rglob("*.py")) + sorted((root / "course_utils").rglob("*.tsv"))
    files += sorted((root / "data" / "checkpoints").glob("*.json"))
    for path in files:
        if "__pycache__" in path.parts or path.name == "site.py":  # the site tool does not change a lesson's outputs
            continue
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def execution_key(notebook: nbformat.NotebookNode, mode: str, library: str) -> str:
    """The cache key of one execution: the code cells, the mode (fast/full) and the library's fingerprint."""
    digest = hashlib.sha256(f"{mode}\n{library}\n".encode())
    for cell in notebook.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.encode() + b"\0")
    return digest.hexdigest()


def _execute_one(solution: str, target: str, cwd: str, env: dict, key: str, timeout: int) -> float:
    """Execute one notebook (in a worker process) and write it with its cache key; return the seconds."""
    from nbclient import NotebookClient

    os.environ.update(env)
    notebook = nbformat.read(solution, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": cwd}}).execute()
    seconds = time.perf_counter() - start
    notebook.metadata["course_site"] = {"key": key, "seconds": round(seconds, 1), "mode": env["COURSE_FAST"]}
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    partial = Path(target).with_suffix(".partial")
    nbformat.write(notebook, partial)
    partial.replace(target)
    return seconds


def _kernel_environment(root: Path, fast: bool, jobs: int) -> dict:
    env = {"COURSE_FAST": "1" if fast else "0",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    threads = str(max(1, (os.cpu_count() or 1) // jobs))  # kernels at once must not fight over every core
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = os.environ.get(name, threads)
    return env


def execute_lessons(root: Path, selected: list[Lesson], *, fast: bool = True, force: bool = False,
                    jobs: int = 2, timeout: int = 600, out=print) -> dict[str, nbformat.NotebookNode]:
    """Execute the lessons' solution notebooks (cached); return the executed notebooks by stem.

    Raises
    ------
    RuntimeError
        If a notebook fails; the message names it and carries the cell's error.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}.")
    mode = "fast" if fast else "full"
    cache = root / "_build" / "executed" / mode  # one cache per mode: switching does not discard the other
    library = library_fingerprint(root)
    env = _kernel_environment(root, fast, jobs)
    todo = {}
    for lesson in selected:
        key = execution_key(nbformat.read(lesson.solution, as_version=4), mode, library)
        target = cache / f"{lesson.stem}.ipynb"
        cached = nbformat.read(target, as_version=4) if target.is_file() else None
        if not force and cached is not None and cached.metadata.get("course_site", {}).get("key") == key:
            out(f"  {lesson.stem}: unchanged, executed output reused ({mode} mode)")
        else:
            todo[lesson.stem] = (str(lesson.solution), str(target), str(root / "notebooks"), env, key, timeout)
    failures = []
    if todo:
        out(f"executing {len(todo)} notebook(s) in {mode} mode, {min(jobs, len(todo))} at a time ...")
        with ProcessPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
            futures = {stem: pool.submit(_execute_one, *args) for stem, args in todo.items()}
            for stem, future in futures.items():
                try:
                    out(f"  {stem}: executed in {future.result():.0f} s")
                except Exception as error:  # a CellExecutionError carries the cell and its traceback
                    failures.append(f"{stem}: {error}")
    if failures:
        raise RuntimeError("executing the solution notebooks failed:\n" + "\n\n".join(failures))
    return {lesson.stem: nbformat.read(cache / f"{lesson.stem}.ipynb", as_version=4) for lesson in selected}


# --------------------------------------------------------------------------- lesson pages

def _model_id(reference) -> str | None:
    if isinstance(reference, str) and reference.startswith("IPY_MODEL_"):
        return reference[len("IPY_MODEL_"):]
    return None


def _descendants(model_id: str, state: dict) -> list[dict]:
    """The widget and every widget it holds (children, depth first), as stored by nbclient."""
    found, stack, seen = [], [model_id], set()
    while stack:
        current = stack.pop(0)
        if current in seen or current not in state:
            continue
        seen.add(current)
        model = state[current]
        found.append(model)
        children = model.get("state", {}).get("children", [])
        stack[:0] = [c for c in map(_model_id, children) if c]
    return found


def _control_value(model: dict) -> str | None:
    """``description = value`` for a control (slider, dropdown, checkbox, text), else None."""
    state = model.get("state", {})
    label = state.get("description")
    if not label:
        return None
    if "_options_labels" in state and state.get("index") is not None:
        index = state["index"]
        value = state["_options_labels"][index] if isinstance(index, int) else index
    elif "value" in state and not model.get("model_name", "").startswith(("HTML", "Label")):
        value = state["value"]
    else:
        return None
    return f"{label} = {value}"


def _plain(text: str) -> str:
    return re.sub(r"[\xa0\u2007]", " ", html.unescape(_TAG.sub("", text))).strip()


def static_widget_outputs(output: dict, state: dict) -> list[nbformat.NotebookNode]:
    """What a widget showed when the notebook ran, as ordinary outputs a static page can show.

    An ``interact`` becomes the outputs its Output widget captured at the default values
    (the figure), after a line that names those values; a progress bar becomes its final
    text; any other output is returned unchanged.

    Parameters
    ----------
    output : dict
        One output of an executed code cell.
    state : dict
        The notebook's widget models by id (``metadata.widgets[WIDGET_STATE]["state"]``).
    """
    view = output.get("data", {}).get(WIDGET_VIEW)
    if view is None:
        return [output]
    models = _descendants(view.get("model_id", ""), state)
    captured = [o for m in models if m.get("model_name") == "OutputModel" for o in m["state"].get("outputs", [])]
    controls = [c for c in map(_control_value, models) if c]
    if captured or controls:
        note = "widget (interactive in Jupyter), shown at its default values" + (
            ": " + ", ".join(controls) if controls else "")
        return [nbformat.v4.new_output("display_data", {"text/markdown": f"*{note}*", "text/plain": note})] + [
            nbformat.from_dict(copy.deepcopy(o)) for o in captured]
    texts = [_plain(m["state"]["value"]) for m in models
             if m.get("model_name", "").startswith(("HTML", "Label")) and m.get("state", {}).get("value")]
    bars = [m["state"] for m in models if m.get("model_name", "").endswith("ProgressModel")]
    if bars and len(texts) >= 1:  # a tqdm bar: "label: 100%" [bar] "5/5 [00:01<00:00]"
        share = bars[0].get("value", 0) / bars[0].get("max", 1) if bars[0].get("max") else 0.0
        bar = "|" + "█" * round(10 * share) + " " * (10 - round(10 * share)) + "|"
        line = f"{texts[0]}{bar}{texts[1] if len(texts) > 1 else ''}"
        return [nbformat.v4.new_output("stream", name="stderr", text=line + "\n")]
    if texts:
        return [nbformat.v4.new_output("display_data", {"text/plain": " ".join(texts)})]
    return []


def solution_blocks(source: Path) -> tuple[dict[int, str], dict[int, list[str]], int]:
    """From a lesson's source: code cells holding a solution (index: exercise label), "Think" answers per
    markdown cell (index: answers), and the number of cells."""
    from .notebooks import parse_percent

    code, answers = {}, {}
    cells = parse_percent(source.read_text(encoding="utf-8"))
    for index, (kind, text) in enumerate(cells):
        if kind == "code" and "# BEGIN SOLUTION" in text:
            label = re.search(r"# BEGIN SOLUTION\s*(Exercise [\d.]+)?", text).group(1)
            code[index] = label or "the exercise"
        elif kind == "markdown":
            found = [block.strip("\n") for block in _MD_SOLUTION.findall(text)]
            if found:
                answers[index] = found
    return code, answers, len(cells)


def fold_answers(markdown: str, answers: list[str]) -> str:
    """Put each answer (text that appears in ``markdown``) behind a toggle: a dropdown admonition."""
    for answer in answers:
        if answer not in markdown:
            raise ValueError(f"answer not found in the markdown cell: {answer[:60]!r}...")
        folded = f"\n:::::{{admonition}} Answer\n:class: dropdown {SOLUTION_TAG}\n\n{answer}\n:::::\n"
        markdown = markdown.replace(answer, folded, 1)
    return markdown


def _launch_links(lesson: Lesson, repository: str, fast: bool) -> str:
    slug = repository.removeprefix("https://github.com/").strip("/")
    student = f"notebooks/{lesson.stem}.ipynb"
    colab = f"https://colab.research.google.com/github/{slug}/blob/main/{student}"
    lab = f"https://mybinder.org/v2/gh/{slug}/main?urlpath=lab/tree/{student}"
    mode = ("in fast mode (`COURSE_FAST=1`: smaller samples and fewer epochs than a learner's run)"
            if fast else "in full mode")
    return (f"**Run this lesson:** [open it in Colab]({colab}) · [open it in JupyterLab]({lab}) (Binder) · "
            f"on your machine, `jupyter lab {student}`. This page is the solution version, executed {mode}; "
            f"solutions and answers are folded: click to show them.")


def page_notebook(lesson: Lesson, current: nbformat.NotebookNode, executed: nbformat.NotebookNode,
                  repository: str, *, fast: bool = True) -> nbformat.NotebookNode:
    """The notebook a lesson page is rendered from.

    The cells of ``current`` (the solution notebook now) with the outputs of ``executed``
    (the same code cells, run); solution cells tagged ``solution`` and ``hide-input``;
    "Think" answers folded; the Colab badge replaced by launch links; widgets replaced by
    their static outputs; no widget state left (a page with it would load the widget
    manager from another host).
    """
    page = copy.deepcopy(current)
    done = [c for c in executed.cells if c.cell_type == "code"]
    code = [c for c in page.cells if c.cell_type == "code"]
    if [c.source for c in done] != [c.source for c in code]:
        raise ValueError(f"{lesson.stem}: the executed notebook's code cells differ from the solution notebook's.")
    state = executed.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell, ran in zip(code, done):
        cell.outputs = [o for output in ran.outputs for o in static_widget_outputs(output, state)]
        cell.execution_count = ran.get("execution_count")
    solution_code, answers, n_cells = solution_blocks(lesson.source) if lesson.source.is_file() else ({}, {}, None)
    if n_cells is not None and n_cells != len(page.cells):
        raise ValueError(f"{lesson.stem}: the solution notebook is out of sync with {lesson.source.name}; "
                         "run python -m course_utils.notebooks build.")
    for index, cell in enumerate(page.cells):
        if cell.cell_type == "code" and index in solution_code:
            cell.metadata["tags"] = list(cell.metadata.get("tags", [])) + [SOLUTION_TAG, "hide-input"]
            cell.metadata["mystnb"] = {"code_prompt_show": f"Show the solution ({solution_code[index]})",
                                       "code_prompt_hide": f"Hide the solution ({solution_code[index]})"}
        elif cell.cell_type == "markdown" and index in answers:
            cell.source = fold_answers(cell.source, answers[index])
    first = next(c for c in page.cells if c.cell_type == "markdown")
    text = _BADGE.sub("", first.source, count=1)
    lines = text.split("\n")
    heading = next((i for i, line in enumerate(lines) if line.startswith("# ")), -1)
    lines.insert(heading + 1, "\n" + _launch_links(lesson, repository, fast) + "\n")
    first.source = "\n".join(lines)
    page.metadata.pop("widgets", None)
    page.metadata.pop("course_site", None)
    return page


# --------------------------------------------------------------------------- other pages

def further_reading(notebook: nbformat.NotebookNode) -> list[str]:
    """The items of a lesson's "Further reading" list (one string each, continuation lines joined)."""
    items: list[str] = []
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        match = _FURTHER.search(cell.source)
        if not match:
            continue
        for line in cell.source[match.end():].split("\n"):
            if line.startswith("#"):
                break
            if line.startswith(("- ", "* ")):
                items.append(line[2:].strip())
            elif line.startswith("  ") and items and line.strip():
                items[-1] += " " + line.strip()
    return items


def reference_key(item: str) -> str:
    """What identifies a cited work across lessons: its quoted (or italic) title, lowercased, letters only."""
    title = re.search(r'"([^"]+)"', item) or re.search(r"\*([^*]+)\*", item)
    return re.sub(r"[^a-z0-9]+", " ", (title.group(1) if title else item).lower()).strip()


def _first_author(item: str) -> str:
    """The first author's name without initials ("A. Barredo Arrieta et al., ..." -> "barredo arrieta")."""
    first = re.split(r",| et al\.| and ", item, maxsplit=1)[0]
    words = [w for w in first.split() if not re.fullmatch(r"(\w\.)+|\w\.-\w\.", w)]
    return " ".join(words).lower()


def _same_work(key: str, other: str) -> bool:
    """Two title keys name the same work when equal, or when one (three words or more) begins the other."""
    short, long = sorted((key, other), key=len)
    return short == long or (len(short.split()) >= 3 and long.startswith(short + " "))


def references_markdown(cited: dict[str, list[str]]) -> str:
    """The references page: every work the lessons' "Further reading" lists cite, with the lessons citing it.

    A work cited by several lessons is listed once (its longest citation), with every lesson citing it.
    """
    works: list[dict] = []
    for stem, items in cited.items():
        for item in items:
            key = reference_key(item)
            work = next((w for w in works if _same_work(w["key"], key)), None)
            if work is None:
                works.append({"key": key, "text": item, "lessons": [stem]})
                continue
            if len(item) > len(work["text"]):
                work["key"], work["text"] = key, item
            if stem not in work["lessons"]:
                work["lessons"].append(stem)
    lines = ["# References", "",
             f"The {len(works)} papers, books and data sets that the lessons cite, from their "
             "\"Further reading\" lists; each entry names the lessons that cite it.", ""]
    for work in sorted(works, key=lambda w: (_first_author(w["text"]), w["text"])):
        links = ", ".join(f"[{s[:2]}](notebooks/solutions/{s}.ipynb)" for s in work["lessons"])
        lines.append(f"- {work['text']} (lesson{'s' if len(work['lessons']) > 1 else ''} {links})")
    return "\n".join(lines) + "\n"


def _sections(markdown: str) -> list[tuple[str, str]]:
    """``(heading, text)`` for each ``## `` section of a markdown file (the part before the first: heading '')."""
    parts, heading, current, fenced = [], "", [], False
    for line in markdown.split("\n"):
        fenced ^= line.lstrip().startswith("```")
        if line.startswith("## ") and not fenced:
            parts.append((heading, "\n".join(current)))
            heading, current = line[3:].strip(), [line]
        else:
            current.append(line)
    parts.append((heading, "\n".join(current)))
    return parts


def readme_pages(readme: str, selected: list[Lesson]) -> tuple[str, str]:
    """The introduction (the README without its lesson table) and the syllabus (the lesson table, rows linked).

    A row whose notebook has a solution notebook links to its page; a row without one stays text.
    """
    stems = {lesson.stem for lesson in selected}
    intro, syllabus = [], ["# Syllabus", ""]
    for heading, text in _sections(readme):
        if heading.lower() == "lessons":
            for line in text.split("\n")[1:]:
                match = re.match(r"^\|\s*\d+\s*\|\s*`([^`]+)`\s*\|", line)
                if match and match.group(1) in stems:
                    stem = match.group(1)
                    line = line.replace(f"`{stem}`", f"[{stem}](notebooks/solutions/{stem}.ipynb)", 1)
                syllabus.append(line)
            intro.append("## Lessons\n\nThe [syllabus](syllabus.md) lists the lessons; each has a page, "
                         "rendered from its solution notebook with its figures.\n")
        else:
            intro.append(text)
    return "\n".join(intro).strip() + "\n", "\n".join(syllabus).strip() + "\n"


def _config(root: Path) -> str:
    from .notebooks import repository_url

    text = (root / "site" / "_config.yml").read_text(encoding="utf-8")
    return text.replace("@REPOSITORY@", repository_url())


def _toc(selected: list[Lesson]) -> str:
    lines = ["# Generated by python -m course_utils.site build", "format: jb-book", "root: intro",
             "parts:", "  - caption: The course", "    chapters:", "      - file: syllabus",
             "  - caption: Lessons", "    chapters:"]
    lines += [f"      - file: {lesson.docname}" for lesson in selected]
    lines += ["  - caption: Reference", "    chapters:", "      - file: references"]
    return "\n".join(lines) + "\n"


def write_book(root: Path, executed: dict[str, nbformat.NotebookNode], *, fast: bool = True) -> Path:
    """Write the book's sources into ``_build/book/`` (made anew); return that folder."""
    from .notebooks import repository_url

    book = root / "_build" / "book"
    if book.exists():
        shutil.rmtree(book)
    (book / "notebooks" / "solutions").mkdir(parents=True)
    selected = [lesson for lesson in lessons(root) if lesson.stem in executed]
    repository = repository_url()
    cited = {}
    for lesson in selected:
        current = nbformat.read(lesson.solution, as_version=4)
        page = page_notebook(lesson, current, executed[lesson.stem], repository, fast=fast)
        nbformat.write(page, book / f"{lesson.docname}.ipynb")
        cited[lesson.stem] = further_reading(current)
    intro, syllabus = readme_pages((root / "README.md").read_text(encoding="utf-8"), selected)
    (book / "intro.md").write_text(intro, encoding="utf-8")
    (book / "syllabus.md").write_text(syllabus, encoding="utf-8")
    (book / "references.md").write_text(references_markdown(cited), encoding="utf-8")
    (book / "_config.yml").write_text(_config(root), encoding="utf-8")
    (book / "_toc.yml").write_text(_toc(selected), encoding="utf-8")
    shutil.copytree(root / "site" / "_static", book / "_static")
    return book


def build_html(book: Path, html_dir: Path, *, quiet: bool = True) -> None:
    """Run Jupyter Book 1 (Sphinx) on the book's sources; raise if it fails or warns."""
    try:
        from jupyter_book.sphinx import build_sphinx
    except ImportError as error:
        raise RuntimeError("the site needs its extra: pip install -e \".[site]\"") from error
    if html_dir.exists():
        shutil.rmtree(html_dir)
    result = build_sphinx(book, html_dir, use_external_toc=True, noconfig=True,
                          path_config=str(book / "_config.yml"),
                          confoverrides={"external_toc_path": (book / "_toc.yml").as_posix(),
                                         "latex_individualpages": False},
                          builder="html", freshenv=True, warningiserror=True, quiet=quiet)
    if result != 0:
        raise RuntimeError(f"the Sphinx build failed ({result!r}); the messages above say why.")


def build(*, fast: bool | None = None, force: bool = False, jobs: int = 2, out=print) -> Path:
    """Execute the lessons (cached), write the book and build ``_build/html/``; return that folder."""
    root = repo_root()
    if fast is None:
        fast = os.environ.get("COURSE_FAST", "1").strip().lower() in {"1", "true", "yes", "on"}
    start = time.perf_counter()
    selected = lessons(root)
    if not selected:
        raise RuntimeError(f"no solution notebook in {root / 'notebooks' / 'solutions'}.")
    stale = [lesson.stem for lesson in selected if lesson.source.is_file()
             and solution_blocks(lesson.source)[2] != len(nbformat.read(lesson.solution, as_version=4).cells)]
    if stale:  # checked before executing: the folding of solutions follows the source's cells
        raise RuntimeError(f"solution notebooks out of sync with their sources: {', '.join(stale)}; "
                           "run python -m course_utils.notebooks build.")
    executed = execute_lessons(root, selected, fast=fast, force=force, jobs=jobs, out=out)
    executing = time.perf_counter() - start
    book = write_book(root, executed, fast=fast)
    html_dir = root / "_build" / "html"
    build_html(book, html_dir)
    out(f"site: {len(selected) + 3} pages in {html_dir.relative_to(root)}/ "
        f"(executing {executing:.0f} s, writing and Sphinx {time.perf_counter() - start - executing:.0f} s); "
        f"open {(html_dir / 'index.html').relative_to(root)}")
    return html_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.site",
                                     description="Build the course's web site into _build/html/.")
    parser.add_argument("command", choices=["build"])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", dest="fast", action="store_false", default=None,
                      help="execute in full mode (default: fast mode unless COURSE_FAST says otherwise)")
    mode.add_argument("--fast", dest="fast", action="store_true", default=None, help="execute in fast mode")
    parser.add_argument("--force", action="store_true", help="re-execute every lesson, cached or not")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="notebooks executed at once (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        build(fast=args.fast, force=args.force, jobs=args.jobs)
    except (RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
