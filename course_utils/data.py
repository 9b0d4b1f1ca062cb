"""Data the course uses: a registry of files, a verified fetch, and ready-to-use loaders.

Every file comes from its canonical URL, is checked against its sha256, and is cached.
``fetch`` looks in three places, in order:

1. the cache, ``COURSE_DATA_DIR`` (default: ``data/cache`` in a clone of the course,
   else ``~/.cache/xai-course``); a cached file is re-hashed on every hit and fetched
   again if it no longer matches;
2. the mirror, ``COURSE_DATA_MIRROR``: a folder or a URL base laid out like the registry
   (``mnist/t10k-images-idx3-ubyte.gz``, ...);
3. the canonical URL.

Writes are atomic: a download goes to a temporary file beside the target and is renamed
only once its sha256 matches, so a failed or corrupted download never leaves a file under
the final name.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import itertools
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from .paths import REPO_ROOT as _REPO_ROOT
from .validation import UnknownNameError

__all__ = [
    "DataFile",
    "REGISTRY",
    "DataUnavailableError",
    "cache_dir",
    "mirror_folder",
    "check_data_available",
    "fetch",
    "TabularData",
    "mnist",
    "mnist_tensors",
    "adult",
    "pima",
    "law_school",
    "german_credit",
    "compas",
    "sentiment",
    "photo",
    "imagenet_labels",
]

_CHUNK = 1 << 20
_TIMEOUT_S = 30


@dataclass(frozen=True)
class DataFile:
    """One file of the registry.

    Attributes
    ----------
    path : str
        Relative path, the same in the cache and in a mirror (also the registry key).
    url : str
        Canonical URL the file is downloaded from.
    sha256 : str
        Expected SHA-256 of the file's bytes.
    size : int
        Size in bytes (for the progress bar).
    license : str
        Terms the file is distributed under.
    """

    path: str
    url: str
    sha256: str
    size: int
    license: str


def _load_registry() -> MappingProxyType:
    with open(Path(__file__).with_name("registry.tsv"), newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        entries = {
            row["path"]: DataFile(row["path"], row["url"], row["sha256"], int(row["size"]), row["license"])
            for row in rows
        }
    return MappingProxyType(entries)


REGISTRY = _load_registry()
"""Read-only mapping from a file's relative path to its :class:`DataFile`."""


class DataUnavailableError(RuntimeError):
    """No source could deliver a file with the expected sha256."""


