"""The course's metrics against Quantus 0.6.0 (lesson 11, section 6): same values where the definitions agree."""
from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from course_utils.xai.quantus_compare import quantus_comparison


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3)).eval()


def _explain(model, x, target):
    """An explanation without ties (the two tie-breaking rules differ: ours the lower flat index
    first, Quantus an unstable argsort) whose max-sensitivity is known: the image itself."""
    return x.clone()


def _inputs():
    model = _model()
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    x[:, :, 0, 0] = 0.0  # Quantus's "black" baseline is the image's minimum; ours is 0
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    return model, x, y, _explain(model, x, y)


def test_agrees_with_quantus_where_the_definitions_agree():
    pytest.importorskip("quantus")
    model, x, y, maps = _inputs()
    rows = quantus_comparison(model, x, y, maps, _explain, n_steps=8, n_samples=20, rng=0)
    assert rows["pixel flipping"]["largest difference"] < 1e-6
    assert rows["pixel flipping"]["quantus"] == pytest.approx(rows["pixel flipping"]["course_utils"], abs=1e-6)
    sens = rows["max-sensitivity"]
    assert sens["course_utils"] == pytest.approx(sens["quantus"], rel=0.25)  # same definition, different draws
    assert all(row["quantus s"] > 0 and row["course_utils s"] > 0 for row in rows.values())


def test_without_quantus_the_message_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "quantus", None)
    model, x, y, maps = _inputs()
    with pytest.raises(ImportError, match=r"pip install 'quantus==0\.6\.0'"):
        quantus_comparison(model, x, y, maps, _explain, n_steps=8)


@pytest.mark.parametrize("change, match", [
    ({"n_steps": 7}, "n_steps must divide the 64 pixels"),
    ({"attributions": torch.zeros(6, 1, 8, 7)}, "attributions must be a torch.Tensor of x's shape"),
    ({"explain_fn": 3}, "explain_fn must be callable"),
    ({"x": torch.rand(6, 3, 8, 8)}, "single-channel"),
])
def test_bad_arguments_are_named_before_quantus_is_needed(monkeypatch, change, match):
    monkeypatch.setitem(sys.modules, "quantus", None)
    model, x, y, maps = _inputs()
    arguments = {"model": model, "x": x, "target": y, "attributions": maps, "explain_fn": _explain, "n_steps": 8}
    arguments.update(change)
    with pytest.raises((ValueError, TypeError), match=match):
        quantus_comparison(**arguments)
