"""Grad-CAM, guided backpropagation, saliency and localisation by hand, against exact answers and captum."""
import warnings

import numpy as np
import pytest
import torch
import torchvision
from captum.attr import GuidedBackprop, GuidedGradCam, LayerAttribution, LayerGradCam, Saliency
from torch import nn

from course_utils import models
from course_utils.xai import evaluation as ev
from course_utils.xai import gradcam as gc
from course_utils.xai import gradients as gr

# captum's notices (it sets requires_grad itself and announces its ReLU hooks) are not under test
pytestmark = [pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning"),
              pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients:UserWarning")]


def _model(seed=0, name="mnist_pairs_cnn"):
    torch.manual_seed(seed)
    return models.PRETRAINED[name]().eval()


def _images(n, size=64, seed=0):
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


def _state(model):
    return ({k: v.clone() for k, v in model.state_dict().items()}, model.training,
            [p.requires_grad for p in model.parameters()])


def _hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for m in model.modules())


# ------------------------------------------------------------------ Grad-CAM


@pytest.mark.parametrize("name, size", [("mnist_pairs_cnn", 64), ("mnist_cnn", 28)])
def test_gradcam_agrees_with_captum(name, size):
    model, x = _model(1, name), _images(5, size)
    layer = models.gradcam_layer(model)
    targets = torch.tensor([0, 3, 7, 9, 3])
    ours = gc.gradcam(model, layer, x, targets)
    theirs = LayerAttribution.interpolate(LayerGradCam(model, layer).attribute(x, targets, relu_attributions=True),
                                          (size, size), interpolate_mode="bilinear")[:, 0]
    assert ours.shape == (5, size, size) and (ours >= 0).all()
    assert theirs.abs().max() > 0
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)


def test_gradcam_by_hand_on_a_tiny_network():
    # One 2x2 feature map k=0 equal to the input, logit = sum(A) * 2 - mean(A) of channel 1 ...
    # Here: A = conv(x) with identity weights, logit c = w_c . GAP(A); dy_c/dA_k = w_ck / (h*w).
    conv = nn.Conv2d(1, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
    head = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[2.0, 1.0]]))
    model = nn.Sequential(conv, nn.AdaptiveAvgPool2d(1), nn.Flatten(), head).eval()
    x = torch.tensor([[[[1.0, 2.0], [3.0, -4.0]]]])
    # alpha = (2/4, 1/4); map = 0.5 * x + 0.25 * (-x) = 0.25 x; ReLU -> [[.25, .5], [.75, 0]]
    cam = gc.gradcam(model, conv, x, 0)
    assert cam.shape == (1, 2, 2)
    torch.testing.assert_close(cam[0], torch.tensor([[0.25, 0.5], [0.75, 0.0]]))
    activations, gradients = gc.layer_activations_and_gradients(model, conv, x, 0)
    torch.testing.assert_close(gc.gradcam_weights(gradients), torch.tensor([[0.5, 0.25]]))


