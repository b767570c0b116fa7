"""scripts/_bootstrap.sh, the set-up behind scripts/run-sample and scripts/test: when it installs, and how quietly.

The venv's Python is a stand-in that writes down what it was asked: a real install takes minutes and a package
index. `git clone` + the two commands were run for real on a fresh clone too (see the commit message).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _project(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "_bootstrap.sh", tmp_path / "scripts")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\necho "$*" >> "$(dirname "$0")/../../asked.log"\n')
    python.chmod(0o755)
    return tmp_path


def _bootstrap(project: Path, extras: str) -> list[str]:
    """Source the set-up as the scripts do; the pip installs it ran."""
    env = {"PATH": os.environ["PATH"], "PYTHON": sys.executable, "HOME": str(project)}
    subprocess.run(["bash", "-c", f'source scripts/_bootstrap.sh "{extras}"'], cwd=project, env=env, check=True,
                   capture_output=True, text=True, timeout=60)
    log = project / "asked.log"
    return [line for line in log.read_text().splitlines() if " -e " in line] if log.exists() else []


def test_running_the_two_scripts_in_turn_installs_once_each(tmp_path):
    """Issue 15: each script deleted the other's stamp, so alternating them reinstalled the venv every time."""
    project = _project(tmp_path)
    for extras in ("", "test", "", "test", ""):
        installs = _bootstrap(project, extras)
    assert [line.split(" -e ")[1] for line in installs] == [".", ".[test]"]
    # a changed pyproject.toml is installed again, once per set of extras, and the old stamps go
    with open(project / "pyproject.toml", "a") as pyproject:
        pyproject.write("# changed\n")
    for extras in ("test", "", "test"):
        installs = _bootstrap(project, extras)
    assert [line.split(" -e ")[1] for line in installs] == [".", ".[test]", ".[test]"]
    assert len(list((project / ".venv").glob(".installed-*"))) == 1


def test_installs_print_errors_only(tmp_path):
    """Issue 15: setuptools' 'Editable installation' warning came through pip's --quiet (one -q keeps warnings)."""
    project = _project(tmp_path)
    _bootstrap(project, "test")
    asked = (project / "asked.log").read_text().splitlines()
    installs = [line for line in asked if line.startswith("-m pip install")]
    assert len(installs) == 2 and all(line.startswith("-m pip install -q -q ") for line in installs), asked
