"""Helpers for the course on explainable AI and adversarial robustness.

Importing this package only defines names; it downloads nothing and changes no settings.
"""
from . import data, exercises, models, plotting, predict, validation
from .exercises import check
from .models import load_pretrained
from .predict import as_predict_fn, batched_predict
from .runtime import NotebookContext, fast_mode, get_device, is_colab, pick, seed_everything, setup_notebook

__all__ = [
    "data",
    "exercises",
    "models",
    "plotting",
    "predict",
    "validation",
    "check",
    "load_pretrained",
    "as_predict_fn",
    "batched_predict",
    "NotebookContext",
    "fast_mode",
    "get_device",
    "is_colab",
    "pick",
    "seed_everything",
    "setup_notebook",
]
