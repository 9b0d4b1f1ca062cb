"""The course site: the builder's parts, the built book, and every page in a real browser.

The browser tests need a built site (``python -m course_utils.site build``), the
``playwright`` package and Debian's Chromium at ``/usr/bin/chromium`` (``playwright
install`` cannot download browsers here). Without them they are skipped, unless
``COURSE_SITE_REQUIRED=1`` (as in ``.ci/run``) turns the skip into a failure. Each page's
screenshots are saved under ``_build/screenshots/``.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

from course_utils import site
from course_utils.notebooks import repository_url

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
BOOK = ROOT / "_build" / "book"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
LESSONS = site.lessons(ROOT)
REQUIRED = os.environ.get("COURSE_SITE_REQUIRED", "").strip() in {"1", "true", "yes"}


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"COURSE_SITE_REQUIRED is set but {reason}")
    pytest.skip(reason)


# --------------------------------------------------------------------------- the builder's parts

def test_lessons_are_every_solution_notebook(tmp_path):
    """A new lesson's solution notebook is picked up with no code change."""
    (tmp_path / "notebooks" / "solutions").mkdir(parents=True)
    for stem in ("00_tour", "12_new_lesson"):
        nbformat.write(nbformat.v4.new_notebook(), tmp_path / "notebooks" / "solutions" / f"{stem}.ipynb")
    (tmp_path / "notebooks" / "solutions" / "notes.ipynb").write_text("{}")
    assert [lesson.stem for lesson in site.lessons(tmp_path)] == ["00_tour", "12_new_lesson"]
    assert site.lessons(tmp_path)[1].docname == "notebooks/solutions/12_new_lesson"
    assert [lesson.stem for lesson in LESSONS] == sorted(p.stem for p in (ROOT / "notebooks" / "solutions").glob("*.ipynb"))


def test_execution_key_follows_code_mode_and_library():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A"),
                                               nbformat.v4.new_code_cell("x = 1")])
    key = site.execution_key(notebook, "fast", "lib")
    notebook.cells[0].source = "# A, reworded"
    assert site.execution_key(notebook, "fast", "lib") == key  # prose does not re-execute
    assert site.execution_key(notebook, "full", "lib") != key
    assert site.execution_key(notebook, "fast", "lib2") != key
    notebook.cells[1].source = "x = 2"
    assert site.execution_key(notebook, "fast", "lib") != key


def test_library_fingerprint_covers_course_utils(tmp_path):
    (tmp_path / "course_utils").mkdir()
    (tmp_path / "course_utils" / "data.py").write_text("A = 1\n")
    before = site.library_fingerprint(tmp_path)
    (tmp_path / "course_utils" / "site.py").write_text("# the site tool itself does not count\n")
    assert site.library_fingerprint(tmp_path) == before
    (tmp_path / "course_utils" / "data.py").write_text("A = 2\n")
    assert site.library_fingerprint(tmp_path) != before


def test_bad_jobs_is_refused():
    with pytest.raises(ValueError, match="jobs must be a positive int, got 0"):
        site.execute_lessons(ROOT, [], jobs=0)


def test_fold_answers_puts_each_answer_behind_a_toggle():
    text = "**Think.** Why?\n\n**Answers.** Because $x^2 \\ge 0$.\n\nMore."
    folded = site.fold_answers(text, ["**Answers.** Because $x^2 \\ge 0$."])
    assert ":class: dropdown solution" in folded and folded.count("Because") == 1
    assert folded.startswith("**Think.** Why?") and folded.rstrip().endswith("More.")
    with pytest.raises(ValueError, match="answer not found"):
        site.fold_answers(text, ["an answer that is not there"])


@pytest.mark.parametrize("lesson", [lesson for lesson in LESSONS if lesson.source.is_file()], ids=lambda l: l.stem)
def test_solution_cells_are_the_cells_the_student_version_blanks(lesson):
    """The cells folded on the page are exactly those whose student version differs (the exercises)."""
    code, answers, n_cells = site.solution_blocks(lesson.source)
    solution = nbformat.read(lesson.solution, as_version=4).cells
    student = nbformat.read(lesson.student, as_version=4).cells
    assert n_cells == len(solution) == len(student)
    differing = {i for i, (a, b) in enumerate(zip(solution, student)) if a.cell_type == "code" and a.source != b.source}
    assert set(code) == differing and code
    assert all(re.fullmatch(r"Exercise \d+\.\d+|the exercise", label) for label in code.values())
    for index, found in answers.items():
        assert all(answer in solution[index].source and answer not in student[index].source for answer in found)


