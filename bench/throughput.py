"""medallion_job against the pandas and DuckDB references on the same generated bronze file.

Each size gets one bronze file; every implementation reads it and writes silver, rejects and gold into its own
directory. Runs are interleaved (pipeline, duckdb, pandas, pipeline, ...) so slow drift of a shared machine
hits all three alike. After the last repeat the three outputs are compared byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.generate import write_bronze
from bench.measure import Measurement, run_measured
from bench.steps import RunTiming, latest_run_timing

OUTPUT_FILES = ("silver/silver_data.csv", "silver/rejected_rows.csv", "gold/gold_data.csv")
IMPLEMENTATIONS = ("pipeline", "duckdb", "pandas")
IN_PROCESS_CONFIG = "execution:\n  config:\n    in_process: {}\n"


@dataclass
class SizeResult:
    rows: int
    bronze_bytes: int
    runs: dict[str, list[Measurement]] = field(default_factory=lambda: {name: [] for name in IMPLEMENTATIONS})
    timings: list[RunTiming] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Setup:
    project_dir: Path  # holds dagster_project/ and dagster_home/dagster.yaml
    work_dir: Path
    env: dict[str, str]
    pipeline_run_config: bool  # pass in_process executor config (job uses the default executor)


def measure_size(setup: Setup, rows: int, repeat: int, seed: int) -> SizeResult:
    size_dir = setup.work_dir / f"rows-{rows}"
    bronze = size_dir / "bronze" / "bronze_data.csv"
    write_bronze(bronze, rows, seed)
    result = SizeResult(rows=rows, bronze_bytes=bronze.stat().st_size)
    _warm_page_cache(bronze)
    for attempt in range(repeat):
        for name in IMPLEMENTATIONS:
            out = size_dir / name
            shutil.rmtree(out / "silver", ignore_errors=True)
            shutil.rmtree(out / "gold", ignore_errors=True)
            measurement = _run_one(setup, name, bronze, out, size_dir / f"{name}-{attempt}.log")
            if measurement.returncode != 0:
                raise RuntimeError(f"{name} failed at {rows} rows:\n{measurement.output[-4000:]}")
            result.runs[name].append(measurement)
            if name == "pipeline":
                result.timings.append(latest_run_timing(out / "dagster_home"))
    result.mismatches = _compare_outputs(size_dir)
    if not result.mismatches:
        shutil.rmtree(size_dir)  # 10M rows leave ~3 GB of outputs behind otherwise
    return result


def _run_one(setup: Setup, name: str, bronze: Path, out: Path, log: Path) -> Measurement:
    if name != "pipeline":
        command = [sys.executable, "-m", f"bench.reference_{name}", str(bronze), str(out)]
        return run_measured(command, setup.env, setup.project_dir, log)
    (out / "bronze").mkdir(parents=True, exist_ok=True)
    linked = out / "bronze" / "bronze_data.csv"
    if not linked.exists():
        os.link(bronze, linked)  # the pipeline refuses symlinks that leave the layer directory
    home = out / "dagster_home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    # The product's instance config, so the run logs (and pays for logging) as `make run` does.
    shutil.copy(setup.project_dir / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    # `make run` types `dg launch --job medallion_job`; the bench keeps `dagster job execute`, the same Dagster
    # function without dg's CLI in front, which starts about 0.9 s faster (`python -m bench.startup`, docs/local.md).
    command = [dagster_executable(), "job", "execute", "-m", "dagster_project.definitions", "-j", "medallion_job"]
    if setup.pipeline_run_config:
        (home / "in_process.yaml").write_text(IN_PROCESS_CONFIG)
        command += ["-c", str(home / "in_process.yaml")]
    env = {**setup.env, "DATA_ROOT": str(out), "DAGSTER_HOME": str(home)}
    return run_measured(command, env, setup.project_dir, log)


def dagster_executable() -> str:
    return str(Path(sys.executable).parent / "dagster")


def _warm_page_cache(path: Path) -> None:
    with path.open("rb") as stream:
        while stream.read(1 << 24):
            pass


def _compare_outputs(size_dir: Path) -> list[str]:
    """Files whose bytes differ between implementations, e.g. 'gold/gold_data.csv: pipeline != duckdb'."""
    mismatches = []
    for relative in OUTPUT_FILES:
        digests = {name: _sha256(size_dir / name / relative) for name in IMPLEMENTATIONS}
        mismatches += [
            f"{relative}: {name} != duckdb" for name in ("pipeline", "pandas") if digests[name] != digests["duckdb"]
        ]
    return mismatches


def _sha256(path: Path) -> str:
    if not path.exists():
        return "missing"
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()
