"""environment.yml and pyproject.toml list the same dependencies; the README gives the commands."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_requirements():
    text = (ROOT / "pyproject.toml").read_text()
    blocks = re.findall(r"^(?:dependencies|dev) = \[(.*?)\]", text, re.S | re.M)
    return {r for block in blocks for r in re.findall(r'"([^"]+)"', block)}


def _environment_requirements():
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = lines.index("  - pip:")
    return {line.strip()[2:].strip('"') for line in lines[start + 1:] if line.strip().startswith("- ")} - {"-e ."}


def test_environment_yml_matches_pyproject():
    assert _environment_requirements() == _pyproject_requirements()


def test_readme_gives_the_three_commands():
    readme = (ROOT / "README.md").read_text()
    for command in ('pip install -e ".[dev]"', "jupyter lab notebooks/", "pytest"):
        assert command in readme


def test_ci_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text()
    assert "pytest" in script and 'pip install -e ".[dev]"' in script and "COURSE_FAST=1" in script
