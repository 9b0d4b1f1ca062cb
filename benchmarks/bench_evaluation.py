"""Lesson 11's metrics: the cost of deletion/insertion curves and a comparison with Quantus.

1. ``deletion_curve`` batches every step of every image through the model: its cost over
   the bare forward passes of the same inputs (target: at most 1.3x).
2. Against Quantus 0.6.0 (optional: ``pip install ".[quantus]"``) on the same 64 MNIST
   test digits and saliency maps: PixelFlipping (the deletion curve without its first
   point; same definition, values compared), MaxSensitivity and Infidelity (same idea,
   different random draws and, for Infidelity, a different perturbation: times only).
   Quantus 0.6.0 calls ``np.trapz``, removed in NumPy 2.4: the script shims it
   (``np.trapz = np.trapezoid``) where it is missing.

Run: ``python benchmarks/bench_evaluation.py`` (single BLAS thread; prints ratios).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from course_utils import data, load_pretrained  # noqa: E402
from course_utils.xai import evaluation as ev  # noqa: E402
from course_utils.xai.gradients import saliency  # noqa: E402

from timing import best_of  # noqa: E402

N_IMAGES, N_STEPS = 64, 16  # 784 / 16 = 49 pixels per step, a whole number for Quantus's features_in_step


def main() -> None:
    torch.set_num_threads(1)
    model = load_pretrained("mnist_cnn")
    x, y = data.mnist_tensors("test", n=N_IMAGES)
    maps = saliency(model, x, y, absolute=True)

    batch = torch.cat([x] * (N_STEPS + 1))

    def bare():
        with torch.no_grad():
            for i in range(0, len(batch), 1024):
                model(batch[i:i + 1024]).softmax(1)

    t_bare = best_of(bare)
    t_ours = best_of(lambda: ev.deletion_curve(model, x, maps, y, n_steps=N_STEPS))
    print(f"deletion curve, {N_IMAGES} images x {N_STEPS + 1} steps: {t_ours * 1000:.0f} ms; bare forward passes "
          f"{t_bare * 1000:.0f} ms; ratio {t_ours / t_bare:.2f} (target <= 1.3)")

    try:
        import quantus
    except ImportError:
        print("quantus is not installed (pip install '.[quantus]'): the comparison is skipped.")
        return
    if not hasattr(np, "trapz"):
        np.trapz = np.trapezoid  # quantus 0.6.0's calculate_auc; removed in NumPy 2.4

    x_np, y_np, a_np = x.numpy(), y.numpy(), maps.numpy()
    flipping = quantus.PixelFlipping(features_in_step=28 * 28 // N_STEPS, perturb_baseline="black", normalise=False,
                                     abs=False, disable_warnings=True, display_progressbar=False)

    def theirs_flip():
        return np.array(flipping(model=model, x_batch=x_np, y_batch=y_np, a_batch=a_np, device="cpu", softmax=True,
                                 batch_size=N_IMAGES))

    t_q = best_of(theirs_flip, repeats=1)
    _, ours = ev.deletion_curve(model, x, maps, y, n_steps=N_STEPS)
    gap = np.abs(ours[:, 1:] - theirs_flip()).max()
    print(f"PixelFlipping: quantus {t_q * 1000:.0f} ms, ours {t_ours * 1000:.0f} ms: ours {t_q / t_ours:.1f}x faster; "
          f"largest difference of the curves {gap:.1e}")

    def explain(model, inputs, targets, **kwargs):
        inputs = torch.as_tensor(inputs, dtype=torch.float32)
        return saliency(model, inputs, torch.as_tensor(targets), absolute=True).numpy()

    sensitivity = quantus.MaxSensitivity(nr_samples=10, lower_bound=0.02, normalise=False, abs=False,
                                         disable_warnings=True, display_progressbar=False,
                                         return_nan_when_prediction_changes=False)
    t_q_sens = best_of(lambda: sensitivity(model=model, x_batch=x_np, y_batch=y_np, a_batch=a_np, device="cpu",
                                           explain_func=explain, batch_size=N_IMAGES), repeats=1)
    t_ours_sens = best_of(lambda: ev.max_sensitivity(lambda b: saliency(model, b, y, absolute=True), x, radius=0.02,
                                                     n_samples=10, rng=0))
    q_values = np.array(sensitivity(model=model, x_batch=x_np, y_batch=y_np, a_batch=a_np, device="cpu",
                                    explain_func=explain, batch_size=N_IMAGES))
    o_values = ev.max_sensitivity(lambda b: saliency(model, b, y, absolute=True), x, radius=0.02, n_samples=10,
                                  rng=0).numpy()
    print(f"MaxSensitivity: quantus {t_q_sens * 1000:.0f} ms, ours {t_ours_sens * 1000:.0f} ms: ours "
          f"{t_q_sens / t_ours_sens:.1f}x faster; means {q_values.mean():.3f} (quantus) vs {o_values.mean():.3f} "
          f"(ours; different draws)")

    infid = quantus.Infidelity(perturb_patch_sizes=[4], n_perturb_samples=10, normalise=False, abs=False,
                               disable_warnings=True, display_progressbar=False)
    t_q_inf = best_of(lambda: infid(model=model, x_batch=x_np, y_batch=y_np, a_batch=a_np, device="cpu",
                                    batch_size=N_IMAGES), repeats=1)
    t_ours_inf = best_of(lambda: ev.infidelity(model, x, maps, y, n_samples=10, rng=0))
    print(f"Infidelity: quantus {t_q_inf * 1000:.0f} ms (patches set to a baseline), ours {t_ours_inf * 1000:.0f} ms "
          f"(Gaussian noise): ours {t_q_inf / t_ours_inf:.1f}x faster (different perturbations: times only)")


if __name__ == "__main__":
    main()
