"""Device, randomness, threads, fast mode and notebook setup.

One call at the top of every notebook, ``setup_notebook()``, sets the course's plot
style, seeds every random generator, picks the device and reports whether fast mode is
on. The helpers it uses are public, so scripts and tests can use them alone.

Randomness follows one rule across the course: every function that draws takes ``rng``
(an int seed, a ``numpy.random.Generator``, a ``torch.Generator`` or None) and turns it
into the generator it needs with :func:`as_generator` or :func:`as_torch_generator`.
No function of the library seeds a global generator (only ``seed_everything`` does, when
a notebook asks).
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

from . import data, plotting
from .validation import _got, check_in, check_nonnegative_int

__all__ = [
    "get_device",
    "as_generator",
    "as_torch_generator",
    "one_blas_thread",
    "seed_everything",
    "fast_mode",
    "pick",
    "is_colab",
    "setup_notebook",
    "NotebookContext",
]

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
T = TypeVar("T")
_BLAS: list = []  # a threadpoolctl controller, made on first use
_RNG_KINDS = "None, an int seed, a numpy.random.Generator or a torch.Generator"


def _check_rng(rng, name: str):
    if rng is None or isinstance(rng, (np.random.Generator, torch.Generator)):
        return rng
    if isinstance(rng, bool) or not isinstance(rng, (int, np.integer)):
        raise TypeError(f"{name} must be {_RNG_KINDS}, {_got(rng)}.")
    if rng < 0:
        raise ValueError(f"{name} must be a non-negative int seed (or {_RNG_KINDS}), {_got(rng)}.")
    return int(rng)


def as_generator(rng=None, *, name: str = "rng") -> np.random.Generator:
    """The NumPy generator for ``rng``: the course's one way to accept randomness.

    Parameters
    ----------
    rng : None, int, numpy.random.Generator or torch.Generator
        None: fresh entropy; an int: ``numpy.random.default_rng(rng)``; a NumPy generator:
        itself (draws advance it); a torch generator: a NumPy generator seeded by one draw from it.
    name : str
        The parameter's name, for the error message.

    Returns
    -------
    numpy.random.Generator

    Examples
    --------
    >>> float(as_generator(0).random()) == float(np.random.default_rng(0).random())
    True
    """
    rng = _check_rng(rng, name)
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, torch.Generator):
        return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=rng)))
    return np.random.default_rng(rng)


def as_torch_generator(rng=None, *, device=None, name: str = "rng") -> torch.Generator | None:
    """The torch generator for ``rng`` on ``device``, or None for torch's global generator.

    Parameters
    ----------
    rng : None, int, numpy.random.Generator or torch.Generator
        None: None (torch's global generator, which ``seed_everything`` seeds); an int: a
        new generator seeded with it; a torch generator on ``device``: itself; a NumPy
        generator (or a torch generator on another device): a new generator seeded by one
        draw from it.
    device : torch.device or str, optional
        Where the random tensors are drawn (default: the CPU).
    name : str
        The parameter's name, for the error message.

    Returns
    -------
    torch.Generator or None

    Examples
    --------
    >>> a, b = as_torch_generator(0), torch.Generator().manual_seed(0)
    >>> bool(torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b)))
    True
    """
    rng = _check_rng(rng, name)
    try:
        device = torch.device(device if device is not None else "cpu")
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}.") from err
    if rng is None:
        return None
    if isinstance(rng, torch.Generator):
        if rng.device.type == device.type:
            return rng
        seed = int(torch.randint(0, 2**62, (1,), generator=rng, device=rng.device))
    elif isinstance(rng, np.random.Generator):
        seed = int(rng.integers(0, 2**62))
    else:
        seed = rng
    return torch.Generator(device=device).manual_seed(seed)


def one_blas_thread():
    """A context in which BLAS/LAPACK use one thread (``threadpoolctl``, a scikit-learn dependency).

    The regressions of the explainers are small (a few thousand rows, at most a few
    hundred columns): one thread solves them fastest, and on a machine whose cores are
    busy OpenBLAS's threads can make them 100 times slower. Wrap a library's explainer in
    it too when timing it against the course's functions.
    """
    from threadpoolctl import ThreadpoolController

    if not _BLAS:
        _BLAS.append(ThreadpoolController())
    return _BLAS[0].limit(limits=1, user_api="blas")


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


def _inline_figures_in_kernel() -> bool:
    """Switch matplotlib to the inline backend inside a Jupyter kernel; True if it did.

    ``MPLBACKEND=Agg`` in the environment (set for scripts and CI) is inherited by a
    kernel, where it would draw every figure off screen: an executed notebook would then
    hold no image at all. In a kernel the notebook is the screen, so the inline backend is
    the right one whatever the environment says; a terminal IPython or a script is left alone.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    shell.run_line_magic("matplotlib", "inline")
    return True


def setup_notebook(seed: int = 0) -> NotebookContext:
    """Prepare a lesson: inline figures, course plot style, seeds, device and fast mode; print one line.

    Inside a Jupyter kernel matplotlib is switched to the inline backend, even where
    ``MPLBACKEND`` asks for another (a notebook executed with ``MPLBACKEND=Agg`` would
    otherwise store no figure).

    Parameters
    ----------
    seed : int, default 0

    Returns
    -------
    NotebookContext
    """
    _inline_figures_in_kernel()
    plotting.use_course_style()
    rng = seed_everything(seed)
    device = get_device()
    fast = fast_mode()
    data_dir = data.cache_dir()
    mirror = os.environ.get("COURSE_DATA_MIRROR")
    where = f"data: {data_dir}" + (f" (mirror: {mirror})" if mirror else "")
    print(f"device: {device} | fast mode: {'on' if fast else 'off'} | seed: {seed} | {where}")
    return NotebookContext(device=device, rng=rng, fast=fast, data_dir=data_dir)
