"""Integrated Gradients: batching the path steps, overhead over the bare passes, and memory.

Run from the repository root: ``python benchmarks/bench_gradients.py [--quick]``
(``--quick``: fewer inputs, a smoke run; quote the full run's ratios).
On the course's
MNIST CNN it measures, in one run on the same inputs (ratios, not absolute times):

1. ``integrated_gradients`` with the path points batched (``internal_batch_size``) vs one
   path step per forward/backward pass (the loop of the paper's formula), for 16 images
   and for one image (batching pays most when each pass would otherwise be small: few
   images, or a GPU; on a CPU a pass of 16 MNIST images is already compute-bound);
2. its overhead over the bare forward+backward passes it needs (the same points, built
   beforehand, pushed through the model in the same batches): target <= 1.3x;
3. captum's ``IntegratedGradients`` on the same points, for reference;
4. memory: the largest batch that reaches the model and the peak bytes autograd holds for
   the backward pass (counted with ``torch.autograd.graph.saved_tensors_hooks``). With a
   fixed ``internal_batch_size`` they do not grow with the number of steps.
"""
import argparse
import warnings
from functools import partial

import torch
from torch import nn

from course_utils import data, load_pretrained
from course_utils.xai.gradients import integrated_gradients, path_rule
import timing

N_IMAGES, STEPS = 16, 50
best_of = partial(timing.best_of, repeats=5)  # short timings: the best of 5



def bare_passes(model, x, target, steps, batch_size):
    """Only what IG cannot avoid: the path points, forward, backward; no weighting, no bookkeeping."""
    alphas, _ = path_rule(steps)
    points = torch.cat([a * x for a in alphas.float()])  # baseline 0, step-major like integrated_gradients
    targets = target.repeat(steps)

    def run():
        for start in range(0, len(points), batch_size):
            batch = points[start:start + batch_size].requires_grad_(True)
            outputs = model(batch).gather(1, targets[start:start + batch_size, None]).sum()
            torch.autograd.grad(outputs, batch)
    return run


class SavedBytes:
    """Bytes autograd keeps for backward right now, and the peak (a pack hook per saved tensor)."""

    def __init__(self):
        self.current = self.peak = 0

    def pack(self, tensor):
        return _Held(tensor, self)

    @staticmethod
    def unpack(held):
        return held.tensor


class _Held:
    def __init__(self, tensor, meter):
        self.tensor, self.meter, self.size = tensor, meter, tensor.numel() * tensor.element_size()
        meter.current += self.size
        meter.peak = max(meter.peak, meter.current)

    def __del__(self):
        self.meter.current -= self.size


class LargestBatch(nn.Module):
    """Identity layer that remembers the largest batch it saw."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def forward(self, x):
        self.largest = max(self.largest, len(x))
        return x


def memory(model, x, target, steps, internal_batch_size):
    counter = LargestBatch()
    meter = SavedBytes()
    with torch.autograd.graph.saved_tensors_hooks(meter.pack, meter.unpack):
        integrated_gradients(nn.Sequential(counter, model), x, target, steps=steps,
                             internal_batch_size=internal_batch_size)
    return counter.largest, meter.peak / 1e6


def main() -> None:
    from captum.attr import IntegratedGradients

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 images, 20 steps")
    args = parser.parse_args()
    n_images, n_steps = (4, 20) if args.quick else (N_IMAGES, STEPS)

    model = load_pretrained("mnist_cnn")
    x, y = data.mnist_tensors("test", n=n_images)
    total = n_images * n_steps
    print(f"mnist_cnn, {n_images} images x {n_steps} steps = {total} path points; torch threads: {torch.get_num_threads()}")

    batched = best_of(lambda: integrated_gradients(model, x, y, steps=n_steps, internal_batch_size=200))
    one_step = best_of(lambda: integrated_gradients(model, x, y, steps=n_steps, internal_batch_size=n_images))
    print(f"1. time of one step per pass ({n_images} images, so {n_images} inputs per pass) / batched "
          f"(internal_batch_size=200): {one_step / batched:.1f}x")
    single_batched = best_of(lambda: integrated_gradients(model, x[:1], y[:1], steps=n_steps))
    single_steps = best_of(lambda: integrated_gradients(model, x[:1], y[:1], steps=n_steps, internal_batch_size=1))
    print(f"   one image: time of {n_steps} passes of one input / all {n_steps} steps in one pass: "
          f"{single_steps / single_batched:.1f}x")

    for batch_size in (200, total):
        ours = best_of(lambda: integrated_gradients(model, x, y, steps=n_steps, internal_batch_size=batch_size))
        bare = best_of(bare_passes(model, x, y, n_steps, batch_size))
        print(f"2. internal_batch_size={batch_size}: integrated_gradients / bare forward+backward passes = "
              f"{ours / bare:.2f}x (target <= 1.3x)")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = IntegratedGradients(model)
        theirs = best_of(lambda: explainer.attribute(x, target=y, n_steps=n_steps, internal_batch_size=200))
    print(f"3. captum IntegratedGradients (internal_batch_size=200) / ours = {theirs / batched:.2f}x")

    print("4. memory: largest batch through the model, peak MB held for backward")
    for batch_size in (16, 64, 256, None):
        row = [memory(model, x, y, steps, batch_size) for steps in (n_steps, 4 * n_steps)]
        cells = "  ".join(f"steps={s}: batch {b:5d}, {mb:7.1f} MB" for s, (b, mb) in zip((n_steps, 4 * n_steps), row))
        print(f"   internal_batch_size={str(batch_size):>4}: {cells}")


if __name__ == "__main__":
    main()
