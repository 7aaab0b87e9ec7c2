"""`make` as a user runs it: this venv (never reinstalled), a user's shell, and copies of the project's build files
for targets that must fail without touching the checkout."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from tests.support.project import REPO_ROOT
from tests.support.stack import copy_sample_bronze

# What `make install`, `make lock-check` and `make test` read.
BUILD_FILES = ("Makefile", "pyproject.toml", "uv.lock", "project.env")


def make_command(make: str, target: str, *variables: str, directory: Path = REPO_ROOT) -> list[str]:
    """`make <target>` with this venv, never reinstalling it (-o: its install stamp counts as up to date)."""
    venv = Path(sys.prefix)
    return [make, "--no-print-directory", "-C", str(directory), f"VENV={venv}", "-o", f"{venv}/bin/.installed",
            target, *variables]  # fmt: skip


def user_env(tmp_path: Path) -> dict[str, str]:
    """A user's shell: no venv activated (the Makefile sets it up), a DATA_ROOT with the sample bronze and a
    DAGSTER_HOME with the project's dagster.yaml, as `make run` would find them."""
    data_root, home = tmp_path / "data", tmp_path / "dagster_home"
    copy_sample_bronze(data_root)
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONWARNINGS")}
    return {**env, "DATA_ROOT": str(data_root), "DAGSTER_HOME": str(home)}


def project_copy(directory: Path, *, with_package: bool = False) -> Path:
    """The build files (and the package) in `directory`, for a `make` that is meant to fail there."""
    directory.mkdir()
    for name in BUILD_FILES:
        shutil.copy(REPO_ROOT / name, directory / name)
    if with_package:
        shutil.copytree(REPO_ROOT / "dagster_project", directory / "dagster_project",
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    return directory
