"""Lesson 11's additive model: its closed-form Shapley values against the exact enumeration and the explainers."""

import numpy as np
import pytest
import torch

from course_utils import simulation
from course_utils.xai import gradients, shapley


def test_additive_shapley_values_equal_the_exact_enumeration_of_the_interventional_game():
    task = simulation.additive_task(3, n_background=25, rng=1)
    phi = task.shapley_values()
    for i, x in enumerate(task.X):
        game = shapley.interventional_game(task.predict, x, task.background)
        assert np.allclose(shapley.exact_shapley(game, 6), phi[i], atol=1e-10)
    assert np.all(phi[:, 4] == 0)  # the unused feature


def test_additive_module_matches_predict_and_its_gradient_is_each_terms_derivative():
    task = simulation.additive_task(5, rng=0)
    module = task.module().double()
    X = torch.tensor(task.X, requires_grad=True)
    out = module(X)
    assert out.shape == (5, 1) and np.allclose(out.detach().numpy()[:, 0], task.predict(task.X))
    out.sum().backward()
    x = task.X
    expected = np.column_stack([2 * np.ones(5), 2 * x[:, 1], 2 * np.cos(2 * x[:, 2]), 3 * (x[:, 3] > 0),
                                np.zeros(5), 0.5 * np.ones(5)])
    assert np.allclose(X.grad.numpy(), expected)


def test_ig_averaged_over_the_background_is_exact_and_from_the_mean_baseline_it_is_off_by_jensens_gap():
    task = simulation.additive_task(4, n_background=30, rng=2)
    module, rows, background = task.module().double(), torch.tensor(task.X), torch.tensor(task.background)
    averaged = np.mean([gradients.integrated_gradients(module, rows, 0, baseline=b.expand_as(rows), steps=64).numpy()
                        for b in background], axis=0)
    assert np.allclose(averaged, task.shapley_values(), atol=5e-3)  # only relu's kink costs quadrature error
    from_mean = gradients.integrated_gradients(module, rows, 0, baseline=background.mean(0).expand_as(rows)).numpy()
    gap = task.shapley_values() - from_mean  # = g(mean b) - mean g(b), the same for every row
    assert np.allclose(gap[:, 1], background[:, 1].mean().item() ** 2 - (background[:, 1] ** 2).mean().item())
    assert np.allclose(gap[:, [0, 4, 5]], 0, atol=1e-8)


def test_additive_task_is_reproducible_and_rejects_bad_sizes():
    a, b = simulation.additive_task(4, rng=3), simulation.additive_task(4, rng=3)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.background, b.background)
    assert a.X.shape == (4, 6) and a.background.shape == (100, 6)
    with pytest.raises(ValueError, match="n_background"):
        simulation.additive_task(4, n_background=0)
    with pytest.raises(ValueError, match="X must have shape"):
        a.predict(np.zeros((2, 5)))


def test_sickness_model_is_two_when_both_symptoms_whichever_network():
    import itertools

    from course_utils.simulation import sickness_model

    rows = torch.tensor(list(itertools.product([0.0, 1.0], repeat=2)))
    for through in ("fever", "cough"):
        assert sickness_model(through)(rows).ravel().tolist() == [0.0, 0.0, 0.0, 2.0]
    grid = torch.rand(50, 2) * 3 - 1
    assert torch.allclose(sickness_model("fever")(grid), 2 * grid.min(dim=1, keepdim=True).values)
    assert torch.allclose(sickness_model("cough")(grid), sickness_model("fever")(grid))
    with pytest.raises(ValueError, match="through"):
        sickness_model("headache")


def test_prize_model_is_the_highest_score():
    from course_utils.simulation import prize_model

    scores = torch.rand(100, 3) * 10
    assert torch.allclose(prize_model()(scores), scores.max(dim=1, keepdim=True).values)
    assert prize_model()(torch.tensor([[5.0, 4.0, 0.0]])).item() == 5.0


def test_deeplift_reads_the_network_shapley_the_function():
    # The point lesson 03 makes with these models: DeepLIFT's answer for the same function
    # depends on how the network computes it; exact Shapley values do not.
    from captum.attr import DeepLift

    from course_utils.simulation import prize_model, sickness_model
    from course_utils.xai.shapley import exact_shapley, interventional_game

    both = torch.tensor([[1.0, 1.0]])
    by_fever = DeepLift(sickness_model("fever")).attribute(both, torch.zeros_like(both), target=0)
    by_cough = DeepLift(sickness_model("cough")).attribute(both, torch.zeros_like(both), target=0)
    assert by_fever.ravel().tolist() == [2.0, 0.0] and by_cough.ravel().tolist() == [0.0, 2.0]
    for through in ("fever", "cough"):
        model = sickness_model(through)
        game = interventional_game(lambda X: model(torch.as_tensor(X, dtype=torch.float32)).detach().numpy().ravel(),
                                   np.ones(2), np.zeros((1, 2)))
        assert np.allclose(exact_shapley(game, 2), [1.0, 1.0])
    team = torch.tensor([[5.0, 4.0, 0.0]])
    assert DeepLift(prize_model()).attribute(team, torch.zeros_like(team), target=0).ravel().tolist() == [5.0, 0.0, 0.0]
    prize = lambda X: prize_model()(torch.as_tensor(X, dtype=torch.float32)).detach().numpy().ravel()  # noqa: E731
    assert np.allclose(exact_shapley(interventional_game(prize, team.numpy()[0], np.zeros((1, 3))), 3), [3.0, 2.0, 0.0])