def test_targets_as_int_list_or_tensor_give_the_same_maps():
    model, x = _model(), _images(3)
    layer = model.relu5
    as_int = gc.gradcam(model, layer, x, 4)
    for target in ([4, 4, 4], torch.tensor([4, 4, 4]), torch.tensor(4), np.int64(4)):
        torch.testing.assert_close(gc.gradcam(model, layer, x, target), as_int)
    per_image = gc.gradcam(model, layer, x, [1, 2, 3])
    for i, t in enumerate([1, 2, 3]):
        torch.testing.assert_close(per_image[i], gc.gradcam(model, layer, x[i:i + 1], t)[0], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("method", ["gradcam", "guided_backprop", "guided_gradcam", "saliency", "heatmaps"])
def test_model_is_left_unchanged(method):
    model, x = _model(), _images(2)
    model.fc1.weight.requires_grad_(False)
    before = _state(model)
    args = (model, model.relu5, x, 1) if "gradcam" in method or method == "heatmaps" else (model, x, 1)
    getattr(gc, method)(*args)
    after = _state(model)
    assert _hooks(model) == 0
    assert after[1:] == before[1:]  # same mode, same requires_grad flags
    assert all(torch.equal(before[0][k], after[0][k]) for k in before[0])  # same weights and buffers
    assert all(p.grad is None for p in model.parameters())
    assert not x.requires_grad and x.grad is None
    model.train()  # the mode is the caller's: a model in training mode stays in it
    getattr(gc, method)(*args)
    assert all(m.training for m in model.modules())


def test_hooks_are_removed_after_an_error():
    model = _model()
    with pytest.raises(ValueError, match=r"target must be in \[0, 9\] \(the model has 10 outputs\)"):
        gc.gradcam(model, model.relu5, _images(1), 10)
    with pytest.raises(ValueError, match=r"target must be in \[0, 9\] \(the model has 10 outputs\)"):
        gc.guided_backprop(model, _images(1), 12)
    assert _hooks(model) == 0


def test_works_on_a_frozen_model_and_inside_no_grad():
    model, x = _model(), _images(2)
    target = model(x).argmax(dim=1)  # the top class: its Grad-CAM is not all zero
    expected = {"cam": gc.gradcam(model, model.relu5, x, target), "guided": gc.guided_backprop(model, x, target)}
    assert all(v.abs().sum() > 0 for v in expected.values())
    model.requires_grad_(False)
    with torch.no_grad():
        torch.testing.assert_close(gc.gradcam(model, model.relu5, x, target), expected["cam"])
        torch.testing.assert_close(gc.guided_backprop(model, x, target), expected["guided"])


def test_argument_errors():
    model = _model()
    with pytest.raises(ValueError, match=r"x must be a batch of images of shape \(N, C, H, W\)"):
        gc.gradcam(model, model.relu5, torch.rand(64, 64), 0)
    with pytest.raises(ValueError, match=r"target must be an int or a 1-D integer tensor of length 2 \(one per example of x\)"):
        gc.gradcam(model, model.relu5, _images(2), [1, 2, 3])
    with pytest.raises(TypeError, match=r"target must be an int or a 1-D integer tensor of length 2 \(one per example of x\), got 1.5"):
        gr.saliency(model, _images(2), 1.5, absolute=True, max_over_channels=True)
    with pytest.raises(ValueError, match="layer must be a module of the model"):
        gc.gradcam(model, nn.Conv2d(1, 1, 1), _images(1), 0)
    with pytest.raises(ValueError, match="model must use nn.ReLU modules"):
        gc.guided_backprop(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), torch.rand(1, 1, 2, 2), 0)


# ------------------------------------------------------------------ guided backprop, guided Grad-CAM, saliency


def test_guided_backprop_agrees_with_captum():
    model, x = _model(2), _images(4)
    targets = torch.tensor([0, 1, 2, 3])
    ours = gc.guided_backprop(model, x, targets)
    theirs = GuidedBackprop(model).attribute(x, targets)
    assert ours.shape == x.shape and ours.abs().max() > 0
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)
    plain = gr.saliency(model, x, targets)
    assert not torch.allclose(ours, plain)  # guiding changes the gradient


def test_guided_backprop_and_gradcam_on_resnet18_with_reused_in_place_relus():
    torch.manual_seed(0)
    model = models.resnet18_imagenet_architecture().eval()  # random weights: no download
    x, targets = torch.rand(2, 3, 64, 64), torch.tensor([1, 2])
    ours = gc.guided_backprop(model, x, targets)
    torch.testing.assert_close(ours, GuidedBackprop(model).attribute(x.clone().requires_grad_(True), target=targets))
    layer = models.gradcam_layer(model)
    theirs = LayerAttribution.interpolate(LayerGradCam(model, layer).attribute(x, targets, relu_attributions=True),
                                          (64, 64), interpolate_mode="bilinear")[:, 0]
    torch.testing.assert_close(gc.gradcam(model, layer, x, targets), theirs)
    assert _hooks(model) == 0


