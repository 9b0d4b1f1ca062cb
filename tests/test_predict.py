"""batched_predict and as_predict_fn."""
import numpy as np
import pytest
import torch

from course_utils import as_predict_fn, batched_predict
from course_utils.models import mnist_cnn


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return mnist_cnn().eval()


@pytest.fixture(scope="module")
def images():
    return torch.rand(37, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def test_batches_equal_a_single_pass(model, images):
    with torch.no_grad():
        reference = model(images).softmax(1).numpy()
    for batch_size in (1, 8, 37, 500):
        np.testing.assert_allclose(batched_predict(model, images, batch_size=batch_size), reference, atol=1e-6)


def test_logits_when_probs_false(model, images):
    with torch.no_grad():
        np.testing.assert_allclose(batched_predict(model, images, probs=False), model(images).numpy(), atol=1e-5)


def test_layouts_and_dtypes_agree(model, images):
    expected = batched_predict(model, images)
    nhwc = images.permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(batched_predict(model, nhwc), expected, atol=1e-6)
    np.testing.assert_allclose(batched_predict(model, images[:, 0].numpy()), expected, atol=1e-6)
    rgb = np.repeat(nhwc, 3, axis=-1)  # what lime_image passes for a gray image
    np.testing.assert_allclose(batched_predict(model, rgb), expected, atol=1e-6)
    as_uint8 = (images * 255).round().to(torch.uint8)
    np.testing.assert_allclose(batched_predict(model, as_uint8.numpy()),
                               batched_predict(model, as_uint8.float() / 255), atol=1e-6)


def test_tabular_and_class_index():
    linear = torch.nn.Linear(4, 3)
    X = np.random.default_rng(0).normal(size=(10, 4))
    probs = batched_predict(linear, X)
    assert probs.shape == (10, 3) and probs.dtype == np.float64
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-6)
    np.testing.assert_allclose(as_predict_fn(linear, class_index=2)(X), probs[:, 2])
    single = torch.nn.Linear(4, 1)
    assert np.all((batched_predict(single, X) > 0) & (batched_predict(single, X) < 1))


def test_restores_mode_and_builds_no_graph(model, images):
    model.train()
    out = batched_predict(model, images)
    assert model.training and isinstance(out, np.ndarray)
    model.eval()
    assert all(p.grad is None for p in model.parameters())


def test_argument_errors(model, images):
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        batched_predict(model, images, batch_size=0)
    with pytest.raises(ValueError, match="X must be a batch"):
        batched_predict(model, np.zeros(5))


def test_model_is_left_as_it_was(model, images):
    before = {name: (p, p.detach().clone(), p.is_contiguous()) for name, p in model.named_parameters()}
    batched_predict(model, images)
    for name, p in model.named_parameters():
        same_object, values, contiguous = before[name]
        assert p is same_object and torch.equal(p, values) and p.is_contiguous() == contiguous


def test_model_still_trains_after_batched_predict(model, images):
    """Gradients must work after a prediction (the channels-last switch once left inference tensors behind)."""
    batched_predict(model, images)
    assert not any(p.is_inference() for p in model.parameters())
    x = images[:2].clone().requires_grad_(True)
    model(x).sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=True)
