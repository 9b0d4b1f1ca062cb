"""Batched, gradient-free prediction with numpy in and numpy out, for lime, shap and anchors.

Model-agnostic explainers call a prediction function on thousands of perturbed inputs.
Calling a torch model one input at a time wastes most of that time in Python and kernel
launch overhead; :func:`batched_predict` runs large batches under ``torch.inference_mode``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from ._torch import apply_model, check_model, evaluating, model_device
from .validation import check_array, check_nonnegative_int, check_positive_int

__all__ = ["batched_predict", "as_predict_fn"]


def _first_conv_channels(model: nn.Module) -> int | None:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    return None


def _to_model_layout(X: np.ndarray, model_channels: int | None) -> np.ndarray:
    """Images to NCHW float in [0, 1]: NHWC is transposed, uint8 scaled, RGB->gray if needed."""
    if X.dtype == np.uint8:
        X = X.astype(np.float32) / 255.0
    if X.ndim == 3:  # a batch of single-channel HxW images
        X = X[:, None]
    if X.ndim == 4 and X.shape[-1] in (1, 3) and X.shape[1] not in (1, 3):
        X = X.transpose(0, 3, 1, 2)
    if model_channels == 1 and X.ndim == 4 and X.shape[1] == 3:
        X = X.mean(axis=1, keepdims=True)  # lime feeds gray images as 3 equal channels
    return X


@contextmanager
def _channels_last(model: nn.Module, enabled: bool) -> Iterator[None]:
    """Run a CNN with channels-last weights (2-3x faster convolutions on CPUs), then restore them.

    ``Module.to`` swaps the tensors' storage in place, so parameter objects (and optimisers
    holding them) are unchanged.
    """
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not enabled or not convs or not all(m.weight.is_contiguous() for m in convs):
        yield
        return
    model.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        model.to(memory_format=torch.contiguous_format)


def batched_predict(
    model: nn.Module,
    X,
    *,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    probs: bool = True,
) -> np.ndarray:
    """Evaluate ``model`` on ``X`` in batches, without autograd; return a numpy array.

    Parameters
    ----------
    model : torch.nn.Module
        Evaluated in eval mode (its previous mode is restored afterwards).
    X : array-like or torch.Tensor
        Tabular rows (n, d), or images as (n, H, W), NCHW or NHWC (lime passes NHWC),
        uint8 in [0, 255] or float in [0, 1]. Three-channel images given to a model whose
        first convolution takes one channel are averaged to gray.
    batch_size : int, default 256
    device : torch.device or str, optional
        Where to run. Default: the device the model's parameters are on. If given, the
        model is moved there.
    probs : bool, default True
        Apply softmax (several outputs) or sigmoid (one output) to the model's logits.

    Returns
    -------
    numpy.ndarray
        float64, shape (n, n_outputs) (or (n,) if the model returns one value per row).

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Linear(3, 2)
    >>> batched_predict(model, np.zeros((5, 3))).shape
    (5, 2)
    """
    check_model(model)
    batch_size = check_positive_int("batch_size", batch_size)
    if device is not None:
        model.to(device)
    target = torch.device(device) if device is not None else model_device(model)
    array = check_array("X", X, dtype=None)  # dtype kept: uint8 images are scaled by 255 below
    if array.ndim < 2:
        raise ValueError(f"X must be a batch with at least 2 dimensions (n, ...), got shape {array.shape}.")
    array = _to_model_layout(array, _first_conv_channels(model)) if array.ndim >= 3 else array
    if len(array) == 0:
        raise ValueError(f"X must hold at least one row, got shape {array.shape}.")
    outputs = []
    # The layout switch must happen outside inference mode: weights re-stored inside it would
    # become inference tensors, and the model could no longer be used with autograd.
    with evaluating(model), _channels_last(model, array.ndim == 4 and target.type == "cpu"):
        with torch.inference_mode():
            for start in range(0, len(array), batch_size):
                batch = torch.as_tensor(array[start:start + batch_size], dtype=torch.float32, device=target)
                logits = apply_model(model, batch, name="X")
                if probs:
                    logits = logits.softmax(dim=1) if logits.ndim == 2 and logits.shape[1] > 1 else logits.sigmoid()
                outputs.append(logits.float().cpu().numpy())
    return np.concatenate(outputs).astype(np.float64)


def as_predict_fn(model: nn.Module, *, class_index: int | None = None, **kwargs) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap ``model`` as a numpy function for lime, shap or anchors.

    Parameters
    ----------
    model : torch.nn.Module
    class_index : int, optional
        Return only this output column, shape (n,) (what ``shap.KernelExplainer`` and the
        course's ``lime_tabular`` expect for one class).
    **kwargs
        Passed to :func:`batched_predict` (``batch_size``, ``device``, ``probs``).

    Examples
    --------
    >>> import torch
    >>> predict_fn = as_predict_fn(torch.nn.Linear(3, 2), class_index=1)
    >>> predict_fn(np.zeros((4, 3))).shape
    (4,)
    """
    check_model(model)
    if class_index is not None:
        class_index = check_nonnegative_int("class_index", class_index)

    def predict_fn(X) -> np.ndarray:
        out = batched_predict(model, X, **kwargs)
        if class_index is None:
            return out
        if out.ndim != 2 or class_index >= out.shape[1]:
            raise ValueError(f"class_index must be < the model's number of outputs "
                             f"({out.shape[1] if out.ndim == 2 else 1}), got {class_index}.")
        return out[:, class_index]

    return predict_fn
