"""pyproject.toml's dependencies and the package's imports agree, both ways (issue 16, "Checks").

A declared dependency nothing imports is weight every install carries (tenacity sat there unused); an import
nothing declares works only while some other dependency happens to pull it in.
"""

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "daskparse"
# May import what the test extra brings (playwright, matplotlib): the helpers behind tests and bench.
TESTING = PACKAGE / "testing"
# Declared but imported by nothing of ours, on purpose: rapidocr loads its models through onnxruntime
# (its default engine) but does not declare it, so the package must.
NOT_IMPORTED = {"onnxruntime": "rapidocr's inference engine, imported by rapidocr, not by daskparse"}


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_normalised(Requirement(line).name) for line in project["dependencies"]}


def top_level_imports(path: Path) -> set[str]:
    """The top-level names of every absolute import in one module (those under `if TYPE_CHECKING` or inside
    a function included: a lazily imported path still needs its dependency installed)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def third_party(names: set[str]) -> set[str]:
    return {name for name in names if name not in sys.stdlib_module_names and name != "daskparse"}


def modules(*, testing: bool) -> list[Path]:
    return [path for path in sorted(PACKAGE.rglob("*.py")) if testing or TESTING not in path.parents]


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()  # reads every installed RECORD: seconds, so once


def distributions(import_name: str) -> set[str]:
    """The installed distributions that provide a top-level import name (several for a namespace: google)."""
    return {_normalised(dist) for dist in _packages_distributions().get(import_name, [])}


def test_the_walk_sees_the_package():
    """A guard for the two tests below: a walk that found nothing would pass them both."""
    imported = third_party(set().union(*map(top_level_imports, modules(testing=False))))
    assert {"dask", "distributed", "PIL", "skimage", "rapidocr"} <= imported
    assert "playwright" in third_party(top_level_imports(TESTING / "html_flyers.py"))


def test_every_declared_dependency_is_imported_by_the_package():
    imported = set().union(*map(top_level_imports, modules(testing=True)))
    provided = set().union(*map(distributions, third_party(imported)))
    unused = declared() - provided - set(NOT_IMPORTED)
    assert not unused, f"declared in pyproject.toml but imported nowhere in daskparse/: {sorted(unused)}"


def test_every_third_party_import_of_the_package_is_declared():
    undeclared = {}
    for path in modules(testing=False):
        for name in third_party(top_level_imports(path)):
            if not distributions(name) & declared():
                undeclared.setdefault(name, []).append(str(path.relative_to(ROOT)))
    assert not undeclared, f"imported but not declared in pyproject.toml's dependencies: {undeclared}"


def test_the_exceptions_are_still_needed():
    """An exception that has become false (daskparse imports onnxruntime itself, or rapidocr no longer runs
    on it) should go rather than hide a dependency."""
    imported = set().union(*map(top_level_imports, modules(testing=True)))
    assert not set(NOT_IMPORTED) & set().union(*map(distributions, third_party(imported)))
    assert set(NOT_IMPORTED) <= declared()
