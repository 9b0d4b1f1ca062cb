"""Hand-written reference implementations of the course's methods, each tested against its library.

Import the submodules explicitly, e.g. ``from course_utils.xai import lime``.

The calling convention (one way to call every method; ``tests/test_convention.py`` checks it):

- Black-box explainers: ``method(predict_fn, x, data, *, ...)``: the function explained,
  the instance, then the reference data (training rows or a background), e.g.
  ``lime_tabular(predict_fn, x, X_train, n_features=5)``,
  ``kernel_shap(predict_fn, x, background, n_samples=500)``,
  ``anchor_tabular(predict_fn, x, X_train)``. Those with a base value return an
  :class:`~course_utils.xai.explanation.Explanation` (``.values``, ``.base_value``,
  ``.n_evaluations``).
- Torch explainers: ``method(model, x, target, *, ...)``; a method that needs a layer takes
  it second, ``gradcam(model, layer, x, target)``. Attacks: ``attack(model, x, y, *, ...)``
  (``y``: the labels, or the target labels with ``targeted=True``). Every torch method goes
  through the private layer :mod:`course_utils._torch`: inputs are checked, moved to the
  model's device and dtype, the model is used in eval mode and left as it was found.
- Budgets are ``n_samples`` (evaluations or perturbations), ``n_features`` (features
  kept), ``n_permutations`` and ``steps``; other sizes keep explicit names
  (``batch_size``, ``beam_size``, ``n_masks``); never ``num_*``, and the explained function
  is never called ``f``.
- Randomness: every function that draws takes ``rng`` (an int seed, a NumPy generator, a
  torch generator or None), converted by :func:`course_utils.runtime.as_generator` or
  :func:`course_utils.runtime.as_torch_generator`. Nothing seeds a global generator.
- Measurements shared by lessons live in :mod:`course_utils.xai.evaluation`.
- Each module registers its exercises (``EXERCISES = register(Exercise(...), ...)``), and an
  exercise's reference is the building block the library itself calls.
"""