def cache_dir() -> Path:
    """Folder where fetched files are kept (``COURSE_DATA_DIR`` overrides the default)."""
    env = os.environ.get("COURSE_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    if (_REPO_ROOT / "pyproject.toml").is_file() and (_REPO_ROOT / "data").is_dir():
        return _REPO_ROOT / "data" / "cache"
    return Path.home() / ".cache" / "xai-course"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry(name: str) -> DataFile:
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise UnknownNameError(f"name must be a file of the course's registry, got {name!r}. Known files: {known}")
    return REGISTRY[name]


def _stream_to(source: Callable, target: Path, entry: DataFile, label: str) -> None:
    """Write the bytes that ``source()`` yields to ``target`` atomically, verifying sha256."""
    from tqdm.auto import tqdm

    blocks = iter(source())
    first = next(blocks, b"")  # opens the file or the connection: a source that is not there fails here,
    # before any progress bar is drawn (an offline learner would otherwise see a bar stuck at 0%)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False)
    tmp = Path(handle.name)
    try:
        digest = hashlib.sha256()
        with handle, tqdm(total=entry.size, unit="B", unit_scale=True, desc=f"{label} {entry.path}",
                          leave=False, disable=entry.size < 2 * _CHUNK) as bar:
            for block in itertools.chain([first], blocks):
                handle.write(block)
                digest.update(block)
                bar.update(len(block))
        got = digest.hexdigest()
        if got != entry.sha256:
            raise ValueError(f"sha256 mismatch: expected {entry.sha256}, got {got}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _url_blocks(url: str) -> Callable:
    def blocks():
        request = urllib.request.Request(url, headers={"User-Agent": "xai-course"})
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            yield from iter(lambda: response.read(_CHUNK), b"")
    return blocks


def _file_blocks(path: Path) -> Callable:
    def blocks():
        with open(path, "rb") as handle:
            yield from iter(lambda: handle.read(_CHUNK), b"")
    return blocks


def mirror_folder() -> Path | None:
    """The folder ``COURSE_DATA_MIRROR`` names (None if unset or a URL), as an absolute path.

    A relative path is resolved against the current folder, then against the course's
    root: a learner who sets ``COURSE_DATA_MIRROR=../shared/data`` in the clone and then
    opens a notebook (whose kernel runs in ``notebooks/``) gets the same folder.

    Raises
    ------
    DataUnavailableError
        If the variable holds a relative path that is a folder in neither place.
    """
    mirror = os.environ.get("COURSE_DATA_MIRROR", "").strip()
    if not mirror or ("://" in mirror and not mirror.startswith("file://")):
        return None
    folder = Path(mirror.removeprefix("file://")).expanduser()
    if folder.is_absolute():
        return folder
    for base in (Path.cwd(), _REPO_ROOT):
        if (base / folder).is_dir():
            return (base / folder).resolve()
    raise DataUnavailableError(
        f"COURSE_DATA_MIRROR={mirror!r} is a relative path, and it is a folder neither here ({Path.cwd()}) nor "
        f"in the course's folder ({_REPO_ROOT}). Set it to an absolute path, e.g. "
        f"export COURSE_DATA_MIRROR=\"$(cd {mirror} && pwd)\" from the folder where it is right.")


def check_data_available() -> None:
    """Fetch one small file of the registry, or raise one clear :class:`DataUnavailableError`.

    The test session calls this once at its start, so that without data a learner sees
    one message (which variable to set, what the folder must hold) instead of hundreds of
    failing cells.
    """
    smallest = min(REGISTRY.values(), key=lambda entry: entry.size)
    try:
        fetch(smallest.path)
    except DataUnavailableError as err:
        raise DataUnavailableError(
            f"The course's data cannot be reached: {err}\nSet COURSE_DATA_MIRROR to a folder that holds the "
            f"course's files in the registry's layout (course_utils/registry.tsv: mnist/..., tabular/..., "
            f"text/..., images/...), e.g. export COURSE_DATA_MIRROR=/path/to/shared/data, or run where the "
            f"canonical URLs can be reached.") from None


def _sources(entry: DataFile) -> list[tuple[str, str, Callable]]:
    """(label, location, block generator) for the mirror (if set) and the canonical URL."""
    sources = []
    mirror = os.environ.get("COURSE_DATA_MIRROR", "").strip()
    if mirror:
        if "://" in mirror and not mirror.startswith("file://"):
            location = mirror.rstrip("/") + "/" + entry.path
            sources.append(("mirror", location, _url_blocks(location)))
        else:
            folder = mirror_folder()
            location = str(folder / entry.path)
            sources.append(("mirror", location, _file_blocks(folder / entry.path)))
    sources.append(("download", entry.url, _url_blocks(entry.url)))
    return sources


def fetch(name: str) -> Path:
    """Return the local path of a registry file, fetching and verifying it if needed.

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY`, e.g. ``"mnist/t10k-images-idx3-ubyte.gz"``.

    Returns
    -------
    pathlib.Path
        The cached file; its sha256 has just been checked.

    Raises
    ------
    KeyError
        If ``name`` is not in the registry (the message lists the known names).
    DataUnavailableError
        If neither the mirror nor the canonical URL delivered the right bytes; the message
        names the file, every location tried and the ``COURSE_DATA_MIRROR`` variable.

    Examples
    --------
    >>> path = fetch("tabular/pima-indians-diabetes.data.csv")  # doctest: +SKIP
    """
    entry = _entry(name)
    target = cache_dir() / entry.path
    if target.is_file():
        if _sha256(target) == entry.sha256:
            return target
        print(f"The cached copy of {name} is corrupted (sha256 differs); fetching it again.")
        target.unlink()
    failures = []
    for label, location, blocks in _sources(entry):
        try:
            _stream_to(blocks, target, entry, label)
            return target
        except (OSError, ValueError, urllib.error.URLError) as err:
            failures.append(f"  {label}: {location}\n    -> {err}")
    tried = "\n".join(failures)
    raise DataUnavailableError(
        f"Could not fetch {name!r}. Tried:\n{tried}\n"
        "Without internet access, point COURSE_DATA_MIRROR at a folder (or URL) that holds "
        f"the course's files in the same layout, e.g. <mirror>/{entry.path}."
    )


# --------------------------------------------------------------------------- images

_MNIST_FILES = {
    "train": ("mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz"),
    "test": ("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"),
}


def _check_split(split: str, options) -> None:
    if split not in options:
        raise ValueError(f"split must be one of {', '.join(map(repr, options))}; got {split!r}.")


def _mnist_root() -> Path:
    """Place the fetched MNIST files, decompressed, where torchvision's MNIST looks for them.

    torchvision checks that the files of both splits are present, so all four are placed.
    """
    root = cache_dir() / "torchvision"
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in (*_MNIST_FILES["train"], *_MNIST_FILES["test"]):
        gz_path = fetch(name)
        out = raw / Path(name).name.removesuffix(".gz")
        if not out.is_file():
            with gzip.open(gz_path, "rb") as source, tempfile.NamedTemporaryFile(dir=raw, delete=False) as tmp:
                shutil.copyfileobj(source, tmp)
            os.replace(tmp.name, out)
    return root


def mnist(split: str = "train"):
    """The MNIST digits as a ``torchvision.datasets.MNIST`` dataset.

    Items are ``(image, label)`` with ``image`` a float tensor of shape 1x28x28 in [0, 1].
    The raw files come through :func:`fetch` (torchvision's own downloader cannot read a
    ``file://`` mirror).

    Parameters
    ----------
    split : {"train", "test"}
    """
    from torchvision import datasets, transforms

    _check_split(split, _MNIST_FILES)
    root = _mnist_root()
    return datasets.MNIST(root, train=split == "train", download=False, transform=transforms.ToTensor())


def mnist_tensors(split: str = "test", n: int | None = None):
    """The first ``n`` MNIST images and labels of a split as tensors.

    Returns
    -------
    X : torch.Tensor
        Float images, shape (n, 1, 28, 28), values in [0, 1].
    y : torch.Tensor
        Integer labels, shape (n,).
    """
    _check_split(split, ("train", "test"))
    if n is not None:
        from .validation import check_positive_int
        n = check_positive_int("n", n)
    dataset = mnist(split)
    stop = len(dataset) if n is None else n
    X = dataset.data[:stop].unsqueeze(1).float().div(255.0)
    return X, dataset.targets[:stop].clone()


def _photo_names() -> list[str]:
    return sorted(Path(p).stem for p in REGISTRY if p.startswith("images/"))


def photo(name: str) -> np.ndarray:
    """A photo of the registry as an HxWx3 uint8 array.

    Parameters
    ----------
    name : str
        The file's stem, e.g. ``"cat_dog"`` (the Grad-CAM paper's photo), ``"puppies"``,
        ``"swan-3299528_1280"``, ``"horses"``, ``"both"``.
    """
    from PIL import Image

    matches = [p for p in REGISTRY if p.startswith("images/") and Path(p).stem == Path(name).stem]
    if not matches:
        raise ValueError(f"name must be one of {', '.join(map(repr, _photo_names()))}; got {name!r}.")
    with Image.open(fetch(matches[0])) as image:
        return np.asarray(image.convert("RGB"))


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names, in the order of the models' outputs."""
    with open(fetch("labels/imagenet_class_index.json"), encoding="utf-8") as handle:
        index = json.load(handle)
    return [index[str(i)][1] for i in range(len(index))]


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class TabularData:
    """A cleaned table with its target.

    Attributes
    ----------
    frame : pandas.DataFrame
        Features and target, one row per person.
    target : str
        Name of the target column.
    categorical : tuple of str
        Names of the categorical feature columns (strings in ``frame``).
    description : str
        Where the data come from and what was cleaned.
    """

    frame: pd.DataFrame
    target: str
    categorical: tuple[str, ...]
    description: str

    @property
    def features(self) -> list[str]:
        """Names of the feature columns (all but the target)."""
        return [c for c in self.frame.columns if c != self.target]

    @property
    def X(self) -> pd.DataFrame:
        """The feature columns."""
        return self.frame[self.features]

    @property
    def y(self) -> np.ndarray:
        """The target as a numpy array."""
        return self.frame[self.target].to_numpy()

    def encoded(self, categories: dict[int, list[str]] | None = None) -> tuple[np.ndarray, dict[int, list[str]]]:
        """Features as a float array, categorical columns replaced by integer codes.

        Parameters
        ----------
        categories : dict, optional
            The codes to use, as returned by an earlier call (encode a test table with its
            training table's codes, or the same category gets different codes when a
            category is missing from one of them). Default: the sorted categories of this table.

        Returns
        -------
        X : numpy.ndarray
            Shape (n, d), columns in the order of :attr:`features`.
        categories : dict
            Column index -> list of category names (code k is ``categories[j][k]``), the
            format ``lime.lime_tabular`` expects as ``categorical_names``.

        Raises
        ------
        ValueError
            If a value of this table is not among the given ``categories``.
        """
        columns, used = [], {}
        for j, name in enumerate(self.features):
            column = self.frame[name]
            if name in self.categorical:
                values = sorted(column.astype(str).unique()) if categories is None else list(categories[j])
                unknown = set(column.astype(str)) - set(values)
                if unknown:
                    raise ValueError(f"categories[{j}] ({name}) must contain every value of the column; "
                                     f"missing {sorted(unknown)[:5]}.")
                used[j] = values
                column = column.astype(str).map({v: k for k, v in enumerate(values)})
            columns.append(column.to_numpy(dtype=float))
        return np.column_stack(columns), used


_ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
    "income",
]


def adult(split: str = "train") -> TabularData:
    """UCI Adult (census income): predict whether income exceeds 50K a year.

    Rows with a missing value (``?``) are dropped; ``fnlwgt`` (a census sampling weight, not
    a property of the person) is dropped; the target ``income_gt_50k`` is 0/1.

    Parameters
    ----------
    split : {"train", "test"}
        ``adult.data`` (30,162 complete rows) or ``adult.test`` (15,060).
    """
    _check_split(split, ("train", "test"))
    name = "tabular/adult.data" if split == "train" else "tabular/adult.test"
    frame = pd.read_csv(fetch(name), header=None, names=_ADULT_COLUMNS, skipinitialspace=True,
                        na_values="?", skiprows=1 if split == "test" else 0)
    frame = frame.dropna().reset_index(drop=True)
    frame["income_gt_50k"] = frame.pop("income").str.rstrip(".").eq(">50K").astype(int)
    frame = frame.drop(columns="fnlwgt")
    categorical = tuple(c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c]))
    return TabularData(frame, "income_gt_50k", categorical,
                       f"UCI Adult ({split}), Kohavi 1996; rows with missing values dropped.")