def test_guided_backprop_on_a_two_relu_network_by_hand():
    # y = v . relu(W relu(x)); guided backprop zeroes negative gradients at each ReLU.
    first, second = nn.Linear(2, 2, bias=False), nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 1.0]]))
        second.weight.copy_(torch.tensor([[1.0, -1.0]]))
    model = nn.Sequential(nn.Flatten(), nn.ReLU(), first, nn.ReLU(), second).eval()
    x = torch.tensor([[[[1.0, 2.0]]]])  # relu(x) = (1, 2); hidden = (1, 3), both active
    # plain: dy/dhidden = (1, -1) -> dy/dx = (1 - 1, -1) = (0, -1)
    # guided: (1, 0) at the second ReLU -> W^T (1, 0) = (1, 0) -> positive part (1, 0)
    torch.testing.assert_close(gc.guided_backprop(model, x, 0), torch.tensor([[[[1.0, 0.0]]]]))
    torch.testing.assert_close(gr.saliency(model, x, 0), torch.tensor([[[[0.0, -1.0]]]]))


def test_guided_gradcam_agrees_with_captum():
    model, x = _model(3), _images(3)
    ours = gc.guided_gradcam(model, model.relu5, x, [5, 6, 7])
    theirs = GuidedGradCam(model, model.relu5).attribute(x, torch.tensor([5, 6, 7]), interpolate_mode="bilinear")
    assert ours.shape == x.shape and ours.abs().max() > 0
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)


def test_saliency_agrees_with_captum_and_is_the_absolute_gradient():
    model, x = _model(4), _images(3)
    ours = gr.saliency(model, x, [1, 2, 3], absolute=True, max_over_channels=True)
    theirs = Saliency(model).attribute(x, torch.tensor([1, 2, 3]), abs=True).amax(dim=1)
    assert ours.shape == (3, 64, 64) and (ours >= 0).all()
    torch.testing.assert_close(ours, theirs)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(12, 2)).eval()
    colour = torch.rand(1, 3, 2, 2)
    expected = linear[1].weight[1].detach().view(3, 2, 2).abs().amax(dim=0)
    torch.testing.assert_close(gr.saliency(linear, colour, 1, absolute=True, max_over_channels=True)[0], expected)


def test_class_model_visualisation_raises_the_score_and_l2_shrinks_it():
    model = models.load_pretrained("mnist_cnn")  # the committed checkpoint: no data needed
    strong = gc.class_model_visualisation(model, [3, 8], (1, 28, 28), steps=30, lr=0.1, l2=0.05)
    weak_penalty = gc.class_model_visualisation(model, [3, 8], (1, 28, 28), steps=30, lr=0.1, l2=0.0)
    with torch.no_grad():
        start = model(torch.zeros(2, 1, 28, 28))[[0, 1], [3, 8]]
        end = model(strong)[[0, 1], [3, 8]]
    assert strong.shape == (2, 1, 28, 28) and (end > start + 1).all()
    assert strong.norm() < weak_penalty.norm()
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="l2 must be a real number >= 0"):
        gc.class_model_visualisation(model, [3], (1, 28, 28), l2=-1.0)


def test_heatmaps_are_the_four_methods_reduced_to_non_negative_maps():
    model, x = _model(6), _images(5)
    targets = [0, 1, 2, 3, 4]
    maps = gc.heatmaps(model, model.relu5, x, targets, batch_size=2)
    assert list(maps) == list(gc.METHODS)
    assert all(m.shape == (5, 64, 64) and (m >= 0).all() for m in maps.values())
    torch.testing.assert_close(maps["saliency"], gr.saliency(model, x, targets, absolute=True, max_over_channels=True))
    torch.testing.assert_close(maps["Grad-CAM"], gc.gradcam(model, model.relu5, x, targets))
    torch.testing.assert_close(maps["guided backprop"], gc.guided_backprop(model, x, targets).abs().amax(dim=1))
    torch.testing.assert_close(maps["guided Grad-CAM"],
                               gc.guided_gradcam(model, model.relu5, x, targets).abs().amax(dim=1))
    assert _hooks(model) == 0


