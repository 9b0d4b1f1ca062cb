"""Lesson 11's metrics: deletion and insertion curves, their area, infidelity, RISE; against exact answers and captum."""
import numpy as np
import pytest
import torch
from torch import nn

from course_utils import load_pretrained
from course_utils.data import mnist_tensors
from course_utils.xai.evaluation import (blurred, cascading_randomisation, curve_auc, deletion_curve, evaluate_explanations, infidelity,
                                         infidelity_from_samples, insertion_curve, max_sensitivity, noisy_gradient_maps,
                                         rise, rise_masks, rise_saliency)
from course_utils.xai.methods import REPORT_CARD_METHODS, cell_masks, course_methods


def _linear(d: int, k: int = 2, seed: int = 0, bias: bool = True) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, k, bias=bias))


def _fixed_linear(weights: torch.Tensor) -> nn.Module:
    """Logits ``weights @ x.flatten()`` (rows: classes), no bias."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(weights.shape[1], weights.shape[0], bias=False))
    with torch.no_grad():
        model[1].weight.copy_(weights)
    return model


@pytest.fixture(scope="module")
def cnn():
    return load_pretrained("mnist_cnn")


@pytest.fixture(scope="module")
def digits():
    return mnist_tensors("test", n=8)


# ------------------------------------------------------------------ deletion and insertion


def test_end_points_are_the_model_on_x_and_on_the_baseline(cnn, digits):
    x, y = digits
    attributions = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        p_x = cnn(x).softmax(1)[torch.arange(len(x)), y].numpy()
        p_zero = cnn(torch.zeros_like(x)).softmax(1)[torch.arange(len(x)), y].numpy()
        substrate = blurred(x)
        p_blur = cnn(substrate).softmax(1)[torch.arange(len(x)), y].numpy()
    fractions, deleted = deletion_curve(cnn, x, attributions, y, n_steps=7)
    np.testing.assert_allclose(fractions, np.arange(8) / 7)
    assert deleted.shape == (8, 8)
    np.testing.assert_allclose(deleted[:, 0], p_x, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(deleted[:, -1], p_zero, rtol=1e-5, atol=1e-7)
    _, inserted = insertion_curve(cnn, x, attributions, y, baseline=substrate, n_steps=7)
    np.testing.assert_allclose(inserted[:, 0], p_blur, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(inserted[:, -1], p_x, rtol=1e-5, atol=1e-7)


def test_step_counts_ties_and_channels_exactly():
    # x = ones; logit 1 = sum_i v_i x_i with v distinct per pixel and channel; all attributions tie,
    # so the pixels go in flat order: after step s, the first round(s * 6 / 4) pixels (both channels) are gone.
    c, h, w = 2, 2, 3
    v = torch.arange(1, c * h * w + 1, dtype=torch.float32) / 10
    model = _fixed_linear(torch.stack([torch.zeros(c * h * w), v]))
    x = torch.ones(1, c, h, w)
    _, p = deletion_curve(model, x, torch.zeros(1, c, h, w), 1, n_steps=4)
    counts = [round(s * 6 / 4) for s in range(5)]
    assert counts == [0, 2, 3, 4, 6]  # Python's round: 1.5 -> 2, 4.5 -> 4
    pixel_value = v.view(c, h * w).sum(0)  # both channels of a pixel
    remaining = torch.tensor([pixel_value[k:].sum() for k in counts])
    np.testing.assert_allclose(p[0], torch.sigmoid(remaining).numpy(), rtol=1e-6)
    # insertion from baseline 0 puts back the same pixels in the same order
    _, q = insertion_curve(model, x, torch.zeros(1, h, w), 1, n_steps=4)
    inserted = torch.tensor([pixel_value[:k].sum() for k in counts])
    np.testing.assert_allclose(q[0], torch.sigmoid(inserted).numpy(), rtol=1e-6)


def test_channel_sum_ranks_the_pixels():
    # pixel 2 has the largest channel sum (0.9 - 0.1 + 0.5) although pixel 0 has the largest single entry
    model = _fixed_linear(torch.stack([torch.zeros(6), torch.tensor([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])]))
    x = torch.ones(1, 2, 1, 3)
    attributions = torch.tensor([[[[1.0, 0.0, 0.9]], [[-0.9, 0.2, 0.5]]]])
    _, p = deletion_curve(model, x, attributions, 1, n_steps=3)
    # order: pixel 2 (1.4), pixel 1 (0.2), pixel 0 (0.1); pixel j's channels carry 2^j and 2^(j+3)
    remaining = [63.0, 63.0 - 4 - 32, 63.0 - 4 - 32 - 2 - 16, 0.0]
    np.testing.assert_allclose(p[0], torch.sigmoid(torch.tensor(remaining)).numpy(), rtol=1e-6)


def test_deleting_the_most_positive_pixels_of_a_linear_softmax_model_falls_fastest():
    # Two classes, no bias, baseline 0: after deleting a set S the log-odds are sum_{i not in S} d_i x_i with
    # d = w_1 - w_0. Deleting the largest d_i x_i first leaves the smallest sum for every k, so its curve is
    # below the curve of every other order at every step.
    torch.manual_seed(0)
    weights = torch.randn(2, 36)
    model = _fixed_linear(weights)
    x = torch.rand(1, 1, 6, 6)
    contributions = ((weights[1] - weights[0]) * x.flatten()).view(1, 1, 6, 6)
    _, best = deletion_curve(model, x, contributions, 1, n_steps=12)
    generator = torch.Generator().manual_seed(1)
    others = [-contributions] + [torch.randn(1, 1, 6, 6, generator=generator) for _ in range(20)]
    for other in others:
        _, curve = deletion_curve(model, x, other, 1, n_steps=12)
        assert (best[0] <= curve[0] + 1e-7).all()
        assert curve_auc(np.linspace(0, 1, 13), best)[0] < curve_auc(np.linspace(0, 1, 13), curve)[0]
    # and inserting them first rises fastest
    _, best_in = insertion_curve(model, x, contributions, 1, n_steps=12)
    for other in others:
        _, curve = insertion_curve(model, x, other, 1, n_steps=12)
        assert (best_in[0] >= curve[0] - 1e-7).all()


def test_curves_batch_every_step_in_few_forward_passes_and_leave_the_model_alone():
    calls = []
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2 * 25, 3)).train()
    model.register_forward_hook(lambda module, inputs, output: calls.append(len(inputs[0])))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(4, 1, 5, 5)
    deletion_curve(model, x, torch.rand(4, 1, 5, 5), 0, n_steps=10)
    assert calls == [44]  # 4 images x 11 steps, one pass
    calls.clear()
    insertion_curve(model, x, torch.rand(4, 1, 5, 5), 0, n_steps=10, batch_size=20)
    assert calls == [20, 20, 4]
    assert model.training and model[1].training
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_curve_errors_name_the_parameter(cnn, digits):
    x, y = digits
    with pytest.raises(ValueError, match="attributions must have the shape of x"):
        deletion_curve(cnn, x, torch.zeros(8, 28, 27), y)
    with pytest.raises(ValueError, match="n_steps must be a positive int"):
        insertion_curve(cnn, x, torch.zeros_like(x), y, n_steps=0)
    with pytest.raises(ValueError, match="baseline must have the shape of x"):
        deletion_curve(cnn, x, torch.zeros_like(x), y, baseline=torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match="x must be a batch of images"):
        deletion_curve(cnn, x.flatten(1), torch.zeros(8, 784), y)
    with pytest.raises(ValueError, match="attributions must contain only finite"):
        deletion_curve(cnn, x, torch.full_like(x, float("nan")), y)


def test_curve_auc_is_the_trapezoid_rule():
    rng = np.random.default_rng(0)
    fractions = np.sort(rng.random(9))
    values = rng.random((4, 9))
    np.testing.assert_allclose(curve_auc(fractions, values), np.trapezoid(values, fractions, axis=1))
    assert curve_auc([0, 1], [1, 3]) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="values must have 3 columns"):
        curve_auc([0, 0.5, 1], np.ones((2, 4)))


# ------------------------------------------------------------------ infidelity


def test_infidelity_of_a_linear_models_gradient_is_zero_and_doubling_it_costs_sigma2_w2():
    model = _linear(12, 3, seed=0)
    w = model[1].weight[2].detach()
    x = torch.rand(5, 1, 3, 4)
    gradient = w.view(1, 1, 3, 4).expand(5, 1, 3, 4)
    assert infidelity(model, x, gradient, 2, noise_std=0.3, n_samples=5, rng=0).abs().max() < 1e-10
    # doubled: (2 w.I - w.I)^2 = (w.I)^2, mean sigma^2 ||w||^2; exactly the sample mean of the same draws
    values = infidelity(model, x, 2 * gradient, 2, noise_std=0.3, n_samples=4, rng=7)
    generator = torch.Generator().manual_seed(7)
    draws = torch.stack([torch.randn(x.shape, generator=generator) * 0.3 for _ in range(4)])  # (4, 5, 1, 3, 4)
    expected = ((draws.flatten(2) * w.flatten()).sum(-1) ** 2).mean(0)
    torch.testing.assert_close(values, expected.double(), rtol=1e-5, atol=1e-8)
    many = infidelity(model, x[:1], 2 * gradient[:1], 2, noise_std=0.3, n_samples=3000, rng=1)
    assert float(many) == pytest.approx(0.09 * float(w.pow(2).sum()), rel=0.1)  # standard error 2.6%


def test_normalize_removes_the_scale(cnn, digits):
    x, y = digits
    attributions = x * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    plain = [infidelity(cnn, x, c * attributions, y, rng=3) for c in (1.0, 10.0)]
    assert not torch.allclose(plain[0], plain[1], rtol=0.1)
    scaled = [infidelity(cnn, x, c * attributions, y, normalize=True, rng=3) for c in (1.0, 10.0, 0.01)]
    torch.testing.assert_close(scaled[0], scaled[1], rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(scaled[0], scaled[2], rtol=1e-6, atol=1e-9)
    assert (scaled[0] <= plain[0] + 1e-9).all()  # beta is the least-squares optimum, beta = 1 is one candidate


def test_infidelity_from_samples_by_hand():
    dots, drops = torch.tensor([[1.0, -1.0, 2.0]]), torch.tensor([[0.5, 0.0, 2.0]])
    torch.testing.assert_close(infidelity_from_samples(dots, drops), torch.tensor([(0.25 + 1.0 + 0.0) / 3]))
    beta = (0.5 + 0 + 4) / (1 + 1 + 4)
    torch.testing.assert_close(infidelity_from_samples(dots, drops, normalize=True),
                               ((beta * dots - drops) ** 2).mean(1))


def _our_draws(shape, n_samples, seed, kind):
    """Our functions' perturbations, in captum's order (example-major: each input repeated n_samples times)."""
    generator = torch.Generator().manual_seed(seed)
    if kind == "gauss":
        draws = torch.stack([torch.randn(shape, generator=generator) for _ in range(n_samples)])
    else:
        draws = torch.stack([torch.rand(shape, generator=generator) * 2 - 1 for _ in range(n_samples)])
    return draws.transpose(0, 1).reshape(shape[0] * n_samples, *shape[1:])


@pytest.mark.parametrize("normalize", [False, True])
def test_infidelity_agrees_with_captum(cnn, digits, normalize):
    from captum.metrics import infidelity as captum_infidelity

    from course_utils.xai.gradients import saliency

    x, y = digits
    attributions = saliency(cnn, x, y)
    noise = _our_draws(x.shape, 6, 5, "gauss") * 0.1

    def perturb(inputs):
        return noise, inputs - noise

    theirs = captum_infidelity(cnn, perturb, x, attributions, target=y, n_perturb_samples=6, normalize=normalize)
    ours = infidelity(cnn, x, attributions, y, noise_std=0.1, n_samples=6, normalize=normalize, rng=5)
    torch.testing.assert_close(ours.float(), theirs.float(), rtol=2e-4, atol=1e-6)


def test_max_sensitivity_agrees_with_captum(cnn, digits):
    from captum.metrics import sensitivity_max

    from course_utils.xai.gradients import saliency

    x, y = digits
    delta = _our_draws(x.shape, 5, 11, "uniform") * 0.05

    def perturb(inputs, perturb_radius=0.05):
        inputs = inputs[0] if isinstance(inputs, tuple) else inputs
        return inputs + delta

    def explain(inputs, target):  # captum passes the inputs as a tuple and wants one back
        return (saliency(cnn, inputs[0] if isinstance(inputs, tuple) else inputs, target),)

    theirs = sensitivity_max(explain, x, perturb_func=perturb,
                             n_perturb_samples=5, target=y)
    ours = max_sensitivity(lambda batch: saliency(cnn, batch, y), x, radius=0.05, n_samples=5, rng=11)
    torch.testing.assert_close(ours.float(), theirs.float(), rtol=1e-4, atol=1e-6)


def test_infidelity_errors_and_model_state():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2)).train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(3, 1, 2, 2)
    infidelity(model, x, torch.ones_like(x), 0, rng=0)
    assert model.training and all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="attributions must have the shape of x"):
        infidelity(model, x, torch.ones(3, 4), 0)
    with pytest.raises(ValueError, match="noise_std must be a real number >= 0"):
        infidelity(model, x, torch.ones_like(x), 0, noise_std=-1.0)
    with pytest.raises(ValueError, match="target must be in"):
        infidelity(model, x, torch.ones_like(x), 5)


# ------------------------------------------------------------------ RISE


def test_rise_masks_follow_the_paper():
    masks = rise_masks(4000, (28, 28), rng=0)  # the default cell of 4 pixels: a 7 x 7 grid
    assert masks.shape == (4000, 28, 28) and masks.min() >= 0 and masks.max() <= 1
    assert float(masks.mean()) == pytest.approx(0.5, abs=0.01)
    torch.testing.assert_close(rise_masks(10, (12, 9), cell_size=3, p_keep=0.2, rng=4),
                               rise_masks(10, (12, 9), cell_size=3, p_keep=0.2, rng=4))
    sparse = rise_masks(4000, (12, 9), cell_size=3, p_keep=0.2, rng=1)
    assert float(sparse.mean()) == pytest.approx(0.2, abs=0.01)
    # bilinear upsampling of a grid: a mask is smooth (neighbouring pixels differ by at most 1 / cell)
    assert float((masks[:, 1:] - masks[:, :-1]).abs().max()) <= 0.25 + 1e-6
    with pytest.raises(ValueError, match="p_keep must be a real number > 0 and <= 1"):
        rise_masks(5, (4, 4), p_keep=0.0)


def test_rise_is_the_weighted_sum_of_the_masks():
    model = _linear(16, 3, seed=2)
    x = torch.rand(2, 1, 4, 4)
    maps = rise(model, x, torch.tensor([0, 2]), n_masks=64, cell_size=2, p_keep=0.4, rng=3, batch_size=10)
    masks = rise_masks(64, (4, 4), cell_size=2, p_keep=0.4, rng=3)
    for i, target in enumerate((0, 2)):
        with torch.no_grad():
            scores = model(x[i] * masks[:, None]).softmax(1)[:, target]
        expected = (scores[:, None, None] * masks).sum(0) / (64 * 0.4)
        torch.testing.assert_close(maps[i], expected, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(rise_saliency(scores, masks, 0.4), expected)


def test_rise_finds_the_only_pixels_a_model_looks_at():
    # logit 1 = 10 * (mean of the top-left 4 x 4 block), logit 0 = 0: only that block matters
    weights = torch.zeros(2, 1, 16, 16)
    weights[1, 0, :4, :4] = 10 / 16
    model = _fixed_linear(weights.flatten(1))
    maps = rise(model, torch.ones(1, 1, 16, 16), 1, n_masks=1000, cell_size=4, rng=0)[0]
    assert maps[:4, :4].mean() > maps[8:, 8:].mean() + 0.1
    # far from the block the map is the mean score (masks there are independent of the block's)
    with torch.no_grad():
        mean_score = model(torch.ones(1, 1, 16, 16) * rise_masks(1000, (16, 16), cell_size=4, rng=0)[:, None]).softmax(1)[:, 1].mean()
    assert float(maps[12:, 12:].mean()) == pytest.approx(float(mean_score), rel=0.1)


def test_rise_on_the_cnn_leaves_its_mode_and_localises_the_digit(cnn, digits):
    x, y = digits
    cnn.train()
    try:
        maps = rise(cnn, x[:2], y[:2], n_masks=300, rng=0)
        assert cnn.training
    finally:
        cnn.eval()
    ink = x[:2, 0] > 0.3
    assert ((maps * ink).flatten(1).sum(1) / ink.flatten(1).sum(1) > (maps * ~ink).flatten(1).sum(1)
            / (~ink).flatten(1).sum(1)).all()


# ------------------------------------------------------------------ SmoothGrad variants, the method registry


def test_noisy_gradient_maps_share_smoothgrads_draws(cnn, digits):
    from course_utils.xai.gradients import smoothgrad

    x, y = digits
    maps = noisy_gradient_maps(cnn, x[:3], y[:3], n_samples=5, rng=2)
    torch.testing.assert_close(maps["SmoothGrad"], smoothgrad(cnn, x[:3], y[:3], n_samples=5, rng=2), rtol=1e-4,
                               atol=1e-6)
    # VarGrad = E[g^2] - E[g]^2 >= 0, and SmoothGrad-squared >= SmoothGrad^2
    assert (maps["VarGrad"] >= 0).all()
    torch.testing.assert_close(maps["VarGrad"], maps["SmoothGrad-squared"] - maps["SmoothGrad"] ** 2, rtol=1e-3,
                               atol=1e-6)


def test_course_methods_give_maps_of_x_shape_that_explain_the_digit(cnn, digits):
    x, y = digits
    methods = course_methods(n_samples=60, ig_steps=8, smoothgrad_samples=4, n_masks=100, rng=0)
    assert tuple(methods) == REPORT_CARD_METHODS
    for name, explain in methods.items():
        maps = explain(cnn, x[:2], y[:2])
        assert maps.shape == x[:2].shape, name
        assert torch.isfinite(maps).all(), name
        # every method puts more (positive) evidence on the digit's ink than on the same area of background
        ink = x[:2] > 0.3
        on = (maps.clamp(min=0) * ink).flatten(1).sum(1) / ink.flatten(1).sum(1)
        off = (maps.clamp(min=0) * ~ink).flatten(1).sum(1) / (~ink).flatten(1).sum(1)
        assert (on > off).all(), name


def test_cell_masks_and_their_spread_back_to_pixels():
    masks = cell_masks(np.array([[1, 0, 0, 1], [0, 1, 1, 0]]), (4, 4), 2)
    assert masks.shape == (2, 4, 4)
    assert masks[0, :2, :2].eq(1).all() and masks[0, :2, 2:].eq(0).all() and masks[0, 2:, 2:].eq(1).all()
    torch.testing.assert_close(masks[0] + masks[1], torch.ones(4, 4))
    with pytest.raises(ValueError, match=r"masks must have shape \(n, 4\)"):
        cell_masks(np.ones((1, 5)), (4, 4), 2)


def test_evaluate_explanations_row(cnn, digits):
    x, y = digits
    randomised = list(cascading_randomisation(cnn, ["fc2", "fc1", "conv2", "conv1"], rng=0))[-1][1]
    methods = course_methods(rng=0)
    rows = {name: evaluate_explanations(cnn, methods[name], x[:4], y[:4], randomised=randomised, n_infidelity=4,
                                        n_sensitivity=2, rng=0) for name in ("saliency", "gradient x input")}
    for row in rows.values():
        assert set(row) == {"deletion", "insertion", "infidelity", "max-sensitivity", "sanity", "seconds"}
        assert all(np.isfinite(v).all() for v in row.values())
        assert ((row["deletion"] >= 0) & (row["deletion"] <= 1)).all()
    # Adebayo et al.: gradient x input stays close to the input whatever the weights; the gradient does not
    assert rows["gradient x input"]["sanity"].mean() > rows["saliency"]["sanity"].mean() + 0.3


def test_infidelity_optimal_is_the_gradient_of_a_linear_model():
    from course_utils.xai.evaluation import infidelity_optimal

    model = _linear(6, 3, seed=1)
    x = torch.rand(2, 1, 2, 3)
    optimal = infidelity_optimal(model, x, torch.tensor([0, 2]), n_samples=50, batch_size=7, rng=0)
    expected = model[1].weight.detach()[[0, 2]].view(2, 1, 2, 3)
    torch.testing.assert_close(optimal, expected, rtol=1e-5, atol=1e-6)  # the control variate is exact here
