"""Device selection, seeding, fast mode."""
import random

import numpy as np
import pytest
import torch

from course_utils import fast_mode, get_device, pick, seed_everything


def test_environment_overrides_the_preference(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device("auto") == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "auto")
    assert get_device("cpu") == torch.device("cpu")


def test_auto_picks_cuda_when_present(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device() == torch.device("cuda")


def test_absent_device_raises_and_lists_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="COURSE_DEVICE='cuda'.*available: .*cpu"):
        get_device()
    monkeypatch.delenv("COURSE_DEVICE")
    with pytest.raises(RuntimeError, match="prefer='cuda'"):
        get_device("cuda")


def test_unknown_device_name(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "tpu")
    with pytest.raises(ValueError, match="COURSE_DEVICE must be one of"):
        get_device()


def test_seed_everything_reproduces_every_generator():
    def draw(seed):
        rng = seed_everything(seed)
        return random.random(), np.random.rand(), torch.rand(3).tolist(), rng.random()
    assert draw(123) == draw(123)
    assert all(a != b for a, b in zip(draw(123), draw(124)))


def test_seed_must_be_a_non_negative_int():
    with pytest.raises(ValueError, match="seed must be a non-negative int, got -1"):
        seed_everything(-1)
    with pytest.raises(TypeError, match="seed must be a non-negative int, got 1.5"):
        seed_everything(1.5)


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("0", False), ("", False)])
def test_fast_mode_and_pick(monkeypatch, value, expected):
    monkeypatch.setenv("COURSE_FAST", value)
    assert fast_mode() is expected
    assert pick(full=5000, fast=50) == (50 if expected else 5000)


def test_setup_notebook_stores_figures_under_agg(monkeypatch):
    """MPLBACKEND=Agg (CI's setting) must not leave an executed notebook without figures."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", str(root))  # the kernel imports this clone's course_utils
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import matplotlib\nprint(matplotlib.get_backend())"),
        nbformat.v4.new_code_cell("from course_utils import setup_notebook\nctx = setup_notebook()"),
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()"),
    ])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    assert notebook.cells[0].outputs[0].text.strip().lower() == "agg"  # the kernel did inherit Agg
    images = [output for output in notebook.cells[2].outputs if "image/png" in output.get("data", {})]
    assert len(images) == 1
