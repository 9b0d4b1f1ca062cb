"""How much faster is batched_predict than calling the model once per image?

Run from the repository root: ``python benchmarks/bench_batched_predict.py [--quick]``
(``--quick``: fewer inputs, a smoke run; quote the full run's ratios).
It reports a
ratio measured in one run on the same model and inputs (target: >= 3x), not absolute time.
"""
import argparse

import numpy as np
import torch

from course_utils import batched_predict, data, load_pretrained
from timing import best_of


def per_image(model, images: np.ndarray) -> np.ndarray:
    """The naive way: one forward pass per image."""
    with torch.no_grad():
        return np.stack([model(torch.as_tensor(image[None])).softmax(1)[0].numpy() for image in images])



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 images instead of 2000")
    args = parser.parse_args()
    n_images = 500 if args.quick else 2000
    model = load_pretrained("mnist_cnn")
    images = data.mnist_tensors("test", n=n_images)[0].numpy()
    assert np.allclose(per_image(model, images[:50]), batched_predict(model, images[:50]), atol=1e-5)
    naive = best_of(lambda: per_image(model, images))
    batched = best_of(lambda: batched_predict(model, images))
    print(f"{len(images)} MNIST images, torch threads: {torch.get_num_threads()}")
    print(f"batched_predict is {naive / batched:.1f}x faster than one call per image (target >= 3x)")


if __name__ == "__main__":
    main()
