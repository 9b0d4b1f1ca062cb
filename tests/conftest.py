"""Fixtures for the unit tests of course_utils."""
import os
from pathlib import Path

import pytest


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """An empty COURSE_DATA_DIR, so tests never touch the real cache."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def mirror_dir():
    """The data mirror the test run was given (CI: ../shared/data); skip if there is none."""
    mirror = os.environ.get("COURSE_DATA_MIRROR")
    if not mirror or not Path(mirror).is_dir():
        pytest.skip("COURSE_DATA_MIRROR is not set to a folder")
    return Path(mirror)
