"""The course's models: architectures, committed checkpoints, and ImageNet's ResNet-18.

Conventions every image model here follows (the lessons rely on them):

- inputs are images in [0, 1], shape (N, C, H, W); normalisation is the model's first layer,
  so attacks and explanations work in pixel space (Kolter and Madry's tutorial);
- every ReLU is its own module and none is in-place, because DeepLIFT (captum's DeepLift)
  and backward hooks (guided backprop, Grad-CAM) break on reused or in-place ReLUs.
"""
from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import data
from .paths import REPO_ROOT
from .runtime import as_generator
from .validation import check_array, check_positive_int

__all__ = ["Normalize", "tabular_mlp", "mnist_cnn", "mnist_pairs_cnn", "mnist_cnn_robust", "mnist_cnn_gradreg", "mnist_cnn_backdoor",
           "mnist_cnn_gradcam_fooled", "mnist_ddpm", "DDPMUNet", "load_pretrained", "checkpoint_path", "gradcam_layer", "PRETRAINED"]

CHECKPOINT_DIR = REPO_ROOT / "data" / "checkpoints"
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class Normalize(nn.Module):
    """``(x - mean) / std`` as a layer: per channel of images (N, C, H, W), or per column of rows (N, d).

    As the first layer, it lets image models take pixels in [0, 1] and tabular models take
    raw feature values, so attacks, counterfactuals and explanations work in the data's units.

    Parameters
    ----------
    mean, std : sequence of float
        One value per channel (or column); every ``std`` must be positive.
    tabular : bool, default False
        Broadcast over rows (N, d) instead of images (N, C, H, W).
    """

    def __init__(self, mean, std, *, tabular: bool = False):
        super().__init__()
        mean, std = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)
        if mean.ndim != 1 or mean.shape != std.shape or len(mean) == 0:
            raise ValueError(f"mean and std must be 1-D with one value per channel each, got shapes "
                             f"{tuple(mean.shape)} and {tuple(std.shape)}.")
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all() and (std > 0).all()):
            raise ValueError(f"std must be finite and positive (and mean finite), got std {std.tolist()}.")
        shape = (1, -1) if tabular else (1, -1, 1, 1)
        self.register_buffer("mean", mean.view(*shape))
        self.register_buffer("std", std.view(*shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def tabular_mlp(X_train, hidden=(20, 5), *, probability: bool = True, rng=0) -> nn.Sequential:
    """A small MLP for tables: :class:`Normalize` with ``X_train``'s column statistics, then ReLU layers.

    Lesson 06 explains it with counterfactuals: its first layer standardises, so it takes
    and is explained in the data's own units. Train it with :func:`course_utils.train.fit_tabular`.

    Parameters
    ----------
    X_train : array-like, shape (n, d)
        Gives the means and standard deviations of the columns (none may be constant).
    hidden : sequence of int, default (20, 5)
    probability : bool, default True
        End with a sigmoid (a probability) or not (a score).
    rng : int, numpy.random.Generator or torch.Generator, default 0
        Seeds the initial weights (torch's global generator is left as it was).

    Returns
    -------
    torch.nn.Sequential
        Maps (n, d) float32 rows to (n,) outputs.
    """
    X_train = check_array("X_train", X_train, ndim=2, nonempty=True)
    if isinstance(hidden, (str, bytes)) or np.ndim(hidden) != 1 or len(hidden) == 0:
        raise ValueError(f"hidden must be a non-empty sequence of positive layer sizes such as (20, 5), got {hidden!r}.")
    sizes = [check_positive_int("hidden", h) for h in hidden]
    generator = as_generator(rng)  # checks rng; an int seeds torch directly, as lesson 06 always did
    seed = int(rng) if isinstance(rng, int) and not isinstance(rng, bool) else int(generator.integers(2**62))
    with torch.random.fork_rng(devices=[]):  # nn.Linear draws its initial weights from torch's global generator
        torch.manual_seed(seed)
        layers, width = [Normalize(X_train.mean(axis=0), X_train.std(axis=0), tabular=True)], X_train.shape[1]
        for size in sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers += [nn.Linear(width, 1), nn.Flatten(0)] + ([nn.Sigmoid()] if probability else [])
    return nn.Sequential(*layers)


def mnist_cnn() -> nn.Sequential:
    """A small CNN for 1x28x28 MNIST digits in [0, 1]; 10 logits out (about 0.4 M weights).

    Layers are named (``model.conv2``, ``model.relu3``, ...) and each ReLU is distinct.
    """
    model = nn.Sequential(OrderedDict([
        ("normalize", Normalize(MNIST_MEAN, MNIST_STD)),
        ("conv1", nn.Conv2d(1, 32, 3, padding=1)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(32, 64, 3, padding=1)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(64 * 7 * 7, 128)), ("relu3", nn.ReLU()),
        ("fc2", nn.Linear(128, 10)),
    ]))
    model.course_name = "mnist_cnn"
    return model


def mnist_pairs_cnn() -> nn.Sequential:
    """A small CNN for 1x64x64 canvases of two MNIST digits (multi-label: 10 logits, one per digit).

    Five 3x3 convolutions (16, 32, 64, 64, 128 channels), each followed by batch
    normalisation and a ReLU, with max-pooling after the first three, give 8x8 feature maps
    (``model.relu5``, the Grad-CAM layer; each unit sees 54x54 pixels, a whole digit); then
    global average pooling, a hidden layer and 10 logits. Train with a sigmoid per logit
    (``BCEWithLogitsLoss``) and use it in eval mode. Each ReLU is distinct and not in-place;
    about 0.15 M weights. See :mod:`course_utils.canvases`.
    """
    layers = [("normalize", Normalize(MNIST_MEAN, MNIST_STD))]
    channels = (1, 16, 32, 64, 64, 128)
    for i in range(1, 6):
        layers += [(f"conv{i}", nn.Conv2d(channels[i - 1], channels[i], 3, padding=1, bias=False)),
                   (f"bn{i}", nn.BatchNorm2d(channels[i])), (f"relu{i}", nn.ReLU())]
        layers += [(f"pool{i}", nn.MaxPool2d(2))] if i <= 3 else []
    layers += [("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
               ("fc1", nn.Linear(128, 128)), ("relu6", nn.ReLU()), ("fc2", nn.Linear(128, 10))]
    model = nn.Sequential(OrderedDict(layers))
    model.course_name = "mnist_pairs_cnn"
    return model


def mnist_cnn_robust() -> nn.Sequential:
    """:func:`mnist_cnn`'s architecture, to be adversarially trained (``python -m course_utils.train mnist_cnn_robust``)."""
    model = mnist_cnn()
    model.course_name = "mnist_cnn_robust"
    return model


def mnist_cnn_backdoor() -> nn.Sequential:
    """:func:`mnist_cnn`'s architecture, trained on BadNets-poisoned digits (lesson 10; ``python -m course_utils.train mnist_cnn_backdoor``)."""
    model = mnist_cnn()
    model.course_name = "mnist_cnn_backdoor"
    return model


def mnist_cnn_gradcam_fooled() -> nn.Sequential:
    """:func:`mnist_cnn` fine-tuned so that its Grad-CAM points at the top-left corner (lesson 10; ``python -m course_utils.train mnist_cnn_gradcam_fooled``)."""
    model = mnist_cnn()
    model.course_name = "mnist_cnn_gradcam_fooled"
    return model


def mnist_cnn_gradreg() -> nn.Sequential:
    """:func:`mnist_cnn`'s architecture, trained with the input-gradient penalty (``python -m course_utils.train mnist_cnn_gradreg``; lesson 09)."""
    model = mnist_cnn()
    model.course_name = "mnist_cnn_gradreg"
    return model


class _TimeResBlock(nn.Module):
    """GroupNorm, SiLU, 3x3 conv, plus the step's embedding, GroupNorm, SiLU, 3x3 conv; a residual path (1x1 conv if the width changes)."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int = 8):
        super().__init__()
        self.norm1, self.act1 = nn.GroupNorm(groups, c_in), nn.SiLU()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.act2 = nn.GroupNorm(groups, c_out), nn.SiLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.act1(self.norm1(x))) + self.emb(emb)[:, :, None, None]
        return self.skip(x) + self.conv2(self.act2(self.norm2(h)))


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer steps ``t`` (N,) into (N, dim) (Vaswani et al. 2017; Ho et al. 2020)."""
    half = dim // 2
    freqs = torch.exp(-np.log(10_000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class DDPMUNet(nn.Module):
    """A compact noise-prediction U-Net for 1x28x28 images: ``model(x_t, t)`` returns the predicted noise.

    ``x_t`` is a noised image in the diffusion's space ([-1, 1] for clean digits, see
    :mod:`course_utils.xai.diffusion`), ``t`` the integer steps (N,) or one int. Levels of
    ``channels`` at 28x28, 14x14 and 7x7, one residual block (GroupNorm + SiLU, the step's
    sinusoidal embedding added) per level on the way down and up, skip connections by
    concatenation.
    """

    def __init__(self, channels: tuple[int, int, int] = (16, 32, 64), emb_dim: int = 128):
        super().__init__()
        c1, c2, c3 = channels
        self.emb_dim = emb_dim
        self.time_mlp = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.conv_in = nn.Conv2d(1, c1, 3, padding=1)
        self.down1 = _TimeResBlock(c1, c1, emb_dim)
        self.pool1 = nn.Conv2d(c1, c1, 3, stride=2, padding=1)
        self.down2 = _TimeResBlock(c1, c2, emb_dim)
        self.pool2 = nn.Conv2d(c2, c2, 3, stride=2, padding=1)
        self.mid = _TimeResBlock(c2, c3, emb_dim)
        self.up2 = _TimeResBlock(c3 + c2, c2, emb_dim)
        self.up1 = _TimeResBlock(c2 + c1, c1, emb_dim)
        self.norm_out, self.act_out = nn.GroupNorm(8, c1), nn.SiLU()
        self.conv_out = nn.Conv2d(c1, 1, 3, padding=1)

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        t = torch.as_tensor(t, device=x.device).reshape(-1).expand(len(x))
        emb = self.time_mlp(timestep_embedding(t, self.emb_dim))
        h1 = self.down1(self.conv_in(x), emb)                     # 28x28
        h2 = self.down2(self.pool1(h1), emb)                      # 14x14
        h = self.mid(self.pool2(h2), emb)                         # 7x7
        h = nn.functional.interpolate(h, scale_factor=2, mode="nearest")
        h = self.up2(torch.cat([h, h2], dim=1), emb)              # 14x14
        h = nn.functional.interpolate(h, scale_factor=2, mode="nearest")
        h = self.up1(torch.cat([h, h1], dim=1), emb)              # 28x28
        return self.conv_out(self.act_out(self.norm_out(h)))


def mnist_ddpm() -> DDPMUNet:
    """:class:`DDPMUNet` (16/32/64 channels, about 0.2 M weights), the course's MNIST diffusion model (lesson 12; ``python -m course_utils.train mnist_ddpm``)."""
    model = DDPMUNet()
    model.course_name = "mnist_ddpm"
    return model


def resnet18_imagenet_architecture() -> nn.Sequential:
    """``Sequential(Normalize(ImageNet statistics), torchvision resnet18)`` without weights."""
    from torchvision.models import resnet18

    model = nn.Sequential(OrderedDict([("normalize", Normalize(IMAGENET_MEAN, IMAGENET_STD)),
                                       ("resnet", resnet18(weights=None))]))
    model.course_name = "resnet18_imagenet"
    return model


# name -> function building the untrained architecture. Checkpoints of the course's own
# models live in data/checkpoints/<name>.pt with <name>.json (sha256, accuracy, how trained).
PRETRAINED: dict[str, Callable[[], nn.Module]] = {
    "mnist_cnn": mnist_cnn,
    "resnet18_imagenet": resnet18_imagenet_architecture,
    "mnist_pairs_cnn": mnist_pairs_cnn,
    "mnist_cnn_robust": mnist_cnn_robust,
    "mnist_cnn_gradreg": mnist_cnn_gradreg,
    "mnist_cnn_backdoor": mnist_cnn_backdoor,
    "mnist_cnn_gradcam_fooled": mnist_cnn_gradcam_fooled,
    "mnist_ddpm": mnist_ddpm,
}

_GRADCAM_LAYERS: dict[str, Callable[[nn.Module], nn.Module]] = {
    # the rectified maps of the last convolution (Grad-CAM's A^k): on conv2's raw output the
    # true-class map is <= 0 everywhere, so empty after Grad-CAM's ReLU, for most digits
    "mnist_cnn": lambda model: model.relu2,
    "mnist_cnn_robust": lambda model: model.relu2,
    "mnist_cnn_gradreg": lambda model: model.relu2,
    "mnist_cnn_backdoor": lambda model: model.relu2,
    "mnist_cnn_gradcam_fooled": lambda model: model.relu2,
    "resnet18_imagenet": lambda model: model.resnet.layer4,
    "mnist_pairs_cnn": lambda model: model.relu5,
}


def checkpoint_path(name: str) -> Path:
    """Where the course's checkpoint for ``name`` (one of :data:`PRETRAINED`) is committed (``data/checkpoints``)."""
    _check_name(name)
    return CHECKPOINT_DIR / f"{name}.pt"


def _check_name(name: str) -> None:
    if name not in PRETRAINED:
        raise ValueError(f"name must be one of {', '.join(map(repr, PRETRAINED))}; got {name!r}.")


def _load_course_checkpoint(name: str) -> dict:
    path = checkpoint_path(name)
    card_path = path.with_suffix(".json")
    if not path.is_file() or not card_path.is_file():
        raise FileNotFoundError(
            f"No checkpoint for {name!r} at {path}. Train it with `python -m course_utils.train {name}` "
            "from the course's folder (or clone the whole repository, which includes it)."
        )
    expected = json.loads(card_path.read_text())["sha256"]
    got = hashlib.sha256(path.read_bytes()).hexdigest()
    if got != expected:
        raise ValueError(f"Checkpoint {path} is corrupted: sha256 {got}, expected {expected} "
                         f"(from {card_path.name}). Restore it with git or retrain it.")
    return torch.load(path, map_location="cpu", weights_only=True)


def load_pretrained(name: str, device: torch.device | str | None = None) -> nn.Module:
    """A trained model of the course, in eval mode, on ``device`` (default: CPU).

    Parameters
    ----------
    name : str
        ``"mnist_cnn"`` (trained by ``python -m course_utils.train mnist_cnn``; >= 98.5% test
        accuracy), ``"mnist_pairs_cnn"`` (two-digit canvases, lesson 07), ``"mnist_cnn_robust"``
        (the same architecture as ``mnist_cnn``, adversarially trained by
        ``python -m course_utils.train mnist_cnn_robust``; see its card for the robust accuracy
        under PGD at eps 0.3), ``"mnist_cnn_gradreg"`` (the same architecture, trained with
        Ross and Doshi-Velez's input-gradient penalty by ``python -m course_utils.train
        mnist_cnn_gradreg``, lesson 09; its card holds the FGSM accuracy at eps 0.1),
        ``"mnist_cnn_backdoor"`` (trained on BadNets-poisoned digits by ``python -m
        course_utils.train mnist_cnn_backdoor``, lesson 10; its card has the clean accuracy and
        the attack success rate), ``"mnist_cnn_gradcam_fooled"`` (``mnist_cnn`` fine-tuned so
        that its Grad-CAM points at the top-left corner, lesson 10) or ``"resnet18_imagenet"`` (torchvision's ImageNet weights, fetched
        through :func:`course_utils.data.fetch`: needs the internet or ``COURSE_DATA_MIRROR``).
    device : torch.device or str, optional

    Raises
    ------
    ValueError
        Unknown name, or a checkpoint whose sha256 does not match its card.
    course_utils.data.DataUnavailableError
        ImageNet weights requested where they cannot be fetched.
    """
    _check_name(name)
    model = PRETRAINED[name]()
    if name == "resnet18_imagenet":
        state = torch.load(data.fetch("torch_hub/checkpoints/resnet18-f37072fd.pth"),
                           map_location="cpu", weights_only=True)
        model.resnet.load_state_dict(state)
    else:
        model.load_state_dict(_load_course_checkpoint(name))
    return model.to(device or "cpu").eval()


def gradcam_layer(model: nn.Module) -> nn.Module:
    """The layer the course uses for Grad-CAM on one of its models (the last convolution block, after its ReLU)."""
    name = getattr(model, "course_name", None)
    if name not in _GRADCAM_LAYERS:
        known = ", ".join(map(repr, _GRADCAM_LAYERS))
        raise ValueError(f"model must be one of the course's models ({known}); got one named {name!r}.")
    return _GRADCAM_LAYERS[name](model)
