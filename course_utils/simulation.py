"""Simulated data sets whose ground truth is known (lesson 04's DNA motifs, lesson 11's additive model).

- :func:`simulate_motif_sequences`: random DNA with GATA1-like and TAL1-like motifs
  inserted, a small version of the simulated genomics data of Shrikumar, Greenside and
  Kundaje ("Learning Important Features Through Propagating Activation Differences",
  ICML 2017, section 4.3): an attribution method should light up the inserted motifs.
- :func:`sickness_model` and :func:`prize_model`: two tiny ReLU networks in the spirit of
  the SHAP paper's experiment 2 (Lundberg and Lee, NeurIPS 2017, section 5.2), a
  sickness score from fever and cough and a prize shared by the highest scorer, whose
  "right" attributions a person can work out by hand (lesson 03).
- :func:`additive_task`: a model that is a sum of one-feature functions on independent
  features, whose exact (interventional) Shapley values are known in closed form: the
  ground truth of lesson 11's section 5.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .runtime import as_generator
from .validation import check_in, check_positive_int, check_real

__all__ = ["MotifSequences", "simulate_motif_sequences", "MOTIFS", "TASKS", "AdditiveTask", "additive_task",
           "ADDITIVE_TERMS", "sickness_model", "prize_model", "SYMPTOMS"]


DNA_ALPHABET = "ACGT"
BACKGROUND = (0.3, 0.2, 0.2, 0.3)  # A, C, G, T frequencies of the DeepLIFT paper's simulation
MOTIFS = {"GATA1": "GCAGATAAGG", "TAL1": "ACCAGCTGGT"}  # simplified consensus sites (GATA: WGATAR, TAL1: E-box CANNTG)
TASKS = ("both", "GATA1", "TAL1")


@dataclass(frozen=True)
class MotifSequences:
    """Simulated DNA: one-hot sequences, the three task labels, and where the motifs were inserted.

    Attributes
    ----------
    X : torch.Tensor
        One-hot, shape (n, 4, length), channels A, C, G, T.
    y : torch.Tensor
        float 0/1, shape (n, 3): task 0 "both motifs", task 1 "GATA1", task 2 "TAL1".
    masks : dict of str to torch.Tensor
        ``masks["GATA1"]``, ``masks["TAL1"]``: bool (n, length), True on inserted motif bases.
    """

    X: torch.Tensor
    y: torch.Tensor
    masks: dict

    def task_mask(self, task: int) -> torch.Tensor:
        """Positions of the motifs that make task ``task`` positive (both motifs for task 0)."""
        check_in("task", task, range(len(TASKS)))
        return {0: self.masks["GATA1"] | self.masks["TAL1"], 1: self.masks["GATA1"], 2: self.masks["TAL1"]}[task]

    def strings(self, index: int) -> str:
        """Sequence ``index`` as letters."""
        return "".join(DNA_ALPHABET[i] for i in self.X[index].argmax(dim=0).tolist())


def _motif_pwm(consensus: str, purity: float) -> np.ndarray:
    """A position weight matrix (length, 4): the consensus base with probability ``purity``."""
    pwm = np.full((len(consensus), 4), (1 - purity) / 3)
    pwm[np.arange(len(consensus)), [DNA_ALPHABET.index(c) for c in consensus]] = purity
    return pwm


def _free_positions(taken: np.ndarray, width: int, count: int, rng: np.random.Generator) -> list[int]:
    starts = []
    while len(starts) < count:
        start = int(rng.integers(0, len(taken) - width + 1))
        if not taken[start:start + width].any():
            taken[start:start + width] = True
            starts.append(start)
    return starts


def simulate_motif_sequences(n: int, *, length: int = 200, purity: float = 0.9, max_instances: int = 3,
                             rng=None) -> MotifSequences:
    """Random DNA with GATA1-like and TAL1-like motifs inserted (after the DeepLIFT paper, section 4.3).

    Background bases are drawn with frequencies A 0.3, C 0.2, G 0.2, T 0.3. A quarter of
    the sequences get both motifs, a quarter only GATA1, a quarter only TAL1, a quarter
    neither; each inserted motif appears 1 to ``max_instances`` times, at random
    non-overlapping places, each instance sampled from a position weight matrix whose
    consensus base has probability ``purity``. The paper sampled ENCODE's GATA_disc1 and
    TAL1_known1 matrices; here the matrices are built from short consensus sites
    (:data:`MOTIFS`).

    Parameters
    ----------
    n : int
    length : int, default 200
    purity : float, default 0.85
        In (0.25, 1].
    max_instances : int, default 3
    rng : None, int, numpy.random.Generator or torch.Generator

    Returns
    -------
    MotifSequences

    Examples
    --------
    >>> data = simulate_motif_sequences(8, rng=0)
    >>> tuple(data.X.shape), tuple(data.y.shape)
    ((8, 4, 200), (8, 3))
    """
    n = check_positive_int("n", n)
    length = check_positive_int("length", length)
    purity = check_real("purity", purity, low=0.25, high=1, low_inclusive=False)
    max_instances = check_positive_int("max_instances", max_instances)
    width = max(len(m) for m in MOTIFS.values())
    # Each placed instance blocks at most 2 * width - 1 start positions, so with this length the
    # last of the 2 * max_instances instances always has room (random placement cannot get stuck).
    shortest = (2 * max_instances - 1) * (2 * width - 1) + width
    if length < shortest:
        raise ValueError(f"length must be at least (2 * max_instances - 1) * (2 * motif width - 1) + motif width "
                         f"= {shortest} so that every motif instance finds room, got {length}.")
    rng = as_generator(rng)
    codes = rng.choice(4, size=(n, length), p=BACKGROUND)
    masks = {name: np.zeros((n, length), dtype=bool) for name in MOTIFS}
    kind = rng.permutation(np.arange(n) % 4)  # 0 both, 1 GATA1 only, 2 TAL1 only, 3 neither
    present = {"GATA1": (kind == 0) | (kind == 1), "TAL1": (kind == 0) | (kind == 2)}
    for name, consensus in MOTIFS.items():
        cumulative = _motif_pwm(consensus, purity).cumsum(axis=1)
        for i in np.flatnonzero(present[name]):
            taken = masks["GATA1"][i] | masks["TAL1"][i]
            for start in _free_positions(taken, len(consensus), int(rng.integers(1, max_instances + 1)), rng):
                draws = rng.random(len(consensus))[:, None]
                codes[i, start:start + len(consensus)] = (draws > cumulative).sum(axis=1).clip(max=3)
                masks[name][i, start:start + len(consensus)] = True
    X = torch.nn.functional.one_hot(torch.from_numpy(codes), 4).permute(0, 2, 1).float()
    y = torch.from_numpy(np.stack([present["GATA1"] & present["TAL1"], present["GATA1"], present["TAL1"]], 1)).float()
    return MotifSequences(X=X, y=y, masks={name: torch.from_numpy(mask) for name, mask in masks.items()})


# ------------------------------------------------------------------ an additive model with known Shapley values

# One term per feature, f(x) = sum_j g_j(x_j): linear, even, periodic, a kink, nothing, weak linear.
ADDITIVE_TERMS = {
    "2 x": lambda v: 2 * v,
    "x^2": lambda v: v ** 2,
    "sin(2 x)": lambda v: np.sin(2 * v) if isinstance(v, np.ndarray) else torch.sin(2 * v),
    "3 relu(x)": lambda v: 3 * np.maximum(v, 0) if isinstance(v, np.ndarray) else 3 * torch.relu(v),
    "0 (unused)": lambda v: 0 * v,
    "0.5 x": lambda v: 0.5 * v,
}


class _AdditiveModule(torch.nn.Module):
    """The additive model as a torch module: (n, d) rows -> (n, 1) outputs (for the gradient methods)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(g(x[:, j]) for j, g in enumerate(ADDITIVE_TERMS.values()))[:, None]