def test_static_widget_outputs_of_a_real_interact(monkeypatch):
    """An executed interact becomes its default values and its figure; a tqdm bar its final line."""
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from course_utils import setup_notebook\nctx = setup_notebook()"),
        nbformat.v4.new_code_cell(
            "import ipywidgets as widgets, matplotlib.pyplot as plt\n"
            "def show(n, kind):\n    plt.plot(range(n))\n    plt.title(kind)\n    plt.show()\n"
            "widgets.interact(show, n=widgets.IntSlider(value=3, min=1, max=9, description='points'),\n"
            "                 kind=widgets.Dropdown(options=['line', 'dots'], value='dots', description='kind'));"),
        nbformat.v4.new_code_cell("from tqdm.auto import tqdm\nfor _ in tqdm(range(5), desc='steps'):\n    pass"),
    ])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    state = notebook.metadata["widgets"][site.WIDGET_STATE]["state"]
    widget_cell = [o for o in notebook.cells[1].outputs if site.WIDGET_VIEW in o.get("data", {})]
    assert len(widget_cell) == 1
    static = site.static_widget_outputs(widget_cell[0], state)
    assert static[0].data["text/plain"].endswith("default values: points = 3, kind = dots")
    assert sum("image/png" in o.get("data", {}) for o in static) == 1
    bar = [o for o in notebook.cells[2].outputs if site.WIDGET_VIEW in o.get("data", {})]
    assert bar, "tqdm.auto drew no widget bar"
    text = "".join(o.text for out in bar for o in site.static_widget_outputs(out, state))
    assert text.startswith("steps: 100%|██████████|") and "5/5" in text
    plain = nbformat.v4.new_output("stream", name="stdout", text="hello\n")
    assert site.static_widget_outputs(plain, state) == [plain]


def test_further_reading_and_references():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "## Summary\n\n- not a reference\n\n## Further reading\n\n- A. Author, \"A Title\", *Venue* 2020.\n"
        "- B. Writer, *A Book*\n  (2021), chapter 2.\n\n## Next\n\n- not one either")])
    items = site.further_reading(notebook)
    assert items == ['A. Author, "A Title", *Venue* 2020.', "B. Writer, *A Book* (2021), chapter 2."]
    page = site.references_markdown({"01_a": items, "02_b": [items[0] + " Its experiment 3."]})
    assert page.count("A Title") == 1 and "(lessons [01](notebooks/solutions/01_a.ipynb), [02](" in page
    assert "Its experiment 3" in page  # the longer citation is kept
    shortened = site.references_markdown({"01_a": ['A. Author, "A Long Title: and its subtitle", 2020.'],
                                          "02_b": ['A. Author, "A Long Title", 2020.']})
    assert shortened.count("A Long Title") == 1 and "(lesson [" not in shortened  # a title that begins another
    assert page.index("Author") < page.index("Writer")
    for lesson in LESSONS:
        assert site.further_reading(nbformat.read(lesson.solution, as_version=4)), f"{lesson.stem} cites nothing"


def test_readme_pages_link_every_lesson_row():
    readme = (ROOT / "README.md").read_text()
    intro, syllabus = site.readme_pages(readme + "\n", LESSONS)
    assert intro.startswith("# ") and "syllabus.md" in intro and "| # | notebook |" not in intro
    rows = re.findall(r"^\|\s*(\d\d)\s*\|", syllabus, re.M)
    assert rows, "the README's lesson table was not found"
    for lesson in LESSONS:
        if lesson.number in rows:
            assert f"[{lesson.stem}](notebooks/solutions/{lesson.stem}.ipynb)" in syllabus
    invented = readme.replace("| 00 |", "| 99 | `99_not_written` | later |\n| 00 |", 1)
    assert "`99_not_written`" in site.readme_pages(invented, LESSONS)[1]  # a row without a notebook stays text


def test_outside_a_clone_the_tool_says_so(monkeypatch, tmp_path, capsys):
    import course_utils.paths as paths

    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)
    assert site.main(["build"]) == 1
    assert "works on a clone of the course repository" in capsys.readouterr().err


