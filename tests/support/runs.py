"""Runs of the pipeline outside pytest's process, as a user starts them (`dg launch`, like `make run`), the
independent DuckDB reference for a generated bronze file, and the layer files both write."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.project import BIN, REPO_ROOT

# What a run writes under DATA_ROOT, relative to it.
OUTPUTS = ("silver/silver_data.csv", "silver/rejected_rows.csv", "gold/gold_data.csv")
# GraphQL: the runs not yet ended (queued ones included).
RUNS_IN_PROGRESS = """
{ runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED]}) { ... on Runs { results { runId } } } }
"""


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


def layer_files(data_root: Path) -> dict[str, bytes | None]:
    return {name: (data_root / name).read_bytes() if (data_root / name).exists() else None for name in OUTPUTS}


def reference_outputs(bronze: Path, out: Path) -> dict[str, bytes | None]:
    """The three files the independent DuckDB reference (bench.reference_duckdb) writes for `bronze`: what the
    pipeline must write, byte for byte, computed by code other than the code under test."""
    subprocess.run([sys.executable, "-m", "bench.reference_duckdb", bronze, out], check=True, cwd=REPO_ROOT,
                   timeout=600)  # fmt: skip
    return layer_files(out)


def generated_bronze(work: Path, rows: int) -> tuple[Path, dict[str, bytes | None]]:
    """A messy bronze file of `rows` rows (bench.generate) in `work`, and what the reference writes for it."""
    from bench import generate

    bronze = work / "bronze_data.csv"
    generate.write_bronze(bronze, rows)
    return bronze, reference_outputs(bronze, work / "expected")
