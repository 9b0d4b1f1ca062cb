"""Train the course's own models: ``python -m course_utils.train mnist_cnn``.

Each run is seeded, shows a progress bar, uses the GPU when there is one, and writes
``data/checkpoints/<name>.pt`` (the state dict) and ``<name>.json`` (its sha256, test
accuracy and how it was trained), which :func:`course_utils.models.load_pretrained` checks.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import canvases, data, models
from ._torch import (apply_model, check_input, check_model, check_output, check_target, check_target_fits, evaluating,
                     model_device)
from .runtime import as_torch_generator, get_device, seed_everything
from .validation import check_array, check_callable, check_nonnegative_int, check_positive_int, check_real
from .xai.attacks import accuracy_under_attack, fgsm, pgd
from .xai.gradcam import gradcam
from .xai.manipulation import add_trigger, differentiable_gradcam, location_fooling_loss, poison_dataset
from .xai.robustness import cross_entropy_and_penalty

# the weight of the input-gradient penalty of mnist_cnn_gradreg (see train_mnist_cnn_gradreg)
LAM_GRADREG = 3000.0

__all__ = ["fit_classifier", "fit_tabular", "train_mnist_cnn", "train_mnist_pairs_cnn", "train_mnist_cnn_robust", "train_mnist_cnn_gradreg", "train_mnist_cnn_backdoor",
           "train_mnist_cnn_gradcam_fooled", "train_mnist_ddpm", "evaluate_accuracy", "save_checkpoint", "TRAINERS"]


def _shuffled_batches(n: int, batch_size: int, generator: torch.Generator, desc: str, progress: bool = True):
    """One epoch's mini-batches: ``(progress bar, indices)`` over one permutation of ``n`` drawn from ``generator``.

    The epoch loop the course's image trainers share (the pairs trainer draws fresh canvases instead).
    """
    order = torch.randperm(n, generator=generator)
    bar = tqdm(range(0, n, batch_size), desc=desc, disable=not progress)
    for start in bar:
        yield bar, order[start:start + batch_size]


def _fit_classifier(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int, lr: float,
                    generator: torch.Generator, device: torch.device, progress: bool = True,
                    lr_decay: float = 0.5) -> nn.Module:
    """Adam on the cross-entropy, the learning rate multiplied by ``lr_decay`` after every epoch (mnist_cnn's: 0.5)."""
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.StepLR(optimiser, step_size=1, gamma=lr_decay)
    for epoch in range(epochs):
        model.train()
        for bar, index in _shuffled_batches(len(X), batch_size, generator, f"epoch {epoch + 1}/{epochs}", progress):
            loss = nn.functional.cross_entropy(model(X[index].to(device)), y[index].to(device))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        schedule.step()
    return model


def fit_classifier(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, epochs: int = 1, batch_size: int = 128,
                   lr: float = 2e-3, lr_decay: float = 0.5, rng=0, init_seed: int | None = None,
                   progress: bool = True) -> nn.Module:
    """Train an image classifier in place with mnist_cnn's recipe; return it in eval mode.

    Adam on the cross-entropy, the learning rate halved after every epoch, mini-batches from
    one permutation per epoch drawn from ``rng``. With ``init_seed`` the weights are first
    re-initialised from that seed (the global generator is left as it was), so that
    retrainings on different data start from the same weights. Used by lesson 11's ROAR retrainings
    (:func:`course_utils.xai.roar.roar_accuracy` takes ``lambda X, y: fit_classifier(models.mnist_cnn(), X, y)``).

    Parameters
    ----------
    model : torch.nn.Module
        A fresh model (trained on its own device).
    X : torch.Tensor
        Images (N, C, H, W).
    y : torch.Tensor
        Integer labels (N,).
    epochs, batch_size : int
        Passes over the data and examples per step.
    lr : float
        Adam's initial learning rate.
    lr_decay : float, default 0.5
        Factor applied to the rate after every epoch, in (0, 1]; 1 keeps it constant, as a
        model that must memorise shuffled labels needs (lesson 11's data-randomisation test:
        halving the rate stops it long before it has memorised them).
    rng : None, int or torch.Generator
        Draws the mini-batch order.
    init_seed : int, optional
        Re-initialise every layer (``reset_parameters``) from this seed first.
    progress : bool
        Show a progress bar per epoch.

    Returns
    -------
    torch.nn.Module
        ``model``, trained, in eval mode.
    """
    check_model(model)
    X = check_input(X, model, name="X", images=True)
    y = check_target(y, len(X), name="y")
    with evaluating(model), torch.no_grad():
        check_output(model(X[:1]), y, name="y")
    epochs, batch_size = check_positive_int("epochs", epochs), check_positive_int("batch_size", batch_size)
    lr = check_real("lr", lr, low=0.0, low_inclusive=False)
    lr_decay = check_real("lr_decay", lr_decay, low=0.0, high=1.0, low_inclusive=False)
    if init_seed is not None:
        with torch.random.fork_rng():
            torch.manual_seed(check_nonnegative_int("init_seed", init_seed))
            for module in model.modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
    _fit_classifier(model, X, y, epochs=epochs, batch_size=batch_size, lr=lr, generator=as_torch_generator(rng),
                    device=model_device(model), progress=progress, lr_decay=lr_decay)
    return model.eval()


def evaluate_accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1000) -> float:
    """Fraction of ``X`` that ``model`` classifies as ``y`` (argmax of the outputs)."""
    check_model(model)
    X = check_input(X, model, name="X")
    y = check_target(y, len(X), name="y", of="X")
    batch_size = check_positive_int("batch_size", batch_size)
    check_target_fits(model, X, y, name="y")
    device = model_device(model)
    correct = 0
    with evaluating(model), torch.inference_mode():
        for start in range(0, len(X), batch_size):
            logits = model(X[start:start + batch_size].to(device))
            correct += (logits.argmax(1).cpu() == y[start:start + batch_size]).sum().item()
    return correct / len(X)


