"""Plot helpers: return their axes, centre signed maps at zero, reject bad shapes."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils import plotting  # noqa: E402


def test_show_attribution_is_centred_at_zero():
    fig, ax = plt.subplots()
    attr = np.array([[0.5, -2.0], [1.0, 0.0]])
    assert plotting.show_attribution(attr, np.ones((2, 2)), ax=ax) is ax
    heat = ax.images[-1]
    assert heat.get_clim() == (-2.0, 2.0) and heat.get_cmap().name == plotting.SIGNED_CMAP
    plt.close(fig)


def test_show_attribution_sums_channels_of_tensors():
    fig, ax = plt.subplots()
    plotting.show_attribution(torch.ones(3, 4, 4), ax=ax)
    assert ax.images[-1].get_array().shape == (4, 4) and float(ax.images[-1].get_array().max()) == 3.0
    plt.close(fig)


def test_bar_weights_orders_by_magnitude():
    fig, ax = plt.subplots()
    plotting.bar_weights([0.1, -3.0, 2.0], ["a", "b", "c"], ax=ax, top_k=2)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["c", "b"]
    with pytest.raises(ValueError, match="one value per name"):
        plotting.bar_weights([1.0], ["a", "b"], ax=ax)
    plt.close(fig)


def test_image_grid_and_shapes():
    fig, axes = plotting.image_grid([np.zeros((5, 5))] * 3, ncols=2)
    assert len(axes) == 4 and not axes[-1].axison
    plt.close(fig)
    with pytest.raises(ValueError, match="image must be HW, HWC or CHW"):
        plotting.to_image_array(np.zeros(5))
    assert plotting.to_image_array(torch.zeros(1, 1, 6, 7)).shape == (6, 7)


def test_gradcam_pipeline_draws_each_step_from_its_inputs():
    import torch
    import torch.nn.functional as F

    from course_utils.plotting import gradcam_pipeline
    from course_utils.xai.gradcam import gradcam_map

    rng = np.random.default_rng(0)
    image, maps, alpha = rng.random((1, 16, 16)), rng.normal(size=(5, 4, 4)), np.array([0.3, -0.2, 0.9, 0.0, 0.5])
    slopes = rng.normal(size=(5, 4, 4))
    slopes += alpha[:, None, None] - slopes.mean(axis=(1, 2), keepdims=True)  # spatial means: alpha
    fig, axes = gradcam_pipeline(image, torch.as_tensor(maps), torch.as_tensor(slopes), n_maps=2)
    assert len(axes) == 6
    assert [ax.get_title() for ax in axes[1:3]] == ["$A^{2}$, $\\alpha_{2}$ = 0.9", "$A^{4}$, $\\alpha_{4}$ = 0.5"]
    np.testing.assert_allclose(axes[1].images[0].get_array(), maps[2])
    np.testing.assert_allclose([bar.get_height() for bar in axes[3].patches], [0.9, 0.5, 0.3, 0.0, -0.2], atol=1e-12)
    signed = np.tensordot(alpha, maps, axes=1)
    np.testing.assert_allclose(axes[4].images[0].get_array(), signed, atol=1e-12)
    expected = gradcam_map(torch.as_tensor(maps)[None], torch.as_tensor(alpha)[None], (16, 16))[0].numpy()
    np.testing.assert_allclose(axes[5].images[1].get_array(), expected, atol=1e-12)  # over the input
    assert not np.allclose(expected, F.interpolate(torch.as_tensor(signed)[None, None], size=(16, 16),
                                                   mode="bilinear")[0, 0].numpy())  # the ReLU is drawn
    with pytest.raises(ValueError, match="gradients must have the shape of activations"):
        gradcam_pipeline(image, maps, slopes[:4])
    with pytest.raises(ValueError, match="n_maps must be an int in"):
        gradcam_pipeline(image, maps, slopes, n_maps=6)
    plt.close("all")
