"""pytest configuration shared by the unit tests and nbval.

- ``COURSE_FAST=1`` unless set otherwise: notebook outputs checked by nbval are recorded in
  fast mode, and fast mode keeps the whole suite short.
- Threads are split between xdist workers (two notebooks at a time must not fight over
  every core).
- A relative ``COURSE_DATA_MIRROR`` is made absolute once (notebook kernels run in
  ``notebooks/``), and the session checks once, at its start, that the course's data can
  be reached: if not, it stops with one message instead of failing every notebook cell.
- At the end, one line per notebook with its execution time.
"""
import os
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("COURSE_FAST", "1")
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_SET_BY_USER = {name for name in _THREAD_VARIABLES if name in os.environ}


def worker_count(config) -> int:
    """Processes that run tests at once: xdist's workers (``-n``), else 1."""
    running = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if running:
        return int(running)
    requested = getattr(config.option, "numprocesses", None)
    return max(1, int(requested)) if isinstance(requested, int) else 1


def pytest_configure(config):
    # Runs in the controller before xdist starts its workers, so the workers and their
    # notebook kernels inherit these values. (Set at import time, the controller always
    # saw one worker and gave every kernel all the cores: with two notebooks at a time
    # OpenMP oversubscribed the CPU and ran several times slower.)
    threads = max(1, (os.cpu_count() or 1) // worker_count(config))
    for name in _THREAD_VARIABLES:
        if name not in _SET_BY_USER:
            os.environ[name] = str(threads)
    if not hasattr(config, "workerinput"):  # the controller, once: the workers inherit what it sets
        _check_data(config)


def _check_data(config) -> None:
    import pytest

    from course_utils import data

    try:
        folder = data.mirror_folder()
        if folder is not None:
            os.environ["COURSE_DATA_MIRROR"] = str(folder)  # absolute for the workers and the kernels
        data.check_data_available()
    except data.DataUnavailableError as err:
        pytest.exit(str(err), returncode=4)

NOTEBOOK_BUDGET_S = 120
_notebook_seconds: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    terminalreporter.section("notebook execution times")
    for path, seconds in sorted(_notebook_seconds.items()):
        flag = "  OVER THE 2-MINUTE FAST-MODE BUDGET" if seconds > NOTEBOOK_BUDGET_S else ""
        terminalreporter.write_line(f"{seconds:7.1f} s  {Path(path)}{flag}")
