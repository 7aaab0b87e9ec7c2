"""uv.lock pins every Python dependency: `make test` refuses a pyproject.toml the lock was not refreshed for,
naming the command that refreshes it. (The image and the venv against the lock: tests/deploy/test_container.py.)"""

from __future__ import annotations

import subprocess
import tomllib

from tests.support.make import make_command, project_copy, user_env
from tests.support.project import REPO_ROOT, load_project_env, uv_binary
from tests.support.tools import require_tool


def test_make_test_stops_at_a_lock_that_pyproject_outgrew(make, tmp_path):
    """A copy whose pyproject.toml pins another loguru: `make test` fails before lint and pytest, saying
    `make lock`; the lock file is left as it was."""
    require_tool("uv", uv_binary() is not None, "uv comes with `make install` (run the suite through make test)")
    project = project_copy(tmp_path / "project")
    pyproject = project / "pyproject.toml"
    pinned = '"loguru==0.7.3",'
    assert pinned in pyproject.read_text()
    pyproject.write_text(pyproject.read_text().replace(pinned, '"loguru==0.7.2",'))
    done = subprocess.run(make_command(make, "test", directory=project), env=user_env(tmp_path),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-4000:]
    assert "uv.lock is out of date with pyproject.toml; run: make lock" in output
    assert "ruff" not in output and "-m pytest" not in output
    assert (project / "uv.lock").read_bytes() == (REPO_ROOT / "uv.lock").read_bytes()


def test_the_lock_holds_one_dagster_release():
    """Every dagster package in the lock, pulled in or named, is at a version pyproject.toml pins: the core
    release and its libraries' matching 0.X.Y, as the chart (DAGSTER_CHART_VERSION) expects."""
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = pyproject["optional-dependencies"].values()
    requirements = [*pyproject["dependencies"], *(r for extra in extras for r in extra)]
    pins = dict(r.split("==") for r in requirements if r.startswith("dagster"))
    assert pins["dagster"] == load_project_env()["DAGSTER_VERSION"]
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"] if p["name"].startswith("dagster")}
    assert {name: locked[name] for name in pins} == pins
    assert set(locked.values()) <= set(pins.values()), locked
