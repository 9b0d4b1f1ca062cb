"""Timing and counting shared by the benchmark scripts (run them from the repository root)."""
import time
from collections.abc import Callable

import numpy as np


def best_of(function: Callable[[], object], repeats: int = 3) -> float:
    """The shortest of ``repeats`` wall-clock timings of ``function()``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def best_times(functions: dict, rounds: int = 7) -> dict:
    """Best wall time of each function over ``rounds`` interleaved rounds (fair under a varying load).

    A CUDA device is synchronised after each call, so GPU work is timed where it finishes.
    """
    import torch

    best = {name: float("inf") for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def paired_ratios(a: Callable[[], object], b: Callable[[], object], repeats: int = 5) -> np.ndarray:
    """Wall-time ratios time(b) / time(a), one per pair, run as a b a b ... (after one warm-up pair).

    Pairing keeps each ratio meaningful when a shared machine's speed drifts during the
    run; quote the median and show the spread (min, max).
    """
    def timed(function):
        start = time.perf_counter()
        function()
        return time.perf_counter() - start

    timed(a), timed(b)
    ratios = []
    for _ in range(repeats):
        seconds_a = timed(a)
        ratios.append(timed(b) / seconds_a)
    return np.array(ratios)


def ratio_interval(a, b, rng: np.random.Generator, n_boot: int = 4000) -> tuple[float, float, float]:
    """mean(a) / mean(b) over paired cases, and its 95% paired-bootstrap interval.

    ``a[i]`` and ``b[i]`` are measured on the same case (a person, an input): the bootstrap
    resamples the cases, so the interval reflects how much the ratio depends on which cases
    were drawn.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    picks = rng.integers(len(a), size=(n_boot, len(a)))
    boot = a[picks].mean(axis=1) / b[picks].mean(axis=1)
    return a.mean() / b.mean(), float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))


def spread(ratios) -> str:
    """``median (min-max)`` of a set of ratios."""
    ratios = np.asarray(ratios, dtype=float)
    return f"{np.median(ratios):.2f}x ({ratios.min():.2f}-{ratios.max():.2f})"


class CountingModel:
    """Wraps a model's predict function and counts the calls and the rows it is evaluated on.

    Works with any explainer, whatever it reports itself.
    """

    def __init__(self, predict: Callable):
        self.predict, self.calls, self.rows, self.seconds = predict, 0, 0, 0.0

    def __call__(self, X):
        start = time.perf_counter()
        out = self.predict(X)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        self.rows += len(X)
        return out

    def reset(self) -> None:
        self.calls, self.rows, self.seconds = 0, 0, 0.0
