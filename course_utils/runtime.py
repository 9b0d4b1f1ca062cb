"""Device, seeding, fast mode and notebook setup.

One call at the top of every notebook, ``setup_notebook()``, sets the course's plot
style, seeds every random generator, picks the device and reports whether fast mode is
on. The helpers it uses are public, so scripts and tests can use them alone.
"""
from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from .validation import check_in, check_nonnegative_int

__all__ = [
    "get_device",
    "seed_everything",
    "fast_mode",
    "pick",
    "is_colab",
    "setup_notebook",
    "NotebookContext",
]

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
T = TypeVar("T")


def _available_devices() -> list[str]:
    """Devices present here, in the order ``auto`` prefers them."""
    available = []
    if torch.cuda.is_available():
        available.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        available.append("mps")
    return available + ["cpu"]


def get_device(prefer: str | None = None) -> torch.device:
    """Return the torch device the course should use.

    The environment variable ``COURSE_DEVICE`` (``auto``, ``cpu``, ``cuda`` or ``mps``)
    overrides ``prefer``. ``auto`` (the default) picks CUDA, then MPS, then the CPU.

    Parameters
    ----------
    prefer : {"auto", "cpu", "cuda", "mps"}, optional
        The device asked for when ``COURSE_DEVICE`` is unset or ``auto``.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If the request is not one of the choices.
    RuntimeError
        If an explicitly requested device is not present; the message lists what is.

    Examples
    --------
    >>> get_device("cpu")
    device(type='cpu')
    """
    env = os.environ.get("COURSE_DEVICE", "").strip().lower()
    if env:
        check_in("COURSE_DEVICE", env, DEVICE_CHOICES)
    request = env if env and env != "auto" else (prefer or "auto")
    check_in("prefer", request, DEVICE_CHOICES)
    available = _available_devices()
    if request == "auto":
        return torch.device(available[0])
    if request not in available:
        source = "COURSE_DEVICE" if env and env != "auto" else "prefer"
        raise RuntimeError(
            f"{source}={request!r} asks for a device that is not available here; "
            f"available: {', '.join(available)}. On Colab: Runtime > Change runtime type > GPU."
        )
    return torch.device(request)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) generators; return a NumPy Generator.

    Parameters
    ----------
    seed : int
        A non-negative integer.

    Returns
    -------
    numpy.random.Generator
        A fresh generator seeded with ``seed``; pass it explicitly (``rng=...``) to the
        course's functions rather than relying on global state.

    Examples
    --------
    >>> rng = seed_everything(0)
    >>> float(rng.random()) == float(seed_everything(0).random())
    True
    """
    seed = check_nonnegative_int("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return np.random.default_rng(seed)


def fast_mode() -> bool:
    """True when ``COURSE_FAST`` is set to 1/true/yes (CI sets it): smaller samples, fewer epochs."""
    return os.environ.get("COURSE_FAST", "0").strip().lower() in {"1", "true", "yes", "on"}


def pick(full: T, fast: T) -> T:
    """Return ``fast`` in fast mode and ``full`` otherwise.

    Examples
    --------
    >>> n_samples = pick(full=5000, fast=500)
    """
    return fast if fast_mode() else full


def is_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


@dataclass(frozen=True)
class NotebookContext:
    """What ``setup_notebook`` decided: use ``ctx.device`` and ``ctx.rng`` in the lesson."""

    device: torch.device
    rng: np.random.Generator
    fast: bool
    data_dir: Path


def setup_notebook(seed: int = 0) -> NotebookContext:
    """Prepare a lesson: course plot style, seeds, device and fast mode; print one line.

    Parameters
    ----------
    seed : int, default 0

    Returns
    -------
    NotebookContext
    """
    from . import data, plotting  # local: keeps importing course_utils light

    plotting.use_course_style()
    rng = seed_everything(seed)
    device = get_device()
    fast = fast_mode()
    data_dir = data.cache_dir()
    mirror = os.environ.get("COURSE_DATA_MIRROR")
    where = f"data: {data_dir}" + (f" (mirror: {mirror})" if mirror else "")
    print(f"device: {device} | fast mode: {'on' if fast else 'off'} | seed: {seed} | {where}")
    return NotebookContext(device=device, rng=rng, fast=fast, data_dir=data_dir)
