"""How much does our PGD cost beyond the forward and backward passes it cannot avoid?

Run from the repository root: ``python benchmarks/bench_attacks.py [--quick]``
(``--quick``: fewer inputs, a smoke run; quote the full run's ratios).
PGD with ``steps``
iterations needs ``steps`` forward passes and ``steps`` backward passes to the input; the
rest (sign, step, projection, clipping, bookkeeping) is overhead. The script times both in
one run, on the same model, inputs and device, and prints the ratio (target <= 1.2x). If
torchattacks is importable (3.3.0 installs cleanly next to the course's stack:
``pip install torchattacks==3.3.0``; it is not a dependency of the course), it also prints
the throughput of its PGD next to ours.
"""
import argparse

import torch

from course_utils import data, get_device, load_pretrained
from course_utils.xai.attacks import pgd
from timing import best_times

EPS, ALPHA, STEPS = 0.3, 0.01, 20


def bare_passes(model, x, y, steps: int) -> None:
    """The floor: ``steps`` forward + backward passes to the input, nothing else."""
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            x_in = x.detach().requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(model(x_in), y, reduction="sum")
            torch.autograd.grad(loss, x_in)
    finally:
        for p in model.parameters():
            p.requires_grad_(True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 images instead of 256")
    args = parser.parse_args()
    n_images = 64 if args.quick else 256
    device = get_device()
    model = load_pretrained("mnist_cnn", device=device)
    X, y = data.mnist_tensors("test", n=n_images)
    X, y = X.to(device), y.to(device)
    generator = torch.Generator().manual_seed(0)
    functions = {"ours": lambda: pgd(model, X, y, eps=EPS, alpha=ALPHA, steps=STEPS, rng=generator),
                 "floor": lambda: bare_passes(model, X, y, STEPS)}
    try:
        import torchattacks
    except ImportError:
        torchattacks = None
    if torchattacks is not None:
        theirs_attack = torchattacks.PGD(model, eps=EPS, alpha=ALPHA, steps=STEPS, random_start=True)
        functions["torchattacks"] = lambda: theirs_attack(X, y)
    best = best_times(functions)
    print(f"{len(X)} MNIST images, PGD {STEPS} steps, device {device}, torch threads {torch.get_num_threads()}")
    print(f"PGD overhead over its bare forward+backward passes: {best['ours'] / best['floor']:.2f}x (target <= 1.2x)")
    if torchattacks is None:
        print("torchattacks not importable: skipping the side-by-side (pip install torchattacks==3.3.0)")
        return
    print(f"torchattacks {torchattacks.__version__} PGD: {len(X) / best['torchattacks']:.0f} images/s; "
          f"ours: {len(X) / best['ours']:.0f} images/s; ours is {best['torchattacks'] / best['ours']:.2f}x its throughput")


if __name__ == "__main__":
    main()
