"""The course's models: input convention, committed checkpoint, Grad-CAM layer."""
import json
import shutil

import pytest
import torch
from torch import nn

from course_utils import data, load_pretrained, models


def test_mnist_cnn_convention():
    model = models.mnist_cnn()
    assert isinstance(model[0], models.Normalize), "normalisation must be the first layer"
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 3 and len({id(m) for m in relus}) == 3 and not any(m.inplace for m in relus)
    assert tuple(model(torch.rand(2, 1, 28, 28)).shape) == (2, 10)


def test_normalize_layer():
    layer = models.Normalize((0.5,), (0.25,))
    assert torch.allclose(layer(torch.full((1, 1, 2, 2), 1.0)), torch.full((1, 1, 2, 2), 2.0))


def test_checkpoint_card_matches_file():
    card = json.loads(models.checkpoint_path("mnist_cnn").with_suffix(".json").read_text())
    assert card["sha256"] and card["test_accuracy"] >= 0.985 and "course_utils.train" in card["command"]
    assert models.checkpoint_path("mnist_cnn").stat().st_size < 5_000_000


@pytest.mark.usefixtures("mirror_dir")
def test_committed_checkpoint_accuracy():
    from course_utils.train import evaluate_accuracy

    model = load_pretrained("mnist_cnn")
    assert not model.training
    X, y = data.mnist_tensors("test")
    assert evaluate_accuracy(model, X, y) >= 0.985


def test_corrupted_checkpoint_is_refused(tmp_path, monkeypatch):
    for suffix in (".pt", ".json"):
        shutil.copy(models.checkpoint_path("mnist_cnn").with_suffix(suffix), tmp_path / f"mnist_cnn{suffix}")
    (tmp_path / "mnist_cnn.pt").write_bytes(b"truncated")
    monkeypatch.setattr(models, "CHECKPOINT_DIR", tmp_path)
    with pytest.raises(ValueError, match="corrupted"):
        load_pretrained("mnist_cnn")


def test_missing_checkpoint_says_how_to_train(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "CHECKPOINT_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="python -m course_utils.train mnist_cnn"):
        load_pretrained("mnist_cnn")


def test_unknown_model_name():
    with pytest.raises(ValueError, match="name must be one of 'mnist_cnn'"):
        load_pretrained("vgg16")


def test_gradcam_layer():
    model = models.mnist_cnn()
    assert models.gradcam_layer(model) is model.relu2
    with pytest.raises(ValueError, match="course's models"):
        models.gradcam_layer(nn.Linear(2, 2))


@pytest.mark.usefixtures("mirror_dir")
def test_gradcam_layer_gives_nonempty_maps_for_the_true_class():
    from captum.attr import LayerGradCam

    model = load_pretrained("mnist_cnn")
    X, y = data.mnist_tensors("test", n=50)
    maps = LayerGradCam(model, models.gradcam_layer(model)).attribute(X, target=y, relu_attributions=True)
    assert (maps.flatten(1).amax(1) > 0).float().mean() >= 0.95
