"""Code versions without a stack: an edit of a module in each room of the package changes the version of exactly
the assets whose output it can change (docs/architecture.md#code-versions). The UI side of the same rule, on the
real stack, is tests/dev_loop/test_staleness.py."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.project import REPO_ROOT

SOURCE = REPO_ROOT / "dagster_project"
ALL = {"bronze", "silver", "gold"}
# Prints {layer: version} of every asset module, as the package at the working directory computes them.
VERSIONS = (
    "import json\n"
    "from dagster_project.contract.code_version import PACKAGE_DIR, code_version, versioned_modules\n"
    "print(json.dumps({'package': str(PACKAGE_DIR),\n"
    "                  'versions': {m.rpartition('.')[2]: code_version(m) for m in versioned_modules()}}))\n"
)
# (file of the package, the layers whose version an edit of it changes)
EDITS = [
    ("contract/rules.py", {"silver", "gold"}),
    ("contract/csv_io.py", ALL),
    ("contract/names.py", ALL),
    ("contract/metadata.py", ALL),
    ("contract/code_version.py", ALL),
    ("contract/log_bridge.py", set()),
    ("defs/assets/bronze.py", ALL),
    ("defs/assets/silver.py", {"silver", "gold"}),
    ("defs/assets/gold.py", {"gold"}),
    ("defs/checks.py", {"silver", "gold"}),
    ("defs/resources.py", ALL),
    ("defs/jobs.py", set()),
    ("defs/sensors/bronze_watch.py", set()),
    ("defs/sensors/run_guard.py", set()),
    ("defs/debug_executor.py", set()),
    ("definitions.py", set()),
    ("control/client.py", set()),
    ("control/refresh.py", set()),
    ("control/summary.py", set()),
    ("control/__main__.py", set()),
]


@pytest.fixture
def package(tmp_path) -> Path:
    """A copy of the package to edit; the checkout stays as it is."""
    copy = tmp_path / "dagster_project"
    shutil.copytree(SOURCE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def versions(package: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(package.parent)}
    done = subprocess.run([sys.executable, "-c", VERSIONS], cwd=package.parent, env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert Path(found["package"]) == package, "the versions came from another copy of the package"
    return found["versions"]


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    assert set(before) == set(after) == ALL, (before, after)
    return {layer for layer in ALL if before[layer] != after[layer]}


def test_every_file_of_the_package_is_covered():
    """A module added to the package gets its row above, with the layers it can change."""
    files = {path.relative_to(SOURCE).as_posix() for path in SOURCE.rglob("*.py")}
    entry_points = {"summary.py"}  # the two-line `python -m dagster_project.summary`, imported by no module
    assert {name for name in files if not name.endswith("__init__.py")} - entry_points == {name for name, _ in EDITS}


@pytest.mark.parametrize(("name", "layers"), EDITS, ids=[name for name, _ in EDITS])
def test_an_edit_changes_the_versions_of_exactly_the_layers_it_reaches(package, name, layers):
    before = versions(package)
    path = package / name
    path.write_text(f"{path.read_text()}\nEDITED_BY_A_TEST = 1\n")
    assert changed(before, versions(package)) == layers


def test_comments_and_docstrings_change_no_version(package):
    before = versions(package)
    rules = package / "contract" / "rules.py"
    commented = rules.read_text().replace("\ndef ", "\n# before a function\n\ndef ", 1)
    rules.write_text("# a comment\n" + commented)
    silver = package / "defs" / "assets" / "silver.py"
    lines = silver.read_text().splitlines(keepends=True)
    docstring = ast.parse("".join(lines)).body[0]
    assert isinstance(docstring, ast.Expr) and isinstance(docstring.value, ast.Constant), "silver.py has no docstring"
    silver.write_text("".join(['"""Another docstring."""\n', *lines[docstring.end_lineno :]]))
    assert changed(before, versions(package)) == set()