# ------------------------------------------------------------------ localisation


def test_box_iou_exact_and_against_torchvision():
    assert ev.box_iou((0, 0, 2, 2), (1, 0, 3, 2)) == pytest.approx(1 / 3)
    assert ev.box_iou((0, 0, 4, 4), (1, 1, 3, 3)) == pytest.approx(4 / 16)
    assert ev.box_iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0
    assert ev.box_iou((0, 0, 2, 2), (2, 0, 4, 2)) == 0.0  # touching edges: no shared pixel
    rng = np.random.default_rng(0)
    corners = rng.integers(0, 64, size=(50, 2, 2, 2))
    boxes = np.concatenate([corners.min(axis=2), corners.max(axis=2) + 1], axis=2)  # (50, 2, 4)
    ours = [ev.box_iou(a, b) for a, b in boxes]
    theirs = [torchvision.ops.box_iou(torch.tensor(a[None], dtype=torch.float),
                                      torch.tensor(b[None], dtype=torch.float)).item() for a, b in boxes]
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_threshold_box_takes_the_largest_8_connected_segment():
    heat = np.zeros((10, 10))
    heat[1, 1], heat[2, 2], heat[3, 3] = 1.0, 0.5, 0.5      # diagonal: one 8-connected segment of 3
    heat[6:8, 6:8] = 0.2                                   # a square of 4 above 15%: the largest
    heat[9, 0] = 0.1                                       # below 15% of the max: ignored
    assert ev.threshold_box(heat) == (6, 6, 8, 8)
    assert ev.threshold_box(heat, fraction=0.3) == (1, 1, 4, 4)
    assert ev.threshold_box(torch.tensor(heat), fraction=0.05) == (6, 6, 8, 8)  # tensors work too
    assert ev.threshold_box(np.zeros((4, 4))) is None
    with pytest.raises(ValueError, match="fraction must be a real number > 0 and <= 1"):
        ev.threshold_box(heat, fraction=0.0)
    with pytest.raises(ValueError, match="heatmap must have 2 dimension"):
        ev.threshold_box(np.zeros((1, 4, 4)))


def test_pointing_game_and_weak_localisation():
    heat = np.zeros((2, 8, 8))
    heat[0, 2, 5] = 1.0   # row 2, column 5
    heat[0, 6, 6] = 0.5
    assert ev.pointing_game(heat[0], (5, 2, 6, 3)) and not ev.pointing_game(heat[0], (2, 5, 3, 6))
    assert not ev.pointing_game(heat[1], (0, 0, 8, 8))  # a zero map points nowhere
    ious, hits = ev.weak_localisation(heat, [(5, 2, 6, 3), (0, 0, 8, 8)])
    assert ious.tolist() == [1.0, 0.0] and hits.tolist() == [True, False]
    with pytest.raises(ValueError, match="boxes must hold one box per heatmap"):
        ev.weak_localisation(heat, [(0, 0, 1, 1)])


def test_box_mass():
    heat = np.zeros((4, 4))
    heat[0, 0], heat[3, 3] = 3.0, 1.0
    assert ev.box_mass(heat, (0, 0, 2, 2)) == 0.75 and ev.box_mass(np.zeros((4, 4)), (0, 0, 4, 4)) == 0.0