@dataclass(frozen=True)
class AdditiveTask:
    """A model whose Shapley values are known: ``f(x) = sum_j g_j(x_j)`` on independent features.

    For an additive model the interventional Shapley value of feature j against a background
    set B is exactly ``g_j(x_j) - mean_{b in B} g_j(b_j)``: every coalition's value is a sum of
    per-feature terms, and feature j's marginal contribution is the same in every coalition.
    Made by :func:`additive_task`.

    Attributes
    ----------
    background : numpy.ndarray
        (n_background, d) rows, standard normal.
    X : numpy.ndarray
        (n, d) rows to explain, standard normal.
    terms : list of str
        The functions ``g_j``, in feature order (keys of :data:`ADDITIVE_TERMS`).
    """

    background: np.ndarray
    X: np.ndarray
    terms: list

    def predict(self, X) -> np.ndarray:
        """f on (n, d) rows: shape (n,)."""
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != len(self.terms):
            raise ValueError(f"X must have shape (n, {len(self.terms)}), got {X.shape}.")
        return sum(ADDITIVE_TERMS[name](X[:, j]) for j, name in enumerate(self.terms))

    def module(self) -> torch.nn.Module:
        """f as a torch module, (n, d) -> (n, 1), for the gradient-based methods."""
        return _AdditiveModule().eval()

    def shapley_values(self, X=None) -> np.ndarray:
        """The exact Shapley values of ``X`` (default: :attr:`X`) against :attr:`background`: (n, d)."""
        X = self.X if X is None else np.asarray(X, dtype=float)
        return np.column_stack([ADDITIVE_TERMS[name](X[:, j]) - ADDITIVE_TERMS[name](self.background[:, j]).mean()
                                for j, name in enumerate(self.terms)])