def test_a_notebook_out_of_sync_stops_the_build_before_executing(monkeypatch, tmp_path, capsys):
    import course_utils.paths as paths

    (tmp_path / "pyproject.toml").write_text('[project.urls]\nRepository = "https://github.com/a/b"\n')
    (tmp_path / "notebooks" / "src").mkdir(parents=True)
    (tmp_path / "notebooks" / "solutions").mkdir()
    (tmp_path / "notebooks" / "src" / "00_a.py").write_text("# %% [markdown]\n# # 00 · A\n\n# %%\nx = 1\n")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 00 · A")]),
                   tmp_path / "notebooks" / "solutions" / "00_a.ipynb")
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)
    assert site.main(["build"]) == 1
    assert "out of sync with their sources: 00_a" in capsys.readouterr().err
    assert not (tmp_path / "_build").exists()  # nothing was executed


# --------------------------------------------------------------------------- the built book

def _built():
    if not (HTML / "index.html").is_file():
        _unavailable("the site is not built: python -m course_utils.site build")


def _book_notebook(lesson) -> nbformat.NotebookNode:
    path = BOOK / f"{lesson.docname}.ipynb"
    if not path.is_file():
        pytest.fail(f"{lesson.stem} has no page in the built site: rebuild it (python -m course_utils.site build)")
    return nbformat.read(path, as_version=4)


def _figure_cells(notebook) -> int:
    return sum(any(kind in o.get("data", {}) for o in c.get("outputs", []) for kind in site.IMAGE_TYPES)
               for c in notebook.cells if c.cell_type == "code")


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda l: l.stem)
def test_book_page_has_the_outputs(lesson):
    """Each lesson's page notebook is current, holds its figures and no widget a static page cannot show."""
    _built()
    page = _book_notebook(lesson)
    current = nbformat.read(lesson.solution, as_version=4)
    assert [c.source for c in page.cells if c.cell_type == "code"] == \
           [c.source for c in current.cells if c.cell_type == "code"], "the site is stale: rebuild it"
    assert "widgets" not in page.metadata
    for cell in page.cells:
        for output in cell.get("outputs", []):
            assert site.WIDGET_VIEW not in output.get("data", {})
            assert output.get("output_type") != "error"
        if cell.cell_type == "code" and re.search(r"^plt\.show\(\)", cell.source, re.M):
            assert any("image/png" in o.get("data", {}) for o in cell.outputs), \
                f"a cell that shows a figure stored none:\n{cell.source[:200]}"
    assert (HTML / f"{lesson.docname}.html").is_file()


# --------------------------------------------------------------------------- the pages in a browser

@pytest.fixture(scope="module")
def server():
    _built()
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e \".[site]\")")
    if not CHROMIUM.is_file():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "pages.tsv").write_text("page\timages\tfigure cells\tformulas\tsolutions\tanswers\n")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Visit:
    """One page opened in a fresh browser context, with everything it asked the network for."""

    def __init__(self, browser, base: str, path: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.errors, self.failed, self.foreign = [], [], []
        host = urlparse(base).netloc
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.url} (HTTP {r.status})"))
        self.page.on("request", lambda r: urlparse(r.url).scheme in {"http", "https", "ws", "wss"}
                     and urlparse(r.url).netloc != host and self.foreign.append(r.url))
        self.page.goto(f"{base}/{path}", wait_until="load")
        if self.page.locator("script[src*='mathjax']").count():  # Sphinx adds MathJax to pages with maths only
            self.page.wait_for_function("() => !!(window.MathJax && MathJax.startup && MathJax.startup.promise)")
            self.page.evaluate("() => MathJax.startup.promise.then(() => true)")
        self.page.wait_for_function("() => [...document.images].every(i => i.complete)")
        self.page.wait_for_load_state("networkidle")

    def close(self):
        self.context.close()

    def check_network(self):
        assert self.foreign == [], f"requests to other hosts: {self.foreign}"
        assert self.failed == [], f"failed requests: {self.failed}"
        assert self.errors == [], f"console errors: {self.errors}"

    def check_maths(self, expect: bool):
        text = self.page.inner_text("article")
        assert "$$" not in text, "raw $$ left on the page"
        rendered = self.page.locator("article mjx-container").count()
        unrendered = self.page.evaluate(
            "() => [...document.querySelectorAll('article .math')].filter(e => !e.querySelector('mjx-container')).length")
        assert unrendered == 0 and self.page.locator("article mjx-merror").count() == 0
        if expect:
            assert rendered > 0, "no rendered maths"
        return rendered

    def images(self) -> tuple[int, int]:
        sizes = self.page.evaluate("() => [...document.querySelectorAll('article img')]"
                                   ".map(i => [i.naturalWidth, i.naturalHeight])")
        return len(sizes), sum(w > 0 and h > 0 for w, h in sizes)

    def toc_targets(self) -> set[str]:
        hrefs = self.page.evaluate("() => [...document.querySelectorAll('nav.bd-docs-nav a')].map(a => a.href)")
        return {urlparse(h).path.lstrip("/") for h in hrefs}


