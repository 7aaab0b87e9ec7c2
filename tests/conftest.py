"""Fixtures the rooms share; helpers live in tests/support/. The user-code image (`image`) and its measurements
(`metrics`) come from the docker_image plugin."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.project import BIN
from tests.support.runs import generated_bronze
from tests.support.stack import LocalStack, copy_sample_bronze
from tests.support.tools import require_tool

pytest_plugins = ["tests.support.docker_image"]

# Rows of the bronze file a fault test kills a run in the middle of: its silver step lasts seconds.
BIG_BRONZE_ROWS = 1_000_000


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """A DATA_ROOT holding the sample bronze file."""
    root = tmp_path / "data"
    copy_sample_bronze(root)
    return root


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory):
    """The real local stack (code server, webserver, daemon) over the sample bronze, started once per module."""
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


@pytest.fixture(scope="session")
def big_bronze(tmp_path_factory) -> tuple[Path, dict[str, bytes | None]]:
    """A messy bronze file of BIG_BRONZE_ROWS (bench.generate) and the files the DuckDB reference writes for it."""
    return generated_bronze(tmp_path_factory.mktemp("big-bronze"), BIG_BRONZE_ROWS)


@pytest.fixture(scope="module")
def make() -> str:
    found = shutil.which("make")
    require_tool("make", found is not None, "make is not installed")
    return found