def pima() -> TabularData:
    """Pima Indians diabetes (768 women): predict diabetes within five years (0/1).

    Zeros in Glucose, BloodPressure, SkinThickness, Insulin and BMI mean "not measured" in
    the source; they are left as they are.
    """
    names = ["Pregnancies", "Glucose", "BloodPressure", "SkinThickness", "Insulin", "BMI",
             "DiabetesPedigreeFunction", "Age", "diabetes"]
    frame = pd.read_csv(fetch("tabular/pima-indians-diabetes.data.csv"), header=None, names=names)
    return TabularData(frame, "diabetes", (), "Pima Indians diabetes (NIDDK), via jbrownlee/Datasets.")


def law_school() -> TabularData:
    """Law school admissions (21,791 students, Kusner et al.'s version of the LSAC data).

    Target ``ZFYA``: standardised first-year average (a real number). Features include
    ``race``, ``sex`` (coded 1/2 as in the source), ``LSAT``, ``UGPA`` and ``region_first``.
    """
    frame = pd.read_csv(fetch("tabular/law_data.csv"), index_col=0)
    return TabularData(frame.reset_index(drop=True), "ZFYA", ("race", "region_first"),
                       "LSAC bar passage study subset as distributed by Kusner et al. (2017).")


_GERMAN_COLUMNS = [
    "checking_status", "duration", "credit_history", "purpose", "credit_amount", "savings",
    "employment_since", "installment_rate", "personal_status_sex", "other_debtors", "residence_since",
    "property", "age", "other_installment_plans", "housing", "existing_credits", "job",
    "num_dependents", "telephone", "foreign_worker", "class",
]