def additive_task(n: int = 20, *, n_background: int = 100, rng=None) -> AdditiveTask:
    """Rows to explain and a background for the additive model of :data:`ADDITIVE_TERMS`.

    Parameters
    ----------
    n : int
        Rows to explain.
    n_background : int
        Background rows (the "absent feature" distribution of Kernel SHAP and the others).
    rng : None, int or numpy.random.Generator
        Draws both, standard normal and independent.

    Returns
    -------
    AdditiveTask

    Examples
    --------
    >>> task = additive_task(3, n_background=50, rng=0)
    >>> phi = task.shapley_values()
    >>> bool(np.allclose(phi.sum(axis=1), task.predict(task.X) - task.predict(task.background).mean()))
    True
    """
    n, n_background = check_positive_int("n", n), check_positive_int("n_background", n_background)
    rng = as_generator(rng)
    d = len(ADDITIVE_TERMS)
    return AdditiveTask(background=rng.normal(size=(n_background, d)), X=rng.normal(size=(n, d)),
                        terms=list(ADDITIVE_TERMS))


# --------------------------------------------------------------- lesson 03: attributions people can check

SYMPTOMS = ("fever", "cough")


class _SicknessScore(torch.nn.Module):
    """2 * min(fever, cough), computed as 2 * (a - relu(a - b)) with ``a`` the symptom named ``through``."""

    def __init__(self, through: int):
        super().__init__()
        self.through = through
        self.relu = torch.nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x[:, self.through:self.through + 1], x[:, 1 - self.through:2 - self.through]
        return 2 * (a - self.relu(a - b))


def sickness_model(through: str = "fever") -> torch.nn.Module:
    """A sickness score of 2 for a patient with both fever and cough, 0 otherwise, as a ReLU network.

    Inputs are (n, 2) rows ``(fever, cough)`` of 0/1 (1 = the symptom is present); the output,
    (n, 1), is ``2 * min(fever, cough)``. The network computes the minimum as
    ``a - relu(a - b)``, with ``a`` the symptom named by ``through``: the two choices are the
    same function, but not the same network (which is what DeepLIFT reads).

    Parameters
    ----------
    through : {"fever", "cough"}, default "fever"

    Returns
    -------
    torch.nn.Module
        In eval mode; one ReLU module, used once.

    Examples
    --------
    >>> model = sickness_model()
    >>> model(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])).ravel().tolist()
    [0.0, 0.0, 0.0, 2.0]
    """
    check_in("through", through, SYMPTOMS)
    return _SicknessScore(SYMPTOMS.index(through)).eval()


class _HighestScore(torch.nn.Module):
    """max(s1, s2, s3) as max(max(s1, s2), s3), each max(u, v) = v + relu(u - v)."""

    def __init__(self):
        super().__init__()
        self.first, self.second = torch.nn.ReLU(), torch.nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        best_of_two = x[:, 1:2] + self.first(x[:, 0:1] - x[:, 1:2])
        return x[:, 2:3] + self.second(best_of_two - x[:, 2:3])


def prize_model() -> torch.nn.Module:
    """The prize a team of three wins: the highest of their three scores (in dollars), as a ReLU network.

    Inputs are (n, 3) rows of the three people's scores (a person who does not take part
    scores 0); the output, (n, 1), is the largest. With scores (5, 4, 0) the team wins $5:
    how should the $5 be shared among the three?

    Returns
    -------
    torch.nn.Module
        In eval mode; two ReLU modules, each used once.

    Examples
    --------
    >>> prize_model()(torch.tensor([[5.0, 4.0, 0.0], [1.0, 3.0, 2.0]])).ravel().tolist()
    [5.0, 3.0]
    """
    return _HighestScore().eval()