def _two_digit_canvas():
    """Two ink strokes, an L and a bar, on a 16x24 black canvas; their masks."""
    image = np.zeros((16, 24))
    image[3:12, 2:4] = 1.0
    image[10:12, 2:8] = 0.8
    image[4:13, 15:18] = 0.9
    left = np.zeros(image.shape, dtype=bool)
    left[:, :12] = image[:, :12] > 0.5
    return image, left, (image > 0.5) & ~left


def test_saliency_segmentation_grows_the_salient_seed_along_the_ink():
    image, left, right = _two_digit_canvas()
    heat = np.zeros(image.shape)
    heat[2:14, 0:10] = 1.0  # a soft blob over the left stroke, as Grad-CAM's
    heat[5, 3] = 3.0        # its peak on the ink
    mask = ev.saliency_segmentation(image, heat)
    assert ev.mask_iou(mask, left) == 1.0 and not (mask & right).any()
    # a map that lights up both strokes seeds both: the segment takes both (IoU with one = its share)
    both = ev.saliency_segmentation(torch.tensor(image)[None], np.where(image > 0.5, 1.0 + image, 0.0))
    assert ev.mask_iou(both, left | right) == 1.0
    assert ev.mask_iou(both, left) == pytest.approx(left.sum() / (left | right).sum())


