"""Gradients, Integrated Gradients, SmoothGrad and DeepLIFT by hand: exact cases, properties, captum."""
import doctest
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import simulation
from course_utils.xai import gradients
from course_utils.simulation import simulate_motif_sequences
from course_utils.xai.gradients import (completeness_gap, deeplift_rescale, input_x_gradient, integrated_gradients,
                                        path_integral, path_rule, rescale_multiplier, saliency, smoothgrad)

captum_attr = pytest.importorskip("captum.attr")


def mlp(seed, sizes=(6, 10, 10, 4), activation=nn.ReLU, dtype=torch.float64):
    return gradients._tiny_mlp(np.random.default_rng(seed), sizes, activation).to(dtype)


def data(seed, shape=(7, 6), dtype=torch.float64):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.normal(size=shape)).to(dtype), torch.from_numpy(rng.normal(size=shape)).to(dtype)


def small_cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()


def saturating():
    """f(x1, x2) = 1 - relu(1 - x1 - x2) = min(1, x1 + x2): flat (gradient 0) once x1 + x2 >= 1."""
    model = nn.Sequential(nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 1)).double()
    with torch.no_grad():
        model[0].weight.fill_(-1.0), model[0].bias.fill_(1.0)
        model[2].weight.fill_(-1.0), model[2].bias.fill_(1.0)
    return model


# ------------------------------------------------------------------ exact small cases


def test_saturated_unit_gradient_is_zero_but_ig_and_deeplift_split_the_output():
    model, x = saturating(), torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    assert model(x).item() == 1.0 and model(torch.zeros_like(x)).item() == 0.0
    assert saliency(model, x, 0).tolist() == [[0.0, 0.0]]
    assert input_x_gradient(model, x, 0).tolist() == [[0.0, 0.0]]
    # IG: the path a * (1, 1) has gradient (1, 1) for a < 1/2 and 0 after, so each input gets 1/2.
    torch.testing.assert_close(integrated_gradients(model, x, 0, steps=10, method="riemann_middle"),
                               torch.tensor([[0.5, 0.5]], dtype=torch.float64))
    # DeepLIFT: Delta relu / Delta z = (0 - 1) / (-1 - 1) = 1/2 on the only hidden unit.
    torch.testing.assert_close(deeplift_rescale(model, x, 0, torch.zeros_like(x)),
                               torch.tensor([[0.5, 0.5]], dtype=torch.float64))


def test_linear_model_every_method_is_exact():
    model = nn.Linear(3, 2).double()
    x, baseline = data(1, (4, 3))
    weight = model.weight[1].detach()
    torch.testing.assert_close(saliency(model, x, 1), weight.expand(4, 3))
    torch.testing.assert_close(input_x_gradient(model, x, 1), x * weight)
    for method in gradients.INTEGRATION_METHODS:
        torch.testing.assert_close(integrated_gradients(model, x, 1, baseline=baseline, steps=3, method=method),
                                   (x - baseline) * weight)
    torch.testing.assert_close(smoothgrad(model, x, 1, n_samples=3, rng=0), weight.expand(4, 3))
    torch.testing.assert_close(deeplift_rescale(nn.Sequential(model), x, 1, baseline), (x - baseline) * weight)


def test_path_rules():
    for method in gradients.INTEGRATION_METHODS:
        alphas, weights = path_rule(5, method)
        assert alphas.shape == weights.shape == (5,) and abs(weights.sum().item() - 1) < 1e-12
        assert 0 <= alphas.min() and alphas.max() <= 1
    assert path_rule(2, "riemann_right")[0].tolist() == [0.5, 1.0]
    assert path_rule(4, "riemann_left")[0].tolist() == [0.0, 0.25, 0.5, 0.75]
    assert path_rule(3, "riemann_trapezoid")[1].tolist() == [0.25, 0.5, 0.25]
    # Gauss-Legendre with n points integrates polynomials of degree 2n - 1 exactly.
    alphas, weights = path_rule(3, "gausslegendre")
    assert abs(float((weights * alphas**5).sum()) - 1 / 6) < 1e-12


def test_rescale_multiplier_small_case():
    z = torch.tensor([2.0, -1.0, 3.0, -0.5, 1.0, -2.0])
    z_ref = torch.tensor([-2.0, -3.0, 1.0, 0.5, 1.0, -2.0])
    # (2-0)/4, (0-0)/2, (3-1)/2, (0-0.5)/(-1), equal and positive: gradient 1, equal and negative: 0
    assert rescale_multiplier(z, z_ref).tolist() == [0.5, 0.0, 1.0, 0.5, 1.0, 0.0]


