"""Where the course's clone is: one definition of the repository root.

The package works installed anywhere; the repository tools (the notebook builder, the
site builder) and the committed checkpoints need the clone it came from.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["REPO_ROOT", "repo_root"]

REPO_ROOT = Path(__file__).resolve().parent.parent  # the clone's root when the package is used from one


def repo_root() -> Path:
    """The root of the course's git clone, for the repository tools (notebook builder, site).

    Raises
    ------
    RuntimeError
        If ``course_utils`` is not used from a clone (an installed copy has no notebooks).
    """
    if not ((REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "notebooks").is_dir()):
        raise RuntimeError(f"this tool works on a clone of the course repository; {REPO_ROOT} is not one "
                           "(clone the repository and install it with pip install -e .).")
    return REPO_ROOT
