"""How fast is LIME here? Two ratios, each measured in one run on the same inputs.

Run from the repository root: ``python benchmarks/bench_lime.py [--quick]`` (``--quick``:
fewer samples). Every explainer's model is wrapped in a counter, so each line also reports
the rows the model was evaluated on (the cost floor of an explanation for an expensive
model), whatever the package reports about itself.

1. Image LIME on the course's MNIST CNN: ``lime_image`` fed through ``as_predict_fn``
   (``batched_predict``: one large batch, no autograd) against the way lime's PyTorch
   tutorial does it (lime's default ``batch_size=10``, each image converted to a tensor on
   its own, autograd on). Same random state, so both see the same perturbed images; the
   explanations are checked to be the same.
2. ``course_utils.xai.lime.lime_tabular`` on Adult with a random forest: its wall time
   against the bare model evaluations it needs (``f`` on ``n_samples`` rows), target
   <= 1.3x; and ``lime.lime_tabular`` on the same task for comparison.
"""

import argparse

import numpy as np
import torch

from course_utils import as_predict_fn, data, load_pretrained
from course_utils.xai.lime import lime_tabular, sample_tabular
from timing import CountingModel, best_of



def tutorial_predict_fn(model):
    """The lime tutorial's classifier_fn: one tensor per image, stacked, autograd on."""
    def predict(images: np.ndarray) -> np.ndarray:
        model.eval()
        batch = torch.stack([torch.as_tensor(image, dtype=torch.float32).mean(dim=-1, keepdim=True).permute(2, 0, 1)
                             for image in images])
        return torch.softmax(model(batch), dim=1).detach().cpu().numpy()
    return predict


def image_ratio(num_samples: int = 1000) -> None:
    from lime import lime_image
    from lime.wrappers.scikit_image import SegmentationAlgorithm

    model = load_pretrained("mnist_cnn")
    digit = data.mnist_tensors("test", n=1)[0][0, 0].numpy().astype(float)
    segmenter = SegmentationAlgorithm("slic", n_segments=40, compactness=0.3, sigma=0, start_label=0, channel_axis=-1)

    def explain(classifier_fn, batch_size):
        explainer = lime_image.LimeImageExplainer(random_state=0)
        return explainer.explain_instance(digit, classifier_fn, top_labels=1, hide_color=0, num_samples=num_samples,
                                          batch_size=batch_size, segmentation_fn=segmenter)

    fast, slow = explain(as_predict_fn(model), num_samples), explain(tutorial_predict_fn(model), 10)
    label = fast.top_labels[0]
    assert label == slow.top_labels[0]
    assert np.allclose(sorted(fast.local_exp[label]), sorted(slow.local_exp[label]), atol=1e-4)
    batched = best_of(lambda: explain(as_predict_fn(model), num_samples))
    tutorial = best_of(lambda: explain(tutorial_predict_fn(model), 10))
    counted_fast, counted_slow = CountingModel(as_predict_fn(model)), CountingModel(tutorial_predict_fn(model))
    explain(counted_fast, num_samples), explain(counted_slow, 10)
    print(f"image LIME, {num_samples} samples, torch threads {torch.get_num_threads()}: "
          f"lime's default way {tutorial:.2f} s, through batched_predict {batched:.2f} s "
          f"-> {tutorial / batched:.1f}x faster; rows evaluated {counted_slow.rows} and {counted_fast.rows} "
          f"(calls {counted_slow.calls} and {counted_fast.calls})")


def tabular_overhead(num_samples: int = 5000) -> None:
    from lime.lime_tabular import LimeTabularExplainer
    from sklearn.ensemble import RandomForestClassifier

    adult = data.adult("train")
    X, categories = adult.encoded()
    rows = np.random.default_rng(0).permutation(len(X))[:5000]
    X, y = X[rows], adult.y[rows]
    model = RandomForestClassifier(n_estimators=100, min_samples_leaf=3, random_state=0).fit(X, y)
    categorical = sorted(categories)

    def f(A):
        return model.predict_proba(A)[:, 1]

    x = X[0]
    _, samples = sample_tabular(x, X, num_samples, rng=0, categorical_features=categorical)
    bare = best_of(lambda: f(samples))
    print(f"lime_tabular on Adult (random forest, {num_samples} samples):")
    for k in (5, 10):  # forward selection (k <= 6) and highest weights
        ours = best_of(lambda: lime_tabular(f, x, X, n_features=k, n_samples=num_samples, rng=0,
                                            categorical_features=categorical))
        explainer = LimeTabularExplainer(X, categorical_features=categorical, random_state=0)
        library = best_of(lambda: explainer.explain_instance(x, model.predict_proba, num_features=k,
                                                             num_samples=num_samples))
        our_model, their_model = CountingModel(f), CountingModel(model.predict_proba)
        lime_tabular(our_model, x, X, n_features=k, n_samples=num_samples, rng=0, categorical_features=categorical)
        explainer.explain_instance(x, their_model, num_features=k, num_samples=num_samples)
        print(f"  n_features={k:2d}: model evaluations alone {bare:.3f} s, ours {ours:.3f} s "
              f"-> {ours / bare:.2f}x the bare evaluations (target <= 1.3x); lime library {library:.3f} s "
              f"({library / ours:.1f}x ours); rows evaluated: ours {our_model.rows} in {our_model.calls} calls, "
              f"lime {their_model.rows} in {their_model.calls}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples per explanation")
    args = parser.parse_args()
    image_ratio(300 if args.quick else 1000)
    tabular_overhead(1000 if args.quick else 5000)


if __name__ == "__main__":
    main()
