"""What does our max-sensitivity cost beyond the explanation calls it needs, and against captum's?

Run from the repository root: ``python benchmarks/bench_robustness.py [--quick]``
(``--quick``: fewer inputs, a smoke run; quote the full run's ratios).
Max-sensitivity with
``n_samples`` perturbations needs ``n_samples + 1`` explanations of the batch (one of x, one of
each perturbed batch); drawing the perturbations and comparing the maps is overhead. The
script times, in one run and interleaved (fair under a varying load):

- ``floor``: the bare ``n_samples + 1`` explanation calls on precomputed perturbed batches;
- ``ours``: :func:`course_utils.xai.evaluation.max_sensitivity` (target <= 1.3x the floor);
- ``captum``: ``captum.metrics.sensitivity_max`` with the same explainer and ``n_samples``
  (target: ours no slower, ratio <= 1.0).

The explainer is saliency on the course's MNIST CNN (the cheapest one, where overhead shows most).
"""
import argparse

import torch
from captum.attr import Saliency
from captum.metrics import sensitivity_max

from course_utils import data, load_pretrained
from course_utils.xai.evaluation import max_sensitivity
from course_utils.xai.gradients import saliency
from timing import best_times

N_SAMPLES, RADIUS = 10, 0.02


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32 digits instead of 128")
    args = parser.parse_args()
    n_images = 32 if args.quick else 128
    model = load_pretrained("mnist_cnn")
    X, y = data.mnist_tensors("test", n=n_images)
    generator = torch.Generator().manual_seed(0)
    perturbed = [X + (torch.rand(X.shape, generator=generator) * 2 - 1) * RADIUS for _ in range(N_SAMPLES)]

    def explain(batch):
        return saliency(model, batch, y)

    def floor():
        for batch in [X, *perturbed]:
            explain(batch)

    functions = {
        "floor": floor,
        "ours": lambda: max_sensitivity(explain, X, radius=RADIUS, n_samples=N_SAMPLES, rng=0),
        "captum": lambda: sensitivity_max(Saliency(model).attribute, X, target=y, perturb_radius=RADIUS,
                                          n_perturb_samples=N_SAMPLES, abs=False),
    }
    best = best_times(functions)
    print(f"{len(X)} MNIST digits, saliency, n_samples {N_SAMPLES}, torch threads {torch.get_num_threads()}")
    print(f"max-sensitivity over its bare explanation calls: {best['ours'] / best['floor']:.2f}x (target <= 1.3x)")
    print(f"ours / captum sensitivity_max wall time: {best['ours'] / best['captum']:.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