OTHER_PAGES = {"intro": "intro.html", "syllabus": "syllabus.html", "references": "references.html"}


@pytest.mark.parametrize("name", list(OTHER_PAGES))
def test_course_page_in_browser(browser, server, name):
    visit = Visit(browser, server, OTHER_PAGES[name])
    try:
        visit.check_network()
        visit.check_maths(expect=False)
        shown, sized = visit.images()
        assert shown == sized
        toc = visit.toc_targets()
        assert {f"{lesson.docname}.html" for lesson in LESSONS} <= toc
        text = visit.page.inner_text("article")
        if name == "references":  # every work every lesson cites
            words = re.sub(r"[^a-z0-9]+", " ", text.lower())
            for lesson in LESSONS:
                for item in site.further_reading(nbformat.read(lesson.solution, as_version=4)):
                    assert site.reference_key(item) in words, item
        if name == "syllabus":
            links = visit.page.evaluate("() => [...document.querySelectorAll('article table a')].map(a => a.href)")
            rows = set(re.findall(r"^\| (\d\d) \|", (ROOT / "README.md").read_text(), re.M))
            linked = {urlparse(h).path.lstrip("/") for h in links}
            assert {f"{l.docname}.html" for l in LESSONS if l.number in rows} <= linked
        visit.page.screenshot(path=str(SHOTS / f"{name}.png"))
    finally:
        visit.close()


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda l: l.stem)
def test_lesson_page_in_browser(browser, server, lesson):
    page_notebook = _book_notebook(lesson)
    visit = Visit(browser, server, f"{lesson.docname}.html")
    page = visit.page
    try:
        visit.check_network()
        # figures: at least one rendered image per figure cell, each with a size
        shown, sized = visit.images()
        figures = _figure_cells(page_notebook)
        assert shown == sized, f"{shown - sized} image(s) did not load"
        assert sized >= figures > 0
        # maths
        has_maths = any("$" in c.source for c in page_notebook.cells if c.cell_type == "markdown")
        visit.check_maths(expect=has_maths)
        # every lesson in the table of contents
        assert {f"{l.docname}.html" for l in LESSONS} <= visit.toc_targets()
        # launch links: Colab and JupyterLab, to this lesson's notebooks in the repository
        slug = repository_url().removeprefix("https://github.com/")
        hrefs = page.evaluate("() => [...document.querySelectorAll('a')].map(a => a.href)")
        assert f"https://colab.research.google.com/github/{slug}/blob/main/notebooks/{lesson.stem}.ipynb" in hrefs
        assert any(h.startswith(f"https://mybinder.org/v2/gh/{slug}/main?urlpath=lab/tree/notebooks/") and
                   h.endswith(f"{lesson.stem}.ipynb") for h in hrefs)
        page.screenshot(path=str(SHOTS / f"{lesson.stem}.png"))
        # the solutions: folded, shown by a click, folded again
        code, answers, _ = site.solution_blocks(lesson.source)
        cells = page.locator("div.cell.tag_solution")
        assert cells.count() == len(code) > 0
        for i in range(cells.count()):
            source = cells.nth(i).locator(".cell_input")
            assert not source.is_visible()
            cells.nth(i).locator("summary").first.click()
            assert source.is_visible()
            if i == 0:
                source.scroll_into_view_if_needed()
                page.screenshot(path=str(SHOTS / f"{lesson.stem}-solution.png"))
            cells.nth(i).locator("summary").first.click()
            assert not source.is_visible()
        folded = page.locator("div.admonition.solution")
        assert folded.count() == sum(len(a) for a in answers.values())
        for i in range(folded.count()):
            body = folded.nth(i).locator(":scope > :not(.admonition-title)").first  # the answer's first block
            assert not body.is_visible()
            folded.nth(i).locator("button.toggle-button").click()
            body.wait_for(state="visible")
            folded.nth(i).locator("button.toggle-button").click()
            body.wait_for(state="hidden")
        first_figure = page.locator("article .cell_output img").first
        first_figure.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"{lesson.stem}-figure.png"))
        visit.check_network()  # clicking loaded nothing from elsewhere either
        formulas = page.locator("article mjx-container").count()
        with open(SHOTS / "pages.tsv", "a") as report:
            report.write(f"{lesson.stem}\t{sized}\t{figures}\t{formulas}\t{len(code)}\t{folded.count()}\n")
    finally:
        visit.close()
