"""The root conftest gives each xdist worker (and the notebook kernels it starts) its share of the cores."""
import importlib.util
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@pytest.fixture
def root_conftest(monkeypatch):
    for name in VARIABLES + ("PYTEST_XDIST_WORKER_COUNT",):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    spec = importlib.util.spec_from_file_location("root_conftest", Path(__file__).parent.parent / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def config(numprocesses):
    return SimpleNamespace(option=SimpleNamespace(numprocesses=numprocesses))


def test_worker_count(root_conftest, monkeypatch):
    assert root_conftest.worker_count(config(2)) == 2
    assert root_conftest.worker_count(config(0)) == 1
    assert root_conftest.worker_count(config(None)) == 1
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
    assert root_conftest.worker_count(config(None)) == 3


def test_configure_splits_the_cores_between_workers(root_conftest, monkeypatch):
    root_conftest.pytest_configure(config(2))
    share = str(max(1, (os.cpu_count() or 1) // 2))
    assert [os.environ[name] for name in VARIABLES] == [share] * 3
    root_conftest.pytest_configure(config(0))
    assert os.environ["OMP_NUM_THREADS"] == str(os.cpu_count() or 1)


def test_configure_keeps_what_the_user_set(monkeypatch):
    for name in VARIABLES + ("PYTEST_XDIST_WORKER_COUNT",):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    spec = importlib.util.spec_from_file_location("root_conftest", Path(__file__).parent.parent / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.pytest_configure(config(2))
    assert os.environ["OMP_NUM_THREADS"] == "7" and os.environ["MKL_NUM_THREADS"] == str(
        max(1, (os.cpu_count() or 1) // 2))
