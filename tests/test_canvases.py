"""Two-digit canvases (reproducible, boxes exact, digits apart) and the model trained on them."""
import json

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from course_utils import canvases, data, load_pretrained, models, plotting
from course_utils.canvases import exact_match_accuracy, ink_boxes, make_canvases

matplotlib.use("Agg")


def _digits():
    """Ten synthetic 'digits' 0-9, each a filled rectangle of a different size and grey level."""
    X = np.zeros((10, 28, 28), dtype=np.float32)
    for k in range(10):
        X[k, 4 + k % 3:14 + k, 6:10 + k] = 0.1 * (k + 1)
    return X, np.arange(10)


def test_ink_boxes_exact():
    X, _ = _digits()
    assert ink_boxes(X[:2]).tolist() == [[6, 4, 10, 14], [6, 5, 11, 15]]
    with pytest.raises(ValueError, match="at least one non-zero pixel"):
        ink_boxes(np.zeros((1, 28, 28)))


def test_canvases_hold_two_different_digits_apart_inside_their_boxes():
    X, y = _digits()
    batch = make_canvases(X, y, 300, rng=np.random.default_rng(0))
    assert batch.images.shape == (300, 1, 64, 64) and batch.images.dtype == torch.float32
    assert (batch.digits[:, 0] != batch.digits[:, 1]).all()
    assert batch.targets.sum(dim=1).eq(2).all() and batch.targets.gather(1, batch.digits).eq(1).all()
    boxes = batch.boxes.numpy()
    assert (boxes[..., :2] >= 0).all() and (boxes[..., 2:] <= 64).all()
    assert canvases._apart(boxes[:, 0], boxes[:, 1], margin=2).all()
    for image, digits, pair in zip(batch.images[:, 0].numpy(), batch.digits.numpy(), boxes):
        inside = np.zeros_like(image, dtype=bool)
        for digit, (x0, y0, x1, y1) in zip(digits, pair):
            inside[y0:y1, x0:x1] = True
            # each box holds exactly that digit's ink (a rectangle of its grey level)
            assert ink_boxes(X[digit:digit + 1])[0, 2] - ink_boxes(X[digit:digit + 1])[0, 0] == x1 - x0
            np.testing.assert_array_equal(image[y0:y1, x0:x1], np.float32(0.1 * (digit + 1)))
        assert not image[~inside].any()  # no ink outside the boxes


def test_ink_masks_are_each_digits_bright_pixels_in_its_box():
    X, y = _digits()
    batch = make_canvases(X, y, 20, rng=np.random.default_rng(0))
    masks = batch.ink_masks(threshold=0.35)
    assert masks.shape == (20, 2, 64, 64) and masks.dtype == torch.bool
    assert not (masks[:, 0] & masks[:, 1]).any()  # disjoint
    for image, digits, pair, mask in zip(batch.images[:, 0], batch.digits, batch.boxes, masks):
        for digit, (x0, y0, x1, y1), one in zip(digits.tolist(), pair.tolist(), mask):
            expected = torch.zeros(64, 64, dtype=torch.bool)
            expected[y0:y1, x0:x1] = 0.1 * (digit + 1) > 0.35  # each synthetic digit is one grey level
            assert torch.equal(one, expected)
    with pytest.raises(ValueError, match="threshold"):
        batch.ink_masks(threshold=1.0)


def test_same_seed_same_canvases_and_positions_vary():
    X, y = _digits()
    a = make_canvases(X, y, 50, rng=np.random.default_rng(7))
    b = make_canvases(X, y, 50, rng=np.random.default_rng(7))
    c = make_canvases(X, y, 50, rng=np.random.default_rng(8))
    assert torch.equal(a.images, b.images) and torch.equal(a.boxes, b.boxes)
    assert not torch.equal(a.images, c.images)
    corners = a.boxes[:, :, :2].reshape(-1, 2)
    assert len(torch.unique(corners, dim=0)) > 40  # random positions, not a few fixed slots


def test_mnist_canvases_use_the_requested_split(monkeypatch):
    X, y = _digits()
    asked = []
    monkeypatch.setattr(data, "mnist_tensors", lambda split="test", n=None: asked.append(split) or (X, y))
    first = canvases.mnist_canvases("train", 5, rng=3)
    second = canvases.mnist_canvases("test", 5, rng=3)
    assert asked == ["train", "test"] and torch.equal(first.images, second.images)
    with pytest.raises(ValueError, match="split must be one of 'train', 'test'"):
        canvases.mnist_canvases("validation", 5)


def test_indexing_keeps_a_canvases_object():
    X, y = _digits()
    batch = make_canvases(X, y, 6, rng=np.random.default_rng(0))
    assert len(batch[1:4]) == 3 and len(batch[2]) == 1 and torch.equal(batch[2].boxes, batch.boxes[2:3])
    assert torch.equal(batch[-1].images, batch.images[-1:])


def test_argument_errors():
    X, y = _digits()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="size must be at least 2 \\* 28 \\+ margin = 58, got 50"):
        make_canvases(X, y, 2, rng=rng, size=50)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator, got int"):
        make_canvases(X, y, 2, rng=0)
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        make_canvases(X, y, 0, rng=rng)
    with pytest.raises(ValueError, match="at least two classes"):
        make_canvases(X[:3], np.zeros(3), 2, rng=rng)


class _Oracle(nn.Module):
    """Reads the digits off a lookup table: logits +5 for present digits, -5 otherwise."""

    def __init__(self, targets, extra=None):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.targets, self.extra, self.calls = targets, extra, 0

    def forward(self, x):
        out = self.targets[self.calls:self.calls + len(x)] * 10 - 5
        self.calls += len(x)
        if self.extra is not None:
            out[:, self.extra] = 5.0
        return out


def test_exact_match_accuracy():
    X, y = _digits()
    batch = make_canvases(X, y, 30, rng=np.random.default_rng(0))
    assert exact_match_accuracy(_Oracle(batch.targets), batch, batch_size=7) == 1.0
    extra = _Oracle(batch.targets, extra=0)  # also claims a 0 on every canvas
    assert exact_match_accuracy(extra, batch) == pytest.approx((batch.digits == 0).any(dim=1).float().mean().item())


def test_draw_box():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    assert plotting.draw_box(ax, torch.tensor([1, 2, 5, 9]), label="3") is ax
    rectangle = ax.patches[0]
    assert rectangle.get_xy() == (0.5, 1.5) and (rectangle.get_width(), rectangle.get_height()) == (4, 7)
    plt.close(fig)


# ------------------------------------------------------------------ the model trained on canvases


def test_mnist_pairs_cnn_convention():
    model = models.mnist_pairs_cnn()
    assert isinstance(model[0], models.Normalize), "normalisation must be the first layer"
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 6 and len({id(m) for m in relus}) == 6 and not any(m.inplace for m in relus)
    assert tuple(model(torch.rand(2, 1, 64, 64)).shape) == (2, 10)
    assert models.gradcam_layer(model) is model.relu5


def test_pairs_checkpoint_card_matches_file():
    path = models.checkpoint_path("mnist_pairs_cnn")
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["test_exact_match"] >= 0.95 and "course_utils.train mnist_pairs_cnn" in card["command"]
    assert path.stat().st_size < 1_000_000


@pytest.mark.usefixtures("mirror_dir")
def test_committed_pairs_checkpoint_accuracy():
    model = load_pretrained("mnist_pairs_cnn")
    assert not model.training
    # 1,000 fresh test canvases (another seed than the card's 10,000)
    assert exact_match_accuracy(model, canvases.mnist_canvases("test", 1000, rng=123)) >= 0.95
