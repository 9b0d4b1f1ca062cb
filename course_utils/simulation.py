"""Simulated data sets whose ground truth is known (lesson 04's DNA motifs).

- :func:`simulate_motif_sequences`: random DNA with GATA1-like and TAL1-like motifs
  inserted, a small version of the simulated genomics data of Shrikumar, Greenside and
  Kundaje ("Learning Important Features Through Propagating Activation Differences",
  ICML 2017, section 4.3): an attribution method should light up the inserted motifs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .runtime import as_generator
from .validation import check_in, check_positive_int, check_real

__all__ = ["MotifSequences", "simulate_motif_sequences", "MOTIFS", "TASKS"]


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
