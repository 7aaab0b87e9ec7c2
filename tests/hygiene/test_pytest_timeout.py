"""The suite's per-test timeout (pyproject.toml, pytest-timeout) is set, and a test whose child process hangs
fails with it instead of holding the run."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.support.project import REPO_ROOT

HANGING_TEST = """
import subprocess

def test_waits_for_a_child_that_never_ends():
    subprocess.run(["sleep", "600"])
"""


def test_every_test_has_a_default_timeout(pytestconfig):
    assert 0 < float(pytestconfig.getini("timeout")) <= 600


def test_a_hung_child_process_fails_its_test(tmp_path):
    (tmp_path / "test_hang.py").write_text(HANGING_TEST)
    started = time.monotonic()
    # The project's own configuration, with the default shortened so the hang shows in seconds.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(REPO_ROOT / "pyproject.toml"), "--rootdir", str(tmp_path),
         "-o", "timeout=3", "-p", "no:cacheprovider", str(tmp_path / "test_hang.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout[-2000:]
    assert "Timeout (>3.0s) from pytest-timeout" in done.stdout, done.stdout[-2000:]
    assert time.monotonic() - started < 60
