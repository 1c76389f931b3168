"""The project's own files agree with each other (issue 2: one venv, the SDK's pins, environment.yml in step)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import accelo_kit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONDA_NAMES = {"python-duckdb": "duckdb"}  # conda-forge spells a few packages differently
# fivetran-connector-sdk 3.0 pins these exactly (docs/fivetran.md): never allow above them
SDK_PINS = {"requests": "2.34.2", "tqdm": "4.70.0", "duckdb": "1.5.6"}


def _requirement(text: str) -> tuple[str, str]:
    text = text.split(";")[0].split("#")[0].strip()
    match = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(.*)$", text)
    assert match, text
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    project = PYPROJECT["project"]
    found = dict(_requirement(r) for r in project["dependencies"])
    for extra in project["optional-dependencies"].values():
        found.update(_requirement(r) for r in extra)
    return found


def environment_requirements() -> dict[str, str]:
    """A deliberately small reader for our own environment.yml: list items under dependencies and pip."""
    found: dict[str, str] = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("\ndependencies:"):].splitlines():
        item = re.match(r"^\s+-\s+(.+)$", line)
        if not item or item.group(1).endswith(":") or item.group(1).startswith("-e"):
            continue
        name, spec = _requirement(item.group(1))
        if name in {"python", "pip"}:
            continue
        found[CONDA_NAMES.get(name, name)] = spec
    return found


def test_environment_yml_lists_the_same_dependencies_as_pyproject() -> None:
    """issue 2 §1: environment.yml and pyproject.toml name the same packages with the same version ranges."""
    assert environment_requirements() == pyproject_requirements()


def test_environment_yml_installs_the_project_with_every_extra() -> None:
    extras = set(PYPROJECT["project"]["optional-dependencies"])
    line = next(x for x in (ROOT / "environment.yml").read_text().splitlines() if "-e ." in x)
    assert set(re.search(r"\[(.*)\]", line).group(1).split(",")) == extras


@pytest.mark.parametrize(("package", "pin"), sorted(SDK_PINS.items()))
def test_no_dependency_allows_versions_above_the_sdk_pins(package: str, pin: str) -> None:
    """docs/fivetran.md: the SDK pins requests, tqdm and duckdb; our ranges admit the pinned version, never above."""
    spec = pyproject_requirements()[package]
    assert f"<={pin}" in spec.split(","), f"{package}{spec} must be capped at <={pin}"


def test_pytz_is_a_dependency() -> None:
    """duckdb needs pytz to hand TIMESTAMPTZ values to Python, and pandas 3 no longer brings it."""
    assert "pytz" in pyproject_requirements()


def test_core_dependencies_stay_as_light_as_the_fivetran_runtime() -> None:
    """issue 2 §1: the core needs only requests; everything else is an extra."""
    assert list(pyproject_requirements().keys())[:1] == ["requests"]
    assert [(_requirement(r)[0]) for r in PYPROJECT["project"]["dependencies"]] == ["requests"]


def test_version_has_one_source() -> None:
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "accelo_kit.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", accelo_kit.__version__)


def test_ci_runs_the_readme_test_command() -> None:
    """The README's test command and .ci/run are the same command."""
    readme = (ROOT / "README.md").read_text()
    ci_commands = [x.strip() for x in (ROOT / ".ci/run").read_text().splitlines()
                   if x.strip() and not x.startswith("#") and not x.startswith(("set ", "cd "))]
    assert ci_commands == ["make test"]
    first_screen = "\n".join(readme.splitlines()[:30])
    assert "make test" in first_screen


def test_gitignore_keeps_secrets_and_local_output_out() -> None:
    ignored = set((ROOT / ".gitignore").read_text().split())
    assert {".venv/", "configuration.json", "files/", "out/", "crash-reports/"} <= ignored