def german_credit() -> TabularData:
    """Statlog German credit (1,000 applicants): target ``good_credit`` (1 good, 0 bad).

    Categorical values keep the source's codes (``A11``, ``A34``, ...), explained in
    ``fetch("tabular/german.doc")``.
    """
    frame = pd.read_csv(fetch("tabular/german.data"), sep=r"\s+", header=None, names=_GERMAN_COLUMNS)
    frame["good_credit"] = frame.pop("class").eq(1).astype(int)
    categorical = tuple(c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c]))
    return TabularData(frame, "good_credit", categorical, "UCI Statlog German credit data.")


def compas() -> TabularData:
    """ProPublica COMPAS (Broward County): target ``two_year_recid`` (0/1).

    ProPublica's filters are applied (charge within 30 days of screening, known recidivism,
    no ordinary traffic offences, a score present), leaving 6,172 people; the COMPAS score
    itself is not a feature.
    """
    raw = pd.read_csv(fetch("tabular/compas-scores-two-years.csv"))
    keep = (raw.days_b_screening_arrest.between(-30, 30) & (raw.is_recid != -1)
            & (raw.c_charge_degree != "O") & (raw.score_text != "N/A"))
    columns = ["sex", "age", "race", "juv_fel_count", "juv_misd_count", "juv_other_count",
               "priors_count", "c_charge_degree", "two_year_recid"]
    frame = raw.loc[keep, columns].reset_index(drop=True)
    return TabularData(frame, "two_year_recid", ("sex", "race", "c_charge_degree"),
                       "ProPublica COMPAS two-year recidivism, with ProPublica's filters.")


_SENTIMENT_SOURCES = {"imdb": "text/imdb_labelled.txt", "amazon": "text/amazon_cells_labelled.txt",
                      "yelp": "text/yelp_labelled.txt"}


def sentiment() -> pd.DataFrame:
    """UCI sentiment labelled sentences (Kotzias et al., KDD 2015): 3,000 short reviews.

    Returns
    -------
    pandas.DataFrame
        Columns ``sentence`` (str), ``label`` (1 positive, 0 negative) and ``source``
        (``"imdb"``, ``"amazon"`` or ``"yelp"``).
    """
    rows = []
    for source, name in _SENTIMENT_SOURCES.items():
        for line in fetch(name).read_text(encoding="utf-8").splitlines():
            sentence, _, label = line.rpartition("\t")
            if sentence.strip():
                rows.append((sentence.strip(), int(label), source))
    return pd.DataFrame(rows, columns=["sentence", "label", "source"])
