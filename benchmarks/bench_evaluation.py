"""Lesson 11's metrics: the cost of deletion/insertion curves and a comparison with Quantus.

1. ``deletion_curve`` batches every step of every image through the model: its cost over
   the bare forward passes of the same inputs (target: at most 1.3x).
2. Against Quantus 0.6.0 (optional: ``pip install ".[quantus]"``) on the same 64 MNIST
   test digits and saliency maps, through :func:`course_utils.xai.quantus_compare.quantus_comparison`
   (lesson 11 calls it too): PixelFlipping (the deletion curve without its first point; same
   definition, values compared), MaxSensitivity and Infidelity (same idea, different random
   draws and, for Infidelity, a different perturbation: times only).

Run: ``python benchmarks/bench_evaluation.py [--quick]`` (single BLAS thread; prints ratios; ``--quick``: 16
digits, a smoke run; quote the full run's ratios).
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from course_utils import data, load_pretrained  # noqa: E402
from course_utils.xai import evaluation as ev  # noqa: E402
from course_utils.xai.gradients import saliency  # noqa: E402

from timing import best_of  # noqa: E402

N_IMAGES, N_STEPS = 64, 16  # 784 / 16 = 49 pixels per step, a whole number for Quantus's features_in_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 digits instead of 64")
    args = parser.parse_args()
    n_images = 16 if args.quick else N_IMAGES
    torch.set_num_threads(1)
    model = load_pretrained("mnist_cnn")
    x, y = data.mnist_tensors("test", n=n_images)
    maps = saliency(model, x, y, absolute=True)

    batch = torch.cat([x] * (N_STEPS + 1))

    def bare():
        with torch.no_grad():
            for i in range(0, len(batch), 128):
                model(batch[i:i + 128]).softmax(1)

    t_bare = best_of(bare)
    t_ours = best_of(lambda: ev.deletion_curve(model, x, maps, y, n_steps=N_STEPS))
    print(f"deletion curve, {n_images} images x {N_STEPS + 1} steps: {t_ours * 1000:.0f} ms; bare forward passes "
          f"{t_bare * 1000:.0f} ms; ratio {t_ours / t_bare:.2f} (target <= 1.3)")

    try:
        from course_utils.xai.quantus_compare import quantus_comparison
        runs = [quantus_comparison(model, x, y, maps, lambda m, b, t: saliency(m, b, t, absolute=True),
                                   n_steps=N_STEPS, rng=seed) for seed in range(3)]
    except ImportError as err:
        print(f"{err}: the comparison is skipped.")
        return
    for metric in runs[0]:
        theirs = min(run[metric]["quantus s"] for run in runs)
        ours = min(run[metric]["course_utils s"] for run in runs)
        row = runs[0][metric]
        print(f"{metric}: quantus {theirs * 1000:.0f} ms, ours {ours * 1000:.0f} ms (best of 3): ratio {theirs / ours:.1f}; "
              f"means {row['quantus']:.4g} (quantus) vs {row['course_utils']:.4g} (ours); "
              f"largest curve difference {row['largest difference']:.1e}")

if __name__ == "__main__":
    main()
