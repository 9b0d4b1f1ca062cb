"""What does a counterfactual cost? Guided diffusion vs pixel-space Wachter vs targeted PGD, in one run.

Run from the repository root: ``python benchmarks/bench_diffusion.py`` (``--quick``: 8 digits
and one timing round instead of 64 and three). For each method, on the same test digits and
targets (the class ``mnist_cnn_robust`` ranks second), it prints the model evaluations per
counterfactual (examples through each model, counted by a forward hook; each evaluation
is followed by a backward pass to the input, except the denoiser's), the best wall time
per counterfactual, and the share that reach the target for the model used. Lesson 12's
settings: diffusion ``t_start`` 500, 20 DDIM steps, guided by the robust model; Wachter on
``mnist_cnn`` with 100 Adam steps per round (at most 6 rounds); PGD 100 steps of 0.01, at
eps 0.3 on ``mnist_cnn`` and 0.5 on the robust model (trained to resist 0.3).
"""
import argparse
import time

import torch

from course_utils import data, get_device, load_pretrained
from course_utils.xai import attacks, counterfactuals
from course_utils.xai import diffusion as dif


def measure(make, counted, repeats: int):
    """(evaluations per image, best seconds, output) of ``make()``, counting the examples through ``counted``."""
    best, out, evaluations = float("inf"), None, 0
    for _ in range(repeats):
        counters = [dif.EvaluationCounter(m) for m in counted]
        for c in counters:
            c.__enter__()
        start = time.perf_counter()
        try:
            out = make()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
        finally:
            for c in counters:
                c.__exit__(None, None, None)
        best = min(best, time.perf_counter() - start)
        evaluations = [c.count for c in counters]
    return evaluations, best, out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 digits, one round")
    args = parser.parse_args(argv)
    n, repeats = (8, 1) if args.quick else (64, 3)
    device = get_device()
    denoiser = load_pretrained("mnist_ddpm", device=device)
    cnn, robust = load_pretrained("mnist_cnn", device=device), load_pretrained("mnist_cnn_robust", device=device)
    X, _ = data.mnist_tensors("test", n=n)
    x = X.to(device)
    with torch.no_grad():
        target = robust(x).topk(2, dim=1).indices[:, 1]
    methods = {
        "diffusion (robust guide)": (lambda: dif.diffusion_counterfactual(denoiser, robust, x, target, rng=0),
                                     [denoiser, robust], robust),
        "Wachter (pixels, mnist_cnn)": (lambda: counterfactuals.wachter_images(cnn, x, target, steps=100, lr=0.02),
                                        [cnn], cnn),
        "PGD targeted (mnist_cnn)": (lambda: attacks.pgd(cnn, x, target, eps=0.3, alpha=0.01, steps=100,
                                                         targeted=True, rng=0), [cnn], cnn),
        "PGD targeted (mnist_cnn_robust)": (lambda: attacks.pgd(robust, x, target, eps=0.5, alpha=0.01, steps=100,
                                                                targeted=True, rng=0), [robust], robust),
    }
    print(f"{n} MNIST test digits, device {device}, torch threads {torch.get_num_threads()}, best of {repeats}")
    print(f"{'method':34s} {'evaluations per counterfactual':>34s} {'ms per cf':>10s} {'valid':>6s}")
    for name, (make, counted, judge) in methods.items():
        evaluations, seconds, out = measure(make, counted, repeats)
        with torch.no_grad():
            valid = (judge(out).argmax(1) == target).float().mean().item()
        per_image = " + ".join(f"{e / n:.0f}" for e in evaluations)
        print(f"{name:34s} {per_image:>34s} {1000 * seconds / n:10.1f} {valid:6.0%}")
    print("(diffusion: denoiser + classifier evaluations; the classifier's count includes one check of the target)")


if __name__ == "__main__":
    main()
