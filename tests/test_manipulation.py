"""Attacks on explanations (lesson 10): the scaffold on COMPAS, softplus models, input manipulation, BadNets."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import data, load_pretrained, models
from course_utils.exercises import get_exercise
from course_utils.xai import manipulation as man
from course_utils.xai.evaluation import feature_rank, pearson_correlation, rank_shares
from course_utils.xai.gradients import saliency
from course_utils.xai.lime import lime_tabular

COMPAS_CATEGORICAL = ("sex", "race", "c_charge_degree", "unrelated_1", "unrelated_2")


def _need_mirror():
    import os
    from pathlib import Path

    mirror = os.environ.get("COURSE_DATA_MIRROR")
    if not mirror or not Path(mirror).is_dir():
        pytest.skip("COURSE_DATA_MIRROR is not set to a folder")


def _onehot(p):
    return np.column_stack([1 - p, p]).astype(float)


@pytest.fixture(scope="module")
def compas_setup():
    _need_mirror()
    setup = man.fooling_data(data.compas(), rng=0)
    X_train, X_test, categorical = setup.X_train, setup.X_test[:300], setup.categorical
    race, unrelated, biased, innocuous = setup.protected, setup.unrelated, setup.biased_fn, setup.innocuous_fn

    scaffold = man.fooling_scaffold(biased, innocuous, X_train[:1500], categorical_features=categorical,
                                    n_perturbations=10, n_estimators=30, rng=0)
    return dict(X_train=X_train, X_test=X_test, biased=biased, innocuous=innocuous, race=race,
                unrelated=unrelated, categorical=categorical, scaffold=scaffold)


# ------------------------------------------------------------------ the scaffold


def test_scaffold_routes_real_rows_to_the_biased_model_and_perturbations_to_the_innocuous_one(compas_setup):
    s = compas_setup
    real = s["X_test"][:100]
    assert np.array_equal(s["scaffold"](real), s["biased"](real))
    # far off the data: every numeric column shifted by 3 standard deviations
    numeric = [j for j in range(real.shape[1]) if j not in s["categorical"]]
    shifted = real.copy()
    shifted[:, numeric] += 3 * s["X_train"][:, numeric].std(axis=0)
    assert not s["scaffold"].is_real(shifted).any()
    assert np.array_equal(s["scaffold"](shifted), s["innocuous"](shifted))
    assert s["scaffold"].detector.n_estimators == 30 and list(s["scaffold"].columns) == numeric


def test_scaffold_fidelity_on_held_out_compas_rows(compas_setup):
    s = compas_setup
    assert s["scaffold"].fidelity(s["X_test"]) >= 0.98
    # and it really is biased there: African-American people get the high-risk class, the others do not
    black = s["biased"](s["X_test"])[:, 1] == 1
    high = s["scaffold"](s["X_test"]).argmax(axis=1) == 1
    assert 0.3 < black.mean() < 0.7 and high[black].mean() >= 0.98 and high[~black].mean() <= 0.02


def test_lime_ranks_race_first_before_and_the_unrelated_feature_first_after_the_scaffold(compas_setup):
    s = compas_setup
    d = s["X_train"].shape[1]

    def explain(fn, x, i):
        return lime_tabular(lambda Z: fn(Z)[:, 1], x, s["X_train"], n_features=d, n_samples=1000, rng=i,
                            categorical_features=s["categorical"], discretize=False).values

    rows = s["X_test"][:12]
    before = np.array([explain(s["biased"], x, i) for i, x in enumerate(rows)])
    after = np.array([explain(s["scaffold"], x, i) for i, x in enumerate(rows)])
    assert rank_shares(before, s["race"])[0] >= 0.9
    assert rank_shares(after, s["race"])[0] <= 0.1
    assert np.mean(feature_rank(after, s["unrelated"]) == 1) >= 0.9


def test_shap_scaffold_labels_copies_of_real_rows_real():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 2, 300), rng.integers(0, 3, 300)]).astype(float)  # only 6 distinct rows
    biased = lambda Z: _onehot(Z[:, 0] > 0.5)
    innocuous = lambda Z: _onehot(Z[:, 1] > 1.5)
    scaffold = man.fooling_scaffold(biased, innocuous, X, perturbation="shap", n_perturbations=3, n_estimators=5, rng=0)
    # every hybrid of such rows is itself a real row, so nothing can be told apart: all real
    assert scaffold.is_real(X).all() and scaffold.fidelity(X) == 1.0


def test_scaffold_rejects_bad_arguments(compas_setup):
    s = compas_setup
    with pytest.raises(ValueError, match="perturbation must be one of 'lime', 'shap'"):
        man.fooling_scaffold(s["biased"], s["innocuous"], s["X_train"], perturbation="anchors")
    with pytest.raises(ValueError, match=r"biased_fn must map \(n, d\) rows to \(n, 2\)"):
        man.fooling_scaffold(lambda Z: Z[:, 0], s["innocuous"], s["X_train"])
    with pytest.raises(ValueError, match="categorical_features must be column indices"):
        man.fooling_scaffold(s["biased"], s["innocuous"], s["X_train"], categorical_features=[99])
    codes = np.zeros((10, 2))
    constant = lambda Z: np.tile([0.5, 0.5], (len(Z), 1))
    with pytest.raises(ValueError, match="must have a numeric column"):
        man.fooling_scaffold(constant, constant, codes, categorical_features=[0, 1])


def test_data_lime_queries_only_real_rows_and_finds_the_used_feature():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    recorder = man.QueryRecorder(lambda Z: 1 / (1 + np.exp(-3 * Z[:, 2])))
    explanation = man.data_lime(recorder, X[0], X, n_features=1, n_samples=300, rng=0)
    assert np.flatnonzero(explanation.values).tolist() == [2] and explanation.n_evaluations == 300
    assert man.nearest_real_distance(recorder.rows, X).max() == 0.0


def test_nearest_real_distance_exact():
    reference = np.array([[0.0, 0.0], [2.0, 0.0]])
    got = man.nearest_real_distance(np.array([[0.0, 1.0], [2.0, 0.0]]), reference, scale=[1.0, 1.0])
    assert np.allclose(got, [1.0, 0.0])


def test_kmeans_background_snaps_to_data_values():
    X = np.column_stack([np.repeat([0.0, 1.0, 2.0], 20), np.linspace(0, 1, 60)])
    background = man.kmeans_background(X, 3, rng=0)
    assert background.shape == (3, 2) and set(background[:, 0]) <= {0.0, 1.0, 2.0}
    assert np.isin(background[:, 1], X[:, 1]).all()


def test_rank_measures():
    A = np.array([[0.1, -0.5, 0.2], [0.9, 0.3, 0.1], [0.0, 0.2, 0.1], [0.3, -0.3, 0.0]])
    assert feature_rank(A, 0).tolist() == [3, 1, 0, 1]
    assert np.allclose(rank_shares(A, 0), [0.5, 0.0, 0.25])


# ------------------------------------------------------------------ exercises: exact answers


def test_detector_training_set_exact():
    X = np.array([[0.0, 5.0], [2.0, 5.0]])  # std (1, 0 -> 1)
    noise = np.array([[[1.0, 1.0], [-1.0, 2.0]]])
    rows, labels = man.detector_training_set(X, noise, 0.5)
    assert np.allclose(rows, [[0, 5], [2, 5], [0.5, 5.5], [1.5, 6.0]])
    assert labels.tolist() == [1, 1, 0, 0]


def test_route_and_manipulation_loss_exact():
    out = man.route(np.array([True, False]), np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 1.0], [0.0, 1.0]]))
    assert out.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    h = torch.tensor([[[1.0, -1.0]]])            # normalised: (0.5, 0.5)
    t = torch.tensor([[[3.0, 1.0]]])             # normalised: (0.75, 0.25)
    loss = man.manipulation_loss(h, t, torch.tensor([[0.6, 0.4]]), torch.tensor([[0.5, 0.5]]), 10.0)
    assert loss.item() == pytest.approx(2 * 0.25 ** 2 + 10 * 2 * 0.1 ** 2)


@pytest.mark.parametrize("exercise_id", ["10.1", "10.2", "10.3"])
def test_exercise_references_are_the_library_functions(exercise_id):
    exercise = get_exercise(exercise_id)
    assert exercise.reference in (man.detector_training_set, man.route, man.manipulation_loss)
    for args in exercise.cases(np.random.default_rng(0)):
        exercise.reference(*args)


# ------------------------------------------------------------------ softplus and input manipulation


@pytest.fixture(scope="module")
def cnn():
    return load_pretrained("mnist_cnn")


@pytest.fixture(scope="module")
def digits():
    _need_mirror()
    return data.mnist_tensors("test", n=20)


def test_softplus_model_converges_to_the_relu_model_and_leaves_it_unchanged(cnn, digits):
    X, _ = digits
    state = {k: v.clone() for k, v in cnn.state_dict().items()}
    with torch.no_grad():
        relu_out = cnn(X)
        gaps = [(man.softplus_model(cnn, beta)(X) - relu_out).abs().max().item() for beta in (1.0, 10.0, 100.0, 1000.0)]
    assert gaps[0] > gaps[1] > gaps[2] > gaps[3] and gaps[3] < 0.05
    assert all(isinstance(m, nn.ReLU) for name, m in cnn.named_modules() if name.startswith("relu"))
    assert all(torch.equal(v, state[k]) for k, v in cnn.state_dict().items())
    smooth = man.softplus_model(cnn, 5.0)
    assert sum(isinstance(m, nn.Softplus) for m in smooth.modules()) == 3
    assert not any(isinstance(m, nn.ReLU) for m in smooth.modules())
    with pytest.raises(ValueError, match="beta must be a real number > 0"):
        man.softplus_model(cnn, 0.0)


def test_manipulate_input_moves_the_map_towards_the_target_and_keeps_the_output(cnn, digits):
    X, y = digits
    x, target_image = X[:2], X[[3, 2]]  # digits 0, 2 pushed towards 4's and 1's maps... any other digits
    target = y[:2]
    target_map = saliency(cnn, target_image, y[[3, 2]], absolute=True)
    x_adv = man.manipulate_input(cnn, x, target_map, target, steps=150, lr=2e-3, rng=0)
    assert x_adv.shape == x.shape and x_adv.min() >= 0 and x_adv.max() <= 1
    before = saliency(cnn, x, target, absolute=True)
    after = saliency(cnn, x_adv, target, absolute=True)
    norm = man.normalise_map
    mse_before = (norm(before) - norm(target_map)).pow(2).flatten(1).sum(1)
    mse_after = (norm(after) - norm(target_map)).pow(2).flatten(1).sum(1)
    assert (mse_after < 0.7 * mse_before).all()
    assert (pearson_correlation(after, target_map) > pearson_correlation(before, target_map)).all()
    with torch.no_grad():
        change = (cnn(x_adv).softmax(1) - cnn(x).softmax(1)).abs().max().item()
    assert change < 0.05 and torch.equal(cnn(x_adv).argmax(1), cnn(x).argmax(1))


def test_manipulate_input_restores_the_model_mode_and_checks_its_arguments():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)).train()
    stats = model[1].running_mean.clone()
    x = torch.rand(2, 1, 6, 6)
    man.manipulate_input(model, x, torch.rand(2, 1, 6, 6), 0, steps=3)
    assert model.training and torch.equal(model[1].running_mean, stats)
    with pytest.raises(ValueError, match="target_map must have x's shape"):
        man.manipulate_input(model, x, torch.rand(2, 1, 5, 5), 0, steps=1)
    with pytest.raises(ValueError, match=r"x must hold images in \[0, 1\]"):
        man.manipulate_input(model, x + 2, torch.rand(2, 1, 6, 6), 0, steps=1)


def test_differentiable_gradcam_matches_the_course_gradcam(cnn, digits):
    from course_utils.xai.gradcam import gradcam

    X, y = digits
    layer = models.gradcam_layer(cnn)
    maps = man.differentiable_gradcam(cnn, layer, X[:4], y[:4])
    reference = gradcam(cnn, layer, X[:4], y[:4])  # upsampled to 28x28
    up = nn.functional.interpolate(maps[:, None], size=(28, 28), mode="bilinear", align_corners=False)[:, 0]
    assert torch.allclose(up, reference.reshape(up.shape), atol=1e-5)
    assert man.region_mass(torch.ones(1, 4, 4), (0, 0, 2, 2)).item() == pytest.approx(0.25)
    raw = man.differentiable_gradcam(cnn, layer, X[:4], y[:4], rectify=False)
    assert torch.equal(torch.relu(raw), maps) and (raw < 0).any()


def test_location_fooling_loss_exact_values_and_a_gradient_where_the_map_is_negative():
    box = (0, 0, 2, 2)
    mask = -torch.ones(1, 4, 4)
    mask[:, :2, :2] = 1
    assert man.location_fooling_loss(mask, box).item() == pytest.approx(0.0)
    assert man.location_fooling_loss(3 * mask, box).item() == pytest.approx(0.0)  # scale-free
    assert man.location_fooling_loss(-mask, box).item() == pytest.approx(4.0)  # (2)^2 on every cell
    # all cells equal and negative: scaled to -1, wrong on the 4 box cells only -> 4 * 4 / 16
    flat = torch.full((1, 4, 4), -2.0, requires_grad=True)
    loss = man.location_fooling_loss(flat, box)
    assert loss.item() == pytest.approx(1.0)
    loss.backward()
    assert (flat.grad[0, :2, :2] < 0).all()  # descending the loss raises the box cells, though the map is all negative
    with pytest.raises(ValueError, match="box must lie inside the maps"):
        man.location_fooling_loss(mask, (0, 0, 5, 5))


# ------------------------------------------------------------------ BadNets and spectral signatures


def test_poison_dataset_and_trigger():
    X, y = torch.zeros(100, 1, 28, 28), torch.arange(100) % 10
    Xp, yp, index = man.poison_dataset(X, y, fraction=0.1, target_class=0, rng=0)
    assert len(index) == 10 and (y[index] != 0).all() and (yp[index] == 0).all()
    assert Xp[index].sum().item() == 10 * 9 and Xp[np.setdiff1d(np.arange(100), index)].sum().item() == 0
    assert X.sum().item() == 0  # the input is not changed
    assert np.array_equal(index, man.poison_dataset(X, y, fraction=0.1, rng=0)[2])
    assert man.trigger_box((1, 28, 28)) == (24, 24, 27, 27)
    with pytest.raises(ValueError, match="fraction must be a real number > 0 and < 1"):
        man.poison_dataset(X, y, fraction=1.0)


def test_spectral_signature_and_activation_clustering_find_a_planted_cluster():
    rng = np.random.default_rng(0)
    clean = rng.normal(size=(300, 20))
    poison = rng.normal(size=(30, 20)) + 8 * np.eye(20)[0]
    R = np.vstack([clean, poison])
    truth = np.r_[np.zeros(300, bool), np.ones(30, bool)]
    scores = man.spectral_signature_scores(R)
    flagged = scores >= np.sort(scores)[-45]  # 1.5 * epsilon * n, as Tran et al.
    precision, recall = man.precision_recall(flagged, truth)
    assert recall == 1.0 and precision == pytest.approx(30 / 45)
    p, r = man.precision_recall(man.activation_clusters(R, n_components=5, rng=0), truth)
    assert p >= 0.9 and r >= 0.9


def test_precision_recall_exact():
    assert man.precision_recall([True, True, False, False], [True, False, True, False]) == (0.5, 0.5)
    assert man.precision_recall([False, False], [True, False]) == (0.0, 0.0)


@pytest.mark.usefixtures("mirror_dir")
def test_backdoor_checkpoint_card_and_behaviour():
    card = json.loads(models.checkpoint_path("mnist_cnn_backdoor").with_suffix(".json").read_text())
    assert "course_utils.train mnist_cnn_backdoor" in card["command"] and card["n_poisoned"] == 3000
    assert card["test_accuracy"] >= 0.98 and card["attack_success_rate"] >= 0.95
    model = load_pretrained("mnist_cnn_backdoor")
    X, y = data.mnist_tensors("test", n=300)
    with torch.no_grad():
        clean = (model(X).argmax(1) == y).float().mean().item()
        others = y != card["target_class"]
        hit = (model(man.add_trigger(X[others])).argmax(1) == card["target_class"]).float().mean().item()
    assert clean >= 0.97 and hit >= 0.9
    assert models.gradcam_layer(model) is model.relu2


@pytest.mark.usefixtures("mirror_dir")
def test_gradcam_fooled_checkpoint_card_and_behaviour():
    from course_utils.train import FOOLING_BOX
    from course_utils.xai.evaluation import box_mass
    from course_utils.xai.gradcam import gradcam

    card = json.loads(models.checkpoint_path("mnist_cnn_gradcam_fooled").with_suffix(".json").read_text())
    assert "course_utils.train mnist_cnn_gradcam_fooled" in card["command"] and tuple(card["fooling_box"]) == FOOLING_BOX
    original_card = json.loads(models.checkpoint_path("mnist_cnn").with_suffix(".json").read_text())
    assert card["test_accuracy"] >= original_card["test_accuracy"] - 0.01  # Heo et al.: at most a small accuracy cost
    assert card["fooling_success_rate"] >= 0.9
    fooled, original = load_pretrained("mnist_cnn_gradcam_fooled"), load_pretrained("mnist_cnn")
    X, y = data.mnist_tensors("test", n=100)
    mass = np.array([box_mass(m, FOOLING_BOX) for m in gradcam(fooled, models.gradcam_layer(fooled), X, y).numpy()])
    mass_original = np.array([box_mass(m, FOOLING_BOX)
                              for m in gradcam(original, models.gradcam_layer(original), X, y).numpy()])
    assert np.mean(mass > 0.5) >= 0.9 and np.mean(mass_original > 0.5) <= 0.02


def test_fooling_data_adds_coin_flips_and_splits_like_slack_et_al():
    _need_mirror()
    table = data.compas()
    setup = man.fooling_data(table, rng=0)
    assert setup.features == table.features + ["unrelated_1", "unrelated_2"]
    assert len(setup.X_train) + len(setup.X_test) == len(table.frame) == 6172
    assert len(setup.X_test) == 617  # 10% held out, as Slack et al.
    assert [setup.features[j] for j in setup.categorical] == list(COMPAS_CATEGORICAL)
    assert set(np.unique(setup.X_train[:, setup.unrelated])) == {0.0, 1.0}
    assert 0.4 < setup.X_train[:, setup.unrelated].mean() < 0.6  # a fair coin
    assert setup.categories[setup.protected][setup.protected_code] == "African-American"
    rows = setup.X_test[:50]
    black = rows[:, setup.protected] == setup.protected_code
    assert np.array_equal(setup.biased_fn(rows)[:, 1], black.astype(float))
    assert np.array_equal(setup.innocuous_fn(rows)[:, 1], rows[:, setup.unrelated])
    again = man.fooling_data(table, rng=0)
    assert np.array_equal(again.X_test, setup.X_test)
    with pytest.raises(ValueError, match="protected_value"):
        man.fooling_data(table, protected_value="Martian")
    with pytest.raises(TypeError, match="table"):
        man.fooling_data(setup.X_train)