def test_saliency_segmentation_solves_the_random_walk_exactly():
    # Black background and white ink give edge weights of about 1e-6 across every stroke's
    # border, so an iterative solver stopped at tol 1e-4 returned probabilities outside
    # [0, 1] (scikit-image warned on most of lesson 07's canvases, by up to 0.43) and a few
    # wrong pixels. This canvas (three strokes, a map falling from top to bottom) is one such case.
    from skimage.segmentation import random_walker

    rng = np.random.default_rng(133)
    image = np.zeros((32, 32))
    for _ in range(3):
        row, col = rng.integers(1, 22, 2)
        image[row:row + 9, col:col + 3] = 0.9
    heat = np.linspace(1, 0, 32)[:, None].repeat(32, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "probability range is outside [0, 1]"
        mask = ev.saliency_segmentation(image, heat)
    labels = np.zeros(image.shape, dtype=int)
    labels[heat <= np.quantile(heat, 0.3)] = 2
    labels[(heat >= np.quantile(heat, 0.95)) & (image > 0.5) & (labels != 2)] = 1
    probabilities = random_walker(image, labels, beta=130, mode="bf", return_full_prob=True)
    assert probabilities.min() >= -1e-9 and probabilities.max() <= 1 + 1e-9
    assert np.array_equal(mask, probabilities.argmax(axis=0) == 0)


def test_saliency_segmentation_of_a_map_with_no_salient_ink_is_empty():
    image, _, _ = _two_digit_canvas()
    heat = np.zeros(image.shape)
    heat[0, 23] = 1.0  # the peak on the black background
    assert not ev.saliency_segmentation(image, heat).any()
    assert not ev.saliency_segmentation(image, np.zeros(image.shape)).any()  # a flat map has no seeds


def test_saliency_segmentation_and_mask_iou_reject_bad_arguments():
    image, left, _ = _two_digit_canvas()
    with pytest.raises(ValueError, match="heatmap must have the image's shape"):
        ev.saliency_segmentation(image, np.ones((16, 23)))
    with pytest.raises(ValueError, match="image must be one grey image"):
        ev.saliency_segmentation(np.ones((3, 16, 24)), np.ones((16, 24)))
    with pytest.raises(ValueError, match="background_quantile"):
        ev.saliency_segmentation(image, image, background_quantile=0.96)
    with pytest.raises(ValueError, match="mask_b must have mask_a's shape"):
        ev.mask_iou(left, left[:, :3])
    assert ev.mask_iou(np.zeros(3, bool), np.zeros(3, bool)) == 0.0


# ------------------------------------------------------------------ sanity checks


def test_cascading_randomisation_changes_one_more_layer_each_time_and_is_seeded():
    model = _model()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    names = ["fc2", "fc1", "conv4"]
    steps = list(ev.cascading_randomisation(model, names, rng=torch.Generator().manual_seed(0)))
    assert [name for name, _ in steps] == names
    for k, (_, randomised) in enumerate(steps):
        state = randomised.state_dict()
        changed = {n for n in ["fc2", "fc1", "conv4", "conv3"] if not torch.equal(state[f"{n}.weight"],
                                                                                  original[f"{n}.weight"])}
        assert changed == set(names[:k + 1])
    assert all(torch.equal(v, original[k]) for k, v in model.state_dict().items())
    again = list(ev.cascading_randomisation(model, names, rng=torch.Generator().manual_seed(0)))
    assert torch.equal(again[-1][1].conv4.weight, steps[-1][1].conv4.weight)
    bound = 1 / np.sqrt(model.fc1.in_features)  # Kaiming-uniform(a=sqrt 5) is U(-1/sqrt(fan_in), +)
    assert steps[1][1].fc1.weight.abs().max() <= bound and steps[1][1].fc1.weight.std() > bound / 3
    with pytest.raises(ValueError, match="layer_names must be modules of the model"):
        next(ev.cascading_randomisation(model, ["fc9"], rng=torch.Generator()))


def test_rank_correlation_matches_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a = rng.random((4, 6, 6))
    b = a + 0.5 * rng.random((4, 6, 6))
    b[2] = np.round(b[2], 1)  # ties
    ours = ev.rank_correlation(a, b)
    expected = [spearmanr(a[i].ravel(), b[i].ravel()).statistic for i in range(4)]
    np.testing.assert_allclose(ours, expected, rtol=1e-10)
    assert ev.rank_correlation(a[:1], a[:1])[0] == pytest.approx(1.0)
    assert ev.rank_correlation(a[:1], -a[:1])[0] == pytest.approx(-1.0)
    assert np.isnan(ev.rank_correlation(a[:1], np.zeros((1, 6, 6)))[0])
    with pytest.raises(ValueError, match="maps_b must have the shape of maps_a"):
        ev.rank_correlation(a, b[:2])


def test_gradcam_survives_an_in_place_relu_after_the_layer():
    """captum's own test model: with ReLU(inplace=True) after conv1 the recorded output used to be the ReLU's."""
    from captum.attr import LayerGradCam
    from captum.testing.helpers.basic_models import BasicModel_ConvNet_One_Conv

    x = torch.arange(16.0).view(1, 1, 4, 4)
    for inplace in (True, False):
        model = BasicModel_ConvNet_One_Conv(inplace=inplace)
        activations, gradients = gc.layer_activations_and_gradients(model, model.conv1, x, 0)
        layer_map = (activations * gc.gradcam_weights(gradients)[:, :, None, None]).sum(dim=1)
        torch.testing.assert_close(layer_map, torch.tensor([[[11.25, 13.5], [20.25, 22.5]]]))
        reference = BasicModel_ConvNet_One_Conv(inplace=False)
        torch.testing.assert_close(layer_map[:, None], LayerGradCam(reference, reference.conv1).attribute(x, 0))


def test_gradcam_on_resnet18_does_not_depend_on_in_place_relus():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    in_place = torchvision.models.resnet18(weights=None).eval()
    out_of_place = torchvision.models.resnet18(weights=None).eval()
    out_of_place.load_state_dict(in_place.state_dict())
    for module in out_of_place.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    assert any(m.inplace for m in in_place.modules() if isinstance(m, nn.ReLU))
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    for layer in ("layer3", "layer4.1.bn2"):  # a block's output, and a BatchNorm followed by an in-place ReLU
        ours = gc.gradcam(in_place, in_place.get_submodule(layer), x, [1, 7])
        reference = gc.gradcam(out_of_place, out_of_place.get_submodule(layer), x, [1, 7])
        torch.testing.assert_close(ours, reference)
        assert ours.abs().max() > 0