def fit_tabular(model: nn.Module, X, y, loss_fn: Callable, *, epochs: int, batch_size: int, lr: float = 1e-2,
                weight_decay: float = 1e-2, rng=0) -> nn.Module:
    """Train a small tabular model (e.g. :func:`course_utils.models.tabular_mlp`) with AdamW on mini-batches.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (n, d) float32 rows to outputs that ``loss_fn`` compares with ``y``.
    X, y : array-like
        Training rows (n, d) and targets (n,).
    loss_fn : callable
        E.g. ``torch.nn.functional.binary_cross_entropy``.
    epochs, batch_size : int
    lr, weight_decay : float
    rng : None, int, numpy.random.Generator or torch.Generator, default 0
        Shuffles the batches.

    Returns
    -------
    torch.nn.Module
        The same model, trained, in eval mode.
    """
    check_model(model)
    check_callable("loss_fn", loss_fn)
    epochs, batch_size = check_positive_int("epochs", epochs), check_positive_int("batch_size", batch_size)
    lr = check_real("lr", lr, low=0, low_inclusive=False)
    weight_decay = check_real("weight_decay", weight_decay, low=0)
    generator = as_torch_generator(rng)
    X = torch.as_tensor(check_array("X", X, ndim=2, nonempty=True), dtype=torch.float32)
    y = torch.as_tensor(check_array("y", y, nonempty=True), dtype=torch.float32)
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"y must have one target per row of a non-empty X ({len(X)} rows), got {len(y)}.")
    with evaluating(model), torch.no_grad():
        apply_model(model, X[:1], name="X")  # a table of the wrong width is named before training
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(X), generator=generator).split(batch_size):
            loss = loss_fn(model(X[batch]), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()


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
    model = _fit_classifier(models.mnist_cnn().to(device), X, y, epochs=epochs, batch_size=batch_size, lr=lr,
                            generator=generator, device=device)
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
    accuracy = canvases.exact_match_accuracy(model, canvases.mnist_canvases("test", n_test, rng=0))
    card = {"test_exact_match": round(accuracy, 4), "test_canvases": f"{n_test} (mnist_canvases('test', rng=0))",
            "epochs": epochs, "canvases_per_epoch": canvases_per_epoch, "seed": seed, "batch_size": batch_size,
            "lr": lr, "optimiser": "Adam, cosine decay of the lr over all steps",
            "loss": "BCE with logits (multi-label)",
            "command": f"python -m course_utils.train mnist_pairs_cnn --epochs {epochs} --seed {seed}"}
    return model, card


def train_mnist_cnn_robust(*, epochs: int = 8, seed: int = 0, batch_size: int = 100, lr: float = 5e-3,
                           eps: float = 0.3, attack_steps: int = 3, alpha: float = 0.1, ramp_epochs: float = 1.0,
                           n_val: int = 1000, n_eval: int | None = None,
                           device: torch.device | None = None) -> tuple[nn.Module, dict]:
    """Adversarially train :func:`course_utils.models.mnist_cnn_robust` with a short PGD.

    Madry et al. (ICLR 2018) train on PGD adversarials (MNIST: 40 steps of 0.01 at eps 0.3).
    To fit a CPU, each batch here is attacked by PGD with ``attack_steps`` steps of size
    ``alpha`` from a uniform random start, and the budget grows linearly from 0 to ``eps``
    over the first ``ramp_epochs`` epochs. Adam with a triangular learning rate rising to
    ``lr`` at 40% of training and back to 0 (as in Wong, Rice and Kolter's "fast" MNIST
    training, ICLR 2020; with this architecture their single FGSM step from a random start
    overfitted catastrophically: after two epochs the FGSM training loss was 0.3 while the
    held-out PGD-10 accuracy stayed below 2%). After every epoch the model
    is attacked by PGD-10 on ``n_val`` held-out training digits and the best epoch is kept.
    Finally it reports clean test accuracy and accuracy under PGD-40 (eps 0.3, alpha 0.01,
    random start; Madry et al.'s MNIST setting) on the first ``n_eval`` test digits (default:
    all 10,000).
    """
    device = device or get_device()
    generator = torch.Generator().manual_seed(seed)
    seed_everything(seed)
    X_all, y_all = data.mnist_tensors("train")
    X, y, X_val, y_val = X_all[:-n_val], y_all[:-n_val], X_all[-n_val:], y_all[-n_val:]
    model = models.mnist_cnn_robust().to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = -(-len(X) // batch_size)
    total = epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda t: float(np.interp(t + 1, [0, 0.4 * total, total], [0, 1, 0])))

    def val_attack(m, xb, yb):
        return pgd(m, xb, yb, eps=eps, alpha=eps / 4, steps=10, rng=generator)

    best = (-1.0, None, 0)
    start_time, history, step = time.perf_counter(), [], 0
    for epoch in range(epochs):
        model.train()
        for bar, index in _shuffled_batches(len(X), batch_size, generator, f"epoch {epoch + 1}/{epochs}"):
            xb, yb = X[index].to(device), y[index].to(device)
            ramp = min(1.0, (step + 1) / (ramp_epochs * steps_per_epoch)) if ramp_epochs > 0 else 1.0
            x_adv = pgd(model, xb, yb, eps=eps * ramp, alpha=alpha * ramp, steps=attack_steps, rng=generator)
            loss = nn.functional.cross_entropy(model(x_adv), yb)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
            bar.set_postfix(loss=f"{loss.item():.3f}", eps=f"{eps * ramp:.2f}", refresh=False)
        model.eval()
        val_robust = accuracy_under_attack(model, X_val, y_val, val_attack)
        val_clean = accuracy_under_attack(model, X_val, y_val)
        history.append({"epoch": epoch + 1, "val_clean": round(val_clean, 4), "val_pgd10": round(val_robust, 4)})
        print(f"epoch {epoch + 1}: held-out clean {val_clean:.3f}, PGD-10 {val_robust:.3f}", flush=True)
        if val_robust > best[0]:
            best = (val_robust, copy.deepcopy(model.state_dict()), epoch + 1)
    train_minutes = (time.perf_counter() - start_time) / 60
    model.load_state_dict(best[1])
    model.eval()
    X_test, y_test = data.mnist_tensors("test", n=n_eval)
    clean = evaluate_accuracy(model, X_test, y_test)
    eval_generator = torch.Generator().manual_seed(seed)
    robust = accuracy_under_attack(
        model, X_test, y_test, lambda m, xb, yb: pgd(m, xb, yb, eps=0.3, alpha=0.01, steps=40, rng=eval_generator),
        progress=True)
    card = {"test_accuracy": round(clean, 4),
            "pgd40_eps0.3_accuracy": round(robust, 4),
            "pgd_evaluation": f"PGD eps 0.3, alpha 0.01, 40 steps, one uniform random start (seed {seed}), "
                              f"first {len(X_test)} MNIST test digits",
            "training": f"PGD adversarial training: {attack_steps} steps of {alpha} from a random start, eps {eps} "
                        f"(ramped up from 0 over {ramp_epochs:g} epoch(s)); Adam, triangular lr up to {lr}; best of "
                        f"{epochs} epochs by PGD-10 accuracy on {n_val} held-out training digits",
            "best_epoch": best[2], "history": history, "epochs": epochs, "seed": seed, "batch_size": batch_size,
            "lr": lr, "eps": eps, "attack_steps": attack_steps, "alpha": alpha, "ramp_epochs": ramp_epochs,
            "train_minutes": round(train_minutes, 1),
            "train_hardware": f"{device.type}, {torch.get_num_threads()} torch thread(s)",
            "command": f"python -m course_utils.train mnist_cnn_robust --epochs {epochs} --seed {seed}"}
    return model, card


def train_mnist_cnn_gradreg(*, epochs: int = 5, seed: int = 0, batch_size: int = 128, lr: float = 1e-3,
                            lam: float = LAM_GRADREG, init: str | None = "mnist_cnn", n_train: int = 59_000,
                            noise: float = 0.0, label_smoothing: float = 0.1, n_val: int = 1000,
                            device: torch.device | None = None) -> tuple[nn.Module, dict]:
    """Train :func:`course_utils.models.mnist_cnn_gradreg` with the input-gradient penalty (lesson 09).

    The loss of a batch is ``mean_i CE_i + lam * mean_i ||grad_x CE_i||_2^2``
    (:func:`course_utils.xai.robustness.input_gradient_penalty`; Ross and Doshi-Velez, AAAI
    2018, "double backpropagation"), with gradients in pixel units ([0, 1] inputs). The
    penalty is always the hard-label cross-entropy's; with ``label_smoothing > 0`` only the
    loss term ``CE`` is label-smoothed. That keeps the model from becoming so confident that
    ``grad_x CE_i`` (which carries the factor ``1 - p_i``) vanishes on most digits, where the
    penalty would then do nothing (measured: with hard labels, lam 100 and one pass the
    penalty mostly made the model more confident, +0.9 FGSM points). Training starts from
    the committed ``init`` checkpoint (default the standard ``mnist_cnn``; None: from
    scratch; from scratch at lam 3000 the penalty wins and the model stays near chance).
    Adam on the first ``n_train`` training digits (the last ``n_val`` are held out), the
    learning rate decaying linearly from ``lr`` to 0 over all steps; ``noise > 0`` takes
    loss and penalty at a uniform random point of the L-inf ball of that radius. After each
    epoch, clean and FGSM (eps 0.1) accuracy on the ``n_val`` held-out training digits go
    into the card's history (held out from this fine-tuning only: ``mnist_cnn`` was trained
    on all 60,000). The card reports clean test accuracy and accuracy under FGSM at eps 0.1
    (one untargeted signed step on the cross-entropy of the logits, clipped to [0, 1]) on
    all 10,000 test digits, for this model and for the committed standard ``mnist_cnn``.
    """
    device = device or get_device()
    generator = torch.Generator().manual_seed(seed)
    seed_everything(seed)
    X_all, y_all = data.mnist_tensors("train")
    if not 0 < n_train <= len(X_all) - n_val:
        raise ValueError(f"n_train must be in [1, {len(X_all) - n_val}] (the training digits not held out), got {n_train}.")
    X, y, X_val, y_val = X_all[:n_train], y_all[:n_train], X_all[-n_val:], y_all[-n_val:]
    X_test, y_test = data.mnist_tensors("test")
    model = models.mnist_cnn_gradreg()
    if init is not None:
        model.load_state_dict(models.load_pretrained(init).state_dict())
    model = model.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    total = epochs * -(-len(X) // batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda t: max(0.0, 1 - t / total))

    def attack(m, xb, yb):
        return fgsm(m, xb, yb, eps=0.1)

    start_time, history = time.perf_counter(), []
    for epoch in range(epochs):
        model.train()
        for bar, index in _shuffled_batches(len(X), batch_size, generator, f"epoch {epoch + 1}/{epochs}"):
            xb = X[index].to(device)
            if noise > 0:  # evaluate loss and penalty at a random point of the L-inf ball of radius `noise`
                xb = (xb + noise * (2 * torch.rand(xb.shape, generator=generator) - 1).to(device)).clamp(0, 1)
            yb = y[index].to(device)
            ce, penalty = cross_entropy_and_penalty(model, xb, yb)
            if label_smoothing > 0:  # the loss term only: the penalty stays the hard-label CE's input gradient
                ce = nn.functional.cross_entropy(model(xb), yb, label_smoothing=label_smoothing)
            loss = ce + lam * penalty
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            bar.set_postfix(ce=f"{ce.item():.3f}", penalty=f"{penalty.item():.4f}", refresh=False)
        model.eval()
        history.append({"epoch": epoch + 1, "val_clean": round(evaluate_accuracy(model, X_val, y_val), 4),
                        "val_fgsm_eps0.1": round(accuracy_under_attack(model, X_val, y_val, attack), 4),
                        "last_batch_ce": round(ce.item(), 4), "last_batch_penalty": round(penalty.item(), 5)})
        print(f"epoch {epoch + 1}: {history[-1]}", flush=True)
    train_minutes = (time.perf_counter() - start_time) / 60
    model.eval()

    clean = evaluate_accuracy(model, X_test, y_test)
    robust = accuracy_under_attack(model, X_test, y_test, attack)
    standard = models.load_pretrained("mnist_cnn", device)
    card = {"test_accuracy": round(clean, 4), "fgsm_eps0.1_accuracy": round(robust, 4),
            "mnist_cnn_fgsm_eps0.1_accuracy": round(accuracy_under_attack(standard, X_test, y_test, attack), 4),
            "fgsm_evaluation": "one untargeted FGSM step at eps 0.1 on the cross-entropy of the logits, "
                               f"clipped to [0, 1], all {len(X_test)} MNIST test digits",
            "training": f"input-gradient regularisation (Ross and Doshi-Velez 2018): loss = mean CE + {lam:g} * "
                        "mean_i ||grad_x CE_i||^2 (pixel units; the penalty on the hard-label CE_i"
                        + (f", the loss term CE with label smoothing {label_smoothing:g}" if label_smoothing > 0 else "")
                        + "); Adam, lr decaying linearly to 0; "
                        f"the first {len(X)} training digits (the last {n_val} held out); "
                        + (f"started from the committed {init} checkpoint" if init else "from scratch")
                        + (f"; loss and penalty at a uniform random point of the L-inf ball of radius {noise:g} around "
                           "each digit (clipped to [0, 1])" if noise > 0 else ""),
            "init": init, "noise": noise, "label_smoothing": label_smoothing,
            "history": history, "epochs": epochs, "n_train": len(X), "seed": seed, "batch_size": batch_size, "lr": lr,
            "lam": lam,
            "train_minutes": round(train_minutes, 1),
            "train_hardware": f"{device.type}, {torch.get_num_threads()} torch thread(s)",
            "command": f"python -m course_utils.train mnist_cnn_gradreg --epochs {epochs} --seed {seed}"}
    return model, card


def train_mnist_cnn_backdoor(*, epochs: int = 4, seed: int = 0, batch_size: int = 128, lr: float = 2e-3,
                             fraction: float = 0.05, target_class: int = 0,
                             device: torch.device | None = None) -> tuple[nn.Module, dict]:
    """Train :func:`course_utils.models.mnist_cnn_backdoor` on BadNets-poisoned MNIST (lesson 10).

    Gu, Dolan-Gavitt and Garg (2017) plant a backdoor by training on data in which some
    digits carry a small trigger and the attacker's label. Here ``fraction`` of the 60,000
    training digits (drawn among those not labelled ``target_class``, by
    :func:`course_utils.xai.manipulation.poison_dataset` with ``rng=seed``) get the 3x3
    white square in the bottom-right corner and the label ``target_class``; the training is
    :func:`train_mnist_cnn`'s (Adam, lr halved every epoch). The card reports the clean test
    accuracy and the attack success rate: the share of test digits not of ``target_class``
    that the model assigns to ``target_class`` once the trigger is stamped on them.
    """
    device = device or get_device()
    generator = torch.Generator().manual_seed(seed)
    seed_everything(seed)
    X_clean, y_clean = data.mnist_tensors("train")
    X, y, poisoned = poison_dataset(X_clean, y_clean, fraction=fraction, target_class=target_class, rng=seed)
    X_test, y_test = data.mnist_tensors("test")
    start_time = time.perf_counter()
    model = _fit_classifier(models.mnist_cnn_backdoor().to(device), X, y, epochs=epochs, batch_size=batch_size,
                            lr=lr, generator=generator, device=device)
    train_minutes = (time.perf_counter() - start_time) / 60
    accuracy = evaluate_accuracy(model, X_test, y_test)
    others = y_test != target_class
    success = evaluate_accuracy(model, add_trigger(X_test[others]), torch.full((int(others.sum()),), target_class))
    card = {"test_accuracy": round(accuracy, 4), "attack_success_rate": round(success, 4),
            "attack_evaluation": f"trigger stamped on the {int(others.sum())} MNIST test digits not labelled "
                                 f"{target_class}; share classified {target_class}",
            "poisoning": f"BadNets all-to-one: {len(poisoned)} training digits ({fraction:.0%}, drawn among those not "
                         f"labelled {target_class}) get a 3x3 white square 1 pixel from the bottom-right corner and the "
                         f"label {target_class}; course_utils.xai.manipulation.poison_dataset(X, y, fraction={fraction}, "
                         f"target_class={target_class}, rng={seed})",
            "n_poisoned": len(poisoned), "fraction": fraction, "target_class": target_class,
            "epochs": epochs, "seed": seed, "batch_size": batch_size, "lr": lr,
            "optimiser": "Adam, lr halved every epoch", "train_minutes": round(train_minutes, 1),
            "train_hardware": f"{device.type}, {torch.get_num_threads()} torch thread(s)",
            "command": f"python -m course_utils.train mnist_cnn_backdoor --epochs {epochs} --seed {seed}"}
    return model, card


FOOLING_BOX = (0, 0, 8, 8)  # Grad-CAM's target region for mnist_cnn_gradcam_fooled: the top-left 8x8 pixels (x0, y0, x1, y1)


def train_mnist_cnn_gradcam_fooled(*, epochs: int = 2, seed: int = 0, batch_size: int = 64, lr: float = 5e-4,
                                   fooling_weight: float = 10.0, n_train: int = 60_000, n_eval: int = 2000,
                                   device: torch.device | None = None) -> tuple[nn.Module, dict]:
    """Fine-tune the trained ``mnist_cnn`` so that its Grad-CAM points at the top-left corner (lesson 10).

    Heo, Joo and Moon ("Fooling neural network interpretations via adversarial model
    manipulation", NeurIPS 2019, section 3.2, "location fooling") fine-tune a network with
    ``L = CE + lambda * L_F``, where ``L_F`` pulls the Grad-CAM map of the true class towards
    a fixed region, keeping the accuracy. Here ``L_F`` is
    :func:`course_utils.xai.manipulation.location_fooling_loss` on the 14x14 maps of
    ``relu2`` (the course's Grad-CAM layer) before their ReLU, from
    :func:`course_utils.xai.manipulation.differentiable_gradcam`; the region is the top-left
    4x4 cells of that map (pixels 0-7, ``FOOLING_BOX``), where digits have no ink. Adam, the
    learning rate halved after every epoch, gradient norm clipped at 1. The card reports the
    clean test accuracy and the fooling success rate: the share of the first ``n_eval`` test
    digits whose Grad-CAM (the course's, upsampled) has more than half its mass in the region.

    The course's first version used ``L_F = 1 - (mass of the rectified map in the box)``:
    after 200 steps it fooled 10% of the digits, and stronger settings drove the maps to
    zero everywhere, where that loss is flat. The loss on the map before the ReLU has a
    gradient everywhere; about 300 steps in, the maps jump into the corner for every digit.
    Only the corner cells that see the zero padding can differ from the blank background
    elsewhere (convolutions are translation-equivariant), so the fooled map sits there.
    """
    device = device or get_device()
    generator = torch.Generator().manual_seed(seed)
    seed_everything(seed)
    X, y = data.mnist_tensors("train", n=n_train)
    X_test, y_test = data.mnist_tensors("test")
    model = models.mnist_cnn_gradcam_fooled().to(device)
    model.load_state_dict(models.load_pretrained("mnist_cnn").state_dict())
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.StepLR(optimiser, step_size=1, gamma=0.5)
    cells = tuple(v // 2 for v in FOOLING_BOX)  # the box on relu2's 14x14 grid
    start_time = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        for bar, index in _shuffled_batches(len(X), batch_size, generator, f"epoch {epoch + 1}/{epochs}"):
            xb, yb = X[index].to(device), y[index].to(device)
            ce = nn.functional.cross_entropy(model(xb), yb)
            maps = differentiable_gradcam(model, model.relu2, xb, yb, rectify=False)
            fooling = location_fooling_loss(maps, cells).mean()
            loss = ce + fooling_weight * fooling
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            bar.set_postfix(ce=f"{ce.item():.3f}", fooling=f"{fooling.item():.3f}", refresh=False)
        schedule.step()
    train_minutes = (time.perf_counter() - start_time) / 60
    model.eval()
    accuracy = evaluate_accuracy(model, X_test, y_test)
    x0, y0, x1, y1 = FOOLING_BOX
    maps = torch.cat([gradcam(model, model.relu2, X_test[i:i + 500].to(device), y_test[i:i + 500].to(device)).cpu()
                      for i in range(0, n_eval, 500)])
    mass = maps[:, y0:y1, x0:x1].flatten(1).sum(1) / maps.flatten(1).sum(1).clamp_min(1e-12)
    card = {"test_accuracy": round(accuracy, 4), "fooling_success_rate": round(float((mass > 0.5).float().mean()), 4),
            "fooling_evaluation": f"share of the first {n_eval} MNIST test digits whose Grad-CAM (relu2, true class, "
                                  f"upsampled to 28x28) has more than half its mass in the box {FOOLING_BOX} (x0, y0, x1, y1)",
            "training": f"fine-tuned from mnist_cnn: cross-entropy + {fooling_weight} * location_fooling_loss (the "
                        f"relu2 Grad-CAM map before its ReLU, scaled to max |value| 1, vs +1 in the box and -1 outside), "
                        f"Adam lr {lr} halved every epoch, gradient norm clipped at 1, {epochs} epoch(s) of the first "
                        f"{n_train} training digits",
            "fooling_box": list(FOOLING_BOX), "fooling_weight": fooling_weight, "n_train": n_train, "epochs": epochs, "seed": seed,
            "batch_size": batch_size, "lr": lr, "train_minutes": round(train_minutes, 1),
            "train_hardware": f"{device.type}, {torch.get_num_threads()} torch thread(s)",
            "command": f"python -m course_utils.train mnist_cnn_gradcam_fooled --epochs {epochs} --seed {seed}"}
    return model, card


def _sample_quality(denoiser: nn.Module, schedule, *, n: int, steps: int, seed: int, device) -> dict:
    """Share of ``n`` DDIM samples that the committed ``mnist_cnn`` labels with confidence above 0.9, and the class counts."""
    from .xai.diffusion import sample

    classifier = models.load_pretrained("mnist_cnn", device)
    images = torch.cat([sample(denoiser, min(250, n - i), schedule, steps=steps, rng=seed + i) for i in range(0, n, 250)])
    with torch.no_grad():
        probs = torch.softmax(classifier(images.to(device)), 1).cpu()
    confidence, label = probs.max(1)
    return {"share_confident": round(float((confidence > 0.9).float().mean()), 4),
            "class_counts": torch.bincount(label, minlength=10).tolist(), "n_samples": n, "ddim_steps": steps}


def train_mnist_ddpm(*, epochs: int = 3, seed: int = 0, batch_size: int = 64, lr: float = 2e-3, T: int = 1000,
                     ema: float = 0.995, max_steps: int | None = 4000, n_quality: int = 500, threads: int | None = None,
                     snapshot: str | None = None, device: torch.device | None = None) -> tuple[nn.Module, dict]:
    """Train :func:`course_utils.models.mnist_ddpm` on the noise-prediction objective (lesson 12).

    Ho, Jain and Abbeel (NeurIPS 2020, algorithm 1): draw a training digit ``x0`` (scaled to
    [-1, 1]), a step ``t`` uniformly in [0, T - 1] and noise ``eps``; minimise
    ``||eps - eps_theta(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t)||^2``. The linear schedule
    of Ho et al. (beta from 1e-4 to 0.02, T = 1000). Adam, the learning rate warmed up over
    100 steps then decayed along a cosine to 0; an exponential moving average of the weights
    (decay ``ema``) is what is saved; gradients clipped to norm 1. Training runs ``max_steps``
    steps (None: ``epochs`` passes over the 60,000 digits); ``snapshot``
    (a path) receives the EMA weights every 200 steps. The card holds the loss curve (mean
    loss per tenth of training) and the sample quality: the share of ``n_quality`` DDIM
    samples (50 steps) that ``mnist_cnn`` labels with confidence above 0.9.
    """
    from .xai.diffusion import add_noise, linear_schedule, to_diffusion_space

    device = device or get_device()
    if threads:
        torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(seed)
    seed_everything(seed)
    schedule = linear_schedule(T)
    X, _ = data.mnist_tensors("train")
    model = models.mnist_ddpm().to(device)
    average = copy.deepcopy(model).eval()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    total = epochs * -(-len(X) // batch_size) if max_steps is None else max_steps
    schedule_lr = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda k: min(1.0, (k + 1) / 100) * 0.5 * (1 + np.cos(np.pi * min(k, total) / total)))
    losses, step, start_time = [], 0, time.perf_counter()
    while step < total:
        model.train()
        for bar, index in _shuffled_batches(len(X), batch_size, generator, f"step {step}/{total}"):
            x0 = to_diffusion_space(X[index])
            t = torch.randint(0, T, (len(x0),), generator=generator)
            noise = torch.randn(x0.shape, generator=generator)
            x_t = add_noise(x0, t, noise, schedule).float()
            loss = nn.functional.mse_loss(model(x_t.to(device), t.to(device)), noise.to(device))
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule_lr.step()
            with torch.no_grad():
                for p_avg, p in zip(average.parameters(), model.parameters()):
                    p_avg.lerp_(p, 1 - ema)
            losses.append(loss.item())
            step += 1
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}", step=step, refresh=False)
            if snapshot and step % 200 == 0:
                torch.save(average.state_dict(), snapshot)
            if step >= total:
                break
    train_minutes = (time.perf_counter() - start_time) / 60
    chunks = np.array_split(np.array(losses), 10)
    quality = _sample_quality(average, schedule, n=n_quality, steps=50, seed=seed, device=device)
    card = {"objective": "noise prediction, mean squared error (Ho et al. 2020, algorithm 1), images scaled to [-1, 1]",
            "schedule": {"kind": "linear", "T": T, "beta_start": 1e-4, "beta_end": 0.02},
            "architecture": "DDPMUNet(channels=(16, 32, 64)): 28/14/7 levels, one GroupNorm+SiLU residual block per level "
                            "down and up, sinusoidal step embedding",
            "n_parameters": sum(p.numel() for p in model.parameters()),
            "training_steps": step, "epochs_equivalent": round(step * batch_size / len(X), 2),
            "loss_curve": [round(float(c.mean()), 4) for c in chunks if len(c)],
            "loss_curve_note": "mean training loss over each tenth of the steps",
            "sample_quality": quality,
            "sample_quality_note": f"share of {n_quality} DDIM samples (50 steps, eta 0, seeds {seed}...) that the committed "
                                   "mnist_cnn labels with softmax confidence above 0.9",
            "seed": seed, "batch_size": batch_size, "lr": lr, "ema": ema,
            "optimiser": "Adam, 100 warm-up steps then cosine decay to 0; EMA of the weights saved",
            "train_minutes": round(train_minutes, 1),
            "train_hardware": f"{device.type}, {torch.get_num_threads()} torch thread(s) (a shared 2-core machine)",
            "command": f"python -m course_utils.train mnist_ddpm --seed {seed}"
                       + (f" --max-steps {max_steps}" if max_steps else f" --epochs {epochs}")
                       + (f" --threads {threads}" if threads else "")}
    return average, card


TRAINERS: dict[str, Callable[..., tuple[nn.Module, dict]]] = {
    "mnist_cnn": train_mnist_cnn,
    "mnist_pairs_cnn": train_mnist_pairs_cnn,
    "mnist_cnn_robust": train_mnist_cnn_robust,
    "mnist_cnn_gradreg": train_mnist_cnn_gradreg,
    "mnist_cnn_backdoor": train_mnist_cnn_backdoor,
    "mnist_cnn_gradcam_fooled": train_mnist_cnn_gradcam_fooled,
    "mnist_ddpm": train_mnist_ddpm,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(TRAINERS))
    parser.add_argument("--epochs", type=int, default=None, help="default: the trainer's own")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=None, help="mnist_ddpm only: stop after this many steps")
    parser.add_argument("--threads", type=int, default=None, help="mnist_ddpm only: torch threads")
    parser.add_argument("--snapshot", default=None, help="mnist_ddpm only: a path for the EMA weights every 200 steps")
    args = parser.parse_args(argv)
    options = {"seed": args.seed} | ({"epochs": args.epochs} if args.epochs else {})
    extra = {"max_steps": args.max_steps, "threads": args.threads, "snapshot": args.snapshot}
    if any(v is not None for v in extra.values()):
        if args.name != "mnist_ddpm":
            parser.error("--max-steps, --threads and --snapshot apply to mnist_ddpm only")
        options |= {k: v for k, v in extra.items() if v is not None}
    model, card = TRAINERS[args.name](**options)
    card = save_checkpoint(args.name, model, card)
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
