"""Shared fixtures. Tools a test needs but the machine lacks make it skip with the reason, unless the tool is
listed in MEDALLION_REQUIRE (CI sets it): then the missing tool is a failure, never a silent skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import REPO_ROOT, LocalStack, copy_sample_bronze

BIN = Path(sys.executable).parent
BIG_BRONZE_ROWS = 1_000_000
OUTPUTS = ("silver/silver_data.csv", "silver/rejected_rows.csv", "gold/gold_data.csv")

# The built user-code image (`image`) and its measurements (`metrics`), shared by every docker test.
pytest_plugins = ["tests.docker_image"]


def parse_env_lines(text: str) -> dict[str, str]:
    """KEY=value lines (project.env, or what the .ci/ setup scripts print); blank lines and comments skipped."""
    pairs = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def parse_env_file(path: Path) -> dict[str, str]:
    return parse_env_lines(path.read_text())


def require_tool(name: str, available: bool, reason: str) -> None:
    """Skip when `available` is false, or fail if CI declared the tool required."""
    if available:
        return
    required = {item.strip() for item in os.environ.get("MEDALLION_REQUIRE", "").split(",") if item.strip()}
    if name in required:
        pytest.fail(f"{name} is required here (MEDALLION_REQUIRE) but unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def project_env() -> dict[str, str]:
    return parse_env_file(REPO_ROOT / "project.env")


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    copy_sample_bronze(root)
    return root


def dg_env(**overrides: str) -> dict[str, str]:
    """The environment `dg` runs in from the Makefile: this venv active (dg warns otherwise), the checkout first."""
    return {**os.environ, "VIRTUAL_ENV": sys.prefix, "PYTHONPATH": str(REPO_ROOT), **overrides}


def run_dagster_job(job: str, data_root: Path, dagster_home: Path, *extra: str) -> subprocess.CompletedProcess:
    """`dg launch --job` in a fresh process, as a user would run it (in-process, like `make run`)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    env = dg_env(DATA_ROOT=str(data_root), DAGSTER_HOME=str(dagster_home))
    return subprocess.run(
        [str(BIN / "dg"), "launch", "--job", job, *extra],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory):
    require_tool("dagster-webserver", shutil.which("dagster-webserver", path=str(BIN)) is not None,
                 "dagster-webserver is not installed (make install)")  # fmt: skip
    workdir = tmp_path_factory.mktemp("stack")
    data_root = workdir / "data"
    copy_sample_bronze(data_root)
    stack = LocalStack(workdir=workdir, data_root=data_root)
    try:
        yield stack.start()
    finally:
        stack.stop()


def layer_files(data_root: Path) -> dict[str, bytes | None]:
    return {name: (data_root / name).read_bytes() if (data_root / name).exists() else None for name in OUTPUTS}


@pytest.fixture(scope="session")
def big_bronze(tmp_path_factory) -> tuple[Path, dict[str, bytes | None]]:
    """A 1M-row messy bronze file (bench.generate), whose silver step lasts long enough to kill it in the
    middle, and the three files the independent DuckDB reference writes for it (not the code under test)."""
    return generated_bronze(tmp_path_factory.mktemp("big-bronze"), BIG_BRONZE_ROWS)


def generated_bronze(work: Path, rows: int) -> tuple[Path, dict[str, bytes | None]]:
    """A messy bronze file of `rows` rows (bench.generate) in `work`, and the three files the independent DuckDB
    reference writes for it: what the pipeline must write, byte for byte."""
    from bench import generate

    bronze = work / "bronze_data.csv"
    generate.write_bronze(bronze, rows)
    subprocess.run([sys.executable, "-m", "bench.reference_duckdb", bronze, work / "expected"],
                   check=True, cwd=REPO_ROOT, timeout=600)  # fmt: skip
    return bronze, layer_files(work / "expected")
