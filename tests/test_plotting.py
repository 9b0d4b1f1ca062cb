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
