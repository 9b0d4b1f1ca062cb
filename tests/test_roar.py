"""ROAR and ROAD (lesson 11): exact cases for the masks and the imputation, and the rankings they reward."""
import pytest
import torch
from torch import nn

from course_utils import data, load_pretrained
from course_utils.train import fit_classifier
from course_utils.xai import roar
from course_utils.xai.gradients import saliency


def test_top_fraction_mask_marks_the_highest_or_lowest_scores_with_ties_to_the_lower_index():
    x = torch.zeros(2, 3, 2, 5)
    scores = torch.arange(10.0).view(1, 2, 5).repeat(2, 1, 1)
    scores[1] = 1.0  # all tied
    mask = roar.top_fraction_mask(scores, x, 0.3)
    assert mask.shape == (2, 2, 5) and mask.sum(dim=(1, 2)).tolist() == [3, 3]
    assert mask[0].flatten().nonzero().flatten().tolist() == [7, 8, 9]
    assert mask[1].flatten().nonzero().flatten().tolist() == [0, 1, 2]
    lerf = roar.top_fraction_mask(scores, x, 0.3, most_relevant=False)
    assert lerf[0].flatten().nonzero().flatten().tolist() == [0, 1, 2]
    # attributions of x's shape are summed over channels
    per_channel = torch.zeros(2, 3, 2, 5)
    per_channel[:, 1, 0, 4] = 5.0
    assert roar.top_fraction_mask(per_channel, x, 0.1)[:, 0, 4].all()
    assert not roar.top_fraction_mask(scores, x, 0.0).any() and roar.top_fraction_mask(scores, x, 1.0).all()


def test_noisy_linear_imputation_reproduces_planes_and_leaves_known_pixels_alone():
    rows, cols = torch.meshgrid(torch.arange(8.0), torch.arange(9.0), indexing="ij")
    plane = (0.05 * rows + 0.03 * cols + 0.1)[None, None].repeat(1, 2, 1, 1)
    plane[:, 1] *= 2
    mask = torch.zeros(1, 8, 9, dtype=torch.bool)
    mask[0, 2:5, 3:7] = True  # an interior hole: the weighted mean of symmetric neighbours is exact on a plane
    filled = roar.noisy_linear_imputation(plane, mask, noise_std=0.0)
    assert torch.allclose(filled, plane, atol=1e-5)
    noisy = roar.noisy_linear_imputation(plane, mask, noise_std=0.05, rng=0)
    assert torch.equal(noisy[:, :, ~mask[0]], plane[:, :, ~mask[0]])
    assert 0.03 < float((noisy - filled)[:, :, mask[0]].std()) < 0.07
    assert torch.equal(roar.noisy_linear_imputation(plane, mask, noise_std=0.05, rng=1),
                       roar.noisy_linear_imputation(plane, mask, noise_std=0.05, rng=1))


def test_noisy_linear_imputation_solves_the_neighbour_equations_at_the_border_and_with_no_known_pixel():
    x = torch.rand(1, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 6, 6, dtype=torch.bool)
    mask[0, 0, :3] = mask[0, 3, 3] = True
    v = roar.noisy_linear_imputation(x, mask, noise_std=0.0)[0, 0].double()
    for r, c in mask[0].nonzero().tolist():
        total, weight = 0.0, 0.0
        for dr, dc, w in roar._NEIGHBOURS:
            if 0 <= r + dr < 6 and 0 <= c + dc < 6:
                total, weight = total + w * v[r + dr, c + dc], weight + w
        assert abs(float(v[r, c]) - total / weight) < 1e-5
    everything = roar.noisy_linear_imputation(x, torch.ones(1, 6, 6, dtype=torch.bool), noise_std=0.0)
    assert torch.isfinite(everything).all() and float(everything.abs().max()) < 1e-3


@pytest.fixture(scope="module")
def digits():
    X, y = data.mnist_tensors("test")
    return load_pretrained("mnist_cnn"), X[:200], y[:200]


def test_road_rewards_saliency_over_a_random_ranking_on_the_course_cnn(digits):
    model, x, y = digits
    random_ranking = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
    fractions, morf_saliency = roar.road_accuracy(model, x, saliency(model, x, y), y, fractions=(0.0, 0.5), rng=0)
    _, morf_random = roar.road_accuracy(model, x, random_ranking, y, fractions=(0.0, 0.5), rng=0)
    clean = float((model(x).argmax(1) == y).double().mean())
    assert fractions.tolist() == [0.0, 0.5] and morf_saliency[0] == morf_random[0] == clean
    assert morf_saliency[1] < morf_random[1] - 0.1
    _, lerf_saliency = roar.road_accuracy(model, x, saliency(model, x, y), y, fractions=(0.5,), most_relevant=False, rng=0)
    assert lerf_saliency[0] > morf_saliency[1] + 0.1


