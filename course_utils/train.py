"""Train the course's own models: ``python -m course_utils.train mnist_cnn``.

Each run is seeded, shows a progress bar, uses the GPU when there is one, and writes
``data/checkpoints/<name>.pt`` (the state dict) and ``<name>.json`` (its sha256, test
accuracy and how it was trained), which :func:`course_utils.models.load_pretrained` checks.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import canvases, data, models
from .runtime import get_device, seed_everything

__all__ = ["train_mnist_cnn", "train_mnist_pairs_cnn", "evaluate_accuracy", "save_checkpoint", "TRAINERS"]


def evaluate_accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1000) -> float:
    """Fraction of ``X`` that ``model`` classifies as ``y`` (argmax of the outputs)."""
    device = next(model.parameters()).device
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(X), batch_size):
            logits = model(X[start:start + batch_size].to(device))
            correct += (logits.argmax(1).cpu() == y[start:start + batch_size]).sum().item()
    return correct / len(X)


def save_checkpoint(name: str, model: nn.Module, card: dict) -> dict:
    """Write ``<name>.pt`` and its card ``<name>.json`` atomically; return the card."""
    path = models.checkpoint_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as tmp:
        torch.save(state, tmp)
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, path)
    card = {"name": name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "torch": torch.__version__, **card}
    path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def train_mnist_cnn(*, epochs: int = 4, seed: int = 0, batch_size: int = 128, lr: float = 2e-3,
                    device: torch.device | None = None) -> tuple[nn.Module, dict]:
    """Train :func:`course_utils.models.mnist_cnn` with Adam on the 60,000 training digits.

    The learning rate halves after every epoch. Returns the model and a card with its test
    accuracy (4 epochs: about 99%; about 2 minutes on two CPU cores).
    """
    device = device or get_device()
    generator = torch.Generator().manual_seed(seed)
    seed_everything(seed)
    X, y = data.mnist_tensors("train")
    X_test, y_test = data.mnist_tensors("test")
    model = models.mnist_cnn().to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.StepLR(optimiser, step_size=1, gamma=0.5)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(X), generator=generator)
        bar = tqdm(range(0, len(X), batch_size), desc=f"epoch {epoch + 1}/{epochs}")
        for start in bar:
            index = order[start:start + batch_size]
            loss = nn.functional.cross_entropy(model(X[index].to(device)), y[index].to(device))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        schedule.step()
    accuracy = evaluate_accuracy(model, X_test, y_test)
    card = {"test_accuracy": round(accuracy, 4), "epochs": epochs, "seed": seed, "batch_size": batch_size,
            "lr": lr, "optimiser": "Adam, lr halved every epoch", "command": f"python -m course_utils.train mnist_cnn --epochs {epochs} --seed {seed}"}
    return model, card


def train_mnist_pairs_cnn(*, epochs: int = 8, seed: int = 0, batch_size: int = 128, lr: float = 2e-3,
                          canvases_per_epoch: int = 25_000, n_test: int = 10_000,
                          device: torch.device | None = None) -> tuple[nn.Module, dict]:
    """Train :func:`course_utils.models.mnist_pairs_cnn` on fresh two-digit canvases (multi-label, BCE).

    Every batch is new canvases of training digits (:func:`course_utils.canvases.make_canvases`,
    one generator seeded with ``seed``); the learning rate decays to 0 along a cosine over all
    steps. The card reports the exact-match accuracy (both digits found, nothing else) on
    ``n_test`` test canvases (test digits, seed 0).
    """
    device = device or get_device()
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    X, y = data.mnist_tensors("train")
    layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format  # faster CPU convolutions
    model = models.mnist_pairs_cnn().to(device, memory_format=layout)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = -(-canvases_per_epoch // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs * steps_per_epoch)
    for epoch in range(epochs):
        model.train()
        bar = tqdm(range(0, canvases_per_epoch, batch_size), desc=f"epoch {epoch + 1}/{epochs}")
        for start in bar:
            batch = canvases.make_canvases(X, y, min(batch_size, canvases_per_epoch - start), rng=rng)
            logits = model(batch.images.to(device, memory_format=layout))
            loss = nn.functional.binary_cross_entropy_with_logits(logits, batch.targets.to(device))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    model.to(memory_format=torch.contiguous_format)
    accuracy = canvases.exact_match_accuracy(model, canvases.mnist_canvases("test", n_test, seed=0))
    card = {"test_exact_match": round(accuracy, 4), "test_canvases": f"{n_test} (mnist_canvases('test', seed=0))",
            "epochs": epochs, "canvases_per_epoch": canvases_per_epoch, "seed": seed, "batch_size": batch_size,
            "lr": lr, "optimiser": "Adam, cosine decay of the lr over all steps",
            "loss": "BCE with logits (multi-label)",
            "command": f"python -m course_utils.train mnist_pairs_cnn --epochs {epochs} --seed {seed}"}
    return model, card


TRAINERS: dict[str, Callable[..., tuple[nn.Module, dict]]] = {
    "mnist_cnn": train_mnist_cnn,
    "mnist_pairs_cnn": train_mnist_pairs_cnn,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(TRAINERS))
    parser.add_argument("--epochs", type=int, default=None, help="default: the trainer's own")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    options = {"seed": args.seed} | ({"epochs": args.epochs} if args.epochs else {})
    model, card = TRAINERS[args.name](**options)
    card = save_checkpoint(args.name, model, card)
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
