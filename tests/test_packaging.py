"""environment.yml and pyproject.toml list the same dependencies with the same version ranges."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
CONDA_ONLY = {"python", "pip"}


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] + project["optional-dependencies"]["test"]
    return {Requirement(line).name.lower(): str(Requirement(line).specifier) for line in listed}


def _environment_requirements() -> dict[str, str]:
    dependencies = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    lines = [d for d in dependencies if isinstance(d, str)]
    lines += [p for d in dependencies if isinstance(d, dict) for p in d.get("pip", [])]
    found = {}
    for line in lines:
        name, spec = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", line).groups()
        if name.lower() not in CONDA_ONLY:
            found[name.lower()] = str(Requirement(f"x{spec.replace(' ', '')}").specifier)
    return found


def test_environment_yml_and_pyproject_agree():
    assert _environment_requirements() == _pyproject_requirements()


def test_requirements_are_ranges_not_pins():
    assert all("==" not in spec and spec for spec in _pyproject_requirements().values())


def test_the_licence_pyproject_names_is_there_and_packaged():
    """Issue 15: pyproject said MIT but there was no LICENSE file (setuptools puts license-files into the sdist
    and the wheel's .dist-info/licenses/)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / "LICENSE").read_text()
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert text.startswith("MIT License\n") and "Copyright (c) 2026 the daskparse authors" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text