# ------------------------------------------------------------------ completeness


def test_deeplift_sums_exactly_to_the_output_difference():
    model = mlp(0)
    x, baseline = data(0)
    target = torch.tensor([0, 1, 2, 3, 0, 1, 2])
    gap = completeness_gap(model, x, target, deeplift_rescale(model, x, target, baseline), baseline)
    assert gap.abs().max() < 1e-12


def test_ig_completeness_within_one_percent_at_50_steps_on_the_course_cnn(mirror_dir):
    from course_utils import data as course_data
    from course_utils import load_pretrained

    model = load_pretrained("mnist_cnn")
    x, y = course_data.mnist_tensors("test", n=6)
    with torch.no_grad():
        delta = model(x).gather(1, y[:, None])[:, 0] - model(torch.zeros_like(x)).gather(1, y[:, None])[:, 0]
    for method in ("gausslegendre", "riemann_middle"):
        ig = integrated_gradients(model, x, y, steps=50, method=method, internal_batch_size=100)
        assert (completeness_gap(model, x, y, ig) / delta.abs()).abs().max() < 0.01


def test_ig_completeness_gap_is_small_on_a_random_cnn():
    # An untrained network's f(x) - f(0) can be tiny, so compare with the attributions' size.
    model = small_cnn()
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    for method in ("gausslegendre", "riemann_middle"):
        ig = integrated_gradients(model, x, 2, steps=50, method=method)
        scale = ig.abs().reshape(6, -1).sum(1)
        assert (completeness_gap(model, x, 2, ig) / scale).abs().max() < 0.02


def test_ig_completeness_improves_with_steps():
    model = mlp(3, activation=nn.Tanh)
    x, baseline = data(3)
    gaps = [completeness_gap(model, x, 1, integrated_gradients(model, x, 1, baseline=baseline, steps=s,
                                                                method="riemann_right"), baseline).abs().max()
            for s in (5, 50, 500)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-2 * gaps[0]


# ------------------------------------------------------------------ agreement with captum


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_left", "riemann_right", "riemann_middle"])
def test_ig_matches_captum(method):
    model = mlp(1)
    x, baseline = data(1)
    target = torch.tensor([3, 2, 1, 0, 3, 2, 1])
    ours = integrated_gradients(model, x, target, baseline=baseline, steps=20, method=method, internal_batch_size=9)
    theirs = captum_attr.IntegratedGradients(model).attribute(x, baseline, target=target, n_steps=20, method=method)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-9)


def test_ig_trapezoid_differs_from_captum_only_by_its_weights():
    # captum's trapezoid weights sum to (n - 1) / n instead of 1; ours sum to 1.
    model = mlp(2)
    x, baseline = data(2)
    ours = integrated_gradients(model, x, 1, baseline=baseline, steps=20, method="riemann_trapezoid")
    theirs = captum_attr.IntegratedGradients(model).attribute(x, baseline, target=1, n_steps=20,
                                                              method="riemann_trapezoid")
    torch.testing.assert_close(ours * 19 / 20, theirs, rtol=1e-6, atol=1e-9)


def test_ig_matches_captum_on_a_cnn():
    model = small_cnn(1)
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    baseline = torch.full((1, 8, 8), 0.5)
    ours = integrated_gradients(model, x, 1, baseline=baseline, steps=16)
    theirs = captum_attr.IntegratedGradients(model).attribute(x, baseline[None].expand_as(x), target=1, n_steps=16)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)


@pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
def test_saliency_and_input_x_gradient_match_captum():
    model = small_cnn(2)
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    target = torch.tensor([0, 1, 2, 1])
    # captum's Saliency takes the absolute value by default.
    torch.testing.assert_close(saliency(model, x, target, absolute=True),
                               captum_attr.Saliency(model).attribute(x, target=target))
    torch.testing.assert_close(saliency(model, x, target),
                               captum_attr.Saliency(model).attribute(x, target=target, abs=False))
    torch.testing.assert_close(input_x_gradient(model, x, target),
                               captum_attr.InputXGradient(model).attribute(x, target=target))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_deeplift_matches_captum(seed):
    model = mlp(seed, sizes=(5, 12, 8, 12, 3))
    x, baseline = data(seed, (9, 5))
    target = torch.tensor([0, 1, 2] * 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # captum warns that it sets hooks and requires_grad on its copy
        theirs = captum_attr.DeepLift(model).attribute(x, baseline, target=target)
    torch.testing.assert_close(deeplift_rescale(model, x, target, baseline), theirs, rtol=1e-7, atol=1e-10)


def test_deeplift_handles_reused_and_in_place_relus():
    torch.manual_seed(0)
    relu = nn.ReLU()
    reused = nn.Sequential(nn.Linear(4, 6), relu, nn.Linear(6, 6), relu, nn.Linear(6, 2)).double()
    distinct = nn.Sequential(reused[0], nn.ReLU(), reused[2], nn.ReLU(), reused[4])
    x, baseline = data(4, (3, 4))
    in_place = nn.Sequential(reused[0], nn.ReLU(inplace=True), reused[2], nn.ReLU(inplace=True), reused[4])
    expected = deeplift_rescale(distinct, x, 1, baseline)
    torch.testing.assert_close(deeplift_rescale(reused, x, 1, baseline), expected)
    torch.testing.assert_close(deeplift_rescale(in_place, x, 1, baseline), expected)
    assert completeness_gap(distinct, x, 1, expected, baseline).abs().max() < 1e-12
    with pytest.raises(RuntimeError, match="used more than once"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        captum_attr.DeepLift(reused).attribute(x, baseline, target=1)


def test_smoothgrad_is_an_average_of_noisy_gradients():
    model = mlp(5, activation=nn.Tanh)
    x, _ = data(5)
    # noise_level 0: the plain gradient; same generator seed: same result.
    torch.testing.assert_close(smoothgrad(model, x, 2, n_samples=3, noise_level=0.0, rng=1),
                               saliency(model, x, 2))
    torch.testing.assert_close(smoothgrad(model, x, 2, rng=7), smoothgrad(model, x, 2, rng=7))
    assert not torch.allclose(smoothgrad(model, x, 2, rng=7), smoothgrad(model, x, 2, rng=8))
    # f(x) = sum(x^2): gradient 2x, and Gaussian noise averages out: SmoothGrad -> 2x.
    ours = smoothgrad(QuadraticModel(), x, 0, n_samples=1000, noise_level=0.2, rng=0)
    torch.testing.assert_close(ours, 2 * x, atol=0.2, rtol=0)  # 4 standard errors


class QuadraticModel(nn.Module):
    def forward(self, x):
        return (x**2).sum(dim=1, keepdim=True)


def test_smoothgrad_agrees_with_captum_noise_tunnel_in_expectation():
    model = mlp(6, activation=nn.Tanh)
    x, _ = data(6, (3, 6))
    sigma = 1.0  # captum's stdevs is absolute; ours is relative to the sample's range
    noise_level = sigma / float(x[0].max() - x[0].min())
    ours = smoothgrad(model, x[:1], 1, n_samples=1500, noise_level=noise_level, rng=0)
    torch.manual_seed(0)
    tunnel = captum_attr.NoiseTunnel(captum_attr.Saliency(model))
    theirs = tunnel.attribute(x[:1], nt_type="smoothgrad", nt_samples=1500, stdevs=sigma, target=1, abs=False)
    # the two Monte Carlo estimates differ by about 0.002; smoothing moved the gradient by about 0.05
    torch.testing.assert_close(ours, theirs, atol=0.01, rtol=0)
    assert (ours - saliency(model, x[:1], 1)).abs().max() > 0.03


# ------------------------------------------------------------------ targets, batching, side effects


def test_int_target_and_per_sample_targets_agree():
    model = mlp(7)
    x, baseline = data(7)
    per_sample = torch.tensor([0, 1, 2, 3, 0, 1, 2])
    for function in (lambda t: saliency(model, x, t), lambda t: input_x_gradient(model, x, t),
                     lambda t: integrated_gradients(model, x, t, baseline=baseline, steps=8),
                     lambda t: deeplift_rescale(model, x, t, baseline),
                     lambda t: smoothgrad(model, x, t, n_samples=2, rng=0)):
        together = function(per_sample)
        for i, t in enumerate(per_sample.tolist()):
            torch.testing.assert_close(together[i], function(t)[i])
        torch.testing.assert_close(function(2), function(torch.full((7,), 2)))
        torch.testing.assert_close(function(2), function([2] * 7))


class CountRows(nn.Module):
    """Identity that records the largest batch it sees."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def forward(self, x):
        self.largest = max(self.largest, len(x))
        return x


@pytest.mark.parametrize("internal_batch_size", [1, 7, 13, 64, 1000])
def test_internal_batching_changes_nothing_but_the_batch_size(internal_batch_size):
    counter = CountRows()
    model = nn.Sequential(counter, *mlp(8))
    x, baseline = data(8)
    full = integrated_gradients(model, x, 1, baseline=baseline, steps=9)
    assert counter.largest == 7 * 9
    counter.largest = 0
    chunked = integrated_gradients(model, x, 1, baseline=baseline, steps=9, internal_batch_size=internal_batch_size)
    assert counter.largest == min(internal_batch_size, 7 * 9)
    torch.testing.assert_close(chunked, full)


def _hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


@pytest.mark.parametrize("train_mode", [False, True])
def test_functions_leave_the_model_and_inputs_as_they_were(train_mode):
    model = mlp(9)
    model[0].weight.requires_grad_(False)
    model.train(train_mode)
    x, baseline = data(9)
    flags = [p.requires_grad for p in model.parameters()]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls = [lambda: saliency(model, x, 1), lambda: input_x_gradient(model, x, 1),
             lambda: integrated_gradients(model, x, 1, steps=4, internal_batch_size=5),
             lambda: smoothgrad(model, x, 1, n_samples=2, rng=0),
             lambda: deeplift_rescale(model, x, 1, baseline),
             lambda: completeness_gap(model, x, 1, torch.zeros_like(x))]
    for call in calls:
        result = call()
        assert not result.requires_grad and result.grad_fn is None
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    assert model.training is train_mode and all(m.training is train_mode for m in model.modules())
    assert _hook_count(model) == 0 and not x.requires_grad
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_works_inside_no_grad_and_keeps_a_requires_grad_input():
    model = mlp(10)
    x, _ = data(10)
    x.requires_grad_(True)
    with torch.no_grad():
        grad = saliency(model, x, 0)
    assert grad.abs().sum() > 0 and x.requires_grad and x.grad is None


def test_docstring_examples_run():
    result = doctest.testmod(gradients, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted >= 8


# ------------------------------------------------------------------ exercises


def test_exercise_references_agree_with_the_library_functions():
    model = mlp(11, activation=nn.Tanh)
    x, baseline = data(11)
    torch.testing.assert_close(path_integral(model, x, 2, baseline, *path_rule(12, "riemann_right")),
                               integrated_gradients(model, x, 2, baseline=baseline, steps=12, method="riemann_right"))
    z, z_ref = data(12, (40,))
    expected = (torch.relu(z) - torch.relu(z_ref)) / (z - z_ref)
    torch.testing.assert_close(rescale_multiplier(z, z_ref), expected)


# ------------------------------------------------------------------ simulated DNA


def test_simulated_sequences_are_consistent():
    sim = simulate_motif_sequences(200, rng=0)
    assert sim.X.shape == (200, 4, 200) and sim.y.shape == (200, 3)
    assert torch.equal(sim.X.sum(dim=1), torch.ones(200, 200))
    gata, tal1 = sim.masks["GATA1"], sim.masks["TAL1"]
    assert torch.equal(sim.y[:, 1].bool(), gata.any(1)) and torch.equal(sim.y[:, 2].bool(), tal1.any(1))
    assert torch.equal(sim.y[:, 0].bool(), gata.any(1) & tal1.any(1)) and not (gata & tal1).any()
    assert sim.y.sum(0).tolist() == [50.0, 100.0, 100.0]  # quarters: both, GATA1 only, TAL1 only, neither
    counts = gata.sum(1)[sim.y[:, 1].bool()] // 10
    assert counts.min() >= 1 and counts.max() <= 3
    # inserted bases follow the consensus about `purity` of the time
    letters = sim.X.argmax(dim=1)
    consensus = torch.tensor(["ACGT".index(c) for c in simulation.MOTIFS["GATA1"]] * int(gata.sum() // 10))
    assert 0.85 < (letters[gata] == consensus).float().mean() < 0.95
    assert torch.equal(sim.task_mask(0), gata | tal1)
    assert torch.equal(simulate_motif_sequences(20, rng=3).X, simulate_motif_sequences(20, rng=3).X)
    assert len(sim.strings(0)) == 200


# ------------------------------------------------------------------ argument errors


def test_argument_errors():
    model = mlp(12)
    x, _ = data(12)
    with pytest.raises(TypeError, match="x must be a floating-point torch.Tensor, got ndarray"):
        saliency(model, x.numpy(), 0)
    with pytest.raises(TypeError, match="x must be a floating-point torch.Tensor, got a torch.int64 tensor"):
        saliency(model, x.long(), 0)
    with pytest.raises(ValueError, match=r"x must be a batch of shape \(N, ...\).*got shape \(6,\)"):
        saliency(model, x[0], 0)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got function"):
        saliency(lambda z: z, x, 0)
    with pytest.raises(ValueError, match=r"target must be in \[0, 3\] \(the model has 4 outputs\), got values in \[4, 4\]"):
        input_x_gradient(model, x, 4)
    with pytest.raises(ValueError, match="target must be an int or a 1-D integer tensor of length 7.*got shape"):
        saliency(model, x, torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="target must be an int .* got a torch.float32 tensor"):
        saliency(model, x, torch.zeros(7))
    with pytest.raises(TypeError, match=r"target must be an int .* got True \(bool\)"):
        saliency(model, x, True)
    with pytest.raises(ValueError, match=r"baseline must have the shape of x \(7, 6\) or of one example \(6,\), got shape \(5,\)"):
        integrated_gradients(model, x, 0, baseline=torch.zeros(5))
    torch.testing.assert_close(integrated_gradients(model, x, 0, baseline=torch.tensor(0.5), steps=4),
                               integrated_gradients(model, x, 0, baseline=0.5, steps=4))
    with pytest.raises(TypeError, match="baseline must be None, a number or a torch.Tensor, got list"):
        integrated_gradients(model, x, 0, baseline=[0.0] * 6)
    with pytest.raises(ValueError, match="steps must be a positive int, got 0"):
        integrated_gradients(model, x, 0, steps=0)
    with pytest.raises(ValueError, match="internal_batch_size must be a positive int, got 0"):
        integrated_gradients(model, x, 0, internal_batch_size=0)
    with pytest.raises(ValueError, match="method must be one of 'gausslegendre'.*got 'simpson'"):
        integrated_gradients(model, x, 0, method="simpson")
    with pytest.raises(ValueError, match="steps must be at least 2 for the trapezoid rule, got 1"):
        integrated_gradients(model, x, 0, steps=1, method="riemann_trapezoid")
    with pytest.raises(ValueError, match="n_samples must be a positive int, got 0"):
        smoothgrad(model, x, 0, n_samples=0)
    with pytest.raises(ValueError, match="noise_level must be a real number >= 0, got -0.1"):
        smoothgrad(model, x, 0, noise_level=-0.1)
    with pytest.raises(ValueError, match=r"model must return a 2-D tensor \(N, n_outputs\), got shape \(7,\)"):
        saliency(nn.Sequential(nn.Linear(6, 1), nn.Flatten(0)).double(), x, 0)


def test_deeplift_argument_errors():
    x, baseline = data(13, (3, 4))
    with pytest.raises(TypeError, match="layer '1' is Tanh"):
        deeplift_rescale(nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2)).double(), x, 0, baseline)
    with pytest.raises(TypeError, match="model must be a torch.nn.Sequential of Linear and ReLU layers, got Linear"):
        deeplift_rescale(nn.Linear(4, 2), x, 0, baseline)
    with pytest.raises(ValueError, match=r"x must have shape \(n, d\) for an MLP"):
        deeplift_rescale(mlp(0, (4, 2)), x[:, None], 0, baseline)
    with pytest.raises(ValueError, match=r"target must be in \[0, 1\]"):
        deeplift_rescale(mlp(0, (4, 2)), x, 2, baseline)
    with pytest.raises(ValueError, match=r"attributions must have the shape of x \(3, 4\), got \(3,\)"):
        completeness_gap(mlp(0, (4, 2)), x, 0, torch.zeros(3))


def test_simulation_argument_errors():
    with pytest.raises(ValueError, match="length must be at least .* = 105 so that every motif instance finds room, got 60"):
        simulate_motif_sequences(4, length=60, rng=0)  # this length used to hang
    with pytest.raises(ValueError, match="purity must be a real number > 0.25 and <= 1, got 0.2"):
        simulate_motif_sequences(5, purity=0.2)
    with pytest.raises(ValueError, match="task must be one of 0, 1, 2; got 3"):
        simulate_motif_sequences(4, rng=0).task_mask(3)