def _one_pixel_task(n=400, seed=0):
    """4x4 noise images whose label is whether pixel (0, 0) is bright: all the information in one pixel."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 1, 4, 4, generator=g)
    y = (X[:, 0, 0, 0] > 0.5).long()
    return X, y


def test_roar_retrains_on_the_modified_data_and_finds_the_informative_pixel():
    X, y = _one_pixel_task(400, 0)
    Xt, yt = _one_pixel_task(200, 1)
    seen = []

    def train_fn(A, b):
        seen.append(A.clone())
        model = nn.Sequential(nn.Flatten(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2))
        return fit_classifier(model, A, b, epochs=4, batch_size=10, lr=3e-2, rng=0, init_seed=0, progress=False)

    right = torch.zeros_like(X)
    right[:, 0, 0, 0] = 1.0
    right_test = torch.zeros_like(Xt)
    right_test[:, 0, 0, 0] = 1.0
    fractions, accuracy = roar.roar_accuracy(train_fn, X, y, Xt, yt, right, right_test, fractions=(0.0, 1 / 16),
                                             progress=False)
    assert accuracy[0] > 0.9 and abs(accuracy[1] - 0.5) < 0.15  # the one pixel gone: chance
    assert torch.allclose(seen[1][:, 0, 0, 0], X.mean().expand(len(X)))  # filled with the training mean
    assert torch.equal(seen[0], X)
    random_ranking = torch.rand(X.shape, generator=torch.Generator().manual_seed(2))
    _, random_accuracy = roar.roar_accuracy(train_fn, X, y, Xt, yt, random_ranking, torch.rand(Xt.shape),
                                            fractions=(1 / 16,), progress=False)
    assert random_accuracy[0] > accuracy[1] + 0.2


def test_fit_classifier_with_init_seed_is_reproducible_and_leaves_the_global_generator_alone():
    X, y = _one_pixel_task(100, 0)
    weights = []
    for _ in range(2):
        model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
        state = torch.get_rng_state()
        fit_classifier(model, X, y, epochs=2, rng=0, init_seed=3, progress=False)
        assert torch.equal(torch.get_rng_state(), state)
        weights.append(model[1].weight.detach().clone())
    assert torch.equal(weights[0], weights[1])
    assert not model.training


def test_fit_classifier_lr_decay_one_keeps_the_rate_and_fits_further():
    """Shuffled labels are memorised only at a constant rate (lesson 11's data-randomisation test)."""
    X, _ = _one_pixel_task(64, 0)
    noise = torch.rand(X.shape, generator=torch.Generator().manual_seed(5))
    labels = torch.randint(0, 2, (64,), generator=torch.Generator().manual_seed(6))
    fits = {}
    for decay in (0.5, 1.0):
        model = nn.Sequential(nn.Flatten(), nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 2))
        fit_classifier(model, X + noise, labels, epochs=40, batch_size=8, lr=1e-2, lr_decay=decay, rng=0, init_seed=0,
                       progress=False)
        with torch.no_grad():
            fits[decay] = (model(X + noise).argmax(1) == labels).float().mean().item()
    assert fits[1.0] > fits[0.5] and fits[1.0] > 0.9, fits
    with pytest.raises(ValueError, match="lr_decay"):
        fit_classifier(model, X, labels, lr_decay=1.5, progress=False)


def test_roar_functions_reject_bad_arguments():
    X, y = _one_pixel_task(20, 0)
    with pytest.raises(ValueError, match="fractions"):
        roar.roar_accuracy(lambda A, b: None, X, y, X, y, X, X, fractions=(1.5,))
    with pytest.raises(TypeError, match="train_fn"):
        roar.roar_accuracy(lambda A, b: "model", X, y, X, y, X, X, fractions=(0.5,), progress=False)
    with pytest.raises(ValueError, match="test_attributions"):
        roar.roar_accuracy(lambda A, b: None, X, y, X, y, X, X[:3], fractions=(0.5,), progress=False)
    with pytest.raises(ValueError, match="mask"):
        roar.noisy_linear_imputation(X, torch.zeros(20, 4, 4))
    with pytest.raises(ValueError, match="fraction"):
        roar.top_fraction_mask(X, X, -0.1)
